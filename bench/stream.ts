// The stream processor, a Redis stream into the Redis online store: a stream feature view of 3
// features (Float64, Int64, String) keyed by an Int64 driver, with 2 windowed aggregations (sum and
// count of the fare over 1 h), events as Redis entry fields (text), batch_size default (500), no
// offline append. Prints one JSON line per figure.
//
// stream_redis_throughput: events/s of `runStreamProcessor` (in this process) draining a stream that
// holds N events (read, decode, check, write each entity's newest values newer-wins, apply the tiles,
// ack, release the tiles' marks), timed from the call until its metrics count N events; against, in
// the same run on the same entries, a raw loop: XREADGROUP COUNT 500, each entry's fields parsed, its
// Feast entity key and Value bytes encoded and written with one pipelined HSET per event, then XACK
// of the batch (no newer-wins check, no tiles). Medians of interleaved runs, each on a fresh consumer
// group and an emptied online store; `run_ratios` gives each run's ratio against the reference run
// right after it, which a shared machine's changing load skews less than the medians.
//
// stream_redis_freshness: how long after its XADD an event is readable online, p50 and p99. A child
// process XADDs events at a steady rate (RATE events/s for SECONDS s, spread over the drivers), each
// stamped with its send time (Date.now(), as its event_timestamp); the processor runs in this process
// on a group created at the stream's end. Method: the processor's online store is wrapped to remember
// the event times of each batch's tile writes (every event of the batch; the latest-value write holds
// only each entity's newest), and when the processor reports the batch done (written online and into
// the tiles, then acknowledged) each event's freshness is that instant minus its send time: every
// event is measured, none is missed between polls (a polling reader would add its poll interval and
// sample only some keys), and the figure is an upper bound of "readable" (values are readable from
// their writes, a little before the report). Same machine, so one clock. The reference is the raw
// loop above (XREADGROUP BLOCK 100 COUNT 500, HSET, XACK) on the same producer, measured after its
// XACK. Goal: p99 < 1 s.
//
// Env: BENCH_STREAM_EVENTS (default 100000), BENCH_RUNS (default 3), BENCH_STREAM_RATE (default 5000
// events/s), BENCH_STREAM_SECONDS (default 10), BENCH_STREAM_DRIVERS (default 10000),
// LARDER_TEST_REDIS (default 127.0.0.1:6379).
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { createClient, RESP_TYPES } from 'redis'
import {
  encodeTimestamp,
  encodeValue,
  Float64,
  Int64,
  redisFeatureField,
  String as Str,
  serializeEntityKey,
  toMicros,
  ValueType,
} from '../src/core/index.js'
import { FeatureStore } from '../src/feature-store.js'
import type { OnlineStore } from '../src/online/online-store.js'
import type { TileStore } from '../src/online/tile-store.js'
import { runStreamProcessor, type StreamMetrics, type StreamTarget } from '../src/stream/index.js'

const here = dirname(fileURLToPath(import.meta.url))
const EVENTS = Number(process.env.BENCH_STREAM_EVENTS ?? 100_000)
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const RATE = Number(process.env.BENCH_STREAM_RATE ?? 5000)
const SECONDS = Number(process.env.BENCH_STREAM_SECONDS ?? 10)
const DRIVERS = Number(process.env.BENCH_STREAM_DRIVERS ?? 10_000)
const REDIS = process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379'
const RAW_BATCH = 500
const CITIES = ['Lisbon', 'Porto', 'Braga', 'Faro', 'Coimbra']

const project = `bench_stream_${process.pid}_${Date.now().toString(36)}`
const rawProject = `${project}_raw`
/** Not ending with the project's name, so clearing the project's keys leaves it. */
const STREAM = `larder-bench-stream:${process.pid}:${Date.now().toString(36)}`
const CORE = join(here, '..', 'src', 'core', 'index.ts')

type Raw = ReturnType<typeof rawClient>

function rawClient() {
  const [host, port] = REDIS.split(':') as [string, string]
  return createClient({ socket: { host, port: Number(port) }, RESP: 2 }).withTypeMapping({
    [RESP_TYPES.BLOB_STRING]: Buffer,
  })
}

const definitions = `import {
  Aggregation, Entity, Field, FileSource, Float64, Int64, RedisStreamSource, StreamFeatureView, String,
} from ${JSON.stringify(CORE)}
export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
export const tripsFile = new FileSource({ name: 'trips_file', path: 'data/trips', timestampField: 'event_timestamp' })
export const tripsStream = new RedisStreamSource({
  name: 'trips_stream', stream: ${JSON.stringify(STREAM)}, timestampField: 'event_timestamp', batchSource: tripsFile,
})
export const tripStats = new StreamFeatureView({
  name: 'trip_stats',
  source: tripsStream,
  entities: [driver],
  schema: [
    new Field({ name: 'driver_id', dtype: Int64 }),
    new Field({ name: 'fare', dtype: Float64 }),
    new Field({ name: 'trips', dtype: Int64 }),
    new Field({ name: 'city', dtype: String }),
  ],
  aggregations: [
    new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h' }),
    new Aggregation({ column: 'fare', function: 'count', timeWindow: '1h' }),
  ],
  online: true,
  offline: false,
})
`

/** A repo whose `trip_stats` reads STREAM into Redis, applied. */
async function openRepo(): Promise<{ dir: string; store: FeatureStore }> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-stream-'))
  mkdirSync(join(dir, 'data', 'trips'), { recursive: true })
  writeFileSync(
    join(dir, 'feature_store.yaml'),
    [
      `project: ${project}`,
      'registry: data/registry.db',
      'provider: local',
      'online_store:',
      '  type: redis',
      `  connection_string: ${REDIS}`,
      'offline_store:',
      '  type: duckdb',
      'entity_key_serialization_version: 3',
      'stream_processor:',
      `  redis_connection_string: redis://${REDIS}`,
      '',
    ].join('\n'),
  )
  writeFileSync(join(dir, 'features.ts'), definitions)
  const store = await FeatureStore.open(dir)
  await store.apply()
  return { dir, store }
}

/** The entry fields of event `i`, its time within the last 30 minutes. */
function eventFields(i: number, now: number): string[] {
  return [
    'driver_id',
    String(1 + (i % DRIVERS)),
    'event_timestamp',
    new Date(now - 30 * 60_000 + Math.floor((i * 30 * 60_000) / EVENTS)).toISOString(),
    'fare',
    String(((i * 7) % 101) + 0.25),
    'trips',
    String(i % 17),
    'city',
    CITIES[i % CITIES.length]!,
  ]
}

async function fill(raw: Raw): Promise<void> {
  const now = Date.now()
  for (let start = 0; start < EVENTS; start += 5000) {
    const multi = raw.multi()
    for (let i = start; i < Math.min(start + 5000, EVENTS); i++)
      multi.addCommand(['XADD', STREAM, '*', ...eventFields(i, now)])
    await multi.execAsPipeline()
  }
}

/** Deletes the keys of both projects: latest values (`<entity key><project>`) and tiles. */
async function clearOnline(raw: Raw): Promise<void> {
  for (const pattern of [`*${project}`, `*${rawProject}`, `larder:tiles:${project}:*`]) {
    for await (const keys of raw.scanIterator({ MATCH: pattern, COUNT: 10_000 })) {
      if (keys.length > 0) await raw.unlink(keys)
    }
  }
}

/** A consumer group on STREAM made anew, from the first entry (`0`) or the end (`$`). */
async function freshGroup(raw: Raw, group: string, from: '0' | '$'): Promise<void> {
  await raw.sendCommand(['XGROUP', 'DESTROY', STREAM, group]).catch(() => undefined)
  await raw.sendCommand(['XGROUP', 'CREATE', STREAM, group, from, 'MKSTREAM'])
}

/** Counts events as the processor reports batches done, and calls `onBatch` with the instant. */
function countingMetrics(onBatch: (events: number, at: number) => void): StreamMetrics {
  return {
    batch: (_view, events) => onBatch(events, Date.now()),
    deadLettered: (source, n) => {
      throw new Error(`${n} events of ${source} dead-lettered`)
    },
    error: (source, kind) => process.stderr.write(`stream bench: ${kind} error on ${source}\n`),
    lag: () => {},
  }
}

/** Runs the processor until it reported `events` events done; the seconds it took from the start. */
async function drain(target: StreamTarget, events: number, onBatch?: (at: number) => void): Promise<number> {
  let done = 0
  let finished!: () => void
  const all = new Promise<void>((r) => {
    finished = r
  })
  const t = performance.now()
  const processor = await runStreamProcessor(target, {
    member: 'bench',
    onLog: (l) => {
      if (l.level !== 'info') process.stderr.write(`stream bench: ${JSON.stringify(l)}\n`)
    },
    metrics: countingMetrics((n, at) => {
      onBatch?.(at)
      done += n
      if (done >= events) finished()
    }),
  })
  try {
    await all
    return (performance.now() - t) / 1000
  } finally {
    await processor.stop()
  }
}

/** The raw side: encodes an entry as the online store's HSET of the latest values. */
function rawWriter() {
  const projectBytes = Buffer.from(rawProject)
  const field = (f: string) => Buffer.from(redisFeatureField('trip_stats', f))
  const [fare, trips, city] = [field('fare'), field('trips'), field('city')]
  const tsField = Buffer.from('_ts:trip_stats')
  return (fields: Buffer[]): { args: (string | Buffer)[]; eventTs: number } => {
    const values = new Map<string, string>()
    for (let i = 0; i + 1 < fields.length; i += 2)
      values.set(fields[i]!.toString(), fields[i + 1]!.toString())
    const key = serializeEntityKey([
      { joinKey: 'driver_id', valueType: ValueType.INT64, value: Number(values.get('driver_id')) },
    ])
    const eventTs = toMicros(values.get('event_timestamp')!)
    return {
      args: [
        'HSET',
        Buffer.concat([key, projectBytes]),
        tsField,
        Buffer.from(encodeTimestamp(eventTs)),
        fare,
        Buffer.from(encodeValue(Float64, Number(values.get('fare')))),
        trips,
        Buffer.from(encodeValue(Int64, Number(values.get('trips')))),
        city,
        Buffer.from(encodeValue(Str, values.get('city'))),
      ],
      eventTs,
    }
  }
}

type RawEntries = [Buffer, Buffer[]][]

/**
 * The raw loop: XREADGROUP COUNT 500, one pipelined HSET per event, XACK; until `stop` says so.
 * `onBatch` gets each batch's event times (µs) and the instant after its XACK.
 */
async function rawLoop(
  reader: Raw,
  writer: Raw,
  group: string,
  block: boolean,
  stop: (read: number) => boolean,
  onBatch?: (eventTs: number[], at: number) => void,
): Promise<number> {
  const encode = rawWriter()
  let read = 0
  while (!stop(read)) {
    const reply = (await reader.sendCommand([
      'XREADGROUP',
      'GROUP',
      group,
      'raw',
      'COUNT',
      String(RAW_BATCH),
      ...(block ? ['BLOCK', '100'] : []),
      'STREAMS',
      STREAM,
      '>',
    ])) as [Buffer, RawEntries][] | null
    const entries = reply?.[0]?.[1] ?? []
    if (entries.length === 0) {
      if (!block) break
      continue
    }
    const multi = writer.multi()
    const times: number[] = []
    for (const [, fields] of entries) {
      const { args, eventTs } = encode(fields)
      multi.addCommand(args)
      times.push(eventTs)
    }
    await multi.execAsPipeline()
    await writer.sendCommand(['XACK', STREAM, group, ...entries.map(([id]) => id)])
    onBatch?.(times, Date.now())
    read += entries.length
  }
  return read
}

async function throughput(target: StreamTarget, raw: Raw, reader: Raw): Promise<void> {
  const ours: number[] = []
  const theirs: number[] = []
  for (let run = 0; run < RUNS; run++) {
    await clearOnline(raw)
    await freshGroup(raw, 'larder', '0')
    ours.push(await drain(target, EVENTS))
    await clearOnline(raw)
    await freshGroup(raw, 'raw', '0')
    const t = performance.now()
    const read = await rawLoop(reader, raw, 'raw', false, () => false)
    theirs.push((performance.now() - t) / 1000)
    if (read !== EVENTS) throw new Error(`the raw loop read ${read} events of ${EVENTS}`)
    process.stderr.write(
      `stream_redis_throughput: run ${run + 1}: ${ours.at(-1)!.toFixed(2)} s, reference ${theirs.at(-1)!.toFixed(2)} s\n`,
    )
  }
  const perS = EVENTS / median(ours)
  const referencePerS = EVENTS / median(theirs)
  console.log(
    JSON.stringify({
      bench: 'stream_redis_throughput',
      events_per_s: Math.round(perS),
      reference_events_per_s: Math.round(referencePerS),
      ratio: Math.round((perS / referencePerS) * 100) / 100,
      run_ratios: ours.map((s, i) => Math.round((theirs[i]! / s) * 100) / 100),
      events: EVENTS,
      drivers: DRIVERS,
      runs: RUNS,
    }),
  )
}

/** The producer: a child process XADDing RATE events/s for SECONDS s, each stamped with its send time; resolves with the count sent. */
function produce(): Promise<number> {
  const code = `
import { createClient } from 'redis'
const [host, port] = ${JSON.stringify(REDIS)}.split(':')
const client = createClient({ socket: { host, port: Number(port) } })
await client.connect()
const cities = ${JSON.stringify(CITIES)}
const start = Date.now()
let sent = 0
const total = ${Math.round(RATE * SECONDS)}
while (sent < total) {
  const due = Math.min(total, Math.floor(((Date.now() - start) * ${RATE}) / 1000))
  if (due > sent) {
    const multi = client.multi()
    for (; sent < due; sent++) {
      multi.addCommand(['XADD', ${JSON.stringify(STREAM)}, '*', 'driver_id', String(1 + (sent % ${DRIVERS})),
        'event_timestamp', new Date().toISOString(), 'fare', String((sent * 7) % 101), 'trips', String(sent % 17),
        'city', cities[sent % cities.length]])
    }
    await multi.execAsPipeline()
  }
  await new Promise((r) => setTimeout(r, 2))
}
await client.quit()
process.stdout.write(JSON.stringify({ sent, seconds: (Date.now() - start) / 1000 }))
`
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      cwd: join(here, '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c
    })
    child.once('error', reject)
    child.once('exit', (exitCode) => {
      if (exitCode !== 0) return reject(new Error(`the producer exited with ${exitCode}`))
      resolve((JSON.parse(out) as { sent: number }).sent)
    })
  })
}

async function freshness(target: StreamTarget, online: OnlineStore, raw: Raw, reader: Raw): Promise<void> {
  // ours: the online store remembers each batch's event times; the batch's report closes them
  await clearOnline(raw)
  await raw.sendCommand(['XTRIM', STREAM, 'MAXLEN', '0'])
  await freshGroup(raw, 'larder', '$')
  const inBatch: number[] = []
  const ours: number[] = []
  const watched = new Proxy(online, {
    get(store, prop) {
      if (prop === 'applyTiles') {
        return async (...args: Parameters<TileStore['applyTiles']>) => {
          const result = await (store as OnlineStore & TileStore).applyTiles(...args)
          for (const write of args[1]) inBatch.push(write.eventTs)
          return result
        }
      }
      const value = Reflect.get(store, prop, store)
      return typeof value === 'function' ? value.bind(store) : value
    },
  })
  let done = 0
  const processor = await runStreamProcessor(
    { ...target, online: async () => watched },
    {
      member: 'bench',
      metrics: countingMetrics((n, at) => {
        for (const ts of inBatch.splice(0)) ours.push(at - ts / 1000)
        done += n
      }),
    },
  )
  let sent: number
  try {
    sent = await produce()
    while (done < sent) await sleep(5)
  } finally {
    await processor.stop()
  }

  // the reference: the raw loop on the same kind of traffic
  await clearOnline(raw)
  await raw.sendCommand(['XTRIM', STREAM, 'MAXLEN', '0'])
  await freshGroup(raw, 'raw', '$')
  const theirs: number[] = []
  let expected = Number.POSITIVE_INFINITY
  const producer = produce().then((n) => {
    expected = n
    return n
  })
  await rawLoop(
    reader,
    raw,
    'raw',
    true,
    (read) => read >= expected,
    (times, at) => {
      for (const ts of times) theirs.push(at - ts / 1000)
    },
  )
  const referenceSent = await producer
  const o = percentiles(ours)
  const r = percentiles(theirs)
  console.log(
    JSON.stringify({
      bench: 'stream_redis_freshness',
      p50_ms: o.p50,
      p99_ms: o.p99,
      max_ms: o.max,
      reference_p50_ms: r.p50,
      reference_p99_ms: r.p99,
      ratio: Math.round((o.p99 / Math.max(1, r.p99)) * 100) / 100,
      goal_p99_ms: 1000,
      rate_per_s: RATE,
      events: sent,
      reference_events: referenceSent,
    }),
  )
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

function percentiles(samples: number[]): { p50: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b)
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]!)
  return { p50: at(0.5), p99: at(0.99), max: Math.round(s.at(-1)!) }
}

export default async function main(): Promise<void> {
  const raw = rawClient()
  const reader = rawClient()
  try {
    await raw.connect()
    await reader.connect()
  } catch (e) {
    console.log(JSON.stringify({ bench: 'stream_redis', skipped: (e as Error).message }))
    return
  }
  const { dir, store } = await openRepo()
  const online = await store.online()
  const target: StreamTarget = {
    config: store.config,
    registry: store.registry,
    online: async () => online,
    offline: () => store.offline(),
  }
  try {
    await fill(raw)
    await throughput(target, raw, reader)
    await freshness(target, online, raw, reader)
  } finally {
    await clearOnline(raw).catch(() => undefined)
    await raw.del(STREAM).catch(() => undefined)
    await store.teardown().catch(() => undefined)
    await store.close()
    rmSync(dir, { recursive: true, force: true })
    await raw.close()
    await reader.close()
  }
}
