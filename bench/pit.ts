// Point-in-time join: 1M entity rows against 10M feature rows (100k drivers x 100 hourly rows, one view of
// 10 features, ttl 2h), written to Parquet. The reference is a hand-written DuckDB query that deduplicates
// (driver, event ts) by the created timestamp, ASOF-joins and applies the ttl, producing the same Parquet
// in the same run. Medians of 3 interleaved runs, each in a fresh process; peak RSS is Larder's run.
// BENCH_SCALE=0.1 shrinks both tables tenfold.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import { Entity, FeatureView, Field, FileSource, Float64, Int64, String as Str } from '../src/core/index.js'
import { DuckDBOfflineStore } from '../src/offline/duckdb/index.js'

const FEATURES = ['conv_rate', 'acc_rate', 'avg_daily_trips', 'f_0', 'f_1', 'f_2', 'f_3', 'f_4', 'f_5', 'f_6']
const HOURS = 100
const RUNS = 3

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

async function sameOutput(outDir: string): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:')
  const db = await instance.connect()
  const numbered = (file: string) => `(SELECT row_number() OVER () AS n, * FROM '${join(outDir, file)}')`
  const diff = await db.runAndReadAll(
    `SELECT (SELECT count(*) FROM (FROM ${numbered('ours.parquet')} EXCEPT ALL FROM ${numbered('reference.parquet')})),
            (SELECT count(*) FROM (FROM ${numbered('reference.parquet')} EXCEPT ALL FROM ${numbered('ours.parquet')}))`,
  )
  const [extra, missing] = diff.getRowsJS()[0] as [bigint, bigint]
  db.closeSync()
  instance.closeSync()
  if (extra !== 0n || missing !== 0n)
    throw new Error(`pit: results differ from the reference (${extra} / ${missing} rows)`)
}

export default async function run(): Promise<void> {
  const s = setup()
  const role = process.env.PIT_BENCH_ROLE
  if (role !== undefined) {
    process.stdout.write(`${JSON.stringify(await measure(role, s))}\n`)
    return
  }
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
}
