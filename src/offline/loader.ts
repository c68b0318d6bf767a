import { z } from 'zod'
import type { RepoConfig } from '../config/index.js'
import { knownNames, LarderError } from '../core/index.js'
import type { OfflineStore } from './offline-store.js'

/** What a backend folder exports as `backend`: the zod schema of its options and a factory. */
export interface OfflineStoreBackend<Options> {
  /** Validates the keys of `offline_store` other than `type`; should be strict. */
  readonly optionsSchema: z.ZodType<Options>
  create(config: RepoConfig, options: Options): OfflineStore
}

/**
 * Backends by `offline_store.type`, each imported only when used. Feast's `file` and `dask` types are
 * served by the duckdb backend, which reads the same Parquet and CSV sources.
 */
const BACKENDS: Readonly<Record<string, () => Promise<{ backend: OfflineStoreBackend<unknown> }>>> = {
  duckdb: () => import('./duckdb/index.js'),
  file: () => import('./duckdb/index.js'),
  dask: () => import('./duckdb/index.js'),
  postgres: () => import('./postgres/index.js') as Promise<{ backend: OfflineStoreBackend<unknown> }>,
}

/**
 * Checks the `offline_store` block as creating the store would, without opening a database: the type
 * must be a known backend and the options must pass that backend's schema. Resolves to the parsed
 * options. Throws a `LarderError` (INVALID_CONFIG) for an unknown type, listing the known ones, and
 * for unknown or invalid options, listing the backend's keys.
 *
 * @example await validateOfflineStoreConfig(loadRepoConfig('./feature_repo'))
 */
export async function validateOfflineStoreConfig(config: RepoConfig): Promise<unknown> {
  return (await resolveOfflineStore(config)).options
}

/**
 * Creates the offline store named by `config.offlineStore.type`, loading its backend lazily and
 * validating the backend's own options, as {@link validateOfflineStoreConfig} does.
 *
 * @example const store = await createOfflineStore(loadRepoConfig('./feature_repo'))
 */
export async function createOfflineStore(config: RepoConfig): Promise<OfflineStore> {
  const { backend, options } = await resolveOfflineStore(config)
  return backend.create(config, options)
}

async function resolveOfflineStore(
  config: RepoConfig,
): Promise<{ backend: OfflineStoreBackend<unknown>; options: unknown }> {
  const { type, options } = config.offlineStore
  const known = `known types: ${knownNames(Object.keys(BACKENDS))}`
  const load = Object.hasOwn(BACKENDS, type) ? BACKENDS[type] : undefined
  if (load === undefined) {
    throw new LarderError('INVALID_CONFIG', `feature_store.yaml: unknown offline_store type "${type}"`, {
      hint: known,
      details: { type },
    })
  }
  const { backend } = await load()
  const parsed = backend.optionsSchema.safeParse(options)
  if (!parsed.success) throw optionsError(type, parsed.error, backend.optionsSchema)
  return { backend, options: parsed.data }
}

function optionsError(type: string, error: z.ZodError, schema: z.ZodType): LarderError {
  const issue = error.issues[0]!
  const keys = schema instanceof z.ZodObject ? Object.keys(schema.shape) : []
  const hint = `options of the ${type} offline store: ${knownNames(keys)}`
  if (issue.code === 'unrecognized_keys') {
    return new LarderError(
      'INVALID_CONFIG',
      `feature_store.yaml: unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')} in offline_store`,
      { hint, details: { type, keys: issue.keys } },
    )
  }
  const path = ['offline_store', ...issue.path.map(String)].join('.')
  return new LarderError('INVALID_CONFIG', `feature_store.yaml: ${path}: ${issue.message}`, {
    hint,
    details: { type, path: issue.path },
  })
}
