import { z } from 'zod'
import { authConfigSchema } from './auth-config.js'
import { featureServerConfigSchema } from './feature-server-config.js'
import { onlineLimitsShape } from './online-limits.js'

/**
 * `registry:` as an object. A bare string is shorthand for `{ path: <string> }`. Keys Feast knows that
 * Larder does not act on are accepted and reported as warnings (see `repo-config.ts`).
 */
export const registryConfigSchema = z
  .object({
    path: z
      .string()
      .min(1)
      .default('data/registry.db')
      .describe(
        'Registry file, relative to the repo (object-store URLs are not read); with registry_type sql, a database URL: postgresql://, sqlite:///, mysql:// (SQLAlchemy +driver suffixes accepted); with registry_type remote, the registry server as host:port or http://host:port',
      ),
    registry_type: z
      .enum(['file', 'sql', 'remote'])
      .default('file')
      .describe(
        "Which registry: file (Feast's protobuf file), sql (Feast's SQL registry tables) or remote (a registry server: larder serve-registry or feast serve_registry)",
      ),
    schema_mode: z
      .enum(['auto', 'verify', 'skip'])
      .default('auto')
      .describe(
        'SQL registry: auto creates missing tables, verify fails when one is missing, skip checks nothing',
      ),
    sqlalchemy_config_kwargs: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("Feast's SQLAlchemy engine arguments for the SQL registry; ignored"),
    cache_ttl_seconds: z
      .number()
      .nonnegative()
      .default(600)
      .describe('How long a read may serve a cached registry; 0 means until the file changes'),
    cache_mode: z
      .enum(['sync', 'thread'])
      .default('sync')
      .describe('sync: a stale cache is refreshed on the next read; thread is read as sync'),
    registry_store_type: z
      .string()
      .min(1)
      .optional()
      .describe("Feast's registry store class; only FileRegistryStore (a local file) is available"),
    s3_additional_kwargs: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('Feast: boto3 arguments for an S3 registry; ignored'),
    purge_feast_metadata: z.boolean().optional().describe("Feast's SQL registry metadata table; ignored"),
    enable_online_feature_view_versioning: z
      .boolean()
      .optional()
      .describe('Feast: versioned online table names; Larder uses unversioned names'),
    mcp: z.record(z.string(), z.unknown()).optional().describe("Feast's MCP registry server; ignored"),
  })
  .strict()

/**
 * A store block: a `type` plus that backend's own options, which the backend validates. Without a
 * `type`, Feast's default applies (sqlite online, dask offline).
 */
export const storeConfigSchema = z.looseObject({
  type: z.string().min(1).optional().describe('Backend type'),
})

export const materializationConfigSchema = z
  .object({
    online_write_batch_size: z.number().int().positive().optional().describe('Rows per online write batch'),
    pull_latest_features: z
      .boolean()
      .optional()
      .describe('Larder always writes the latest row per entity, the state Feast ends with either way'),
  })
  .strict()

/** A block with a `type` and options Larder does not read, as Feast's `batch_engine`. */
const typedBlock = <T extends z.ZodType>(type: T) => z.looseObject({ type })

const batchEngineSchema = z
  .union([z.string().min(1), typedBlock(z.string().min(1))])
  .optional()
  .describe(
    'Materialization engine: local (in-process, default) or bullmq (tasks on a Redis queue run by `larder worker`)',
  )

export const repoConfigSchema = z
  .object({
    project: z.string().min(1).describe('Project name: letters, digits, "_" and "-"'),
    project_description: z.string().optional(),
    provider: z
      .enum(['local'])
      .default('local')
      .describe('Only "local": Larder sets every store explicitly, as Feast\'s local provider'),
    registry: z
      .union([z.string().min(1), registryConfigSchema])
      .default('data/registry.db')
      .describe('Registry file path, or an object with path, registry_type and cache_ttl_seconds'),
    online_store: z
      .union([storeConfigSchema, z.null(), z.string()])
      .default({ type: 'sqlite' })
      .describe('Online store: sqlite (default), redis, postgres or memory, with its options; null disables'),
    offline_store: z
      .union([storeConfigSchema, z.string()])
      .default({ type: 'duckdb' })
      .describe('Offline store: duckdb (default; Feast file and dask are served by it)'),
    entity_key_serialization_version: z
      .literal([1, 2, 3])
      .default(3)
      .describe('Online key layout; 3 is current Feast, 2 and 1 only for stores Feast wrote long ago'),
    materialization: materializationConfigSchema.optional(),
    coerce_tz_aware: z
      .boolean()
      .default(true)
      .describe('Naive entity timestamps are UTC (always true in Larder)'),
    batch_engine: batchEngineSchema,
    batch_engine_config: batchEngineSchema,
    engine: batchEngineSchema,
    stream_processor: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('`larder stream`: broker addresses and micro-batch sizes (checked by the stream processor)'),
    auth: authConfigSchema.optional(),
    feature_server: featureServerConfigSchema
      .extend(onlineLimitsShape)
      .optional()
      .describe(
        "Feast's feature server settings (ignored; Larder's server takes `larder serve` options), plus Larder's allowed_hosts, allowed_origins and allow_credentials for its HTTP servers",
      ),
    flags: z.record(z.string(), z.unknown()).optional().describe('Deprecated in Feast; accepted and ignored'),
    repo_path: z.string().optional().describe('Ignored, as by Feast: paths resolve against this file'),
    go_feature_serving: z.boolean().optional().describe("Feast 0.2x's Go server; ignored"),
    go_feature_retrieval: z.boolean().optional().describe("Feast 0.2x's Go retrieval; ignored"),
    openlineage: z.record(z.string(), z.unknown()).optional().describe('Feast OpenLineage; ignored'),
    mlflow: z.record(z.string(), z.unknown()).optional().describe('Feast MLflow integration; ignored'),
    embedding_model: z.record(z.string(), z.unknown()).optional().describe('Feast vector search; ignored'),
    data_quality_monitoring: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('Feast data-quality monitoring; ignored'),
  })
  .strict()

export type RawRepoConfig = z.input<typeof repoConfigSchema>
export type ParsedRepoConfig = z.output<typeof repoConfigSchema>
