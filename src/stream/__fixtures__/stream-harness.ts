// Test helpers of `larder stream` as a user runs it: repos with one stream feature view (sum and count
// of `fare` over 1 h and 10 min, offline rows in a directory) over a Redis stream or a NATS subject,
// the built CLI (dist/) run as child processes and read through /health and /metrics, numbered trip
// events written to the broker in bulk, and the state a run leaves (online values, tile windows,
// offline rows, the group's position) read back for comparison.
import { appendFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import { createTestRepo, type TestRepo } from '../../materialize/__fixtures__/test-repo.js'
import { type LarderProcess, startLarderProcess } from '../../server/__fixtures__/serve-process.js'

const CORE = fileURLToPath(new URL('../../core/index.ts', import.meta.url))
const [redisHost, redisPort] = (process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379').split(':') as [
  string,
  string,
]
export const REDIS_HOST = redisHost
export const REDIS_PORT = Number(redisPort)
export const REDIS_URL = `redis://${redisHost}:${redisPort}`
const [natsHost, natsPort] = (process.env.LARDER_TEST_NATS ?? '127.0.0.1:4222').split(':') as [string, string]
export const NATS_HOST = natsHost
export const NATS_PORT = Number(natsPort)
export const NATS_URL = `nats://${natsHost}:${natsPort}`

/** The online store of the stream tests: Redis, each repo under its own project. */
export const REDIS_ONLINE = `type: redis\nconnection_string: ${redisHost}:${redisPort}`

/** What the helpers use of a node-redis client. */
export interface RedisClient {
  xAdd(key: string, id: string, message: Record<string, string>): Promise<unknown>
  sendCommand(args: string[]): Promise<unknown>
}

/** Where a repo's stream view reads: a Redis stream's key, or a NATS subject and the JetStream stream storing it. */
export type BrokerSource =
  | { readonly kind: 'redis'; readonly stream: string }
  | { readonly kind: 'nats'; readonly subject: string; readonly stream: string }

/** The features of `trip_stats`, as getOnlineFeatures names them. */
export const TRIP_FEATURES = [
  'trip_stats:fare',
  'trip_stats:seq',
  'trip_stats:sum_fare_3600s',
  'trip_stats:count_fare_3600s',
  'trip_stats:count_fare_600s',
] as const

/** features.ts of a repo whose `trip_stats` reads `source`, keeping its events offline in data/trips/. */
export function streamDefinitions(source: BrokerSource): string {
  const stream =
    source.kind === 'redis'
      ? `new RedisStreamSource({
  name: 'trips_stream', stream: ${JSON.stringify(source.stream)}, timestampField: 'event_timestamp', batchSource: tripsFile,
})`
      : `new NatsSource({
  name: 'trips_stream', subject: ${JSON.stringify(source.subject)}, stream: ${JSON.stringify(source.stream)},
  timestampField: 'event_timestamp', batchSource: tripsFile,
})`
  return `import {
  Aggregation, Entity, Field, FileSource, Float64, Int64, NatsSource, RedisStreamSource, StreamFeatureView,
} from ${JSON.stringify(CORE)}
export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
export const tripsFile = new FileSource({ name: 'trips_file', path: 'data/trips', timestampField: 'event_timestamp' })
export const tripsStream = ${stream}
export const tripStats = new StreamFeatureView({
  name: 'trip_stats',
  source: tripsStream,
  entities: [driver],
  schema: [
    new Field({ name: 'driver_id', dtype: Int64 }),
    new Field({ name: 'fare', dtype: Float64 }),
    new Field({ name: 'seq', dtype: Int64 }),
  ],
  aggregations: [
    new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h' }),
    new Aggregation({ column: 'fare', function: 'count', timeWindow: '1h' }),
    new Aggregation({ column: 'fare', function: 'count', timeWindow: '10m' }),
  ],
  online: true,
  offline: true,
})
`
}

/**
 * An applied repo (Redis online store, DuckDB offline store) whose `trip_stats` reads `source`, with
 * `stream_processor` settings (YAML lines without indentation) when given. Close it to tear it down.
 */
export async function streamRepo(source: BrokerSource, processor: readonly string[] = []): Promise<TestRepo> {
  const repo = await createTestRepo({
    onlineStore: REDIS_ONLINE,
    featuresFile: streamDefinitions(source),
    prepare: async (dir) => {
      mkdirSync(join(dir, 'data', 'trips'))
    },
  })
  const block = [
    source.kind === 'redis' ? `redis_connection_string: ${REDIS_URL}` : `nats_servers: ${NATS_URL}`,
    ...processor,
  ]
  appendFileSync(
    join(repo.dir, 'feature_store.yaml'),
    `stream_processor:\n${block.map((l) => `  ${l}`).join('\n')}\n`,
  )
  return repo
}

/** A `larder stream` child process, once it logged `stream ready`. */
export interface StreamProcess extends LarderProcess {
  /** The status server's URL (`/health`, `/metrics`). */
  readonly url: string
}

/**
 * Starts `larder -c <dir> stream --port 0 <args>` from the built CLI and resolves once it logged
 * `stream ready`. Every process started is also pushed onto `started`, so a test's afterAll can kill
 * what a failed test left running.
 */
export async function startStream(
  dir: string,
  args: readonly string[],
  started: StreamProcess[],
): Promise<StreamProcess> {
  const process = await startLarderProcess(['-c', dir, 'stream', '--port', '0', ...args], 'stream ready')
  const stream = { ...process, url: process.ready.url as string }
  started.push(stream)
  return stream
}

/** Kills every process with SIGKILL and waits for them to end. */
export async function killAll(started: StreamProcess[]): Promise<void> {
  await Promise.all(started.splice(0).map((p) => p.stop('SIGKILL')))
}

// biome-ignore lint/suspicious/noExplicitAny: /health bodies are read loosely
export async function health(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/health`)
  return { status: res.status, body: await res.json() }
}

/** The process's `larder_stream_events_total` for the view (0 before its first batch). */
export async function eventsWritten(url: string, view = 'trip_stats'): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`larder_stream_events_total{feature_view="${view}"}`))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
}

/** Polls `probe` every `everyMs` until it returns something other than undefined or false; throws naming `what` after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  everyMs = 50,
): Promise<T> {
  const until = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const got = await probe()
      if (got !== undefined && got !== false) return got
    } catch (error) {
      last = error
    }
    if (Date.now() > until)
      throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`)
    await sleep(everyMs)
  }
}

/** One trip event: driver, time, fare (whole numbers, so sums are exact in any order) and its number. */
export interface TripEvent {
  readonly driver_id: number
  readonly event_timestamp: string
  readonly fare: number
  readonly seq: number
}

/**
 * `n` events for `drivers` drivers, spread evenly over the 30 minutes that end 10 minutes before
 * `now` (epoch ms), each at its own millisecond, so every window read at `now` holds them all and the
 * newest event of a driver is never tied.
 */
export function tripEvents(n: number, drivers: number, now: number): TripEvent[] {
  const start = now - 40 * 60_000
  const step = Math.max(1, Math.floor((30 * 60_000) / n))
  return Array.from({ length: n }, (_, i) => ({
    driver_id: 1 + (i % drivers),
    event_timestamp: new Date(start + i * step).toISOString(),
    fare: (i * 7) % 101,
    seq: i,
  }))
}

/** XADDs the events to the stream as entry fields (text), pipelined in chunks. */
export async function addToRedis(
  redis: RedisClient,
  stream: string,
  events: readonly TripEvent[],
): Promise<void> {
  for (let start = 0; start < events.length; start += 1000) {
    await Promise.all(
      events.slice(start, start + 1000).map((e) =>
        redis.xAdd(stream, '*', {
          driver_id: String(e.driver_id),
          event_timestamp: e.event_timestamp,
          fare: String(e.fare),
          seq: String(e.seq),
        }),
      ),
    )
  }
}

/** The consumer group's state on a Redis stream (XINFO GROUPS). */
export interface GroupState {
  /** Delivered and not acknowledged. */
  readonly pending: number
  /** Not yet delivered (null when Redis cannot tell). */
  readonly lag: number | null
  readonly entriesRead: number | null
}

export async function groupState(
  redis: RedisClient,
  stream: string,
  group = 'larder',
): Promise<GroupState | undefined> {
  const groups = (await redis.sendCommand(['XINFO', 'GROUPS', stream])) as (
    | unknown[]
    | Record<string, unknown>
  )[]
  for (const reply of groups) {
    // a flat [key, value…] array in RESP2, a map in RESP3
    const info = new Map<string, unknown>(Array.isArray(reply) ? [] : Object.entries(reply))
    if (Array.isArray(reply))
      for (let i = 0; i + 1 < reply.length; i += 2) info.set(String(reply[i]), reply[i + 1])
    if (String(info.get('name')) !== group) continue
    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v))
    return {
      pending: Number(info.get('pending')),
      lag: num(info.get('lag')),
      entriesRead: num(info.get('entries-read')),
    }
  }
  return undefined
}

/** The entries a member of the group holds unacknowledged (XPENDING summary by consumer). */
export async function pendingOf(
  redis: RedisClient,
  stream: string,
  member: string,
  group = 'larder',
): Promise<number> {
  const summary = (await redis.sendCommand(['XPENDING', stream, group])) as [
    unknown,
    unknown,
    unknown,
    [string, string][] | null,
  ]
  return Number(summary[3]?.find(([name]) => String(name) === member)?.[1] ?? 0)
}

/** Each driver's values of every feature of TRIP_FEATURES read at `now`, for `drivers` drivers. */
export async function onlineValues(repo: TestRepo, drivers: number, now: number): Promise<unknown[][]> {
  const ids = Array.from({ length: drivers }, (_, i) => i + 1)
  const response = await repo.store.getOnlineFeatures(
    { entities: { driver_id: ids }, features: [...TRIP_FEATURES] },
    { now: new Date(now) },
  )
  return response.results.map((r) => [...r.values])
}

/** The `seq` of every offline row in the repo's data/trips/ part files, and how many rows there are. */
export async function offlineSeqs(dir: string): Promise<{ rows: number; distinct: number; files: number }> {
  const instance = await DuckDBInstance.create(':memory:')
  const db = await instance.connect()
  try {
    const glob = join(dir, 'data', 'trips', '*.parquet').replaceAll("'", "''")
    const reader = await db.runAndReadAll(
      `SELECT count(*)::INTEGER, count(DISTINCT seq)::INTEGER, count(DISTINCT filename)::INTEGER FROM read_parquet('${glob}', filename = true)`,
    )
    const [rows, distinct, files] = reader.getRows()[0] as [number, number, number]
    return { rows, distinct, files }
  } finally {
    db.closeSync()
    instance.closeSync()
  }
}
