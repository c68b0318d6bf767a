import { z } from 'zod'
import { postgresConnectionKeys } from '../../config/index.js'

/** `online_store: { type: postgres, ... }`, with Feast's keys and defaults. */
export const optionsSchema = z
  .object({
    ...postgresConnectionKeys,
    db_schema: z
      .string()
      .min(1)
      .default('public')
      .describe('Schema of the online tables; created if missing'),
    conn_type: z
      .enum(['singleton', 'pool'])
      .default('singleton')
      .describe("singleton: one connection (Feast's default); pool: min_conn to max_conn connections"),
  })
  .strict()

export type PostgresOptions = z.output<typeof optionsSchema>
