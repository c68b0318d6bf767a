import { z } from 'zod'

/** `online_store: { type: postgres, ... }`, with Feast's keys and defaults. */
export const optionsSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(5432),
    database: z.string().min(1),
    db_schema: z
      .string()
      .min(1)
      .default('public')
      .describe('Schema of the online tables; created if missing'),
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
      .describe("singleton: one connection (Feast's default); pool: min_conn to max_conn connections"),
    keepalives_idle: z.number().int().positive().optional().describe('TCP keepalive idle time in seconds'),
  })
  .strict()

export type PostgresOptions = z.output<typeof optionsSchema>
