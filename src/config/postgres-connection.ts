import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'
import { z } from 'zod'

/**
 * The connection keys Feast's PostgreSQL stores share (its `PostgreSQLConfig`), with Feast's defaults;
 * each store's block adds `db_schema`, `conn_type` and its own keys.
 */
export const postgresConnectionKeys = {
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(5432),
  database: z.string().min(1),
  user: z.string().min(1),
  password: z
    .string()
    .optional()
    .describe('Optional here (Feast requires it); omit for trust or peer authentication'),
  sslmode: z
    .enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'])
    .optional()
    .describe('As libpq; allow and prefer connect without TLS (node-postgres cannot fall back)'),
  sslkey_path: z.string().optional(),
  sslcert_path: z.string().optional(),
  sslrootcert_path: z.string().optional(),
  min_conn: z.number().int().nonnegative().default(1),
  max_conn: z.number().int().positive().default(10),
  keepalives_idle: z.number().int().positive().optional().describe('TCP keepalive idle time in seconds'),
}

export type PostgresConnection = z.output<z.ZodObject<typeof postgresConnectionKeys>>

/** How long opening a connection may take before the store reports the server unreachable. */
const CONNECT_TIMEOUT_MS = 5000

/**
 * The node-postgres settings of a connection from those keys: server, login, TLS as libpq's
 * `sslmode` means it (the certificate files read now), a 5 s connect timeout and TCP keepalive.
 */
export function postgresConnectionSettings(o: PostgresConnection) {
  return {
    host: o.host,
    port: o.port,
    database: o.database,
    user: o.user,
    password: o.password,
    ssl: tls(o),
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: o.keepalives_idle !== undefined,
    keepAliveInitialDelayMillis: (o.keepalives_idle ?? 0) * 1000,
  }
}

/** `host:port (database "d", user "u")`, how messages name the server. */
export function postgresServerName(o: PostgresConnection): string {
  return `${o.host}:${o.port} (database "${o.database}", user "${o.user}")`
}

function tls(o: PostgresConnection): false | ConnectionOptions {
  const mode = o.sslmode
  if (mode === undefined || mode === 'disable' || mode === 'allow' || mode === 'prefer') return false
  const read = (path: string | undefined) => (path === undefined ? undefined : readFileSync(path))
  return {
    rejectUnauthorized: mode !== 'require',
    ca: read(o.sslrootcert_path),
    cert: read(o.sslcert_path),
    key: read(o.sslkey_path),
    ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
  }
}
