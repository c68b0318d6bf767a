import { z } from 'zod'

/** `registry:` as an object. A bare string is shorthand for `{ path: <string> }`. */
export const registryConfigSchema = z
  .object({
    path: z.string().min(1).default('data/registry.db').describe('Registry file, relative to the repo'),
    registry_type: z.enum(['file']).default('file').describe('Only the file registry is available so far'),
    cache_ttl_seconds: z
      .number()
      .nonnegative()
      .default(600)
      .describe('How long a read may serve a cached registry; 0 means until the file changes'),
  })
  .strict()

/** A store block: a `type` plus that backend's own options, which the backend validates. */
export const storeConfigSchema = z.looseObject({ type: z.string().min(1).describe('Backend type') })

export const materializationConfigSchema = z
  .object({
    online_write_batch_size: z.number().int().positive().optional().describe('Rows per online write batch'),
  })
  .strict()

export const repoConfigSchema = z
  .object({
    project: z.string().min(1).describe('Project name: letters, digits, "_" and "-"'),
    project_description: z.string().optional(),
    provider: z.enum(['local']).default('local').describe('Only "local" is available'),
    registry: z
      .union([z.string().min(1), registryConfigSchema])
      .default('data/registry.db')
      .describe('Registry file path, or an object with path, registry_type and cache_ttl_seconds'),
    online_store: z
      .union([storeConfigSchema, z.null()])
      .default({ type: 'sqlite' })
      .describe('Online store: sqlite (default), redis, postgres or memory, with its options; null disables'),
    offline_store: storeConfigSchema.default({ type: 'duckdb' }).describe('Offline store: duckdb (default)'),
    entity_key_serialization_version: z
      .union([z.literal(1), z.literal(2), z.literal(3)])
      .default(3)
      .describe('Online key layout; 3 is current Feast, 2 and 1 only for stores Feast wrote long ago'),
    materialization: materializationConfigSchema.optional(),
    coerce_tz_aware: z
      .boolean()
      .default(true)
      .describe('Naive entity timestamps are UTC (always true in Larder)'),
    flags: z.record(z.string(), z.unknown()).optional().describe('Deprecated in Feast; accepted and ignored'),
  })
  .strict()

export type RawRepoConfig = z.input<typeof repoConfigSchema>
