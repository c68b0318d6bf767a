import pg from 'pg'
import { postgresConnectionSettings, postgresServerName, type RepoConfig } from '../../config/index.js'
import type { OnlineStore } from '../online-store.js'
import { unreachable } from '../store-support.js'
import type { PostgresOptions } from './postgres-config.js'
import { PostgresOnlineStore } from './postgres-online-store.js'

export { PostgresOnlineStore, type PostgresStoreOptions } from './postgres-online-store.js'

/**
 * Opens Feast's Postgres online store with a node-postgres pool (one connection for
 * `conn_type: singleton`, `min_conn` to `max_conn` for `pool`), checking the connection at once so
 * that a server that is down or refuses the login fails here within 5 s, naming host and port.
 */
export async function openOnlineStore(options: PostgresOptions, _config: RepoConfig): Promise<OnlineStore> {
  const pool = new pg.Pool({
    ...postgresConnectionSettings(options),
    min: options.conn_type === 'pool' ? options.min_conn : 0,
    max: options.conn_type === 'pool' ? options.max_conn : 1,
    application_name: 'larder',
  })
  // an idle connection that breaks is replaced on the next query
  pool.on('error', () => {})
  const where = postgresServerName(options)
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
