// Writes data/bulk.parquet for bulk-features.ts with DuckDB: `drivers` drivers x `rows` hourly rows
// from 2026-01-01, values derived from hashes so every run writes the same file.
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'

export async function writeBulkData(repoDir: string, drivers: number, rows = 1): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  })
  const db = await instance.connect()
  try {
    const path = join(repoDir, 'data', 'bulk.parquet').replaceAll("'", "''")
    await db.run(
      `COPY (SELECT d::BIGINT AS driver_id,
         TIMESTAMPTZ '2026-01-01 00:00:00+00' + INTERVAL (h) HOUR AS event_timestamp,
         TIMESTAMPTZ '2026-01-01 00:00:00+00' + INTERVAL (h) HOUR + INTERVAL (hash(d, h) % 60) SECOND AS created,
         (hash(d, h, 1) % 100000) / 1000.0 AS f0,
         (hash(d, h, 2) % 1000000)::BIGINT AS f1,
         'v' || (hash(d, h, 3) % 997) AS f2
       FROM range(${drivers}) a(d), range(${rows}) b(h)) TO '${path}' (FORMAT parquet)`,
    )
  } finally {
    db.closeSync()
    instance.closeSync()
  }
}
