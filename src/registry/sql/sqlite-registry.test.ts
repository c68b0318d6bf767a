import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import {
  describeFeastSqlInterop,
  describeRegistryConformance,
  sampleRun,
} from '../../testing/registry-conformance.js'
import { createRegistry } from '../loader.js'

function sqliteHarness() {
  const dir = mkdtempSync(join(tmpdir(), 'larder-sql-registry-'))
  const path = join(dir, 'registry.sqlite')
  const url = `sqlite:///${path}`
  return { dir, path, url }
}

describeRegistryConformance('sqlite', async () => {
  const { dir, url } = sqliteHarness()
  return {
    open: ({ cacheTtlSeconds = 0 } = {}) =>
      createRegistry({ path: url, registryType: 'sql', cacheTtlSeconds, schemaMode: 'auto' }, dir),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  }
})

describeFeastSqlInterop('sqlite', async () => {
  const { dir, path, url } = sqliteHarness()
  let db: Database.Database | undefined
  return {
    url,
    baseDir: dir,
    exec: async (sql, params = []) => {
      db ??= new Database(path)
      const statement = db.prepare(sql)
      if (statement.reader) return statement.all(...params) as Record<string, unknown>[]
      statement.run(...params)
      return []
    },
    drop: async () => {
      db?.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})

describe('sqlite registry: the run history table', () => {
  it('replaces the empty runs table an earlier Larder created with fewer columns, and records runs in it', async () => {
    const { dir, path, url } = sqliteHarness()
    const old = new Database(path)
    old.exec(
      'CREATE TABLE larder_materialization_runs (run_id VARCHAR(64) NOT NULL, project_id VARCHAR(255) NOT NULL, feature_view_name VARCHAR(255) NOT NULL, window_start_micros BIGINT NOT NULL, window_end_micros BIGINT NOT NULL, rows_written BIGINT NOT NULL, duration_ms BIGINT NOT NULL, newest_event_micros BIGINT, run_by VARCHAR(255) NOT NULL, finished_at_micros BIGINT NOT NULL, PRIMARY KEY (run_id))',
    )
    old.close()
    const registry = await createRegistry(
      { path: url, registryType: 'sql', cacheTtlSeconds: 0, schemaMode: 'auto' },
      dir,
    )
    try {
      const run = sampleRun('upgraded', 'driver_stats', 1_700_000_000_000_000, {
        status: 'failed',
        error: 'ABORTED: the operation was cancelled',
      })
      await registry.recordMaterializationRun(run)
      expect(await registry.listMaterializationRuns('upgraded')).toEqual([run])
    } finally {
      await registry.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
