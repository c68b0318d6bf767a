import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Entity, FeatureView, Field, FileSource, formatMicros, Int64, toMicros } from '../../core/index.js'
import type { PullOptions } from '../offline-store.js'
import { DuckDBOfflineStore } from './duckdb-offline-store.js'

// Rows tied on the event time (and on the created time) go to the last row in the source, files by
// name: the same row in both join forms, in latest-row reads in one pass or in key-bucket passes, on
// every run. Each driver has three copies of a row at hours 0, 1 and 2; copy j holds the value
// driver * 100 + hour * 10 + (9 - j), so the winner (copy 2) is neither the first nor the greatest.

const T0 = toMicros('2026-02-01T00:00:00Z')
const HOUR = 3_600_000_000
const DRIVERS = 1000
const COPIES = 3

let dir: string
let instance: DuckDBInstance
let db: DuckDBConnection
const stores: DuckDBOfflineStore[] = []

/** The rows of one copy, as a SELECT. */
const copy = (j: number) =>
  `SELECT d::BIGINT AS driver_id, make_timestamp((${T0} + h * ${HOUR})::BIGINT) AS event_timestamp,
     make_timestamp((${T0} + h * ${HOUR})::BIGINT) AS created, (d * 100 + h * 10 + ${9 - j})::BIGINT AS f
   FROM range(${DRIVERS}) a(d), range(3) b(h) ORDER BY d, h`

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-ties-'))
  instance = await DuckDBInstance.create(':memory:')
  db = await instance.connect()
  // A directory: copy 0 in a subdirectory (first by name, last in DuckDB's own glob order), then 1, 2.
  mkdirSync(join(dir, 'parts', 'a'), { recursive: true })
  await db.run(`COPY (${copy(0)}) TO '${join(dir, 'parts', 'a', 'x.parquet')}' (FORMAT parquet)`)
  for (const j of [1, 2]) {
    await db.run(`COPY (${copy(j)}) TO '${join(dir, 'parts', `b${j}.parquet`)}' (FORMAT parquet)`)
  }
  // One CSV file: every copy 0 row, then every copy 1 row, then every copy 2 row.
  const all = [0, 1, 2].map(copy).map((s) => `(${s})`)
  await db.run(`COPY (${all.join(' UNION ALL ')}) TO '${join(dir, 'all.csv')}' (FORMAT csv, HEADER true)`)
})

afterAll(async () => {
  for (const s of stores) await s.close()
  db.closeSync()
  instance.closeSync()
  rmSync(dir, { recursive: true, force: true })
})

const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })

function view(name: string, path: string, created: boolean): FeatureView {
  return new FeatureView({
    name,
    entities: [driver],
    schema: [new Field({ name: 'driver_id', dtype: Int64 }), new Field({ name: 'f', dtype: Int64 })],
    source: new FileSource({
      name,
      path,
      timestampField: 'event_timestamp',
      createdTimestampColumn: created ? 'created' : undefined,
    }),
  })
}

const VIEWS = [
  view('parquet_dir', 'parts', false),
  view('parquet_dir_created', 'parts', true),
  view('csv_file', 'all.csv', false),
]

function store(options: { window?: boolean; latestRowsPerPass?: number } = {}): DuckDBOfflineStore {
  const s = new DuckDBOfflineStore({
    repoPath: dir,
    threads: 2,
    pointInTimeJoin: options.window ? 'window' : 'auto',
    latestRowsPerPass: options.latestRowsPerPass,
  })
  stores.push(s)
  return s
}

/** The winner at `hour`: copy 2, the last in the source. */
const expected = (hour: number) =>
  Array.from({ length: DRIVERS }, (_, d) => d * 100 + hour * 10 + 9 - (COPIES - 1))

async function historical(s: DuckDBOfflineStore, v: FeatureView, at: number): Promise<number[]> {
  const job = await s.getHistoricalFeatures({
    entities: Array.from({ length: DRIVERS }, (_, d) => ({
      driver_id: d,
      event_timestamp: formatMicros(at),
    })),
    features: [{ projection: v.projection, features: ['f'] }],
  })
  return (await job.toRows()).map((r) => r.f as number)
}

async function latest(s: DuckDBOfflineStore, v: FeatureView, end: number): Promise<number[]> {
  const out = new Array<number>(DRIVERS)
  for await (const batch of s.pullLatest(v, { start: formatMicros(T0), end: formatMicros(end) })) {
    const keys = batch.getChild('driver_id')!.toArray() as BigInt64Array
    const values = batch.getChild('f')!.toArray() as BigInt64Array
    keys.forEach((k, i) => {
      out[Number(k)] = Number(values[i])
    })
  }
  return out
}

describe('rows tied on the event time', () => {
  for (const v of VIEWS) {
    it(`${v.name}: the join takes the last row in the source, in both forms`, async () => {
      for (const [at, hour] of [
        [T0 + HOUR, 1],
        [T0 + 2 * HOUR + 1, 2],
      ] as const) {
        expect(await historical(store(), v, at)).toEqual(expected(hour))
        expect(await historical(store({ window: true }), v, at)).toEqual(expected(hour))
      }
    })

    it(`${v.name}: materialization reads the same row, in one pass or in key-bucket passes`, async () => {
      const end = T0 + HOUR
      expect(await latest(store(), v, end)).toEqual(expected(1))
      expect(await latest(store({ latestRowsPerPass: 500 }), v, end)).toEqual(expected(1))
      expect(await latest(store(), v, end)).toEqual(await historical(store(), v, end))
    })
  }
})

/** Every row of a pull, as text (bigints as digits). */
async function pulled(s: DuckDBOfflineStore, v: FeatureView, end: number, opts: PullOptions = {}) {
  const rows: string[] = []
  const window = { start: formatMicros(T0), end: formatMicros(end) }
  for await (const batch of s.pullLatest(v, window, opts)) {
    for (const r of batch.toArray()) {
      rows.push(JSON.stringify(r.toJSON(), (_, x) => (typeof x === 'bigint' ? String(x) : x)))
    }
  }
  return rows
}

describe('latest rows in key parts', () => {
  for (const perPass of [undefined, 500]) {
    it(`parts read ${perPass ? `in passes of ${perPass} rows` : 'in one pass'} together give the whole pull, each key once`, async () => {
      const s = store({ latestRowsPerPass: perPass })
      for (const v of VIEWS) {
        const end = T0 + HOUR
        const whole = await pulled(s, v, end)
        expect(whole).toHaveLength(DRIVERS)
        const parts: string[][] = []
        for (let index = 0; index < 3; index++) {
          let counted = -1
          const rows = await pulled(s, v, end, { part: { index, of: 3 }, onRowCount: (n) => (counted = n) })
          expect(rows.length).toBe(counted)
          expect(rows.length).toBeGreaterThan(0)
          parts.push(rows)
        }
        const union = parts.flat()
        expect(new Set(union.map((r) => JSON.parse(r).driver_id)).size).toBe(DRIVERS)
        expect(union.sort()).toEqual([...whole].sort())
      }
    })
  }
})
