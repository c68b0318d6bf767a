// Materialization, Parquet (DuckDB offline store) into the online store.
//
// materialize_sqlite_1m, materialize_redis_1m: rows/s materializing 1M rows (1M drivers, one row each) of
// a 10-feature view (70% float, 20% int, 10% string, 1% nulls), against the raw driver writing the same
// rows, pre-encoded outside the timing, in the same run: Feast's upsert statement in transactions of
// 10,000 rows through better-sqlite3, and one pipelined HSET of Feast's key and fields per entity
// through node-redis, 10,000 entities per pipeline. Medians of interleaved runs.
//
// materialize_10m_peak_rss: peak RSS (the OS high-water mark, by /usr/bin/time) of `larder materialize`
// run as a user runs it (the CLI with its defaults, no Node flags) loading 10M rows (1M drivers x 10
// hourly rows; 1M latest rows written) into SQLite, next to the peak RSS of a fresh process that only
// reads the same window from the offline store in-process (DuckDB's latest-row query), which is the
// floor. The offline store reads a window of more than 2M rows in passes over parts of the keys; DuckDB
// runs with the store's default memory limit unless BENCH_DUCKDB_MEMORY sets one. The CLI runs from
// dist/: build it first (`npx tsc -p tsconfig.build.json`).
//
// materialize_pg_to_redis_1m: rows/s materializing the same 1M rows from a PostgreSQL table (the
// postgres offline store: latest row per key found by PostgreSQL, streamed out in batches) into Redis,
// against a raw pipeline in the same run: a `pg` cursor (`DECLARE … CURSOR`, `FETCH 10000`) over the
// hand-written latest-row query (`DISTINCT ON`), each batch encoded (Feast's entity key and values) and
// written with one pipelined HSET per entity. Both sides are timed whole (read, encode, write).
// materialize_pg_to_redis_1m_peak_rss: the peak RSS of `larder materialize` of that window, run from the
// command line as a user runs it (under /usr/bin/time).
//
// materialize_bullmq_10m: rows/s materializing N rows (N/10 drivers x 10 hourly rows; the latest row
// per driver, N/10 rows, goes to Redis) with the BullMQ engine (default options: 4 key parts, one time
// slice) run by 1 and by 2 `larder worker` processes (concurrency 1 each; queue and jobs on the same
// Redis), each against the local engine loading the same window in the same run: the ratio of
// throughputs. The time is the caller's, from submit to the job's success. N is LARDER_BENCH_ROWS
// (default 10M); runs are BENCH_BULLMQ_RUNS (default 1) interleaved rounds of the three, medians.
//
// Env: BENCH_SCALE (default 1) scales the drivers, BENCH_RUNS (default 3), BENCH_MATERIALIZE (default
// `throughput,peak,pg,bullmq`: which figures; `throughput_sqlite` or `throughput_redis` for one store's
// throughput only), LARDER_TEST_REDIS (default 127.0.0.1:6379), LARDER_TEST_PG_* (default
// 127.0.0.1:5432, database test, user postgres). Data is generated once into bench/.data/ (and
// into a schema of the PostgreSQL database for the pg figure).
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import Database from 'better-sqlite3'
import pg from 'pg'
import { createClient, RESP_TYPES } from 'redis'
import {
  encodeTimestamp,
  encodeValue,
  Float64,
  Int64,
  redisFeatureField,
  String as Str,
  serializeEntityKey,
  ValueType,
} from '../src/core/index.js'
import { FeatureStore } from '../src/feature-store.js'
import { runWorker } from '../src/materialize/bullmq/index.js'
import { writeRowEncoder } from '../src/materialize/index.js'
import { pullColumns } from '../src/offline/index.js'
import { type OnlineWriteRow, viewRef } from '../src/online/online-store.js'
import { valueText } from '../src/online/store-support.js'

const here = dirname(fileURLToPath(import.meta.url))
const SCALE = Number(process.env.BENCH_SCALE ?? 1)
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const REDIS = process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379'
const DRIVERS = Math.round(1_000_000 * SCALE)
const GOAL_MB = 512
const DUCKDB_MEMORY = process.env.BENCH_DUCKDB_MEMORY
const FIGURES = (process.env.BENCH_MATERIALIZE ?? 'throughput,peak,pg,bullmq').split(',')
const BULLMQ_ROWS = Number(process.env.LARDER_BENCH_ROWS ?? 10_000_000)
const BULLMQ_RUNS = Number(process.env.BENCH_BULLMQ_RUNS ?? 1)
const BATCH = 10_000
const START = '2025-12-31T00:00:00Z'
const END = '2026-01-02T00:00:00Z'
const CHILD_FLAG = '--peak-rss-child'
const LARDER_BIN = join(here, '..', 'bin', 'larder.js')
const WORKER_FLAG = '--bullmq-worker-child'
const BULLMQ_CONFIG = 'bullmq.yaml'
const JITI_REGISTER = join(
  dirname(createRequire(import.meta.url).resolve('jiti/package.json')),
  'lib',
  'jiti-register.mjs',
)

function size(n: number): string {
  return n >= 1_000_000 ? `${n / 1_000_000}m` : `${n / 1000}k`
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

const FEATURES = ['conv_rate', 'acc_rate', 'avg_daily_trips', 'f_0', 'f_1', 'f_2', 'f_3', 'f_4', 'f_5', 'f_6']

/** Driver-stats shaped rows, `hours` per driver from 2026-01-01, values from hashes (same file every time). */
async function generate(dir: string, drivers: number, hours: number): Promise<void> {
  const file = join(dir, 'data', 'driver_stats.parquet')
  if (existsSync(file)) return
  mkdirSync(join(dir, 'data'), { recursive: true })
  process.stderr.write(`materialize: generating ${size(drivers * hours)} rows in ${file}\n`)
  const instance = await DuckDBInstance.create(':memory:')
  const db = await instance.connect()
  const value = (expr: string, salt: number) =>
    `CASE WHEN hash(d, h, ${salt}, 'null') % 100 = 0 THEN NULL ELSE ${expr} END`
  const columns = [
    `${value('(hash(d, h, 1) % 1000) / 1000.0', 1)}::DOUBLE AS conv_rate`,
    `${value('(hash(d, h, 2) % 1000) / 1000.0', 2)}::DOUBLE AS acc_rate`,
    `${value('hash(d, h, 3) % 100', 3)}::BIGINT AS avg_daily_trips`,
    ...[0, 1, 2, 3].map(
      (i) => `${value(`(hash(d, h, ${10 + i}) % 100000) / 7.0`, 10 + i)}::DOUBLE AS f_${i}`,
    ),
    `${value('hash(d, h, 14) % 1000', 14)}::BIGINT AS f_4`,
    `${value('(hash(d, h, 15) % 1000) / 3.0', 15)}::DOUBLE AS f_5`,
    `${value(`'v' || (hash(d, h, 16) % 500)`, 16)} AS f_6`,
  ]
  await db.run(
    `COPY (SELECT d AS driver_id, TIMESTAMPTZ '2026-01-01 00:00:00+00' + INTERVAL (h) HOUR AS event_timestamp,
       TIMESTAMPTZ '2026-01-01 00:00:00+00' + INTERVAL (h) HOUR + INTERVAL (hash(d, h) % 3600) SECOND AS created,
       ${columns.join(', ')}
     FROM range(${drivers}) r1(d), range(${hours}) r2(h)) TO '${file}.tmp' (FORMAT parquet)`,
  )
  db.closeSync()
  instance.closeSync()
  renameSync(`${file}.tmp`, file)
}

/** A repo over the generated data with the given online store block (YAML lines). */
function writeRepo(
  dir: string,
  project: string,
  onlineStore: string,
  offlineStore: readonly string[] = [],
): void {
  writeFileSync(
    join(dir, 'feature_store.yaml'),
    [
      `project: ${project}`,
      'registry: data/registry.db',
      'online_store:',
      ...onlineStore.split('\n').map((l) => `  ${l}`),
      'offline_store:',
      '  type: duckdb',
      ...offlineStore.map((l) => `  ${l}`),
      'entity_key_serialization_version: 3',
      '',
    ].join('\n'),
  )
  writeFileSync(
    join(dir, 'features.ts'),
    `import { Entity, FeatureView, Field, FileSource, Float64, Int64, String } from 'larderjs'
export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
export const driverStats = new FeatureView({
  name: 'driver_stats',
  entities: [driver],
  schema: ${JSON.stringify(FEATURES)}.map((name) =>
    new Field({ name, dtype: name === 'f_6' ? String : /trips|f_4/.test(name) ? Int64 : Float64 })),
  source: new FileSource({ name: 'driver_stats_source', path: 'data/driver_stats.parquet',
    timestampField: 'event_timestamp', createdTimestampColumn: 'created' }),
})
`,
  )
}

/** Opens the repo with an empty online store and applies it; the caller times what follows. */
async function freshStore(dir: string, clear: () => Promise<void>): Promise<FeatureStore> {
  await clear()
  const store = await FeatureStore.open(dir)
  await store.apply()
  return store
}

/** The window's rows, pre-encoded as the store receives them, batch by batch (not timed). */
async function* encodedBatches(store: FeatureStore): AsyncGenerator<OnlineWriteRow[]> {
  const view = (await store.catalog()).featureView('driver_stats')
  const encode = writeRowEncoder(
    viewRef(store.project, view),
    pullColumns(view),
    store.config.entityKeySerializationVersion,
  )
  const offline = await store.offline()
  for await (const batch of offline.pullLatest(view, { start: START, end: END }, { batchSize: BATCH })) {
    yield encode(batch)
  }
}

interface Side {
  /** Seconds to materialize with Larder (whole run: offline read, encode, write). */
  ours(): Promise<number>
  /** Seconds the raw driver spends writing the same rows. */
  reference(): Promise<number>
  close(): Promise<void>
}

function sqliteSide(dir: string, project: string): Side {
  const online = join(dir, 'data', 'online.db')
  const clear = async () => {
    for (const suffix of ['', '-wal', '-shm']) rmSync(online + suffix, { force: true })
  }
  return {
    async ours() {
      const store = await freshStore(dir, clear)
      try {
        const t = performance.now()
        await store.materialize({ start: START, end: END })
        return (performance.now() - t) / 1000
      } finally {
        await store.close()
      }
    },
    async reference() {
      const store = await freshStore(dir, clear)
      const path = join(dir, 'data', 'reference.db')
      for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
      const db = new Database(path)
      try {
        db.pragma('journal_mode = WAL')
        db.pragma('synchronous = NORMAL')
        const table = `"${project}_driver_stats"`
        db.exec(
          `CREATE TABLE ${table} (entity_key BLOB, feature_name TEXT, value BLOB, value_text TEXT, vector_value BLOB, ` +
            'event_ts timestamp, created_ts timestamp, PRIMARY KEY(entity_key, feature_name))',
        )
        db.exec(`CREATE INDEX "${project}_driver_stats_ek" ON ${table} (entity_key)`)
        const upsert = db.prepare(
          `INSERT INTO ${table} (entity_key, feature_name, value, value_text, event_ts, created_ts) VALUES (?, ?, ?, ?, ?, ?) ` +
            'ON CONFLICT(entity_key, feature_name) DO UPDATE SET value = excluded.value, value_text = excluded.value_text, ' +
            'event_ts = excluded.event_ts, created_ts = excluded.created_ts',
        )
        let seconds = 0
        for await (const rows of encodedBatches(store)) {
          const prepared = rows.map((r) => ({
            key: Buffer.from(r.entityKey),
            values: r.values.map((v) => Buffer.from(v)),
            texts: r.values.map(valueText),
            eventTs: Math.trunc(r.eventTs / 1_000_000),
            createdTs: r.createdTs === undefined ? null : Math.trunc(r.createdTs / 1_000_000),
          }))
          const t = performance.now()
          db.transaction(() => {
            for (const r of prepared) {
              for (let i = 0; i < FEATURES.length; i++) {
                upsert.run(r.key, FEATURES[i], r.values[i], r.texts[i], r.eventTs, r.createdTs)
              }
            }
          })()
          seconds += (performance.now() - t) / 1000
        }
        return seconds
      } finally {
        db.close()
        await store.close()
      }
    },
    async close() {
      await clear()
    },
  }
}

async function redisSide(dir: string, project: string): Promise<Side> {
  const [host, port] = REDIS.split(':') as [string, string]
  const raw = createClient({ socket: { host, port: Number(port) } }).withTypeMapping({
    [RESP_TYPES.BLOB_STRING]: Buffer,
  })
  await raw.connect()
  const projectBytes = Buffer.from(project)
  const clear = async () => {
    for await (const keys of raw.scanIterator({ MATCH: `*${project}`, COUNT: 10_000 })) {
      if (keys.length > 0) await raw.unlink(keys)
    }
  }
  return {
    async ours() {
      const store = await freshStore(dir, clear)
      try {
        const t = performance.now()
        await store.materialize({ start: START, end: END })
        return (performance.now() - t) / 1000
      } finally {
        await store.close()
      }
    },
    async reference() {
      const store = await freshStore(dir, clear)
      const fields = FEATURES.map((f) => Buffer.from(redisFeatureField('driver_stats', f)))
      const tsField = Buffer.from('_ts:driver_stats')
      let seconds = 0
      try {
        for await (const rows of encodedBatches(store)) {
          const commands = rows.map((r) => {
            const args: (string | Buffer)[] = ['HSET', Buffer.concat([r.entityKey, projectBytes])]
            args.push(tsField, Buffer.from(encodeTimestamp(r.eventTs)))
            for (let i = 0; i < fields.length; i++) args.push(fields[i]!, Buffer.from(r.values[i]!))
            return args
          })
          const t = performance.now()
          const multi = raw.multi()
          for (const args of commands) multi.addCommand(args)
          await multi.execAsPipeline()
          seconds += (performance.now() - t) / 1000
        }
        return seconds
      } finally {
        await store.close()
      }
    },
    async close() {
      await clear()
      raw.destroy()
    },
  }
}

/** Interleaved runs of both sides; prints the figure. */
async function throughput(bench: string, side: Side, rows: number): Promise<void> {
  const ours: number[] = []
  const theirs: number[] = []
  try {
    for (let i = 0; i < RUNS; i++) {
      ours.push(await side.ours())
      theirs.push(await side.reference())
      process.stderr.write(
        `${bench}: run ${i + 1}: ${ours.at(-1)!.toFixed(1)} s, reference ${theirs.at(-1)!.toFixed(1)} s\n`,
      )
    }
  } finally {
    await side.close()
  }
  const rowsPerS = rows / median(ours)
  const referenceRowsPerS = rows / median(theirs)
  process.stdout.write(
    `${JSON.stringify({
      bench,
      rows_per_s: Math.round(rowsPerS),
      reference_rows_per_s: Math.round(referenceRowsPerS),
      ratio: Math.round((rowsPerS / referenceRowsPerS) * 100) / 100,
    })}\n`,
  )
}

/**
 * In a fresh process: applies the repo and only reads the 10M-row window from the offline store, and
 * reports the OS peak RSS.
 */
async function peakRssChild(dir: string): Promise<void> {
  const store = await FeatureStore.open(dir)
  try {
    await store.apply()
    let rows = 0
    const view = (await store.catalog()).featureView('driver_stats')
    const offline = await store.offline()
    for await (const batch of offline.pullLatest(view, { start: START, end: END }, { batchSize: BATCH })) {
      rows += batch.numRows
    }
    process.stdout.write(`${JSON.stringify({ rows, peak_rss_kb: process.resourceUsage().maxRSS })}\n`)
  } finally {
    await store.close()
  }
}

/**
 * `larder materialize START END` on the repo as a user runs it (`bin/larder.js` over `dist/`, no flags,
 * no NODE_OPTIONS), under `/usr/bin/time`: the peak RSS of its largest process in KiB. The repo is
 * applied by the pull run before.
 */
function cliPeakRss(dir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const { NODE_OPTIONS: _, ...env } = process.env
    const child = spawn(
      '/usr/bin/time',
      ['-f', 'peak_rss_kb=%M', process.execPath, LARDER_BIN, '-c', dir, 'materialize', START, END],
      { stdio: ['ignore', 'ignore', 'pipe'], env },
    )
    let err = ''
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c
    })
    child.on('error', reject)
    child.on('exit', (code) => {
      const peak = /peak_rss_kb=(\d+)/.exec(err)
      if (code === 0 && peak) resolve(Number(peak[1]))
      else reject(new Error(`larder materialize failed (exit ${code}): ${err}`))
    })
  })
}

function runChild(dir: string): Promise<{ rows: number; peak_rss_kb: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', JITI_REGISTER, fileURLToPath(import.meta.url), CHILD_FLAG, dir],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c
    })
    child.on('error', reject)
    child.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? ''
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line))
      else reject(new Error(`the peak RSS run (pull) failed (exit ${code}): ${out}`))
    })
  })
}

const PG = {
  host: process.env.LARDER_TEST_PG_HOST ?? '127.0.0.1',
  port: Number(process.env.LARDER_TEST_PG_PORT ?? 5432),
  database: process.env.LARDER_TEST_PG_DATABASE ?? 'test',
  user: process.env.LARDER_TEST_PG_USER ?? 'postgres',
}
const PG_SCHEMA = `larder_bench_mat_${String(SCALE).replace('.', '_')}`

/** The one-row-per-driver table in PostgreSQL, generated there once (same value shapes as the Parquet). */
async function pgGenerate(client: pg.Client, drivers: number): Promise<void> {
  const ready = await client.query(`SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'ready'`, [
    PG_SCHEMA,
  ])
  if (ready.rowCount === 1) return
  process.stderr.write(`materialize: generating ${size(drivers)} rows in PostgreSQL schema ${PG_SCHEMA}\n`)
  const h = (salt: number) => `abs(hashtext(d || ':${salt}'))`
  const value = (expr: string, salt: number) =>
    `CASE WHEN ${h(100 + salt)} % 100 = 0 THEN NULL ELSE ${expr} END`
  const columns = [
    `${value(`(${h(1)} % 1000) / 1000.0`, 1)}::float8 AS conv_rate`,
    `${value(`(${h(2)} % 1000) / 1000.0`, 2)}::float8 AS acc_rate`,
    `${value(`${h(3)} % 100`, 3)}::bigint AS avg_daily_trips`,
    ...[0, 1, 2, 3].map((i) => `${value(`(${h(10 + i)} % 100000) / 7.0`, 10 + i)}::float8 AS f_${i}`),
    `${value(`${h(14)} % 1000`, 14)}::bigint AS f_4`,
    `${value(`(${h(15)} % 1000) / 3.0`, 15)}::float8 AS f_5`,
    `${value(`'v' || (${h(16)} % 500)`, 16)}::text AS f_6`,
  ]
  await client.query(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE; CREATE SCHEMA ${PG_SCHEMA}`)
  await client.query(`CREATE TABLE ${PG_SCHEMA}.driver_stats AS
    SELECT d::bigint AS driver_id, TIMESTAMPTZ '2026-01-01 00:00:00+00' AS event_timestamp,
      TIMESTAMPTZ '2026-01-01 00:00:00+00' + (${h(0)} % 3600) * INTERVAL '1 second' AS created, ${columns.join(', ')}
    FROM generate_series(0, ${drivers - 1}) d`)
  await client.query(`ANALYZE ${PG_SCHEMA}.driver_stats; CREATE TABLE ${PG_SCHEMA}.ready ()`)
}

/** A repo reading the PostgreSQL table, materializing into Redis. */
function writePgRepo(dir: string, project: string): void {
  mkdirSync(join(dir, 'data'), { recursive: true })
  writeFileSync(
    join(dir, 'feature_store.yaml'),
    [
      `project: ${project}`,
      'registry: data/registry.db',
      'online_store:',
      '  type: redis',
      `  connection_string: ${REDIS}`,
      'offline_store:',
      '  type: postgres',
      `  host: ${PG.host}`,
      `  port: ${PG.port}`,
      `  database: ${PG.database}`,
      `  db_schema: ${PG_SCHEMA}`,
      `  user: ${PG.user}`,
      'entity_key_serialization_version: 3',
      '',
    ].join('\n'),
  )
  writeFileSync(
    join(dir, 'features.ts'),
    `import { Entity, FeatureView, Field, Float64, Int64, PostgreSQLSource, String } from 'larderjs'
export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
export const driverStats = new FeatureView({
  name: 'driver_stats',
  entities: [driver],
  schema: ${JSON.stringify(FEATURES)}.map((name) =>
    new Field({ name, dtype: name === 'f_6' ? String : /trips|f_4/.test(name) ? Int64 : Float64 })),
  source: new PostgreSQLSource({ name: 'driver_stats_source', table: 'driver_stats',
    timestampField: 'event_timestamp', createdTimestampColumn: 'created' }),
})
`,
  )
}

async function pgRedisSide(dir: string, project: string, client: pg.Client): Promise<Side> {
  const [host, port] = REDIS.split(':') as [string, string]
  const raw = createClient({ socket: { host, port: Number(port) } }).withTypeMapping({
    [RESP_TYPES.BLOB_STRING]: Buffer,
  })
  await raw.connect()
  const projectBytes = Buffer.from(project)
  const clear = async () => {
    for await (const keys of raw.scanIterator({ MATCH: `*${project}`, COUNT: 10_000 })) {
      if (keys.length > 0) await raw.unlink(keys)
    }
  }
  const types = FEATURES.map((f) => (f === 'f_6' ? Str : /trips|f_4/.test(f) ? Int64 : Float64))
  return {
    async ours() {
      const store = await freshStore(dir, clear)
      try {
        const t = performance.now()
        await store.materialize({ start: START, end: END })
        return (performance.now() - t) / 1000
      } finally {
        await store.close()
      }
    },
    async reference() {
      await clear()
      const fields = FEATURES.map((f) => Buffer.from(redisFeatureField('driver_stats', f)))
      const tsField = Buffer.from('_ts:driver_stats')
      const t = performance.now()
      await client.query('BEGIN')
      await client.query(
        `DECLARE latest NO SCROLL CURSOR FOR SELECT DISTINCT ON (driver_id) driver_id,
           (extract(epoch FROM event_timestamp) * 1000000)::bigint AS ts_us, ${FEATURES.join(', ')}
         FROM ${PG_SCHEMA}.driver_stats
         WHERE event_timestamp >= '${START}' AND event_timestamp <= '${END}' AND driver_id IS NOT NULL
         ORDER BY driver_id, event_timestamp DESC, created DESC NULLS LAST`,
      )
      for (;;) {
        const { rows } = await client.query(`FETCH ${BATCH} FROM latest`)
        if (rows.length === 0) break
        const multi = raw.multi()
        for (const r of rows) {
          const key = serializeEntityKey([
            { joinKey: 'driver_id', valueType: ValueType.INT64, value: BigInt(r.driver_id) },
          ])
          const args: (string | Buffer)[] = ['HSET', Buffer.concat([key, projectBytes])]
          args.push(tsField, Buffer.from(encodeTimestamp(Number(r.ts_us))))
          for (let i = 0; i < fields.length; i++) {
            const v = r[FEATURES[i]!]
            const value = v === null ? null : types[i] === Int64 ? BigInt(v) : v
            args.push(fields[i]!, Buffer.from(encodeValue(types[i]!, value)))
          }
          multi.addCommand(args)
        }
        await multi.execAsPipeline()
      }
      await client.query('COMMIT')
      return (performance.now() - t) / 1000
    },
    async close() {
      await clear()
      raw.destroy()
    },
  }
}

async function runPg(project: string): Promise<void> {
  const client = new pg.Client({ ...PG, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
  } catch (e) {
    process.stderr.write(
      `materialize_pg_to_redis: skipped, PostgreSQL at ${PG.host}:${PG.port} does not answer (${(e as Error).message})\n`,
    )
    return
  }
  try {
    await pgGenerate(client, DRIVERS)
    const dir = join(here, '.data', `materialize-pg-${SCALE}`)
    rmSync(join(dir, 'data', 'registry.db'), { force: true })
    writePgRepo(dir, project)
    await throughput(
      `materialize_pg_to_redis_${size(DRIVERS)}`,
      await pgRedisSide(dir, project, client),
      DRIVERS,
    )
    // the same window once more from the command line, as a user runs it, for its peak RSS
    const peak_rss_kb = await cliPeakRss(dir)
    console.log(
      JSON.stringify({
        bench: `materialize_pg_to_redis_${size(DRIVERS)}_peak_rss`,
        peak_rss_mb: Math.round(peak_rss_kb / 1024),
        goal_mb: GOAL_MB,
      }),
    )
    rmSync(join(dir, 'data', 'registry.db'), { force: true })
  } finally {
    await client.end()
  }
}

/** In a fresh process: a BullMQ worker on the repo's `bullmq.yaml` until SIGTERM; prints `ready`. */
async function workerChild(dir: string): Promise<void> {
  const store = await FeatureStore.open(dir, { configFile: BULLMQ_CONFIG })
  const stop = new AbortController()
  process.once('SIGTERM', () => stop.abort())
  try {
    await runWorker(store, {
      signal: stop.signal,
      onLog: (e) => {
        if (e.msg === 'worker ready') process.stdout.write('ready\n')
        if (e.level !== 'info') process.stderr.write(`worker: ${JSON.stringify(e)}\n`)
      },
    })
  } finally {
    await store.close()
  }
}

/** `n` worker processes, once each said it is ready; `stop()` ends them after their running tasks. */
async function startBenchWorkers(dir: string, n: number): Promise<{ stop(): Promise<void> }> {
  const children = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof spawn>>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            ['--import', JITI_REGISTER, fileURLToPath(import.meta.url), WORKER_FLAG, dir],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          )
          child.stdout.setEncoding('utf8').on('data', (c: string) => {
            if (c.includes('ready')) resolve(child)
          })
          child.on('error', reject)
          child.on('exit', (code) =>
            reject(new Error(`a bench worker exited with ${code} before it was ready`)),
          )
        }),
    ),
  )
  return {
    async stop() {
      await Promise.all(
        children.map((c) => {
          const exited = new Promise((r) => c.once('exit', r))
          c.kill('SIGTERM')
          return exited
        }),
      )
    },
  }
}

/** Local against the BullMQ engine with 1 and 2 workers, into Redis; prints a figure per worker count. */
async function runBullmq(project: string): Promise<void> {
  const dir = join(here, '.data', `materialize-bullmq-${size(BULLMQ_ROWS)}`)
  await generate(dir, BULLMQ_ROWS / 10, 10)
  rmSync(join(dir, 'data', 'registry.db'), { force: true })
  writeRepo(dir, project, `type: redis\nconnection_string: ${REDIS}`)
  const prefix = `larder-bench-${process.pid}`
  writeFileSync(
    join(dir, BULLMQ_CONFIG),
    `${readFileSync(join(dir, 'feature_store.yaml'), 'utf8')}batch_engine:\n  type: bullmq\n  connection_string: redis://${REDIS}\n  queue: bench\n  prefix: ${prefix}\n`,
  )
  const [host, port] = REDIS.split(':') as [string, string]
  const raw = createClient({ socket: { host, port: Number(port) } })
  await raw.connect()
  const clear = async (pattern: string) => {
    for await (const keys of raw.scanIterator({ MATCH: pattern, COUNT: 10_000 })) {
      if (keys.length > 0) await raw.unlink(keys)
    }
  }
  /** Seconds to materialize the window into an empty online store with the config's engine. */
  const timed = async (configFile: string): Promise<{ seconds: number; online: number }> => {
    await clear(`*${project}`)
    const store = await FeatureStore.open(dir, { configFile })
    try {
      await store.apply()
      const t = performance.now()
      const result = await store.materialize({ start: START, end: END })
      return { seconds: (performance.now() - t) / 1000, online: result.views[0]!.rows }
    } finally {
      await store.close()
    }
  }
  const local: number[] = []
  const distributed = new Map<number, number[]>([
    [1, []],
    [2, []],
  ])
  let onlineRows = 0
  try {
    for (let run = 0; run < BULLMQ_RUNS; run++) {
      const l = await timed('feature_store.yaml')
      local.push(l.seconds)
      onlineRows = l.online
      process.stderr.write(`materialize_bullmq: run ${run + 1}: local ${l.seconds.toFixed(1)} s\n`)
      for (const [workers, seconds] of distributed) {
        const pool = await startBenchWorkers(dir, workers)
        try {
          const d = await timed(BULLMQ_CONFIG)
          seconds.push(d.seconds)
          process.stderr.write(
            `materialize_bullmq: run ${run + 1}: ${workers} worker(s) ${d.seconds.toFixed(1)} s\n`,
          )
        } finally {
          await pool.stop()
        }
      }
    }
  } finally {
    await clear(`*${project}`)
    await clear(`${prefix}:*`)
    await raw.quit()
    rmSync(join(dir, 'data', 'registry.db'), { force: true })
  }
  const localRowsPerS = BULLMQ_ROWS / median(local)
  for (const [workers, seconds] of distributed) {
    const rowsPerS = BULLMQ_ROWS / median(seconds)
    process.stdout.write(
      `${JSON.stringify({
        bench: `materialize_bullmq_${size(BULLMQ_ROWS)}`,
        workers,
        rows: BULLMQ_ROWS,
        online_rows: onlineRows,
        rows_per_s: Math.round(rowsPerS),
        reference_rows_per_s: Math.round(localRowsPerS),
        ratio: Math.round((rowsPerS / localRowsPerS) * 100) / 100,
      })}\n`,
    )
  }
}

async function main(): Promise<void> {
  const project = `bench_mat_${process.pid}`
  if (FIGURES.includes('bullmq')) await runBullmq(project)
  if (FIGURES.includes('pg')) await runPg(project)
  const sqlite = FIGURES.includes('throughput') || FIGURES.includes('throughput_sqlite')
  const redis = FIGURES.includes('throughput') || FIGURES.includes('throughput_redis')
  if (sqlite || redis) {
    const oneRow = join(here, '.data', `materialize-${SCALE}`)
    await generate(oneRow, DRIVERS, 1)
    rmSync(join(oneRow, 'data', 'registry.db'), { force: true })
    if (sqlite) {
      writeRepo(oneRow, project, 'type: sqlite\npath: data/online.db')
      await throughput(`materialize_sqlite_${size(DRIVERS)}`, sqliteSide(oneRow, project), DRIVERS)
      rmSync(join(oneRow, 'data', 'registry.db'), { force: true })
    }
    if (redis) {
      writeRepo(oneRow, project, `type: redis\nconnection_string: ${REDIS}`)
      await throughput(`materialize_redis_${size(DRIVERS)}`, await redisSide(oneRow, project), DRIVERS)
      rmSync(join(oneRow, 'data', 'registry.db'), { force: true })
    }
  }
  if (!FIGURES.includes('peak')) return

  const tenRows = join(here, '.data', `materialize-${SCALE}-x10`)
  await generate(tenRows, DRIVERS, 10)
  for (const f of ['registry.db', 'online.db', 'online.db-wal', 'online.db-shm']) {
    rmSync(join(tenRows, 'data', f), { force: true })
  }
  writeRepo(
    tenRows,
    project,
    'type: sqlite\npath: data/online.db',
    DUCKDB_MEMORY ? [`memory_limit: '${DUCKDB_MEMORY}'`] : [],
  )
  const pull = await runChild(tenRows)
  const t = performance.now()
  const peak_rss_kb = await cliPeakRss(tenRows)
  process.stderr.write(
    `materialize: ${size(DRIVERS * 10)} rows -> ${pull.rows} online rows in ${((performance.now() - t) / 1000).toFixed(1)} s\n`,
  )
  process.stdout.write(
    `${JSON.stringify({
      bench: `materialize_${size(DRIVERS * 10)}_peak_rss`,
      peak_rss_mb: Math.round(peak_rss_kb / 1024),
      goal_mb: GOAL_MB,
      offline_pull_only_peak_rss_mb: Math.round(pull.peak_rss_kb / 1024),
      duckdb_memory_limit: DUCKDB_MEMORY ?? 'default',
    })}\n`,
  )
}

const childAt = process.argv.indexOf(CHILD_FLAG)
const workerAt = process.argv.indexOf(WORKER_FLAG)
if (childAt >= 0) await peakRssChild(process.argv[childAt + 1]!)
else if (workerAt >= 0) await workerChild(process.argv[workerAt + 1]!)
else await main()
