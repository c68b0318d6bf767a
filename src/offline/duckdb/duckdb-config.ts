import { z } from 'zod'

/**
 * The `offline_store` options of the duckdb backend (also used for Feast's `file` and `dask` types).
 * Every key is optional; unknown keys are rejected.
 */
export const duckdbOptionsSchema = z
  .object({
    threads: z.number().int().positive().optional().describe('Worker threads (default: one per core)'),
    memory_limit: z
      .string()
      .regex(/^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i)
      .optional()
      .describe(
        "DuckDB's memory limit, e.g. '4GB'; a join larger than it spills to temp_directory (default: a quarter of the memory the process may use, its cgroup limit or the host's RAM, at most 256MiB, and 1GiB while a materialization reads latest rows)",
      ),
    temp_directory: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Where DuckDB spills when a join exceeds memory_limit, relative to the repo (default: a directory of the store's own in the system temp directory, removed when the store closes)",
      ),
    point_in_time_join: z
      .enum(['auto', 'window'])
      .optional()
      .describe(
        "'auto' uses ASOF joins where exact; 'window' forces the range-join form (slower; for cross-checks)",
      ),
  })
  .strict()

export type DuckDBOptions = z.infer<typeof duckdbOptionsSchema>
