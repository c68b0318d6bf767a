import type * as Bullmq from 'bullmq'
import type { Cluster, Redis, RedisOptions } from 'ioredis'
import { LarderError } from '../../core/index.js'
import { type BullmqOptions, redactedUrl, seedUrls } from './bullmq-config.js'

/** The driver modules, imported on first use so that a repo on the local engine never loads them. */
export interface BullmqDriver {
  readonly bullmq: typeof Bullmq
  readonly Redis: typeof Redis
  readonly Cluster: typeof Cluster
}

/** A connection to the engine's Redis: one server, or a Redis Cluster. */
export type RedisConnection = Redis | Cluster

const PACKAGES = ['bullmq', 'ioredis']
const CONNECT_TIMEOUT_MS = 5000

/**
 * Imports `bullmq` and `ioredis`. MISSING_DEPENDENCY with the install command when one of them is not
 * installed.
 */
export async function loadDriver(): Promise<BullmqDriver> {
  try {
    const bullmq = await import('bullmq')
    const { Redis, Cluster } = await import('ioredis')
    return { bullmq, Redis, Cluster }
  } catch (cause) {
    const missing = PACKAGES.find((p) => String((cause as Error)?.message ?? '').includes(`'${p}'`))
    throw new LarderError(
      'MISSING_DEPENDENCY',
      `batch_engine "bullmq" needs the npm package "${missing ?? 'bullmq'}", which is not installed`,
      { hint: `npm install ${PACKAGES.join(' ')}`, cause },
    )
  }
}

/**
 * A connection to the engine's Redis (`connection_string`; on `redis_type: redis_cluster`, a cluster
 * client that finds the other nodes from those listed), checked at once: a server that is down fails
 * here within 5 s with BACKEND_UNAVAILABLE naming it. Once connected, a lost connection is retried
 * with backoff and commands wait for it (BullMQ needs that of a worker's connection), so an outage of
 * Redis pauses the work instead of failing it. `name` shows in `CLIENT LIST`.
 */
export async function connect(
  driver: BullmqDriver,
  options: Pick<BullmqOptions, 'connection_string' | 'redis_type'>,
  name: string,
): Promise<RedisConnection> {
  const url = options.connection_string
  const common: RedisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    connectTimeout: CONNECT_TIMEOUT_MS,
    connectionName: name,
  }
  const backoff = (times: number) => Math.min(50 * 2 ** times, 2000)
  let redis: RedisConnection
  if (options.redis_type === 'redis_cluster') {
    const seeds = seedUrls(url)!
    const first = seeds[0]!
    redis = new driver.Cluster(
      seeds.map((seed) => ({ host: seed.hostname, port: Number(seed.port || 6379) })),
      {
        lazyConnect: true,
        clusterRetryStrategy: backoff,
        redisOptions: {
          ...common,
          username: decodeURIComponent(first.username) || undefined,
          password: decodeURIComponent(first.password) || undefined,
          tls: first.protocol === 'rediss:' ? {} : undefined,
        },
      },
    )
  } else {
    redis = new driver.Redis(url, { ...common, retryStrategy: backoff })
  }
  let refused: Error | undefined
  // a lost connection later is waited out by the commands; the event itself says nothing new
  redis.on('error', (e: Error) => {
    refused = e
  })
  try {
    await redis.connect()
    return redis
  } catch (cause) {
    redis.disconnect()
    throw unavailable(url, refused ?? cause)
  }
}

/** BACKEND_UNAVAILABLE for the Redis of the engine at `url`. */
export function unavailable(url: string, cause: unknown): LarderError {
  const reason = (cause as Error)?.message || String(cause)
  return new LarderError(
    'BACKEND_UNAVAILABLE',
    `cannot reach the Redis of batch_engine bullmq at ${redactedUrl(url)}: ${reason}`,
    { cause, hint: 'start Redis or fix batch_engine.connection_string in feature_store.yaml' },
  )
}
