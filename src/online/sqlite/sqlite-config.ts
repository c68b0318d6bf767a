import { z } from 'zod'

/** `online_store: { type: sqlite, path }`, as Feast. */
export const optionsSchema = z
  .object({
    path: z
      .string()
      .min(1)
      .default('data/online.db')
      .describe('SQLite database file, relative to the repo; ":memory:" for a private in-memory database'),
  })
  .strict()

export type SqliteOptions = z.output<typeof optionsSchema>
