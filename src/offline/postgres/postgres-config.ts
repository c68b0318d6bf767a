import { z } from 'zod'

/**
 * `offline_store: { type: postgres, ... }`: the keys of Feast's PostgreSQL offline store config (its
 * `PostgreSQLConfig`), plus Larder's `point_in_time_join` and `temp_directory`. Unknown keys are rejected.
 */
export const optionsSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(5432),
    database: z.string().min(1),
    db_schema: z
      .string()
      .min(1)
      .default('public')
      .describe('Schema of unqualified source tables and of saved-dataset tables'),
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
    conn_type: z
      .enum(['singleton', 'pool'])
      .default('singleton')
      .describe(
        'Accepted for Feast compatibility; the offline store always pools up to max_conn connections',
      ),
    keepalives_idle: z.number().int().positive().optional().describe('TCP keepalive idle time in seconds'),
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
