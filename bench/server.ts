// HTTP online serving: `POST /get-online-features` with 1 entity row x 50 features (5 views x 10) through
// Larder's FeatureServer, against a bare Hono route in the same process, on the same node-server
// adapter, that parses the same body, does the raw store read of the same key and fields (one pipelined
// HMGET of the entity's hash on Redis; a prepared `entity_key = ?` query per view on SQLite), decodes
// the Value and Timestamp bytes with the generated protobuf messages and answers Feast's JSON body,
// checked equal to Larder's: the same reads and the same JSON, written by hand for this one request
// shape. A second, barer reference answers the raw Value bytes as base64 without decoding them
// (`raw_*` figures). Load: autocannon in a worker thread (so the load generator does not share the
// servers' event loop), 32 connections, closed loop, each connection cycling through every loaded
// entity id. The references and Larder are measured alternately, and the figures are the medians over
// the rounds. Larder logs at 'silent'; the same server is also measured at 'info' (one JSON line per
// request, as `larder serve` logs by default, written to /dev/null) and reported as `info_log_rps`.
// Prints one JSON line per backend.
//
// Env: BENCH_SERVER_SECONDS (default 10 per run), BENCH_SERVER_ROUNDS (default 2),
// BENCH_SERVER_ENTITIES (default 1000), LARDER_TEST_REDIS (default 127.0.0.1:6379).
import { deepStrictEqual } from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fromBinary } from '@bufbuild/protobuf'
import { TimestampSchema, timestampMs } from '@bufbuild/protobuf/wkt'
import { createAdaptorServer } from '@hono/node-server'
import autocannon from 'autocannon'
import Database from 'better-sqlite3'
import { Hono } from 'hono'
import { pino } from 'pino'
import { createClient, RESP_TYPES } from 'redis'
import { redisFeatureField } from '../src/core/index.js'
import { FeatureStore } from '../src/feature-store.js'
import { ValueSchema } from '../src/gen/feast/types/Value_pb.js'
import { entityKeyEncoder, viewRef } from '../src/online/online-store.js'
import { loadRepoDefinitions } from '../src/repo/load-repo.js'
import { FeatureServer, listen } from '../src/server/index.js'

const SECONDS = Number(process.env.BENCH_SERVER_SECONDS ?? 10)
const ROUNDS = Number(process.env.BENCH_SERVER_ROUNDS ?? 2)
const ENTITIES = Number(process.env.BENCH_SERVER_ENTITIES ?? 1000)
const REDIS = process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379'
const CONNECTIONS = 32
const WARMUP_SECONDS = 2
const VIEWS = 5
// the value types of each view's features, as in bench/online.ts
const TYPES = [...new Array<string>(7).fill('Float64'), 'Int64', 'Int64', 'Str']
const PATH = '/get-online-features'

const viewName = (v: number) => `driver_stats_${v}`
// distinct names across views, so the response columns need no full feature names
const featureName = (v: number, f: number) => `f${v * TYPES.length + f}`
const featureRefs = Array.from({ length: VIEWS }, (_, v) =>
  TYPES.map((_, f) => `${viewName(v)}:${featureName(v, f)}`),
).flat()
const ids = Array.from({ length: ENTITIES }, (_, i) => 1000 + i)

function definitions(): string {
  const views = Array.from(
    { length: VIEWS },
    (_, v) => `
export const source${v} = new FileSource({
  name: 'stats_source_${v}',
  path: 'data/stats_${v}.parquet',
  timestampField: 'event_timestamp',
})
export const view${v} = new FeatureView({
  name: '${viewName(v)}',
  entities: [driver],
  schema: [${TYPES.map((t, f) => `new Field({ name: '${featureName(v, f)}', dtype: ${t} })`).join(', ')}],
  online: true,
  source: source${v},
})`,
  )
  return `import { Entity, FeatureView, Field, FileSource, Float64, Int64, String as Str } from 'larderjs'
export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
${views.join('\n')}
`
}

/** The value of feature `f` of view `v` for entity row `i`, by the feature's type. */
function value(v: number, f: number, i: number): number | string {
  const type = TYPES[f]
  return type === 'Str' ? `s${i}` : type === 'Int64' ? i : (i + v) / (f + 1)
}

/**
 * A repo in a temporary directory with the given online store, applied, and every view holding a row
 * for each entity id (one row per view in its Parquet source, which apply checks the schema against).
 */
async function repo(project: string, onlineStore: string): Promise<{ dir: string; store: FeatureStore }> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-server-'))
  mkdirSync(join(dir, 'data'))
  writeFileSync(
    join(dir, 'feature_store.yaml'),
    `project: ${project}\nregistry: data/registry.db\nprovider: local\nonline_store:\n${onlineStore}` +
      'offline_store:\n  type: duckdb\nentity_key_serialization_version: 3\n',
  )
  writeFileSync(join(dir, 'features.ts'), definitions())
  const store = await FeatureStore.open(dir)
  try {
    const now = new Date()
    const defs = await loadRepoDefinitions(dir)
    const offline = await store.offline()
    for (let v = 0; v < VIEWS; v++) {
      const view = defs.featureViews.find((d) => d.name === viewName(v))!
      const features = Object.fromEntries(TYPES.map((_, f) => [featureName(v, f), value(v, f, 0)]))
      await offline.writeRows(view, [{ driver_id: ids[0], event_timestamp: now, ...features }])
    }
    await store.apply()
    const eventTs = ids.map(() => now.toISOString())
    for (let v = 0; v < VIEWS; v++) {
      await store.writeToOnlineStore({
        featureViewName: viewName(v),
        df: {
          driver_id: ids,
          event_timestamp: eventTs,
          ...Object.fromEntries(TYPES.map((_, f) => [featureName(v, f), ids.map((_, i) => value(v, f, i))])),
        },
      })
    }
    return { dir, store }
  } catch (e) {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
}

/** The serialized entity key of each id (Feast's v3 encoding), for the reference's raw reads. */
async function entityKeys(store: FeatureStore): Promise<Map<number, Buffer>> {
  const view = (await store.catalog()).featureViews.get(viewName(0))!
  const encode = entityKeyEncoder(viewRef(store.project, view), 3)
  return new Map(ids.map((id) => [id, Buffer.from(encode([id]))]))
}

/** A bare route's answer for one entity id: the body it sends as JSON. */
type Answer = (id: number) => Promise<unknown> | unknown

/** The bare reference: the same route and body, a raw read, `answer`'s body back as JSON. */
function referenceServer(answer: Answer): Server {
  const app = new Hono()
  app.post(PATH, async (c) => {
    const body = await c.req.json<{ entities: { driver_id: number[] } }>()
    return c.json(await answer(body.entities.driver_id[0]!))
  })
  return createAdaptorServer({ fetch: app.fetch, hostname: '127.0.0.1' }) as Server
}

/** A stored view's row as the raw read found it: Value bytes in feature order, event time in ms. */
interface RawViewRow {
  readonly values: readonly (Uint8Array | null | undefined)[]
  readonly eventMs: number | undefined
}

/** RFC 3339 in UTC as Feast's JSON writes it: no fraction when it is zero. */
const rfc3339 = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z')

/** One Value's JSON as Feast writes it, decoded with the generated message (int64 as a number). */
function valueJson(bytes: Uint8Array | null | undefined): unknown {
  if (!bytes) return null
  const value = fromBinary(ValueSchema, bytes).val.value
  return typeof value === 'bigint' ? Number(value) : (value ?? null)
}

/** Feast's `/get-online-features` body for one entity id and every view's raw row, by hand. */
function feastBody(id: number, rows: readonly RawViewRow[]): unknown {
  const results = [{ values: [id], statuses: ['PRESENT'], event_timestamps: [rfc3339(0)] }]
  for (const row of rows) {
    for (const bytes of row.values) {
      const found = row.eventMs !== undefined && bytes
      results.push({
        values: [valueJson(bytes) as number],
        statuses: [found ? 'PRESENT' : 'NOT_FOUND'],
        event_timestamps: [rfc3339(found ? row.eventMs! : 0)],
      })
    }
  }
  return { metadata: { feature_names: ['driver_id', ...featureRefs.map((r) => r.split(':')[1]!)] }, results }
}

async function start(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const base64 = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('base64'))

interface Figures {
  rps: number
  p50: number
  p99: number
}

/** One closed-loop autocannon run; throws if any request failed, so a broken server never scores. */
async function drive(url: string, seconds: number): Promise<Figures> {
  const result = await autocannon({
    url: url + PATH,
    connections: CONNECTIONS,
    duration: seconds,
    // a shared, overloaded host can stall a request for seconds; only a request unanswered this long
    // counts as failed (autocannon's default is 10 s)
    timeout: 30,
    workers: 1,
    requests: ids.map((id) => ({
      method: 'POST' as const,
      path: PATH,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ features: featureRefs, entities: { driver_id: [id] } }),
    })),
  })
  if (result.errors > 0 || result.non2xx > 0) {
    throw new Error(`${url}: ${result.errors} errors and ${result.non2xx} non-2xx answers`)
  }
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const medians = (runs: Figures[]): Figures => ({
  rps: median(runs.map((r) => r.rps)),
  p50: median(runs.map((r) => r.p50)),
  p99: median(runs.map((r) => r.p99)),
})

/**
 * Serves the repo with Larder and the two references, checks that Larder answers every feature
 * PRESENT and the same JSON as the decoding reference, and measures them alternately (reference, raw
 * reference, Larder silent, Larder logging at info) for ROUNDS rounds.
 */
async function compare(
  bench: string,
  store: FeatureStore,
  answers: { readonly decoded: Answer; readonly raw: Answer },
): Promise<void> {
  const sink = pino.destination('/dev/null')
  const logger = pino({ level: 'silent', base: { service: 'larder' } }, sink)
  // the reference has no read deadline: on a loaded host, neither side answers 503 for a slow read
  const server = new FeatureServer(store, { logger, readTimeoutMs: 30_000 })
  const larder = await listen(server, { port: 0 })
  const reference = referenceServer(answers.decoded)
  const raw = referenceServer(answers.raw)
  const referenceUrl = await start(reference)
  const rawUrl = await start(raw)
  try {
    const ask = (url: string) =>
      fetch(url + PATH, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ features: featureRefs, entities: { driver_id: [ids.at(-1)] } }),
      })
    const check = await ask(larder.url)
    const body = (await check.json()) as { results?: { statuses: string[] }[] }
    const present = body.results?.slice(1).every((r) => r.statuses[0] === 'PRESENT')
    if (check.status !== 200 || !present) throw new Error(`larder answered ${check.status}: not all PRESENT`)
    deepStrictEqual(await (await ask(referenceUrl)).json(), body, 'the reference answers what Larder does')

    const sides = {
      reference: { url: referenceUrl, level: 'silent', runs: [] as Figures[] },
      raw: { url: rawUrl, level: 'silent', runs: [] as Figures[] },
      larder: { url: larder.url, level: 'silent', runs: [] as Figures[] },
      infoLog: { url: larder.url, level: 'info', runs: [] as Figures[] },
    }
    const run = (side: (typeof sides)[keyof typeof sides], seconds: number) => {
      logger.level = side.level
      return drive(side.url, seconds)
    }
    for (const side of Object.values(sides)) await run(side, WARMUP_SECONDS)
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of Object.values(sides)) side.runs.push(await run(side, SECONDS))
    }
    const ours = medians(sides.larder.runs)
    const ref = medians(sides.reference.runs)
    const bare = medians(sides.raw.runs)
    const info = medians(sides.infoLog.runs)
    const ms = (n: number) => Math.round(n * 100) / 100
    console.log(
      JSON.stringify({
        bench,
        rps: Math.round(ours.rps),
        p50_ms: ms(ours.p50),
        p99_ms: ms(ours.p99),
        reference_rps: Math.round(ref.rps),
        reference_p50_ms: ms(ref.p50),
        reference_p99_ms: ms(ref.p99),
        ratio: Math.round((ours.rps / ref.rps) * 100) / 100,
        p99_ratio: Math.round((ours.p99 / ref.p99) * 100) / 100,
        raw_reference_rps: Math.round(bare.rps),
        raw_reference_p99_ms: ms(bare.p99),
        raw_ratio: Math.round((ours.rps / bare.rps) * 100) / 100,
        info_log_rps: Math.round(info.rps),
        info_log_ratio: Math.round((info.rps / ref.rps) * 100) / 100,
        connections: CONNECTIONS,
        seconds: SECONDS,
        rounds: ROUNDS,
        entities: ENTITIES,
      }),
    )
  } finally {
    await larder.close()
    sink.end()
    for (const server of [reference, raw]) {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  }
}

async function benchRedis(): Promise<void> {
  const bench = 'http_online_1x50_redis'
  const [host, port] = REDIS.split(':') as [string, string]
  const project = `bench_server_${process.pid}_${Date.now().toString(36)}`
  let setup: { dir: string; store: FeatureStore }
  try {
    setup = await repo(project, `  type: redis\n  connection_string: ${REDIS}\n`)
  } catch (e) {
    console.log(JSON.stringify({ bench, skipped: (e as Error).message }))
    return
  }
  const { dir, store } = setup
  const raw = createClient({ socket: { host, port: Number(port) } }).withTypeMapping({
    [RESP_TYPES.BLOB_STRING]: Buffer,
  })
  await raw.connect()
  try {
    // Feast's layout: one hash per entity key + project, holding every view's fields and `_ts:<view>`
    const projectBytes = Buffer.from(project)
    const keys = new Map(
      [...(await entityKeys(store))].map(([id, k]) => [id, Buffer.concat([k, projectBytes])]),
    )
    const fields = Array.from({ length: VIEWS }, (_, v) => [
      ...TYPES.map((_, f) => Buffer.from(redisFeatureField(viewName(v), featureName(v, f)))),
      Buffer.from(`_ts:${viewName(v)}`),
    ]).flat()
    const read = async (id: number) => {
      const [reply] = await raw
        .multi()
        .addCommand(['HMGET', keys.get(id)!, ...fields])
        .execAsPipeline()
      return reply as unknown as (Buffer | null)[]
    }
    // each view's fields, then its `_ts:<view>` (a serialized Timestamp)
    const width = TYPES.length + 1
    await compare(bench, store, {
      raw: async (id) => ({ feature_names: featureRefs, values: (await read(id)).map(base64) }),
      decoded: async (id) => {
        const reply = await read(id)
        const rows = Array.from({ length: VIEWS }, (_, v): RawViewRow => {
          const ts = reply[v * width + TYPES.length]
          return {
            values: reply.slice(v * width, v * width + TYPES.length),
            eventMs: ts ? Number(timestampMs(fromBinary(TimestampSchema, ts))) : undefined,
          }
        })
        return feastBody(id, rows)
      },
    })
  } finally {
    await store.teardown()
    await store.close()
    await raw.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function benchSqlite(): Promise<void> {
  const { dir, store } = await repo(`bench_server_${process.pid}`, `  type: sqlite\n  path: data/online.db\n`)
  const raw = new Database(join(dir, 'data', 'online.db'), { readonly: true })
  try {
    const keys = await entityKeys(store)
    const statements = Array.from({ length: VIEWS }, (_, v) =>
      raw
        .prepare(
          `SELECT feature_name, value, event_ts FROM "${store.project}_${viewName(v)}" WHERE entity_key = ?`,
        )
        .raw(true),
    )
    const read = (id: number) => {
      const key = keys.get(id)!
      return statements.map((s) => s.all(key) as [string, Uint8Array | null, number][])
    }
    await compare('http_online_1x50_sqlite', store, {
      raw: (id) =>
        read(id)
          .flat()
          .map(([name, v, ts]) => [name, base64(v), ts]),
      // event_ts holds epoch seconds
      decoded: (id) =>
        feastBody(
          id,
          read(id).map((rows, v): RawViewRow => {
            const byName = new Map(rows.map(([name, value]) => [name, value]))
            return {
              values: TYPES.map((_, f) => byName.get(featureName(v, f))),
              eventMs: rows.length > 0 ? rows[0]![2] * 1000 : undefined,
            }
          }),
        ),
    })
  } finally {
    raw.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** For bench/server-workers.ts: the same repo and load generator. */
export { drive, repo }

export default async function main(): Promise<void> {
  await benchRedis()
  await benchSqlite()
}
