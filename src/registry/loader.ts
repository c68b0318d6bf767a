import { resolve } from 'node:path'
import type { RepoConfig } from '../config/index.js'
import { knownNames, LarderError, type TokenProvider } from '../core/index.js'
import { FileRegistry } from './file/file-registry.js'
import type { Registry } from './registry.js'
import type { SqlDialectModule } from './sql/sql-dialect.js'

/** How to load one SQL dialect: its module (which imports the driver) and the npm packages it needs. */
export interface SqlDialectBackend {
  /** URL schemes, without SQLAlchemy's `+driver` suffix (`postgresql+psycopg` is `postgresql`). */
  readonly schemes: readonly string[]
  readonly load: () => Promise<SqlDialectModule>
  readonly packages: readonly string[]
}

/** The SQL registry's databases. Each dialect (and its driver) is imported only when a URL selects it. */
export const SQL_DIALECTS: Readonly<Record<string, SqlDialectBackend>> = Object.freeze({
  postgresql: {
    schemes: ['postgresql', 'postgres'],
    load: () => import('./sql/postgres-dialect.js'),
    packages: ['pg'],
  },
  sqlite: {
    schemes: ['sqlite'],
    load: () => import('./sql/sqlite-dialect.js'),
    packages: ['better-sqlite3'],
  },
  mysql: {
    schemes: ['mysql', 'mariadb'],
    load: () => import('./sql/mysql-dialect.js'),
    packages: ['mysql2'],
  },
})

/** The registry part of a repo config, as `createRegistry` needs it. */
export type RegistryConfig = RepoConfig['registry']

/** A database URL with its password replaced by `***`, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z0-9+]+:\/\/[^:/@]*:)[^@]*@/i, '$1***@')
}

/** The dialect a SQL registry URL selects, by its scheme; INVALID_CONFIG listing the known schemes otherwise. */
export function sqlDialectFor(url: string): SqlDialectBackend & { id: string } {
  const scheme = /^([a-z0-9]+)(\+[a-z0-9_]+)?:\/\//i.exec(url)?.[1]?.toLowerCase()
  for (const [id, backend] of Object.entries(SQL_DIALECTS)) {
    if (scheme && backend.schemes.includes(scheme)) return { id, ...backend }
  }
  throw new LarderError(
    'INVALID_CONFIG',
    `registry.path "${redactUrl(url)}" is not a database URL the SQL registry knows`,
    {
      hint: `use one of: ${knownNames(Object.values(SQL_DIALECTS).flatMap((b) => b.schemes.map((s) => `${s}://…`)))}`,
      details: { scheme },
    },
  )
}

/**
 * Opens the registry that `feature_store.yaml` configures: the file registry for `registry_type:
 * file` (or a bare path), the SQL registry for `registry_type: sql` with the dialect picked by the
 * URL's scheme (`postgresql://`, `postgresql+psycopg://`, `sqlite:///`, `mysql://`). The database
 * driver is imported only then; a missing one fails with MISSING_DEPENDENCY naming the npm install
 * command. Relative paths (file registry, SQLite) resolve against `baseDir` (the repo). For
 * `registry_type: remote`, a client of the registry server at `path` (`host:port` or `http://host:port`),
 * sending `options.tokenProvider`'s token with every call when given (see `clientTokenProvider`).
 *
 * @example const registry = await createRegistry(loadRepoConfig('./feature_repo').registry, './feature_repo')
 */
export async function createRegistry(
  config: RegistryConfig,
  baseDir: string,
  options: { readonly tokenProvider?: TokenProvider } = {},
): Promise<Registry> {
  if (config.registryType === 'file') {
    return new FileRegistry({ path: config.path, cacheTtlSeconds: config.cacheTtlSeconds })
  }
  if (config.registryType === 'remote') {
    // The gRPC client is imported only for a remote registry.
    const { RemoteRegistry } = await import('./remote/remote-registry.js')
    return RemoteRegistry.open({
      address: config.path,
      cacheTtlSeconds: config.cacheTtlSeconds,
      tokenProvider: options.tokenProvider,
    })
  }
  const backend = sqlDialectFor(config.path)
  let module: SqlDialectModule
  let registryModule: typeof import('./sql/sql-registry.js')
  try {
    ;[module, registryModule] = await Promise.all([backend.load(), import('./sql/sql-registry.js')])
  } catch (cause) {
    const missing = backend.packages.find((p) => isMissingPackage(cause, p))
    if (missing === undefined) throw cause
    throw new LarderError(
      'MISSING_DEPENDENCY',
      `the SQL registry on ${module_name(backend.id)} needs the npm package "${missing}", which is not installed`,
      { hint: `npm install ${backend.packages.join(' ')}`, cause },
    )
  }
  return registryModule.SqlRegistry.open(module.dialect, config.path, baseDir, {
    displayUrl: redactUrl(config.path),
    cacheTtlSeconds: config.cacheTtlSeconds,
    schemaMode: config.schemaMode,
  })
}

function module_name(id: string): string {
  return id === 'postgresql' ? 'PostgreSQL' : id === 'mysql' ? 'MySQL/MariaDB' : 'SQLite'
}

function isMissingPackage(error: unknown, pkg: string): boolean {
  const e = error as NodeJS.ErrnoException
  return (
    (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') &&
    (e.message.includes(`'${pkg}'`) || e.message.includes(`"${pkg}"`) || e.message.includes(`'${pkg}/`))
  )
}

/**
 * The registry config for a path or URL given on a command line: a database URL (`scheme://…`, not
 * `file://`) selects the SQL registry, anything else is a registry file. No cache: each read is fresh.
 */
export function registryConfigFor(pathOrUrl: string): RegistryConfig {
  const sql = /^[a-z][a-z0-9]*(\+[a-z0-9_]+)?:\/\//i.test(pathOrUrl) && !pathOrUrl.startsWith('file://')
  return Object.freeze({
    path: sql ? pathOrUrl : resolve(pathOrUrl.replace(/^file:\/\//, '')),
    registryType: sql ? 'sql' : 'file',
    cacheTtlSeconds: 0,
    schemaMode: 'auto',
  })
}
