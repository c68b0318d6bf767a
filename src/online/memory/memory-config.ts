import { z } from 'zod'

/** `online_store: { type: memory }` takes no options. */
export const optionsSchema = z.object({}).strict()

export type MemoryOptions = z.output<typeof optionsSchema>
