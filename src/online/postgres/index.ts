import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'
import pg from 'pg'
import type { RepoConfig } from '../../config/index.js'
import type { OnlineStore } from '../online-store.js'
import { unreachable } from '../store-support.js'
import type { PostgresOptions } from './postgres-config.js'
import { PostgresOnlineStore } from './postgres-online-store.js'

export { PostgresOnlineStore, type PostgresStoreOptions } from './postgres-online-store.js'

const CONNECT_TIMEOUT_MS = 5000

/**
 * Opens Feast's Postgres online store with a node-postgres pool (one connection for
 * `conn_type: singleton`, `min_conn` to `max_conn` for `pool`), checking the connection at once so
 * that a server that is down or refuses the login fails here within 5 s, naming host and port.
 */
export async function openOnlineStore(options: PostgresOptions, _config: RepoConfig): Promise<OnlineStore> {
  const pool = new pg.Pool({
    host: options.host,
    port: options.port,
    database: options.database,
    user: options.user,
    password: options.password,
    ssl: ssl(options),
    min: options.conn_type === 'pool' ? options.min_conn : 0,
    max: options.conn_type === 'pool' ? options.max_conn : 1,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: options.keepalives_idle !== undefined,
    keepAliveInitialDelayMillis: (options.keepalives_idle ?? 0) * 1000,
    application_name: 'larder',
  })
  // an idle connection that breaks is replaced on the next query
  pool.on('error', () => {})
  const where = `${options.host}:${options.port} (database "${options.database}", user "${options.user}")`
  try {
    await pool.query('SELECT 1')
  } catch (cause) {
    await pool.end().catch(() => {})
    throw unreachable(
      'PostgreSQL',
      where,
      cause,
      'start PostgreSQL or fix online_store in feature_store.yaml (host, port, database, user, password)',
    )
  }
  return new PostgresOnlineStore(
    pool,
    options.db_schema,
    `schema "${options.db_schema}" of PostgreSQL at ${where}`,
    { cancel: (processId) => cancelBackend(pool, processId) },
  )
}

/**
 * Cancels the statement a server process runs (`pg_cancel_backend`) over a connection of its own,
 * made with the pool's settings: the pool may have no free connection (one, by default), and its
 * connection is busy with the statement to cancel.
 */
async function cancelBackend(pool: pg.Pool, processId: number): Promise<void> {
  const client = new pg.Client({ ...pool.options, application_name: 'larder-cancel' })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT pg_cancel_backend($1)', [processId])
  } finally {
    await client.end().catch(() => {})
  }
}

function ssl(options: PostgresOptions): false | ConnectionOptions {
  const mode = options.sslmode
  if (mode === undefined || mode === 'disable' || mode === 'allow' || mode === 'prefer') return false
  const read = (path: string | undefined) => (path === undefined ? undefined : readFileSync(path))
  return {
    rejectUnauthorized: mode !== 'require',
    ca: read(options.sslrootcert_path),
    cert: read(options.sslcert_path),
    key: read(options.sslkey_path),
    ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
  }
}
