// Online store reads, 100 entity rows x 50 features over 5 views, against the raw driver reading the
// same keys and fields in the same run: a pipelined HMGET per entity (Redis), and a prepared
// `entity_key IN (...)` query per view in raw mode (better-sqlite3). Both sides return Value bytes;
// neither decodes them. Prints one JSON line per figure.
//
// online_redis_getOnlineFeatures, online_sqlite_getOnlineFeatures: FeatureStore.getOnlineFeatures end
// to end (plan, key encoding, read, decoding, statuses) for 100 entity rows x 50 features, against the
// same raw read of the same keys in the same run. In every line `ratio` is our p50 time over the raw
// read's (lower is better; 1.3 = 30% slower).
//
// odfv_row_100: the time a row-mode on-demand view of 2 outputs adds to getOnlineFeatures on 100
// entity rows (SQLite, in-process), against the same read without it in the same run.
//
// Env: BENCH_ONLINE_SAMPLES (default 2000 per side), BENCH_ONLINE_ENTITIES (default 10000),
// LARDER_TEST_REDIS (default 127.0.0.1:6379).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { createClient, RESP_TYPES } from 'redis'
import { parseRepoConfig, type RepoConfig } from '../src/config/index.js'
import {
  type FeastType,
  Float64,
  Int64,
  redisFeatureField,
  String as Str,
  ValueType,
} from '../src/core/index.js'
import { FeatureStore } from '../src/feature-store.js'
import { createOnlineStore } from '../src/online/loader.js'
import {
  encodeWriteRow,
  entityKeyEncoder,
  type OnlineReadRequest,
  type OnlineStore,
  type ViewRef,
  viewRef,
} from '../src/online/online-store.js'

const SAMPLES = Number(process.env.BENCH_ONLINE_SAMPLES ?? 2000)
const ENTITIES = Number(process.env.BENCH_ONLINE_ENTITIES ?? 10_000)
const KEYS_PER_READ = 100
const VIEWS = 5
const WARMUP = 200
const REDIS = process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379'

const project = `bench_${process.pid}_${Date.now().toString(36)}`
const featureTypes: FeastType[] = [
  Float64,
  Float64,
  Float64,
  Float64,
  Float64,
  Float64,
  Float64,
  Int64,
  Int64,
  Str,
]
const views: ViewRef[] = Array.from({ length: VIEWS }, (_, v) => ({
  project,
  name: `driver_stats_${v}`,
  joinKeys: [{ name: 'driver_id', valueType: ValueType.INT64 }],
  features: featureTypes.map((type, f) => ({ name: `f_${f}`, type })),
  storageTtl: 0,
}))
const encodeKey = entityKeyEncoder(views[0]!, 3)
const entityKeys = Array.from({ length: ENTITIES }, (_, i) => encodeKey([i]))

/** The same pseudo-random key sets, in the same order, for the store and the reference. */
function keySets(count: number): Uint8Array[][] {
  let seed = 42
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    return seed
  }
  return Array.from({ length: count }, () =>
    Array.from({ length: KEYS_PER_READ }, () => entityKeys[next() % ENTITIES]!),
  )
}

async function load(store: OnlineStore, into: readonly ViewRef[] = views): Promise<void> {
  await store.update({ keep: into, drop: [] })
  for (const view of into) {
    for (let start = 0; start < ENTITIES; start += 1000) {
      const rows = entityKeys.slice(start, start + 1000).map((entityKey, i) =>
        encodeWriteRow(view, {
          entityKey,
          values: Object.fromEntries(
            view.features.map((f, j) => [
              f.name,
              f.type === Str ? `s${start + i}` : f.type === Int64 ? start + i : (start + i) / (j + 1),
            ]),
          ),
          eventTs: 1_767_225_600_000_000 + (start + i) * 1_000_000,
        }),
      )
      await store.write(view, rows)
    }
  }
}

interface Figures {
  p50: number
  p99: number
}

/** Times `fn` on each key set, alternating the two sides in blocks so drift hits both. */
async function compare<T = Uint8Array[]>(
  ours: (keys: T) => Promise<unknown> | unknown,
  reference: (keys: T) => Promise<unknown> | unknown,
  sets: T[] = keySets(SAMPLES + WARMUP) as T[],
): Promise<{ ours: Figures; reference: Figures }> {
  for (let i = 0; i < WARMUP; i++) {
    await ours(sets[i]!)
    await reference(sets[i]!)
  }
  const a: number[] = []
  const b: number[] = []
  for (let start = WARMUP; start < sets.length; start += 50) {
    for (const [fn, out] of [
      [ours, a],
      [reference, b],
    ] as const) {
      for (let i = start; i < Math.min(start + 50, sets.length); i++) {
        const t = process.hrtime.bigint()
        await fn(sets[i]!)
        out.push(Number(process.hrtime.bigint() - t) / 1000)
      }
    }
  }
  return { ours: percentiles(a), reference: percentiles(b) }
}

function percentiles(samples: number[]): Figures {
  samples.sort((x, y) => x - y)
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!
  return { p50: at(0.5), p99: at(0.99) }
}

function report(bench: string, r: { ours: Figures; reference: Figures }): void {
  const round = (n: number) => Math.round(n)
  console.log(
    JSON.stringify({
      bench,
      p50_us: round(r.ours.p50),
      p99_us: round(r.ours.p99),
      reference_p50_us: round(r.reference.p50),
      reference_p99_us: round(r.reference.p99),
      ratio: Math.round((r.ours.p50 / r.reference.p50) * 100) / 100,
      samples: SAMPLES,
      entities: ENTITIES,
    }),
  )
}

const requests = (keys: Uint8Array[]): OnlineReadRequest[] =>
  views.map((view) => ({ view, keys, features: view.features.map((f) => f.name) }))

function config(block: string): RepoConfig {
  return parseRepoConfig(`project: ${project}\nonline_store:\n${block}`, tmpdir())
}

async function benchRedis(): Promise<void> {
  const [host, port] = REDIS.split(':') as [string, string]
  let store: OnlineStore
  try {
    store = await createOnlineStore(config(`  type: redis\n  connection_string: ${REDIS}\n`))
  } catch (e) {
    console.log(JSON.stringify({ bench: 'online_redis_100x50', skipped: (e as Error).message }))
    return
  }
  const raw = createClient({ socket: { host, port: Number(port) } }).withTypeMapping({
    [RESP_TYPES.BLOB_STRING]: Buffer,
  })
  await raw.connect()
  try {
    await load(store)
    const projectBytes = Buffer.from(project)
    const fields = views.flatMap((v) => [
      ...v.features.map((f) => Buffer.from(redisFeatureField(v.name, f.name))),
      Buffer.from(`_ts:${v.name}`),
    ])
    const figures = await compare(
      (keys) => store.readMany(requests(keys)),
      (keys) => {
        const multi = raw.multi()
        for (const k of keys) {
          const key = Buffer.concat([k, projectBytes])
          multi.addCommand(['HMGET', key, ...fields])
        }
        return multi.execAsPipeline()
      },
    )
    report('online_redis_100x50', figures)
  } finally {
    await store.teardown({ keep: views, drop: [] })
    await store.close()
    await raw.close()
  }
}

async function benchSqlite(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-online-'))
  const path = join(dir, 'online.db')
  const store = await createOnlineStore(config(`  type: sqlite\n  path: ${path}\n`))
  const raw = new Database(path, { readonly: true })
  try {
    await load(store)
    const marks = new Array(KEYS_PER_READ).fill('?').join(', ')
    const statements = views.map((v) =>
      raw
        .prepare(
          `SELECT entity_key, feature_name, value, event_ts FROM "${project}_${v.name}" WHERE entity_key IN (${marks})`,
        )
        .raw(true),
    )
    const figures = await compare(
      (keys) => store.readMany(requests(keys)),
      (keys) =>
        statements.map((s) => s.all(...keys.map((k) => Buffer.from(k.buffer, k.byteOffset, k.length)))),
    )
    report('online_sqlite_100x50', figures)
  } finally {
    raw.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const ODFV_FEATURES = `import { Entity, FeatureView, Field, Float32, Float64, Int64, OnDemandFeatureView, PushSource, RequestSource } from 'larderjs'
export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
export const stats = new FeatureView({
  name: 'stats',
  entities: [driver],
  schema: [new Field({ name: 'conv_rate', dtype: Float32 })],
  source: new PushSource({ name: 'stats_push' }),
})
export const vals = new RequestSource({
  name: 'vals',
  schema: [new Field({ name: 'val_to_add', dtype: Int64 }), new Field({ name: 'val_to_add_2', dtype: Int64 })],
})
export const plus = new OnDemandFeatureView({
  name: 'plus',
  sources: [stats, vals],
  schema: [new Field({ name: 'plus1', dtype: Float64 }), new Field({ name: 'plus2', dtype: Float64 })],
  transform: (r) => ({
    plus1: r.conv_rate === null ? null : (r.conv_rate as number) + (r.val_to_add as number),
    plus2: r.conv_rate === null ? null : (r.conv_rate as number) + (r.val_to_add_2 as number),
  }),
})
`

/** The same pseudo-random driver ids, 100 per read, for both sides. */
function idSets(count: number): number[][] {
  let seed = 7
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    return seed
  }
  return Array.from({ length: count }, () => Array.from({ length: KEYS_PER_READ }, () => next() % ENTITIES))
}

async function benchOnDemand(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-odfv-'))
  writeFileSync(
    join(dir, 'feature_store.yaml'),
    `project: ${project}_odfv\nregistry: registry.db\nonline_store:\n  type: sqlite\n  path: online.db\n`,
  )
  writeFileSync(join(dir, 'features.ts'), ODFV_FEATURES)
  const store = await FeatureStore.open(dir)
  try {
    await store.apply()
    // Rows go straight to the online store: the view's push source has no batch source to time them.
    const view = viewRef(store.project, (await store.catalog()).featureView('stats'))
    const encode = entityKeyEncoder(view, 3)
    const online = await store.online()
    await online.write(
      view,
      Array.from({ length: ENTITIES }, (_, i) =>
        encodeWriteRow(view, {
          entityKey: encode([i]),
          values: { conv_rate: i / ENTITIES },
          eventTs: Date.now() * 1000,
        }),
      ),
    )
    const vals = Array.from({ length: KEYS_PER_READ }, (_, i) => i)
    const figures = await compare<number[]>(
      (driverIds) =>
        store.getOnlineFeatures({
          entities: { driver_id: driverIds, val_to_add: vals, val_to_add_2: vals },
          features: ['stats:conv_rate', 'plus:plus1', 'plus:plus2'],
        }),
      (driverIds) =>
        store.getOnlineFeatures({ entities: { driver_id: driverIds }, features: ['stats:conv_rate'] }),
      idSets(SAMPLES + WARMUP),
    )
    const round = (n: number) => Math.round(n)
    console.log(
      JSON.stringify({
        bench: 'odfv_row_100',
        added_p50_us: round(figures.ours.p50 - figures.reference.p50),
        p50_us: round(figures.ours.p50),
        p99_us: round(figures.ours.p99),
        reference_p50_us: round(figures.reference.p50),
        reference_p99_us: round(figures.reference.p99),
        ratio: Math.round((figures.ours.p50 / figures.reference.p50) * 100) / 100,
        samples: SAMPLES,
        entities: ENTITIES,
      }),
    )
  } finally {
    await store.teardown()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A repo of the 5 views of 10 features (push sources, no batch source) on `onlineStore`, applied and loaded. */
async function servingRepo(
  onlineStore: string,
): Promise<{ dir: string; store: FeatureStore; refs: ViewRef[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-serving-'))
  const types = featureTypes.map((t) => (t === Str ? 'Str' : t === Int64 ? 'Int64' : 'Float64'))
  const definitions = views.map(
    (v, i) => `export const ${v.name} = new FeatureView({
  name: '${v.name}',
  entities: [driver],
  schema: [${v.features.map((f, j) => `new Field({ name: '${f.name}', dtype: ${types[j]} })`).join(', ')}],
  source: new PushSource({ name: 'stats_push_${i}' }),
})`,
  )
  writeFileSync(
    join(dir, 'feature_store.yaml'),
    `project: ${project}_serving\nregistry: registry.db\nonline_store:\n${onlineStore}`,
  )
  writeFileSync(
    join(dir, 'features.ts'),
    `import { Entity, FeatureView, Field, Float64, Int64, PushSource, String as Str } from 'larderjs'
export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
${definitions.join('\n')}
`,
  )
  const store = await FeatureStore.open(dir)
  try {
    await store.apply()
    const catalog = await store.catalog()
    const refs = views.map((v) => viewRef(store.project, catalog.featureView(v.name)))
    await load(await store.online(), refs)
    return { dir, store, refs }
  } catch (e) {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
}

/**
 * `getOnlineFeatures` end to end (registry lookup and plan, key encoding, the read, decoding, statuses
 * and max age) for 100 entity rows x 50 features, against the raw read of the same keys and fields in
 * the same run (the reference of `online_<store>_100x50`, which returns Value bytes undecoded).
 * `ratio` is our p50 time over the reference's, as in the other lines: 1.3 means 30% slower.
 */
async function benchServing(
  backend: 'redis' | 'sqlite',
  onlineStore: (dir: string) => string,
  rawRead: (
    store: FeatureStore,
    refs: ViewRef[],
    dir: string,
  ) => Promise<{
    read: (keys: Uint8Array[]) => Promise<unknown> | unknown
    close: () => Promise<void>
  }>,
): Promise<void> {
  const bench = `online_${backend}_getOnlineFeatures`
  let setup: { dir: string; store: FeatureStore; refs: ViewRef[] }
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-serving-path-'))
  try {
    setup = await servingRepo(onlineStore(dir))
  } catch (e) {
    rmSync(dir, { recursive: true, force: true })
    console.log(JSON.stringify({ bench, skipped: (e as Error).message }))
    return
  }
  const { store, refs } = setup
  const raw = await rawRead(store, refs, dir)
  try {
    const features = refs.flatMap((v) => v.features.map((f) => `${v.name}:${f.name}`))
    const encode = entityKeyEncoder(refs[0]!, 3)
    const keyOf = entityKeys.map((_, i) => encode([i]))
    const figures = await compare<number[]>(
      (driverIds) =>
        store.getOnlineFeatures({ entities: { driver_id: driverIds }, features, fullFeatureNames: true }),
      (driverIds) => raw.read(driverIds.map((id) => keyOf[id]!)),
      idSets(SAMPLES + WARMUP),
    )
    report(bench, figures)
  } finally {
    await raw.close()
    await store.teardown()
    await store.close()
    rmSync(setup.dir, { recursive: true, force: true })
    rmSync(dir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  await benchRedis()
  await benchSqlite()
  await benchServing(
    'redis',
    () => `  type: redis\n  connection_string: ${REDIS}\n`,
    async (store, refs) => {
      const [host, port] = REDIS.split(':') as [string, string]
      const raw = createClient({ socket: { host, port: Number(port) } }).withTypeMapping({
        [RESP_TYPES.BLOB_STRING]: Buffer,
      })
      await raw.connect()
      const projectBytes = Buffer.from(store.project)
      const fields = refs.flatMap((v) => [
        ...v.features.map((f) => Buffer.from(redisFeatureField(v.name, f.name))),
        Buffer.from(`_ts:${v.name}`),
      ])
      return {
        read: (keys) => {
          const multi = raw.multi()
          for (const k of keys) multi.addCommand(['HMGET', Buffer.concat([k, projectBytes]), ...fields])
          return multi.execAsPipeline()
        },
        close: () => raw.close(),
      }
    },
  )
  await benchServing(
    'sqlite',
    (dir) => `  type: sqlite\n  path: ${join(dir, 'online.db')}\n`,
    async (store, refs, dir) => {
      const raw = new Database(join(dir, 'online.db'), { readonly: true })
      const marks = new Array(KEYS_PER_READ).fill('?').join(', ')
      const statements = refs.map((v) =>
        raw
          .prepare(
            `SELECT entity_key, feature_name, value, event_ts FROM "${store.project}_${v.name}" WHERE entity_key IN (${marks})`,
          )
          .raw(true),
      )
      return {
        read: (keys) =>
          statements.map((s) => s.all(...keys.map((k) => Buffer.from(k.buffer, k.byteOffset, k.length)))),
        close: async () => raw.close(),
      }
    },
  )
  await benchOnDemand()
}

await main()
