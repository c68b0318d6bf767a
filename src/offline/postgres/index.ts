import type { OfflineStoreBackend } from '../loader.js'
import { optionsSchema, type PostgresOfflineOptions } from './postgres-config.js'
import { PostgresOfflineStore } from './postgres-offline-store.js'

export { optionsSchema, type PostgresOfflineOptions } from './postgres-config.js'
export { PostgresOfflineStore, type PostgresOfflineStoreOptions } from './postgres-offline-store.js'

/**
 * The postgres backend as the loader sees it. Creating the store connects nothing: the driver is
 * imported and the server reached on the first operation (a missing driver fails with
 * MISSING_DEPENDENCY, a server that is down with BACKEND_UNAVAILABLE naming host and port).
 */
export const backend: OfflineStoreBackend<PostgresOfflineOptions> = {
  optionsSchema,
  create: (config, options) => new PostgresOfflineStore({ ...options, repoPath: config.repoPath }),
}
