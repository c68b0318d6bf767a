import { z } from 'zod'
import { CONFIG_FILE, type RepoConfig } from '../config/index.js'
import { knownNames, LarderError } from '../core/index.js'
import type { Abortable, OnlineStore, OnlineStoreConfigModule, OnlineStoreModule } from './online-store.js'

/** How to load one backend: its options schema (no driver), its store (imports the driver), and the driver packages. */
export interface OnlineStoreBackend {
  readonly config: () => Promise<OnlineStoreConfigModule>
  readonly store: () => Promise<OnlineStoreModule>
  /** npm packages the store module imports, for the install hint when one is missing. */
  readonly packages: readonly string[]
}

/** The online store backends by `online_store.type`. Each is imported only when a config selects it. */
export const ONLINE_STORE_BACKENDS: Readonly<Record<string, OnlineStoreBackend>> = Object.freeze({
  sqlite: {
    config: () => import('./sqlite/sqlite-config.js'),
    store: () => import('./sqlite/index.js'),
    packages: ['better-sqlite3'],
  },
  redis: {
    config: () => import('./redis/redis-config.js'),
    store: () => import('./redis/index.js'),
    packages: ['redis'],
  },
  postgres: {
    config: () => import('./postgres/postgres-config.js'),
    store: () => import('./postgres/index.js'),
    packages: ['pg', 'pg-copy-streams'],
  },
  memory: {
    config: () => import('./memory/memory-config.js'),
    store: () => import('./memory/index.js'),
    packages: [],
  },
})

export interface CreateOnlineStoreOptions extends Abortable {
  /** The backend table to choose from; defaults to {@link ONLINE_STORE_BACKENDS}. */
  readonly backends?: Readonly<Record<string, OnlineStoreBackend>>
}

/**
 * Checks the `online_store` block as opening it would, without importing a driver or connecting:
 * the type must be a known backend and the options must pass that backend's schema. Resolves to the
 * parsed options, or to `undefined` when the file disables the online store (`online_store: null`).
 * Fails with INVALID_CONFIG naming the key and listing the known types or keys.
 *
 * @example await validateOnlineStoreConfig(loadRepoConfig('./feature_repo'))
 */
export async function validateOnlineStoreConfig(
  config: RepoConfig,
  opts: Pick<CreateOnlineStoreOptions, 'backends'> = {},
): Promise<unknown> {
  return (await resolveOnlineStore(config, opts))?.options
}

/**
 * Opens the online store that `feature_store.yaml` configures: picks the backend by
 * `online_store.type`, imports it, validates its options (unknown keys are errors that list the known
 * ones) and connects. Fails with INVALID_CONFIG for an unknown type or bad options, with
 * MISSING_DEPENDENCY and the `npm install` command when the backend's driver is not installed, and
 * with BACKEND_UNAVAILABLE when the service cannot be reached.
 *
 * @example const online = await createOnlineStore(loadRepoConfig('./feature_repo'))
 */
export async function createOnlineStore(
  config: RepoConfig,
  opts: CreateOnlineStoreOptions = {},
): Promise<OnlineStore> {
  const resolved = await resolveOnlineStore(config, opts)
  if (!resolved) {
    throw new LarderError('INVALID_CONFIG', `${CONFIG_FILE} disables the online store (online_store: null)`, {
      hint: 'set online_store, e.g. `online_store: { type: sqlite }`, to serve features online',
    })
  }
  const { type, backend, options } = resolved
  let module: OnlineStoreModule
  try {
    module = await backend.store()
  } catch (cause) {
    const missing = backend.packages.find((p) => isMissingPackage(cause, p))
    if (missing === undefined) throw cause
    throw new LarderError(
      'MISSING_DEPENDENCY',
      `online store "${type}" needs the npm package "${missing}", which is not installed`,
      { hint: `npm install ${backend.packages.join(' ')}`, cause },
    )
  }
  opts.signal?.throwIfAborted()
  return module.openOnlineStore(options, config, opts)
}

/** The backend of `online_store` and its parsed options; only the backend's config module is imported. */
async function resolveOnlineStore(
  config: RepoConfig,
  opts: Pick<CreateOnlineStoreOptions, 'backends'>,
): Promise<{ type: string; backend: OnlineStoreBackend; options: unknown } | undefined> {
  const block = config.onlineStore
  if (!block) return undefined
  const backends = opts.backends ?? ONLINE_STORE_BACKENDS
  const known = `known types: ${knownNames(Object.keys(backends))}`
  const backend = Object.hasOwn(backends, block.type) ? backends[block.type] : undefined
  if (!backend) {
    throw new LarderError('INVALID_CONFIG', `${CONFIG_FILE}: unknown online store type "${block.type}"`, {
      hint: known,
      details: { type: block.type },
    })
  }
  const { optionsSchema } = await backend.config()
  const parsed = optionsSchema.safeParse(block.options)
  if (!parsed.success) throw optionsError(block.type, optionsSchema, parsed.error)
  return { type: block.type, backend, options: parsed.data }
}

function isMissingPackage(error: unknown, pkg: string): boolean {
  const e = error as NodeJS.ErrnoException
  return (
    (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') &&
    (e.message.includes(`'${pkg}'`) || e.message.includes(`"${pkg}"`))
  )
}

function optionsError(type: string, schema: z.ZodType, error: z.ZodError): LarderError {
  const issue = error.issues[0]!
  const where = ['online_store', ...issue.path.map(String)].join('.')
  if (issue.code === 'unrecognized_keys') {
    return new LarderError(
      'INVALID_CONFIG',
      `${CONFIG_FILE}: unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')} in ${where} (type ${type})`,
      { hint: `known keys: ${knownNames(['type', ...objectKeys(schema)])}`, details: { keys: issue.keys } },
    )
  }
  return new LarderError('INVALID_CONFIG', `${CONFIG_FILE}: ${where} (type ${type}): ${issue.message}`, {
    details: { path: issue.path },
  })
}

function objectKeys(schema: z.ZodType): string[] {
  let current: z.ZodType = schema
  while (current instanceof z.ZodPipe) current = current.in as z.ZodType
  return current instanceof z.ZodObject ? Object.keys(current.shape) : []
}
