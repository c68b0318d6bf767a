import type pg from 'pg'
import { postgresConnectionSettings, postgresServerName } from '../../config/index.js'
import { LarderError } from '../../core/index.js'
import type { PostgresOfflineOptions } from './postgres-config.js'

/** The driver modules, imported on first use so that a repo without PostgreSQL never loads them. */
export interface PgDriver {
  readonly pg: typeof pg
  readonly copyFrom: (sql: string) => NodeJS.WritableStream & { rowCount?: number }
  readonly copyTo: (sql: string) => NodeJS.ReadableStream
}

const PACKAGES = ['pg', 'pg-copy-streams']

/**
 * Imports `pg` and `pg-copy-streams`. Fails with MISSING_DEPENDENCY and the install command when one
 * of them is not installed.
 */
export async function loadDriver(): Promise<PgDriver> {
  try {
    const pgModule = (await import('pg')).default
    const copy = (await import('pg-copy-streams')).default
    return {
      pg: pgModule,
      copyFrom: copy.from as PgDriver['copyFrom'],
      copyTo: copy.to as PgDriver['copyTo'],
    }
  } catch (cause) {
    const missing = PACKAGES.find((p) => String((cause as Error)?.message ?? '').includes(`'${p}'`))
    throw new LarderError(
      'MISSING_DEPENDENCY',
      `offline store "postgres" needs the npm package "${missing ?? 'pg'}", which is not installed`,
      { hint: `npm install ${PACKAGES.join(' ')}`, cause },
    )
  }
}

/**
 * A pool whose connections work in UTC with ISO dates (every timestamp a query sees or prints is UTC),
 * checked at once: a server that is down or refuses the login fails here within 5 s with
 * BACKEND_UNAVAILABLE, naming host and port.
 */
export async function openPool(driver: PgDriver, o: PostgresOfflineOptions): Promise<pg.Pool> {
  const pool = new driver.pg.Pool({
    ...postgresConnectionSettings(o),
    min: 0,
    max: Math.max(1, o.max_conn),
    application_name: 'larder-offline',
    options: `-c TimeZone=UTC -c DateStyle=ISO -c search_path=${searchPath(o.db_schema)} -c extra_float_digits=1`,
  })
  // an idle connection that breaks is replaced on the next query
  pool.on('error', () => {})
  try {
    await pool.query('SELECT 1')
  } catch (cause) {
    await pool.end().catch(() => {})
    const reason = (cause as Error)?.message || (cause as { code?: string })?.code || String(cause)
    throw new LarderError(
      'BACKEND_UNAVAILABLE',
      `cannot connect to PostgreSQL at ${postgresServerName(o)}: ${reason}`,
      {
        cause,
        hint: 'start PostgreSQL or fix offline_store in feature_store.yaml (host, port, database, user, password)',
      },
    )
  }
  return pool
}

/**
 * `db_schema` then `public`, as a startup option: the schema quoted as an identifier, spaces and
 * backslashes escaped for the server's option parser.
 */
function searchPath(schema: string): string {
  const quoted = `"${schema.replaceAll('"', '""')}"`
  return `${quoted.replaceAll('\\', '\\\\').replaceAll(' ', '\\ ')},public`
}
