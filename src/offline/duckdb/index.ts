import type { OfflineStoreBackend } from '../loader.js'
import { type DuckDBOptions, duckdbOptionsSchema } from './duckdb-config.js'
import { DuckDBOfflineStore } from './duckdb-offline-store.js'

export { type DuckDBOptions, duckdbOptionsSchema } from './duckdb-config.js'
export { DuckDBOfflineStore, type DuckDBOfflineStoreOptions } from './duckdb-offline-store.js'

/** The duckdb backend as the loader sees it: its options schema and a factory. */
export const backend: OfflineStoreBackend<DuckDBOptions> = {
  optionsSchema: duckdbOptionsSchema,
  create: (config, options) =>
    new DuckDBOfflineStore({
      repoPath: config.repoPath,
      threads: options.threads,
      memoryLimit: options.memory_limit,
      tempDirectory: options.temp_directory,
      pointInTimeJoin: options.point_in_time_join,
    }),
}
