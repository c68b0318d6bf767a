import { randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { type NatsConnection, connect as natsConnect } from '@nats-io/transport-node'
import fc from 'fast-check'
import { createClient } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { formatMicros, tileIndex } from '../core/index.js'
import { createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import {
  aggregate,
  type Event,
  expectClose,
  latest,
  SECOND,
  T0,
  type WindowCase,
  windowCaseArb,
  windowEvents,
} from '../offline/__fixtures__/window-cases.js'
import { uniqueProject } from '../testing/online-conformance.js'
import { describeWithService, natsUnavailable, redisUnavailable } from '../testing/services.js'
import { CORE, postgresOnline, untilHandled, withSettings } from './__fixtures__/stream-test-kit.js'
import { runStreamProcessor } from './index.js'

// The parity property: the same event set streamed through the stream processor into each
// online store gives, read at time t, exactly the values of the windowed-aggregation reference
// (src/offline/__fixtures__/window-cases.ts), floating-point results within its stated tolerance.
// Each random case becomes a stream feature view over its own Redis stream (entry fields or JSON
// payloads), its events are added in source order (null keys among them: dead-lettered), and the
// processor runs until every event is acknowledged or dead-lettered. Online, the newest tile holds
// every event that arrived for it, so an entity row is read at the end of its tile.

const RUNS = Number(process.env.LARDER_STREAM_RUNS ?? 5)
/** Replays a failure: the seed fast-check reported (also picks the NATS case). */
const SEED = process.env.LARDER_STREAM_SEED === undefined ? undefined : Number(process.env.LARDER_STREAM_SEED)
const REDIS = { host: '127.0.0.1', port: 6379 }
const [NATS_HOST, NATS_PORT] = (process.env.LARDER_TEST_NATS ?? '127.0.0.1:4222').split(':') as [
  string,
  string,
]
// richer cases than the default size: up to 25 events and 8 entity rows each
fc.configureGlobal({ ...fc.readConfigureGlobal(), baseSize: 'medium' })

type Transport = 'fields' | 'json'

interface StreamCase {
  readonly c: WindowCase
  readonly transport: Transport
  /** The processor's batch_size: 1 writes every event on its own, 500 the whole case at once. */
  readonly batchSize: number
  /** The processor's clock: tiles older than every window read at it expire (see {@link clockOf}). */
  readonly clock: Clock
  /** Stream the first half, stop the processor, then stream the rest to a new one (it resumes the group). */
  readonly restart: boolean
}

type Clock = 'earliest' | 'middle' | 'latest'

const caseArb: fc.Arbitrary<StreamCase> = fc.record({
  c: windowCaseArb
    .map((c) => ({ ...c, asOfKnownTime: false }))
    .filter((c) => c.events.some((e) => e.k !== null)),
  transport: fc.constantFrom<Transport>('fields', 'json'),
  batchSize: fc.constantFrom(1, 3, 7, 500),
  clock: fc.constantFrom<Clock>('earliest', 'earliest', 'middle', 'latest'),
  restart: fc.boolean(),
})

/** Where a case's events are split between the processor's two runs (all in the first without a restart). */
function splitOf({ c, restart }: StreamCase): number {
  return restart ? Math.floor(c.events.length / 2) : c.events.length
}

/** The batches the processor reads a case in: each run's events in chunks of the batch size. */
function batchesOf(sc: StreamCase): Event[][] {
  const split = splitOf(sc)
  const chunks = (events: readonly Event[]) =>
    Array.from({ length: Math.ceil(events.length / sc.batchSize) }, (_, i) =>
      events.slice(i * sc.batchSize, (i + 1) * sc.batchSize),
    )
  return [...chunks(sc.c.events.slice(0, split)), ...chunks(sc.c.events.slice(split))]
}

/** Names of one case's definitions, unique in the repo and on the brokers. */
interface CaseNames {
  readonly view: string
  readonly source: string
  readonly file: string
  readonly stream: string
}

let caseNumber = 0
const runId = `${process.pid}-${Date.now().toString(36)}`

function namesOf(): CaseNames {
  const n = caseNumber++
  return { view: `w${n}`, source: `s${n}`, file: `f${n}`, stream: `larder-parity-${runId}-${n}` }
}

/** features.ts of a case: entity k, the view over a Redis stream (or a NATS subject), its batch source. */
function definitions(
  c: WindowCase,
  names: CaseNames,
  transport: Transport | { nats: { subject: string; stream: string } },
  offline = false,
): string {
  const created = c.created ? `, createdTimestampColumn: 'created'` : ''
  const source =
    typeof transport === 'object'
      ? `new NatsSource({ name: '${names.source}', subject: '${transport.nats.subject}', stream: '${transport.nats.stream}', timestampField: 'ts'${created}, batchSource: file })`
      : `new RedisStreamSource({ name: '${names.source}', stream: '${names.stream}', timestampField: 'ts'${created}, ${transport === 'json' ? "payloadField: 'data', " : ''}batchSource: file })`
  const aggregations = c.aggregations
    .map(
      (a, j) =>
        `new Aggregation({ column: '${a.column}', function: '${a.written}', timeWindow: ${a.hops * c.hop}, name: 'a${j}' })`,
    )
    .join(',\n    ')
  return `import {
  Aggregation, Entity, Field, FileSource, Float64, Int64, NatsSource, RedisStreamSource, StreamFeatureView, String,
} from ${JSON.stringify(CORE)}
export const k = new Entity({ name: 'k', joinKeys: ['k'], valueType: Int64 })
export const file = new FileSource({ name: '${names.file}', path: 'data/${names.file}', timestampField: 'ts'${created} })
export const source = ${source}
export const view = new StreamFeatureView({
  name: '${names.view}',
  source,
  entities: [k],
  schema: [
    new Field({ name: 'k', dtype: Int64 }),
    new Field({ name: 'n', dtype: Int64 }),
    new Field({ name: 'x', dtype: Float64 }),
    new Field({ name: 's', dtype: String }),
  ],
  aggregations: [
    ${aggregations}
  ],
  tilingHopSize: ${c.hop},
  offline: ${offline},
})
`
}

/** An event as its fields: times as RFC 3339 text with microseconds; nulls left out. */
function eventFields(c: WindowCase, ev: Event): Record<string, string | number> {
  const fields: Record<string, string | number> = { ts: formatMicros(T0 + ev.ts) }
  if (ev.k !== null) fields.k = ev.k
  if (c.created && ev.created !== null) fields.created = formatMicros(T0 + ev.created)
  if (ev.n !== null) fields.n = ev.n
  if (ev.x !== null) fields.x = ev.x
  if (ev.s !== null) fields.s = ev.s
  return fields
}

/** An event as a JSON payload: nulls as JSON null (a null key too). */
function eventJson(c: WindowCase, ev: Event): string {
  return JSON.stringify({ k: ev.k, n: ev.n, x: ev.x, s: ev.s, ...eventFields(c, ev) })
}

/** The rank of an event for "latest": event time, then created time (none lowest), then source order. */
function later(a: Event, b: Event): boolean {
  const ra = [a.ts, a.created ?? -Infinity, a.id]
  const rb = [b.ts, b.created ?? -Infinity, b.id]
  for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return ra[i]! > rb[i]!
  return false
}

/**
 * The event whose values each key's latest-value row holds after the processor wrote the case in
 * `batches` (source order): each batch writes the latest event of each key (by event time, created
 * time, source order) and the store keeps the newer of that and what it holds, at its timestamp
 * resolution, a tie going to the later write. Without batches (unknown), only keys whose latest event
 * is later than all their other events at that resolution (so any batching leaves it), others are
 * left out.
 */
function latestValues(
  c: WindowCase,
  batches: readonly (readonly Event[])[] | undefined,
  resolution: number,
): Map<number, Event> {
  const cut = (ev: Event) => Math.floor((T0 + ev.ts) / resolution)
  const keyed = c.events.filter((ev): ev is Event & { k: number } => ev.k !== null)
  if (batches === undefined) {
    const out = new Map<number, Event>()
    for (const k of new Set(keyed.map((ev) => ev.k))) {
      const mine = keyed.filter((ev) => ev.k === k)
      const best = mine.reduce((a, b) => (later(b, a) ? b : a))
      if (mine.every((ev) => ev === best || cut(ev) < cut(best))) out.set(k, best)
    }
    return out
  }
  const stored = new Map<number, Event>()
  for (const batch of batches) {
    const perKey = new Map<number, Event>()
    for (const ev of batch) {
      if (ev.k === null) continue
      const seen = perKey.get(ev.k)
      if (seen === undefined || later(ev, seen)) perKey.set(ev.k, ev)
    }
    for (const [k, ev] of perKey) {
      const held = stored.get(k)
      if (held === undefined || cut(ev) >= cut(held)) stored.set(k, ev)
    }
  }
  return stored
}

/**
 * The rows a case is read at: its own entity rows, one at each event of a key (every tile with
 * events), and each key at the processor's clock and the hops after it; only rows whose tile ends at
 * or after the clock, as a live read would be (tiles that expired at the clock are out of its windows).
 */
function readRows(c: WindowCase, clock: number): { k: number; ts: number }[] {
  const h = c.hop * SECOND
  const maxHops = Math.max(...c.aggregations.map((a) => a.hops))
  const rows = [
    ...c.entities.filter((e): e is { k: number; ts: number } => e.k !== null),
    ...c.events
      .filter((ev): ev is Event & { k: number } => ev.k !== null)
      .map((ev) => ({ k: ev.k, ts: ev.ts })),
    ...[0, 1, 2].flatMap((k) =>
      Array.from({ length: maxHops + 1 }, (_, j) => ({ k, ts: clock - T0 + j * h })),
    ),
  ]
  const seen = new Set<string>()
  return rows.filter((r) => {
    const id = `${r.k}@${r.ts}`
    if (seen.has(id) || (tileIndex(T0 + r.ts, h) + 1) * h - 1 < clock) return false
    seen.add(id)
    return true
  })
}

/**
 * Reads every row of the case online at the end of its tile and compares: each aggregation with the
 * reference over its window (NOT_FOUND only when the key has no event in its longest window), and the
 * plain features n, x, s with the latest-value row `latest` says the key holds. Returns the values checked.
 */
async function checkOnline(
  repo: TestRepo,
  c: WindowCase,
  view: string,
  latest: ReadonlyMap<number, Event>,
  resolution: number,
  clock: number,
  label: string,
): Promise<number> {
  const h = c.hop * SECOND
  const maxHops = Math.max(...c.aggregations.map((a) => a.hops))
  const features = [`${view}:n`, `${view}:x`, `${view}:s`, ...c.aggregations.map((_, j) => `${view}:a${j}`)]
  let checked = 0
  for (const e of readRows(c, clock)) {
    const t = (tileIndex(T0 + e.ts, h) + 1) * h - 1
    const row = { k: e.k, ts: t - T0 }
    const where = `${label}: k=${e.k} read at ${formatMicros(t)}`
    const r = await repo.store.getOnlineFeatures(
      { entities: { k: [e.k] }, features },
      { now: formatMicros(t) },
    )
    const [, n, x, s, ...aggs] = r.results
    const keyEvents = c.events.filter((ev) => ev.k === e.k)
    // the latest-value row
    if (keyEvents.length === 0) {
      expect(
        [n, x, s].map((col) => col!.statuses[0]),
        `${where}: plain features`,
      ).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND'])
    }
    const held = latest.get(e.k)
    if (held !== undefined) {
      expect([n!.values[0], x!.values[0], s!.values[0]], `${where}: n, x, s of event ${held.id}`).toEqual([
        held.n,
        held.x,
        held.s,
      ])
      const stamp = Math.floor((T0 + held.ts) / resolution) * resolution
      expect(n!.eventTimestamps[0], `${where}: event time of n`).toBe(stamp)
      checked += 3
    }
    // the windows
    const statuses = aggs.map((col) => col.statuses[0])
    if (keyEvents.length === 0)
      expect(
        statuses.every((st) => st === 'NOT_FOUND'),
        where,
      ).toBe(true)
    if (statuses.every((st) => st === 'NOT_FOUND')) {
      expect(
        windowEvents(c, row, maxHops),
        `${where}: nothing read, so no event in the longest window`,
      ).toEqual([])
      continue
    }
    c.aggregations.forEach((a, j) => {
      const events = windowEvents(c, row, a.hops)
      expectClose(
        a,
        aggs[j]!.values[0],
        aggregate(a, events),
        events,
        `${where}: a${j} = ${a.written}(${a.column}) over ${a.hops} hops of ${c.hop}s`,
      )
      checked++
    })
  }
  return checked
}

/** Writes the case's definitions into the repo (its previous case's view is dropped) and applies them. */
async function deploy(repo: TestRepo, text: string, names: CaseNames): Promise<void> {
  mkdirSync(join(repo.dir, 'data', names.file), { recursive: true })
  writeFileSync(join(repo.dir, 'features.ts'), text)
  await repo.store.apply()
}

/**
 * The processor's clock: at the earliest event (no tile expires), at the middle event or at the
 * latest (events of tiles out of every window read at the clock are skipped, older tiles removed).
 */
function clockOf(c: WindowCase, clock: Clock): number {
  const times = c.events.map((ev) => ev.ts).sort((a, b) => a - b)
  if (clock === 'earliest' || times.length === 0) return T0 + Math.min(0, ...times)
  return T0 + times[clock === 'middle' ? Math.floor(times.length / 2) : times.length - 1]!
}

/**
 * Deploys the case's view (its previous case's is dropped), adds its events to a new Redis stream in
 * source order, and runs the processor until every event is acknowledged or dead-lettered (null keys,
 * with a reason naming the key and the view); with a restart, the first half with one processor and
 * the rest with another. The caller deletes the stream.
 */
async function streamCase(
  repo: TestRepo,
  redis: Redis,
  sc: StreamCase,
  offline = false,
): Promise<{ names: CaseNames; now: number }> {
  const { c, transport, batchSize, clock } = sc
  const now = clockOf(c, clock)
  const names = namesOf()
  await deploy(repo, definitions(c, names, transport, offline), names)
  const split = splitOf(sc)
  for (const part of [c.events.slice(0, split), c.events.slice(split)]) {
    if (part.length === 0) continue
    for (const ev of part) {
      await redis.xAdd(
        names.stream,
        '*',
        transport === 'json'
          ? { data: eventJson(c, ev) }
          : Object.fromEntries(Object.entries(eventFields(c, ev)).map(([f, v]) => [f, String(v)])),
      )
    }
    const processor = await runStreamProcessor(
      withSettings(repo.store, { batch_size: batchSize, max_wait_ms: 20 }),
      { member: 'parity', views: [names.view], now: () => now },
    )
    const nullKeys = part.filter((ev) => ev.k === null).length
    try {
      await untilHandled(processor, part.length)
      expect(processor.health().sources[0]).toMatchObject({
        state: 'running',
        error: undefined,
        events: part.length - nullKeys,
        deadLettered: nullKeys,
      })
    } finally {
      await processor.stop()
    }
  }
  const nullKeys = c.events.filter((ev) => ev.k === null).length
  const dead = (await redis.xRange(`${names.stream}:dead`, '-', '+')) ?? []
  expect(dead.length).toBe(nullKeys)
  for (const d of dead) {
    expect(d.message.reason).toContain(
      `the event has no join key "k" for stream feature view "${names.view}"`,
    )
  }
  return { names, now }
}

/**
 * Reads the case's entity rows from the offline store (the rows the processor appended to the batch
 * source) and compares with the reference: n as the point-in-time latest value, every aggregation
 * over its window. Returns the values checked.
 */
async function checkOffline(repo: TestRepo, c: WindowCase, view: string, label: string): Promise<number> {
  const entities = c.entities
    .map((e, i) => ({ i, k: e.k, ts: e.ts }))
    .filter((e): e is { i: number; k: number; ts: number } => e.k !== null)
  if (entities.length === 0) return 0
  const job = await repo.store.getHistoricalFeatures({
    entities: entities.map((e) => ({ row: e.i, k: e.k, event_timestamp: formatMicros(T0 + e.ts) })),
    features: [`${view}:n`, ...c.aggregations.map((_, j) => `${view}:a${j}`)],
  })
  const rows = await job.toRows()
  expect(rows.length, label).toBe(entities.length)
  let checked = 0
  for (const row of rows) {
    const e = c.entities[Number(row.row)]!
    const where = `${label}: offline row ${row.row} (k=${e.k}, t=${formatMicros(T0 + e.ts)})`
    expect(row.k, where).toBe(e.k)
    expect(row.n, `${where}: n`).toBe(latest(windowEvents(c, e, undefined))?.n ?? null)
    c.aggregations.forEach((a, j) => {
      const events = windowEvents(c, e, a.hops)
      expectClose(
        a,
        row[`a${j}`],
        aggregate(a, events),
        events,
        `${where}: a${j} = ${a.written}(${a.column})`,
      )
      checked++
    })
  }
  return checked
}

const connectRedis = () => createClient({ url: `redis://${REDIS.host}:${REDIS.port}` })
type Redis = ReturnType<typeof connectRedis>

const redisDown = await redisUnavailable(REDIS.host, REDIS.port)
const pgSchema = `${uniqueProject('sp')}_schema`
const postgres = await postgresOnline(pgSchema)

const STORES: readonly { name: string; block: () => string; unavailable: string | undefined }[] = [
  { name: 'memory', block: () => 'type: memory', unavailable: undefined },
  { name: 'sqlite', block: () => 'type: sqlite\npath: data/online.db', unavailable: undefined },
  {
    name: 'redis',
    block: () => `type: redis\nconnection_string: "${REDIS.host}:${REDIS.port}"`,
    unavailable: undefined,
  },
  { name: 'postgres', block: () => postgres.block!, unavailable: postgres.unavailable },
]

describeWithService('stream parity with the windowed-aggregation reference', redisDown, () => {
  const redis = connectRedis()
  beforeAll(async () => {
    await redis.connect()
  })
  afterAll(async () => {
    await redis.quit()
    await postgres.dropSchema()
  })

  for (const store of STORES) {
    describeWithService(`${store.name} online store`, store.unavailable, () => {
      let repo: TestRepo
      beforeAll(async () => {
        repo = await createTestRepo({
          onlineStore: store.block(),
          featuresFile: `import { Entity, Int64 } from ${JSON.stringify(CORE)}\nexport const k = new Entity({ name: 'k', joinKeys: ['k'], valueType: Int64 })\n`,
        })
      })
      afterAll(async () => {
        await repo?.close()
      })

      it(`gives the reference's values on ${RUNS} random cases`, async () => {
        const resolution = (await repo.store.online()).capabilities.timestampResolutionMicros
        let checked = 0
        await fc.assert(
          fc.asyncProperty(caseArb, async (sc) => {
            const { names, now } = await streamCase(repo, redis, sc)
            try {
              checked += await checkOnline(
                repo,
                sc.c,
                names.view,
                latestValues(sc.c, batchesOf(sc), resolution),
                resolution,
                now,
                `${store.name}, ${sc.transport}, batches of ${sc.batchSize}, clock at the ${sc.clock} event${sc.restart ? ', restarted halfway' : ''}`,
              )
            } finally {
              await redis.del([names.stream, `${names.stream}:dead`])
            }
          }),
          { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
        )
        expect(checked).toBeGreaterThan(0)
      }, 120_000)

      if (store.name === 'memory') {
        it('appends offline rows that historical retrieval reads as the reference', async () => {
          let checked = 0
          await fc.assert(
            fc.asyncProperty(caseArb, async (sc) => {
              const { names } = await streamCase(repo, redis, sc, true)
              try {
                checked += await checkOffline(repo, sc.c, names.view, `offline, batches of ${sc.batchSize}`)
              } finally {
                await redis.del([names.stream, `${names.stream}:dead`])
              }
            }),
            { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
          )
          expect(checked).toBeGreaterThan(0)
        }, 120_000)
      }
    })
  }
})

describeWithService(
  'stream parity over NATS JetStream',
  redisDown ?? (await natsUnavailable(NATS_HOST, Number(NATS_PORT))),
  () => {
    let repo: TestRepo
    let nc: NatsConnection | undefined
    const streams: string[] = []
    beforeAll(async () => {
      nc = await natsConnect({ servers: `nats://${NATS_HOST}:${NATS_PORT}` })
      repo = await createTestRepo({
        onlineStore: 'type: memory',
        featuresFile: `import { Entity, Int64 } from ${JSON.stringify(CORE)}\nexport const k = new Entity({ name: 'k', joinKeys: ['k'], valueType: Int64 })\n`,
      })
    })
    afterAll(async () => {
      if (nc) {
        const jsm = await jetstreamManager(nc!)
        for (const name of streams) await jsm.streams.delete(name).catch(() => false)
        await nc.close()
      }
      await repo?.close()
    })

    it('gives the same values as the Redis path for a random case', async () => {
      const { c } = fc.sample(caseArb, { numRuns: 1, seed: SEED ?? 42 })[0]!
      const names = namesOf()
      const id = randomUUID().replaceAll('-', '')
      const nats = { subject: `larder-parity.${id}.events`, stream: `LARDER_PARITY_${id}` }
      streams.push(nats.stream, `${nats.stream}_dead`)
      const jsm = await jetstreamManager(nc!)
      await jsm.streams.add({ name: nats.stream, subjects: [nats.subject] })
      await deploy(repo, definitions(c, names, { nats }), names)
      const js = jetstream(nc!)
      for (const ev of c.events) await js.publish(nats.subject, eventJson(c, ev))
      const processor = await runStreamProcessor(withSettings(repo.store, { max_wait_ms: 20 }), {
        member: 'parity',
        views: [names.view],
        now: () => clockOf(c, 'earliest'),
      })
      try {
        await untilHandled(processor, c.events.length)
        const nullKeys = c.events.filter((ev) => ev.k === null).length
        expect(processor.health().sources[0]).toMatchObject({
          state: 'running',
          events: c.events.length - nullKeys,
          deadLettered: nullKeys,
        })
      } finally {
        await processor.stop()
      }
      const resolution = (await repo.store.online()).capabilities.timestampResolutionMicros
      const checked = await checkOnline(
        repo,
        c,
        names.view,
        latestValues(c, undefined, resolution),
        resolution,
        clockOf(c, 'earliest'),
        'nats',
      )
      expect(checked).toBeGreaterThan(0)
    })
  },
)
