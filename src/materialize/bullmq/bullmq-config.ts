import { z } from 'zod'
import { CONFIG_FILE, type RepoConfig } from '../../config/index.js'
import { knownNames, LarderError, parseDuration } from '../../core/index.js'

const DEFAULT_URL = 'redis://127.0.0.1:6379'

/** `batch_engine: { type: bullmq, ... }`: where the queue is and how a job is cut into tasks. */
export const bullmqOptionsSchema = z.strictObject({
  connection_string: z
    .string()
    .default(DEFAULT_URL)
    .refine((text) => seedUrls(text) !== undefined, {
      message:
        'must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379 or redis://:password@host:6379/0 (for redis_cluster, several separated by commas)',
    })
    .describe(
      'The Redis server of the queue and of the jobs (redis:// or rediss:// URL); for redis_cluster, one or more nodes separated by commas',
    ),
  redis_type: z
    .enum(['redis', 'redis_cluster'])
    .default('redis')
    .describe(
      "redis: one server; redis_cluster: a Redis Cluster, found from the nodes of connection_string (Feast's key)",
    ),
  queue: z
    .string()
    .min(1)
    .regex(/^[^:]+$/, { message: 'must be a name without ":" (BullMQ keeps queue names whole in its keys)' })
    .default('larder')
    .describe('The BullMQ queue name; workers of one deployment share it'),
  concurrency: z
    .number()
    .int()
    .min(1, { message: 'must be 1 or more' })
    .default(1)
    .describe('Tasks a `larder worker` process runs at once (`--concurrency` overrides it)'),
  partitions: z
    .number()
    .int()
    .min(1, { message: 'must be 1 or more' })
    .max(1024, { message: 'must be at most 1024' })
    .default(4)
    .describe("Entity-key parts each view's window is split into (one task per part and time slice)"),
  slice: z
    .union([z.string(), z.number()])
    .optional()
    .transform((input, ctx) => {
      if (input === undefined) return undefined
      try {
        const seconds = parseDuration(input, 'slice')
        if (Number.isInteger(seconds) && seconds >= 1) return seconds
      } catch {
        // reported below with the fix
      }
      ctx.addIssue({
        code: 'custom',
        message: `${JSON.stringify(input)} is not a whole number of seconds, at least 1s; write a duration such as 6h or 1d`,
      })
      return z.NEVER
    })
    .describe(
      'Split each window into time slices this long (e.g. 6h, 1d), aligned to the UTC epoch; default one slice',
    ),
  max_attempts: z
    .number()
    .int()
    .min(1, { message: 'must be 1 or more' })
    .default(3)
    .describe('Attempts per task before the job fails (retries back off exponentially from 1 s)'),
  lock_duration_ms: z
    .number()
    .int()
    .min(1000, { message: 'must be at least 1000' })
    .default(30_000)
    .describe(
      "How long a worker's lock on a task lasts without renewal; a killed worker's task is retried after it expires",
    ),
  prefix: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Prefix of every Redis key of the queue and the jobs; default larder, or {larder} on a cluster (a cluster needs a {hash tag} so that they share a slot)',
    ),
})

/** The options of the `bullmq` engine, defaulted; `slice` in seconds. */
export type BullmqOptions = Omit<z.output<typeof bullmqOptionsSchema>, 'prefix'> & { readonly prefix: string }

/**
 * The `batch_engine` options of `config`, validated. INVALID_CONFIG when the engine is not `bullmq`
 * or an option is unknown or wrong, naming the key and the fix.
 *
 * @example const options = bullmqOptions(store.config)
 */
export function bullmqOptions(config: RepoConfig): BullmqOptions {
  if (config.batchEngine.type !== 'bullmq') {
    throw new LarderError(
      'INVALID_CONFIG',
      `${CONFIG_FILE} of project "${config.project}" runs materialization with the ${config.batchEngine.type} engine, not bullmq`,
      {
        hint: 'set batch_engine: { type: bullmq, connection_string: redis://host:6379 } in feature_store.yaml',
      },
    )
  }
  const parsed = bullmqOptionsSchema.safeParse(config.batchEngine.options)
  if (parsed.success) return Object.freeze(withPrefix(parsed.data))
  const issue = parsed.error.issues[0]!
  if (issue.code === 'unrecognized_keys') {
    throw new LarderError(
      'INVALID_CONFIG',
      `${CONFIG_FILE}: unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')} in batch_engine (type bullmq)`,
      {
        hint: `known keys: ${knownNames(['type', ...Object.keys(bullmqOptionsSchema.shape)])}`,
        details: { keys: issue.keys },
      },
    )
  }
  const key = ['batch_engine', ...issue.path.map(String)].join('.')
  const described = bullmqOptionsSchema.shape[issue.path[0] as keyof typeof bullmqOptionsSchema.shape]
  throw new LarderError('INVALID_CONFIG', `${CONFIG_FILE}: ${key} (type bullmq) ${issue.message}`, {
    hint: `fix ${key} in feature_store.yaml${described?.description ? `: ${described.description}` : ''}`,
    details: { path: ['batch_engine', ...issue.path] },
  })
}

/**
 * The options with their key prefix: `larder`, or `{larder}` on a cluster when none is given.
 * INVALID_CONFIG for several nodes on `redis_type: redis`, and for a cluster prefix without a
 * `{hash tag}` (BullMQ's scripts touch several keys of a queue at once, which a cluster allows only
 * within one slot).
 */
function withPrefix(options: z.output<typeof bullmqOptionsSchema>): BullmqOptions {
  const cluster = options.redis_type === 'redis_cluster'
  if (!cluster && seedUrls(options.connection_string)!.length > 1) {
    throw new LarderError(
      'INVALID_CONFIG',
      `${CONFIG_FILE}: batch_engine.connection_string (type bullmq) lists ${seedUrls(options.connection_string)!.length} servers, but redis_type is redis`,
      {
        hint: 'set batch_engine.redis_type: redis_cluster in feature_store.yaml for a Redis Cluster, or give one redis:// URL',
      },
    )
  }
  const prefix = options.prefix ?? (cluster ? '{larder}' : 'larder')
  if (cluster && !/\{[^{}]+\}/.test(prefix)) {
    throw new LarderError(
      'INVALID_CONFIG',
      `${CONFIG_FILE}: batch_engine.prefix (type bullmq) "${prefix}" has no {hash tag}, which a Redis Cluster needs`,
      {
        hint: `write it as "{${prefix}}" in feature_store.yaml, so that every key of the queue and the jobs lives in one slot`,
      },
    )
  }
  return { ...options, prefix }
}

/** The URLs of a connection string of one or more comma-separated `redis://` URLs, or undefined. */
export function seedUrls(text: string): URL[] | undefined {
  const urls = text.split(',').map((part) => redisUrl(part.trim()))
  return urls.every((url) => url !== undefined) ? (urls as URL[]) : undefined
}

/** The URL of a `redis://` or `rediss://` connection string, or undefined when it is not one. */
export function redisUrl(text: string): URL | undefined {
  try {
    const url = new URL(text)
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '' ? url : undefined
  } catch {
    return undefined
  }
}

/** The connection string without its credentials, for messages and logs. */
export function redactedUrl(text: string): string {
  const urls = seedUrls(text)
  if (!urls) return text
  return urls
    .map((url) => {
      url.username = ''
      url.password = ''
      return url.toString()
    })
    .join(',')
}
