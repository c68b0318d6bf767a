import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'
import pg from 'pg'
import type { RepoConfig } from '../../config/index.js'
import type { OnlineStore } from '../online-store.js'
import { unreachable } from '../store-support.js'
import type { PostgresOptions } from './postgres-config.js'
import { PostgresOnlineStore } from './postgres-online-store.js'

export { PostgresOnlineStore } from './postgres-online-store.js'

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
  )
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
