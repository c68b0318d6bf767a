import { z } from 'zod'
import { postgresConnectionKeys } from '../../config/index.js'

/**
 * `offline_store: { type: postgres, ... }`: the keys of Feast's PostgreSQL offline store config (its
 * `PostgreSQLConfig`), plus Larder's `point_in_time_join` and `temp_directory`. Unknown keys are rejected.
 */
export const optionsSchema = z
  .object({
    ...postgresConnectionKeys,
    db_schema: z
      .string()
      .min(1)
      .default('public')
      .describe('Schema of unqualified source tables and of saved-dataset tables'),
    conn_type: z
      .enum(['singleton', 'pool'])
      .default('singleton')
      .describe(
        'Accepted for Feast compatibility; the offline store always pools up to max_conn connections',
      ),
    entity_select_mode: z
      .enum(['temp_table', 'embed_query'])
      .default('temp_table')
      .describe(
        'Accepted for Feast compatibility; Larder always loads the entity rows into a temporary table',
      ),
    point_in_time_join: z
      .enum(['auto', 'window'])
      .optional()
      .describe(
        "'auto' uses LATERAL … LIMIT 1 lookups; 'window' forces the range-join form (for cross-checks)",
      ),
    temp_directory: z
      .string()
      .min(1)
      .optional()
      .describe('Where results are staged on their way out of PostgreSQL (default: the system temp dir)'),
  })
  .strict()

export type PostgresOfflineOptions = z.output<typeof optionsSchema>
