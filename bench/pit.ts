// Point-in-time join: 1M entity rows against 10M feature rows (100k drivers x 100 hourly rows, one view of
// 10 features, ttl 2h), written to Parquet. The reference is a hand-written DuckDB query that deduplicates
// (driver, event ts) by the created timestamp, ASOF-joins and applies the ttl, producing the same Parquet
// in the same run. Medians of 3 interleaved runs (BENCH_RUNS), each in a fresh process; peak RSS is
// Larder's run, with the offline store's default settings. pit_1m_x_10m_cli: the same join from the CLI
// as a user runs it (`larder get-historical-features … --out x.parquet`, bin/larder.js over dist/, no
// Node flags; build dist/ first), wall time and peak RSS by /usr/bin/time, against the in-process run.
// BENCH_SCALE=0.1 shrinks both tables tenfold.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import {
  Entity,
  FeatureView,
  Field,
  FileSource,
  Float64,
  Int64,
  PostgreSQLSource,
  String as Str,
} from '../src/core/index.js'
import { DuckDBOfflineStore } from '../src/offline/duckdb/index.js'

const FEATURES = ['conv_rate', 'acc_rate', 'avg_daily_trips', 'f_0', 'f_1', 'f_2', 'f_3', 'f_4', 'f_5', 'f_6']
const HOURS = 100
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const LARDER_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'larder.js')

function size(n: number): string {
  return n >= 1_000_000 ? `${n / 1_000_000}m` : `${n / 1000}k`
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** Driver-stats shaped data (70% float, 20% int, 10% string features, 1% nulls), seeded by hashes. */
async function generate(dataDir: string, drivers: number, entityRows: number): Promise<void> {
  const feats = join(dataDir, 'driver_stats.parquet')
  const ents = join(dataDir, 'entities.parquet')
  if (existsSync(feats) && existsSync(ents)) return
  mkdirSync(dataDir, { recursive: true })
  process.stderr.write(
    `pit: generating ${size(drivers * HOURS)} feature rows and ${size(entityRows)} entity rows\n`,
  )
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
    `COPY (SELECT d AS driver_id, TIMESTAMP '2026-01-01' + INTERVAL (h) HOUR AS event_timestamp,
       TIMESTAMP '2026-01-01' + INTERVAL (h) HOUR + INTERVAL (hash(d, h) % 3600) SECOND AS created, ${columns.join(', ')}
     FROM range(${drivers}) r1(d), range(${HOURS}) r2(h)) TO '${feats}.tmp' (FORMAT parquet)`,
  )
  await db.run(
    `COPY (SELECT (hash(i, 'driver') % ${drivers})::BIGINT AS driver_id,
       TIMESTAMP '2026-01-01' + INTERVAL (hash(i, 'ts') % (${HOURS}::BIGINT * 3600 * 1000000)) MICROSECOND AS event_timestamp
     FROM range(${entityRows}) r(i)) TO '${ents}.tmp' (FORMAT parquet)`,
  )
  db.closeSync()
  instance.closeSync()
  renameSync(`${feats}.tmp`, feats)
  renameSync(`${ents}.tmp`, ents)
}

/** The hand-written query: created-timestamp dedupe, one ASOF join, ttl as CASE, entity order kept. */
function referenceSql(dataDir: string, out: string): string {
  const ttl = FEATURES.map(
    (f) => `CASE WHEN f.event_timestamp >= e.event_timestamp - INTERVAL 2 HOUR THEN f.${f} END AS ${f}`,
  )
  return `COPY (
    WITH e AS (SELECT row_number() OVER () AS rn, * FROM read_parquet('${join(dataDir, 'entities.parquet')}')),
    f AS (SELECT * FROM read_parquet('${join(dataDir, 'driver_stats.parquet')}')
          QUALIFY row_number() OVER (PARTITION BY driver_id, event_timestamp ORDER BY created DESC NULLS LAST) = 1)
    SELECT e.driver_id, CAST(e.event_timestamp AS TIMESTAMPTZ) AS event_timestamp, ${ttl.join(', ')}
    FROM e ASOF LEFT JOIN f ON e.driver_id = f.driver_id AND e.event_timestamp >= f.event_timestamp
    ORDER BY e.rn
  ) TO '${out}' (FORMAT parquet)`
}

interface Setup {
  readonly dataDir: string
  readonly outDir: string
  readonly drivers: number
  readonly entityRows: number
}

function setup(): Setup {
  const scale = Number(process.env.BENCH_SCALE ?? 1)
  const drivers = Math.round(100_000 * scale)
  const entityRows = Math.round(1_000_000 * scale)
  const dataDir = join(dirname(fileURLToPath(import.meta.url)), '.data', `pit-${scale}`)
  return { dataDir, outDir: join(dataDir, 'out'), drivers, entityRows }
}

/** One measured run in this process: Larder's retrieval job, or the hand-written reference query. */
async function measure(role: string, { dataDir, outDir }: Setup): Promise<{ ms: number; rssMb: number }> {
  const t = performance.now()
  if (role === 'ours') {
    const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
    const view = new FeatureView({
      name: 'driver_hourly_stats',
      entities: [driver],
      ttl: '2h',
      source: new FileSource({
        name: 'driver_stats',
        path: 'driver_stats.parquet',
        timestampField: 'event_timestamp',
        createdTimestampColumn: 'created',
      }),
      schema: FEATURES.map(
        (name) => new Field({ name, dtype: name === 'f_6' ? Str : /trips|f_4/.test(name) ? Int64 : Float64 }),
      ),
    })
    const store = new DuckDBOfflineStore({ repoPath: dataDir })
    const job = await store.getHistoricalFeatures({
      entities: join(dataDir, 'entities.parquet'),
      features: [{ projection: view.projection, features: FEATURES }],
    })
    await job.toParquet(join(outDir, 'ours.parquet'))
    await store.close()
  } else {
    const instance = await DuckDBInstance.create(':memory:', {
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    })
    const db = await instance.connect()
    await db.run("SET TimeZone = 'UTC'")
    await db.run(referenceSql(dataDir, join(outDir, 'reference.parquet')))
    db.closeSync()
    instance.closeSync()
  }
  return { ms: performance.now() - t, rssMb: process.resourceUsage().maxRSS / 1024 }
}

/** Runs one measurement in a fresh process, so neither side inherits the other's memory or caches. */
function child(role: string): { ms: number; rssMb: number } {
  const runner = join(dirname(fileURLToPath(import.meta.url)), 'run.mjs')
  const out = execFileSync(process.execPath, [runner, fileURLToPath(import.meta.url)], {
    env: { ...process.env, PIT_BENCH_ROLE: role },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return JSON.parse(out.trim().split('\n').at(-1)!) as { ms: number; rssMb: number }
}

async function sameOutput(outDir: string, ours = 'ours.parquet'): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:')
  const db = await instance.connect()
  const numbered = (file: string) => `(SELECT row_number() OVER () AS n, * FROM '${join(outDir, file)}')`
  const diff = await db.runAndReadAll(
    `SELECT (SELECT count(*) FROM (FROM ${numbered(ours)} EXCEPT ALL FROM ${numbered('reference.parquet')})),
            (SELECT count(*) FROM (FROM ${numbered('reference.parquet')} EXCEPT ALL FROM ${numbered(ours)}))`,
  )
  const [extra, missing] = diff.getRowsJS()[0] as [bigint, bigint]
  db.closeSync()
  instance.closeSync()
  if (extra !== 0n || missing !== 0n)
    throw new Error(`pit: results differ from the reference (${extra} / ${missing} rows)`)
}

/** `PIT_BENCH=duckdb` or `PIT_BENCH=pg` runs one of the two figures; both run by default. */
export default async function run(): Promise<void> {
  const s = setup()
  const role = process.env.PIT_BENCH_ROLE
  if (role !== undefined) {
    const result = role.startsWith('pg_') ? await pgMeasure(role, pgSetup()) : await measure(role, s)
    process.stdout.write(`${JSON.stringify(result)}\n`)
    return
  }
  const which = process.env.PIT_BENCH ?? 'all'
  if (which !== 'pg') await runDuckDB(s)
  if (which !== 'duckdb') await runPg()
}

async function runDuckDB(s: Setup): Promise<void> {
  await generate(s.dataDir, s.drivers, s.entityRows)
  rmSync(s.outDir, { recursive: true, force: true })
  mkdirSync(s.outDir)
  const ours: number[] = []
  const theirs: number[] = []
  let peakRss = 0
  for (let i = 0; i < RUNS; i++) {
    const mine = child('ours')
    const reference = child('reference')
    ours.push(mine.ms)
    theirs.push(reference.ms)
    peakRss = Math.max(peakRss, mine.rssMb)
    process.stderr.write(
      `pit: run ${i + 1}: ${Math.round(mine.ms)} ms, reference ${Math.round(reference.ms)} ms\n`,
    )
  }
  await sameOutput(s.outDir)

  // the same join from the CLI, as a user runs it: `larder get-historical-features … --out x.parquet`
  writeCliRepo(s.dataDir)
  larder(s.dataDir, ['apply'])
  const cli: number[] = []
  let cliPeakRss = 0
  for (let i = 0; i < RUNS; i++) {
    const run = cliRun(s)
    cli.push(run.ms)
    cliPeakRss = Math.max(cliPeakRss, run.rssMb)
    process.stderr.write(`pit: CLI run ${i + 1}: ${Math.round(run.ms)} ms, ${Math.round(run.rssMb)} MiB\n`)
  }
  await sameOutput(s.outDir, 'cli.parquet')
  rmSync(s.outDir, { recursive: true, force: true })

  const ms = median(ours)
  const referenceMs = median(theirs)
  process.stdout.write(
    `${JSON.stringify({
      bench: `pit_${size(s.entityRows)}_x_${size(s.drivers * HOURS)}`,
      ms: Math.round(ms),
      reference_ms: Math.round(referenceMs),
      ratio: Math.round((ms / referenceMs) * 100) / 100,
      peak_rss_mb: Math.round(peakRss),
    })}\n`,
  )
  process.stdout.write(
    `${JSON.stringify({
      bench: `pit_${size(s.entityRows)}_x_${size(s.drivers * HOURS)}_cli`,
      ms: Math.round(median(cli)),
      in_process_ms: Math.round(ms),
      ratio: Math.round((median(cli) / ms) * 100) / 100,
      peak_rss_mb: Math.round(cliPeakRss),
    })}\n`,
  )
}

/** A feature repo over the generated data (the view of `measure`), for the CLI; the registry is applied anew. */
function writeCliRepo(dataDir: string): void {
  rmSync(join(dataDir, 'registry.db'), { force: true })
  writeFileSync(
    join(dataDir, 'feature_store.yaml'),
    'project: pit_bench\nregistry: registry.db\nonline_store: null\noffline_store:\n  type: duckdb\nentity_key_serialization_version: 3\n',
  )
  writeFileSync(
    join(dataDir, 'features.ts'),
    `import { Entity, FeatureView, Field, FileSource, Float64, Int64, String } from 'larderjs'
export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
export const stats = new FeatureView({
  name: 'driver_hourly_stats',
  entities: [driver],
  ttl: '2h',
  schema: ${JSON.stringify(FEATURES)}.map((name) =>
    new Field({ name, dtype: name === 'f_6' ? String : /trips|f_4/.test(name) ? Int64 : Float64 })),
  source: new FileSource({ name: 'driver_stats', path: 'driver_stats.parquet',
    timestampField: 'event_timestamp', createdTimestampColumn: 'created' }),
})
`,
  )
}

/**
 * Runs the CLI (bin/larder.js over dist/, no Node flags) in the repo, under `/usr/bin/time` when `timed`
 * (which then prints `peak_rss_kb=` on stderr); returns its stderr.
 */
function larder(dataDir: string, args: readonly string[], timed = false): string {
  const { NODE_OPTIONS: _, ...env } = process.env
  const cli = [process.execPath, LARDER_BIN, '-c', dataDir, ...args]
  const [command, ...argv] = timed ? ['/usr/bin/time', '-f', 'peak_rss_kb=%M', ...cli] : cli
  const run = spawnSync(command!, argv, { env, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] })
  if (run.status !== 0) {
    throw new Error(`larder ${args[0]} failed (${run.signal ?? `exit ${run.status}`}): ${run.stderr}`)
  }
  return run.stderr
}

/** One `larder get-historical-features` to Parquet under /usr/bin/time: wall ms and peak RSS (MiB). */
function cliRun({ dataDir, outDir }: Setup): { ms: number; rssMb: number } {
  const t = performance.now()
  const err = larder(
    dataDir,
    [
      'get-historical-features',
      '--entities',
      join(dataDir, 'entities.parquet'),
      '--features',
      FEATURES.map((f) => `driver_hourly_stats:${f}`).join(','),
      '--out',
      join(outDir, 'cli.parquet'),
      '--no-receipt',
    ],
    true,
  )
  const ms = performance.now() - t
  const peak = /peak_rss_kb=(\d+)/.exec(err)
  if (!peak) throw new Error(`/usr/bin/time printed no peak RSS: ${err}`)
  return { ms, rssMb: Number(peak[1]) / 1024 }
}

// pit_pg_100k_x_1m: the same join on the postgres offline store. 100k entity rows (a Parquet file)
// against 1M feature rows in two PostgreSQL tables (driver_stats: 10k drivers x 50 hourly rows with a
// created column and ttl 2h; customer_stats: 10k customers x 50 hourly rows, no ttl), each indexed on
// (key, event_timestamp), written to Parquet. The reference is a hand-written PostgreSQL query over the
// same tables and an entity table already in the server, one `LEFT JOIN LATERAL (… ORDER BY … LIMIT 1)`
// per view, streamed out with `COPY … TO STDOUT` through the raw driver, with the server's settings, and
// again with JIT off (Larder turns JIT off for its join; `reference_jit_off_ms`). Peak RSS is of Larder's
// Node process. Skipped with a printed reason when PostgreSQL does not answer (LARDER_TEST_PG_* as the tests).

const PG_HOURS = 50
const PG = {
  host: process.env.LARDER_TEST_PG_HOST ?? '127.0.0.1',
  port: Number(process.env.LARDER_TEST_PG_PORT ?? 5432),
  database: process.env.LARDER_TEST_PG_DATABASE ?? 'test',
  user: process.env.LARDER_TEST_PG_USER ?? 'postgres',
}

interface PgSetup {
  readonly schema: string
  readonly dataDir: string
  readonly outDir: string
  readonly keys: number
  readonly entityRows: number
}

function pgSetup(): PgSetup {
  const scale = Number(process.env.BENCH_SCALE ?? 1)
  const keys = Math.round(10_000 * scale)
  const entityRows = Math.round(100_000 * scale)
  const dataDir = join(dirname(fileURLToPath(import.meta.url)), '.data', `pit-pg-${scale}`)
  const schema = `larder_bench_pit_${String(scale).replace('.', '_')}`
  return { schema, dataDir, outDir: join(dataDir, 'out'), keys, entityRows }
}

async function pgClient() {
  const pg = (await import('pg')).default
  const client = new pg.Client({ ...PG, connectionTimeoutMillis: 3000 })
  await client.connect()
  await client.query("SET TimeZone = 'UTC'")
  return client
}

/** Feature tables and the reference's entity table in PostgreSQL, the same entity rows as Parquet. */
async function pgGenerate(s: PgSetup): Promise<void> {
  const client = await pgClient()
  try {
    const done = await client.query(`SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'ready'`, [
      s.schema,
    ])
    if (done.rowCount === 1 && existsSync(join(s.dataDir, 'entities.parquet'))) return
    process.stderr.write(
      `pit_pg: generating ${size(2 * s.keys * PG_HOURS)} feature rows and ${size(s.entityRows)} entity rows\n`,
    )
    mkdirSync(s.dataDir, { recursive: true })
    const h = (salt: string) => `abs(hashtext(k || ':' || h || ':${salt}'))`
    await client.query(`DROP SCHEMA IF EXISTS ${s.schema} CASCADE; CREATE SCHEMA ${s.schema}`)
    await client.query(`CREATE TABLE ${s.schema}.driver_stats AS
      SELECT k::bigint AS driver_id, TIMESTAMPTZ '2026-01-01' + h * INTERVAL '1 hour' AS event_timestamp,
        TIMESTAMPTZ '2026-01-01' + h * INTERVAL '1 hour' + (${h('c')} % 3600) * INTERVAL '1 second' AS created,
        (${h('1')} % 1000) / 1000.0::float8 AS conv_rate, (${h('2')} % 1000) / 1000.0::float8 AS acc_rate,
        (${h('3')} % 100)::bigint AS avg_daily_trips
      FROM generate_series(0, ${s.keys - 1}) k, generate_series(0, ${PG_HOURS - 1}) h`)
    await client.query(`CREATE TABLE ${s.schema}.customer_stats AS
      SELECT k::bigint AS customer_id, TIMESTAMPTZ '2026-01-01' + h * INTERVAL '1 hour' AS event_timestamp,
        (${h('4')} % 100000) / 7.0::float8 AS lifetime_spend, (${h('5')} % 50)::bigint AS orders
      FROM generate_series(0, ${s.keys - 1}) k, generate_series(0, ${PG_HOURS - 1}) h`)
    await client.query(`CREATE INDEX ON ${s.schema}.driver_stats (driver_id, event_timestamp)`)
    await client.query(`CREATE INDEX ON ${s.schema}.customer_stats (customer_id, event_timestamp)`)
    await client.query(`CREATE TABLE ${s.schema}.entities AS
      SELECT i AS rn, (abs(hashtext(i || ':d')) % ${s.keys})::bigint AS driver_id,
        (abs(hashtext(i || ':c')) % ${s.keys})::bigint AS customer_id,
        TIMESTAMPTZ '2026-01-01' + (abs(hashtext(i || ':t'))::bigint % (${PG_HOURS}::bigint * 3600 * 1000000)) * INTERVAL '1 microsecond' AS event_timestamp
      FROM generate_series(1, ${s.entityRows}) i`)
    await client.query(
      `ANALYZE ${s.schema}.driver_stats; ANALYZE ${s.schema}.customer_stats; ANALYZE ${s.schema}.entities`,
    )
    const rows = await client.query(
      `SELECT driver_id, customer_id, (extract(epoch FROM event_timestamp) * 1000000)::bigint AS us FROM ${s.schema}.entities ORDER BY rn`,
    )
    const instance = await DuckDBInstance.create(':memory:')
    const db = await instance.connect()
    await db.run('CREATE TABLE e (driver_id BIGINT, customer_id BIGINT, us BIGINT)')
    const appender = await db.createAppender('e')
    for (const r of rows.rows) {
      appender.appendBigInt(BigInt(r.driver_id))
      appender.appendBigInt(BigInt(r.customer_id))
      appender.appendBigInt(BigInt(r.us))
      appender.endRow()
    }
    appender.closeSync()
    await db.run(
      `COPY (SELECT driver_id, customer_id, make_timestamp(us) AS event_timestamp FROM e) TO '${join(s.dataDir, 'entities.parquet')}' (FORMAT parquet)`,
    )
    db.closeSync()
    instance.closeSync()
    await client.query(`CREATE TABLE ${s.schema}.ready ()`)
  } finally {
    await client.end()
  }
}

function pgReferenceSql(schema: string): string {
  return `COPY (
    SELECT e.driver_id, e.customer_id, e.event_timestamp, a.conv_rate, a.acc_rate, a.avg_daily_trips, b.lifetime_spend, b.orders
    FROM ${schema}.entities e
    LEFT JOIN LATERAL (SELECT conv_rate, acc_rate, avg_daily_trips FROM ${schema}.driver_stats f
      WHERE f.driver_id = e.driver_id AND f.event_timestamp <= e.event_timestamp
        AND f.event_timestamp >= e.event_timestamp - INTERVAL '2 hours'
      ORDER BY f.event_timestamp DESC, f.created DESC LIMIT 1) a ON true
    LEFT JOIN LATERAL (SELECT lifetime_spend, orders FROM ${schema}.customer_stats c
      WHERE c.customer_id = e.customer_id AND c.event_timestamp <= e.event_timestamp
      ORDER BY c.event_timestamp DESC LIMIT 1) b ON true
    ORDER BY e.rn
  ) TO STDOUT (FORMAT csv)`
}

async function pgMeasure(role: string, s: PgSetup): Promise<{ ms: number; rssMb: number }> {
  // modules are loaded (and transpiled) before the clock starts, on both sides
  const { PostgresOfflineStore } = await import('../src/offline/postgres/index.js')
  const copyTo = (await import('pg-copy-streams')).default.to
  const { createWriteStream } = await import('node:fs')
  const { pipeline } = await import('node:stream/promises')
  await import('pg')
  const t = performance.now()
  if (role === 'pg_ours') {
    const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
    const customer = new Entity({ name: 'customer', joinKeys: ['customer_id'], valueType: Int64 })
    const drivers = new FeatureView({
      name: 'driver_stats',
      entities: [driver],
      ttl: '2h',
      source: new PostgreSQLSource({
        name: 'driver_stats',
        table: 'driver_stats',
        timestampField: 'event_timestamp',
        createdTimestampColumn: 'created',
      }),
      schema: [
        new Field({ name: 'conv_rate', dtype: Float64 }),
        new Field({ name: 'acc_rate', dtype: Float64 }),
        new Field({ name: 'avg_daily_trips', dtype: Int64 }),
      ],
    })
    const customers = new FeatureView({
      name: 'customer_stats',
      entities: [customer],
      source: new PostgreSQLSource({
        name: 'customer_stats',
        table: 'customer_stats',
        timestampField: 'event_timestamp',
      }),
      schema: [
        new Field({ name: 'lifetime_spend', dtype: Float64 }),
        new Field({ name: 'orders', dtype: Int64 }),
      ],
    })
    const store = new PostgresOfflineStore({
      repoPath: s.dataDir,
      ...PG,
      db_schema: s.schema,
      min_conn: 1,
      max_conn: 4,
      conn_type: 'pool',
      entity_select_mode: 'temp_table',
    })
    const job = await store.getHistoricalFeatures({
      entities: join(s.dataDir, 'entities.parquet'),
      features: [
        { projection: drivers.projection, features: ['conv_rate', 'acc_rate', 'avg_daily_trips'] },
        { projection: customers.projection, features: ['lifetime_spend', 'orders'] },
      ],
    })
    await job.toParquet(join(s.outDir, 'ours.parquet'))
    await store.close()
  } else {
    const client = await pgClient()
    if (role === 'pg_reference_jit_off') await client.query('SET jit = off')
    await pipeline(
      client.query(copyTo(pgReferenceSql(s.schema))),
      createWriteStream(join(s.outDir, 'reference.csv')),
    )
    await client.end()
  }
  return { ms: performance.now() - t, rssMb: process.resourceUsage().maxRSS / 1024 }
}

async function pgSameOutput(outDir: string): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:')
  const db = await instance.connect()
  await db.run("SET TimeZone = 'UTC'")
  const reference = `(SELECT row_number() OVER () AS n, * FROM read_csv('${join(outDir, 'reference.csv')}', header = false,
    columns = {'driver_id': 'BIGINT', 'customer_id': 'BIGINT', 'event_timestamp': 'TIMESTAMPTZ', 'conv_rate': 'DOUBLE',
      'acc_rate': 'DOUBLE', 'avg_daily_trips': 'BIGINT', 'lifetime_spend': 'DOUBLE', 'orders': 'BIGINT'}))`
  const ours = `(SELECT row_number() OVER () AS n, * FROM '${join(outDir, 'ours.parquet')}')`
  const diff = await db.runAndReadAll(
    `SELECT (SELECT count(*) FROM (FROM ${ours} EXCEPT ALL FROM ${reference})),
            (SELECT count(*) FROM (FROM ${reference} EXCEPT ALL FROM ${ours}))`,
  )
  const [extra, missing] = diff.getRowsJS()[0] as [bigint, bigint]
  db.closeSync()
  instance.closeSync()
  if (extra !== 0n || missing !== 0n)
    throw new Error(`pit_pg: results differ from the reference (${extra} / ${missing} rows)`)
}

async function runPg(): Promise<void> {
  const s = pgSetup()
  try {
    await (await pgClient()).end()
  } catch (e) {
    process.stderr.write(
      `pit_pg: skipped, PostgreSQL at ${PG.host}:${PG.port} does not answer (${(e as Error).message})\n`,
    )
    return
  }
  await pgGenerate(s)
  rmSync(s.outDir, { recursive: true, force: true })
  mkdirSync(s.outDir, { recursive: true })
  const ours: number[] = []
  const theirs: number[] = []
  const theirsJitOff: number[] = []
  let peakRss = 0
  for (let i = 0; i < RUNS; i++) {
    const mine = child('pg_ours')
    const reference = child('pg_reference')
    const jitOff = child('pg_reference_jit_off')
    ours.push(mine.ms)
    theirs.push(reference.ms)
    theirsJitOff.push(jitOff.ms)
    peakRss = Math.max(peakRss, mine.rssMb)
    process.stderr.write(
      `pit_pg: run ${i + 1}: ${Math.round(mine.ms)} ms, reference ${Math.round(reference.ms)} ms (JIT off: ${Math.round(jitOff.ms)} ms)\n`,
    )
  }
  await pgSameOutput(s.outDir)
  rmSync(s.outDir, { recursive: true, force: true })
  const ms = median(ours)
  const referenceMs = median(theirs)
  process.stdout.write(
    `${JSON.stringify({
      bench: `pit_pg_${size(s.entityRows)}_x_${size(2 * s.keys * PG_HOURS)}`,
      ms: Math.round(ms),
      reference_ms: Math.round(referenceMs),
      ratio: Math.round((ms / referenceMs) * 100) / 100,
      reference_jit_off_ms: Math.round(median(theirsJitOff)),
      ratio_jit_off: Math.round((ms / median(theirsJitOff)) * 100) / 100,
      peak_rss_mb: Math.round(peakRss),
    })}\n`,
  )
}
