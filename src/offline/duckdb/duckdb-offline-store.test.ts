import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import { Field as ArrowField, List, type RecordBatch, tableFromArrays, Utf8 } from 'apache-arrow'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Array as ArrayOf,
  Entity,
  FeatureView,
  Field,
  FileSource,
  Float64,
  Int32,
  Int64,
  LarderError,
  String as Str,
  toMicros,
  UnixTimestamp,
} from '../../core/index.js'
import { appending } from '../__fixtures__/transforms.js'
import type { FeatureSelection, HistoricalRequest, RetrievalJob, Row } from '../offline-store.js'
import { DuckDBOfflineStore } from './duckdb-offline-store.js'

let dir: string
let db: DuckDBConnection
let instance: DuckDBInstance
const stores: DuckDBOfflineStore[] = []

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-offline-'))
  instance = await DuckDBInstance.create(':memory:')
  db = await instance.connect()
  await db.run("SET TimeZone = 'UTC'")
})

afterAll(async () => {
  for (const s of stores) await s.close()
  db.closeSync()
  instance.closeSync()
  rmSync(dir, { recursive: true, force: true })
})

/** Writes the rows of a SELECT to a file under the test directory (format from the extension). */
async function file(name: string, select: string): Promise<string> {
  const path = join(dir, name)
  mkdirSync(join(path, '..'), { recursive: true })
  const format = name.endsWith('.csv') ? '(FORMAT csv, HEADER true)' : '(FORMAT parquet)'
  await db.run(`COPY (${select}) TO '${path}' ${format}`)
  return path
}

function store(strategy: 'auto' | 'window' = 'auto'): DuckDBOfflineStore {
  const s = new DuckDBOfflineStore({ repoPath: dir, pointInTimeJoin: strategy, threads: 2 })
  stores.push(s)
  return s
}

/** Runs the request with both join forms, checks they agree, and returns the rows. */
async function bothWays(req: HistoricalRequest): Promise<Row[]> {
  const asof = await (await store('auto').getHistoricalFeatures(req)).toRows()
  const window = await (await store('window').getHistoricalFeatures(req)).toRows()
  expect(window).toEqual(asof)
  return asof
}

async function rejects(promise: Promise<unknown>): Promise<LarderError> {
  try {
    await promise
  } catch (e) {
    expect(e).toBeInstanceOf(LarderError)
    return e as LarderError
  }
  throw new Error('expected a LarderError')
}

const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'] })
const select = (
  projection: FeatureView | FeatureSelection['projection'],
  features: string[],
): FeatureSelection => ({
  projection: 'projection' in projection ? projection.projection : projection,
  features,
})
const at = (hhmm: string) => `2026-01-01T${hhmm}:00Z`

describe("Feast's worked example (feast-reference §5)", () => {
  let source: FileSource
  beforeAll(async () => {
    await file(
      'example.parquet',
      `SELECT * FROM (VALUES
        (1001::BIGINT, TIMESTAMP '2026-01-01 08:00', TIMESTAMP '2026-01-01 08:00', 5::BIGINT),
        (1001, TIMESTAMP '2026-01-01 10:00', TIMESTAMP '2026-01-01 10:05', 7),
        (1001, TIMESTAMP '2026-01-01 13:00', TIMESTAMP '2026-01-01 13:00', 9)
      ) t(driver_id, event_timestamp, created, trips_today)`,
    )
    source = new FileSource({ name: 'example', path: 'example.parquet', timestampField: 'event_timestamp' })
  })
  const entities = ['07:00', '10:00', '11:30', '12:30', '13:00'].map((t) => ({
    driver_id: 1001,
    event_timestamp: at(t),
  }))
  const view = (ttl: string, src = source) =>
    new FeatureView({
      name: 'driver_activity',
      entities: [driver],
      ttl,
      source: src,
      schema: [new Field({ name: 'trips_today', dtype: Int64 })],
    })

  it('with ttl = 2h: null, 7, 7, null, 9 (inclusive bounds)', async () => {
    const rows = await bothWays({ entities, features: [select(view('2h'), ['trips_today'])] })
    expect(rows.map((r) => r.trips_today)).toEqual([null, 7, 7, null, 9])
    expect(rows.map((r) => r.event_timestamp)).toEqual(entities.map((e) => e.event_timestamp))
  })

  it('with ttl = 0 the 12:30 row gets 7 (no lower bound)', async () => {
    const rows = await bothWays({ entities, features: [select(view('0'), ['trips_today'])] })
    expect(rows.map((r) => r.trips_today)).toEqual([null, 7, 7, 7, 9])
  })

  it('two rows at 10:00: the larger created timestamp wins; asOfKnownTime drops the too-new one', async () => {
    await file(
      'example_tie.parquet',
      `SELECT * FROM (VALUES
        (1001::BIGINT, TIMESTAMP '2026-01-01 08:00', TIMESTAMP '2026-01-01 08:00', 5::BIGINT),
        (1001, TIMESTAMP '2026-01-01 10:00', TIMESTAMP '2026-01-01 10:05', 7),
        (1001, TIMESTAMP '2026-01-01 10:00', TIMESTAMP '2026-01-01 12:00', 8),
        (1001, TIMESTAMP '2026-01-01 13:00', TIMESTAMP '2026-01-01 13:00', 9)
      ) t(driver_id, event_timestamp, created, trips_today)`,
    )
    const tie = new FileSource({
      name: 'example_tie',
      path: 'example_tie.parquet',
      timestampField: 'event_timestamp',
      createdTimestampColumn: 'created',
    })
    const rows = await bothWays({ entities, features: [select(view('2h', tie), ['trips_today'])] })
    expect(rows.map((r) => r.trips_today)).toEqual([null, 8, 8, null, 9])
    const known = await bothWays({
      entities,
      features: [select(view('2h', tie), ['trips_today'])],
      asOfKnownTime: true,
    })
    // at 10:00 neither 10:00 row is known yet (created 10:05 and 12:00); at 11:30 only the first is
    expect(known.map((r) => r.trips_today)).toEqual([null, 5, 7, null, 9])
  })
})

describe('point-in-time joins', () => {
  const customer = new Entity({ name: 'customer', joinKeys: ['customer_id'] })
  let orders: FeatureView
  let profile: FeatureView
  let weather: FeatureView
  beforeAll(async () => {
    await file(
      'orders.parquet',
      `SELECT * FROM (VALUES
        (1::BIGINT, 'c1', TIMESTAMP '2026-01-01 00:00:00.000001', 10.5::DOUBLE),
        (1, 'c2', TIMESTAMP '2026-01-01 00:00:00.000002', 20.5),
        (2, 'c1', TIMESTAMP '2026-01-01 00:00:00.000003', 30.5)
      ) t(driver_id, customer_id, event_timestamp, amount)`,
    )
    await file(
      'profile.parquet',
      `SELECT * FROM (VALUES ('c1', TIMESTAMP '2026-01-01 00:00:00', 'gold'), ('c2', TIMESTAMP '2026-01-01 00:00:05', 'blue'))
        t(customer_id, event_timestamp, tier)`,
    )
    await file(
      'weather.parquet',
      `SELECT * FROM (VALUES (TIMESTAMP '2026-01-01 00:00:00', 1.0::DOUBLE), (TIMESTAMP '2026-01-01 00:00:10', 2.0))
        t(event_timestamp, temperature)`,
    )
    orders = new FeatureView({
      name: 'orders',
      entities: [driver, customer],
      ttl: '1s',
      source: new FileSource({ name: 'orders', path: 'orders.parquet', timestampField: 'event_timestamp' }),
      schema: [new Field({ name: 'amount', dtype: Float64 })],
    })
    profile = new FeatureView({
      name: 'profile',
      entities: [customer],
      source: new FileSource({ name: 'profile', path: 'profile.parquet', timestampField: 'event_timestamp' }),
      schema: [new Field({ name: 'tier', dtype: Str })],
    })
    weather = new FeatureView({
      name: 'weather',
      source: new FileSource({ name: 'weather', path: 'weather.parquet', timestampField: 'event_timestamp' }),
      schema: [new Field({ name: 'temperature', dtype: Float64 })],
    })
  })

  it('joins composite keys and several views with their own ttl, keeping rows, order and duplicates', async () => {
    const entities = [
      { label: 'a', driver_id: 1, customer_id: 'c2', event_timestamp: '2026-01-01T00:00:06' },
      { label: 'b', driver_id: 1, customer_id: 'c1', event_timestamp: '2026-01-01T00:00:00.000001' },
      { label: 'c', driver_id: 1, customer_id: 'c1', event_timestamp: '2026-01-01T00:00:00.000001' },
      { label: 'd', driver_id: 2, customer_id: 'c1', event_timestamp: '2026-01-01T00:00:01.000003' },
      { label: 'e', driver_id: 2, customer_id: 'c1', event_timestamp: '2026-01-01T00:00:01.000004' },
      { label: 'f', driver_id: 3, customer_id: 'c3', event_timestamp: '2025-12-31T00:00:00' },
    ]
    const rows = await bothWays({
      entities,
      features: [select(orders, ['amount']), select(profile, ['tier'])],
      fullFeatureNames: true,
    })
    expect(Object.keys(rows[0]!)).toEqual([
      'label',
      'driver_id',
      'customer_id',
      'event_timestamp',
      'orders__amount',
      'profile__tier',
    ])
    expect(rows.map((r) => [r.label, r.orders__amount, r.profile__tier])).toEqual([
      ['a', null, 'blue'], // 1 s ttl has passed for the order, the profile has no ttl
      ['b', 10.5, 'gold'],
      ['c', 10.5, 'gold'],
      ['d', 30.5, 'gold'], // exactly ttl after the order
      ['e', null, 'gold'], // ttl + 1 µs
      ['f', null, null], // before any data
    ])
  })

  it('gives every entity row the latest row overall from an entity-less view', async () => {
    const entities = [
      { driver_id: 1, event_timestamp: '2026-01-01T00:00:09' },
      { driver_id: 2, event_timestamp: '2026-01-01T00:00:10' },
      { driver_id: 3, event_timestamp: '2025-01-01T00:00:00' },
    ]
    const rows = await bothWays({ entities, features: [select(weather, ['temperature'])] })
    expect(rows.map((r) => r.temperature)).toEqual([1, 2, null])
  })

  it("applies the source's field mapping and a projection's alias and join-key map", async () => {
    await file(
      'trips.parquet',
      `SELECT * FROM (VALUES (7::INTEGER, TIMESTAMP '2026-01-01 00:00:00', 3::INTEGER), (8, TIMESTAMP '2026-01-01 00:00:00', 4))
        t(loc, ts, n)`,
    )
    const location = new Entity({ name: 'location', joinKeys: ['location_id'] })
    const trips = new FeatureView({
      name: 'location_trips',
      entities: [location],
      source: new FileSource({
        name: 'trips',
        path: 'trips.parquet',
        timestampField: 'event_timestamp',
        fieldMapping: { loc: 'location_id', ts: 'event_timestamp', n: 'trips' },
      }),
      schema: [new Field({ name: 'trips', dtype: Int32 })],
    })
    const origin = trips.withName('origin').withJoinKeyMap({ location_id: 'origin_id' })
    const destination = trips.withName('destination').withJoinKeyMap({ location_id: 'destination_id' })
    const rows = await bothWays({
      entities: [{ origin_id: 7, destination_id: 8, event_timestamp: '2026-01-02T00:00:00Z' }],
      features: [select(origin, ['trips']), select(destination, ['trips'])],
      fullFeatureNames: true,
    })
    expect(rows).toEqual([
      {
        origin_id: 7,
        destination_id: 8,
        event_timestamp: '2026-01-02T00:00:00Z',
        origin__trips: 3,
        destination__trips: 4,
      },
    ])
  })

  it('rejects a feature name clash without full names, saying to use them', async () => {
    const e = await rejects(
      store().getHistoricalFeatures({
        entities: [{ driver_id: 1, customer_id: 'c1', event_timestamp: '2026-01-01T00:00:00Z' }],
        features: [select(orders, ['amount']), select(orders.withName('again'), ['amount'])],
      }),
    )
    expect(e.message).toContain('feature column "amount" is requested from "orders" and "again"')
    expect(e.hint).toContain('fullFeatureNames')
  })

  it('takes the only timestamp column with a notice; naive times are UTC and offsets are honoured', async () => {
    const job = await store().getHistoricalFeatures({
      entities: [
        { driver_id: 1, customer_id: 'c2', when: new Date('2026-01-01T00:00:06Z') },
        { driver_id: 1, customer_id: 'c1', when: new Date('2026-01-01T00:00:04Z') },
      ],
      features: [select(profile, ['tier'])],
    })
    expect(job.notices).toEqual([
      'entity table has no "event_timestamp" column; using "when", its only timestamp column',
    ])
    expect((await job.toRows()).map((r) => [r.when, r.tier])).toEqual([
      ['2026-01-01T00:00:06Z', 'blue'],
      ['2026-01-01T00:00:04Z', 'gold'],
    ])
    const zoned = await bothWays({
      entities: [
        { customer_id: 'c2', event_timestamp: '2026-01-01T01:00:04+01:00' },
        { customer_id: 'c2', event_timestamp: '2026-01-01 00:00:05' },
        { customer_id: 'c2', event_timestamp: Date.parse('2026-01-01T00:00:05Z') },
      ],
      features: [select(profile, ['tier'])],
    })
    expect(zoned.map((r) => [r.event_timestamp, r.tier])).toEqual([
      ['2026-01-01T00:00:04Z', null], // 01:00:04+01:00 is before c2's first row at 00:00:05 UTC
      ['2026-01-01T00:00:05Z', 'blue'],
      ['2026-01-01T00:00:05Z', 'blue'],
    ])
  })

  it('accepts the entity table as rows, an Arrow table, a Parquet file, a CSV file and a SQL query', async () => {
    const rows = [
      { driver_id: 1, customer_id: 'c1', event_timestamp: '2026-01-01T00:00:00.000001Z' },
      { driver_id: 2, customer_id: 'c1', event_timestamp: '2026-01-01T00:00:01.000003Z' },
    ]
    const expected = await bothWays({ entities: rows, features: [select(orders, ['amount'])] })
    expect(expected.map((r) => r.amount)).toEqual([10.5, 30.5])
    const values = `SELECT * FROM (VALUES (1::BIGINT, 'c1', TIMESTAMP '2026-01-01 00:00:00.000001'),
      (2, 'c1', TIMESTAMP '2026-01-01 00:00:01.000003')) t(driver_id, customer_id, event_timestamp)`
    const parquet = await file('entities.parquet', values)
    const csv = await file('entities.csv', values)
    const arrow = tableFromArrays({
      driver_id: BigInt64Array.from([1n, 2n]),
      customer_id: ['c1', 'c1'],
      event_timestamp: ['2026-01-01T00:00:00.000001Z', '2026-01-01T00:00:01.000003Z'],
    })
    for (const entities of [arrow, parquet, csv, { sql: values }, `\n  ${values}`]) {
      expect(await bothWays({ entities, features: [select(orders, ['amount'])] })).toEqual(expected)
    }
  })
})

describe('retrieval job outputs', () => {
  let job: RetrievalJob
  const wide = new FeatureView({
    name: 'wide',
    entities: [driver],
    source: new FileSource({ name: 'wide', path: 'wide.parquet', timestampField: 'event_timestamp' }),
    schema: [
      new Field({ name: 'score', dtype: Float64 }),
      new Field({ name: 'name', dtype: Str }),
      new Field({ name: 'pair', dtype: ArrayOf(Int64) }),
      new Field({ name: 'seen', dtype: UnixTimestamp }),
    ],
  })
  beforeAll(async () => {
    await file(
      'wide.parquet',
      `SELECT i::BIGINT AS driver_id, TIMESTAMP '2026-01-01' + INTERVAL (i) MICROSECOND AS event_timestamp,
        (i * 0.5)::DOUBLE AS score, 'n' || i AS name, [i, i + 1] AS pair, TIMESTAMP '2030-01-01 00:00:00.000007' AS seen
       FROM range(5000) r(i)`,
    )
    const entities = Array.from({ length: 70_000 }, (_, i) => ({
      driver_id: i % 5000,
      event_timestamp: new Date(Date.UTC(2026, 0, 2)),
    }))
    job = await store().getHistoricalFeatures({
      entities,
      features: [select(wide, ['score', 'name', 'pair', 'seen'])],
    })
  })

  it('returns Arrow with microseconds kept, in batches when streamed', async () => {
    const table = await job.toArrow()
    expect(table.numRows).toBe(70_000)
    expect(table.schema.fields.map((f) => `${f.name}: ${f.type}`)).toEqual([
      'driver_id: Int64',
      'event_timestamp: Timestamp<MICROSECOND, UTC>',
      'score: Float64',
      'name: Utf8',
      'pair: List<Int64>',
      'seen: Timestamp<MICROSECOND>',
    ])
    const seen = table.getChild('seen')!.data[0]!.values as BigInt64Array
    expect(seen[0]).toBe(1_893_456_000_000_007n)
    expect(table.get(4999)!.toJSON()).toMatchObject({ driver_id: 4999n, score: 2499.5, name: 'n4999' })
    expect([...table.getChild('pair')!.get(3)!]).toEqual([3n, 4n])
    const batches: RecordBatch[] = []
    for await (const b of job.stream()) batches.push(b)
    expect(batches.length).toBe(2)
    expect(batches.reduce((n, b) => n + b.numRows, 0)).toBe(70_000)
  })

  it('writes Parquet and CSV through the engine, and reads the first rows as objects', async () => {
    const parquet = join(dir, 'out', 'training.parquet')
    const csv = join(dir, 'out', 'training.csv')
    await job.toParquet(parquet)
    await job.toCsv(csv)
    const back = await db.runAndReadAll(`SELECT count(*), sum(score) FROM '${parquet}'`)
    expect(back.getRowsJS()).toEqual([[70_000n, (14 * (4999 * 5000)) / 4]])
    expect(readFileSync(csv, 'utf8').split('\n')[0]).toBe('driver_id,event_timestamp,score,name,pair,seen')
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['training.csv', 'training.parquet'])
    expect(await job.toRows(2)).toEqual([
      {
        driver_id: 0,
        event_timestamp: '2026-01-02T00:00:00Z',
        score: 0,
        name: 'n0',
        pair: [0, 1],
        seen: '2030-01-01T00:00:00.000007Z',
      },
      {
        driver_id: 1,
        event_timestamp: '2026-01-02T00:00:00Z',
        score: 0.5,
        name: 'n1',
        pair: [1, 2],
        seen: '2030-01-01T00:00:00.000007Z',
      },
    ])
    expect(job.columns).toEqual(['driver_id', 'event_timestamp', 'score', 'name', 'pair', 'seen'])
  })

  it('gives an empty transformed result the types of the transformed columns, in Arrow and Parquet', async () => {
    const empty = await store().getHistoricalFeatures({
      features: [select(wide, ['score', 'name'])],
      startDate: '2020-01-01T00:00:00Z',
      endDate: '2020-01-02T00:00:00Z',
      transform: appending({
        label: { type: new Utf8(), value: () => 'x' },
        tags: { type: new List(new ArrowField('item', new Utf8(), true)), value: () => ['a'] },
      }),
    })
    const table = await empty.toArrow()
    expect(table.numRows).toBe(0)
    expect(table.schema.fields.map((f) => `${f.name}: ${f.type}`)).toEqual([
      'driver_id: Int64',
      'event_timestamp: Timestamp<MICROSECOND, UTC>',
      'score: Float64',
      'name: Utf8',
      'label: Utf8',
      'tags: List<Utf8>',
    ])
    const parquet = join(dir, 'empty.parquet')
    // a range retrieval's event range is the range, whether or not it holds rows
    expect(await empty.toParquet(parquet)).toEqual({
      rows: 0,
      eventRange: { min: toMicros('2020-01-01T00:00:00Z'), max: toMicros('2020-01-02T00:00:00Z') },
    })
    const described = await db.runAndReadAll(`DESCRIBE SELECT * FROM '${parquet}'`)
    expect(described.getRowsJS().map((r) => `${r[0]}: ${r[1]}`)).toEqual([
      'driver_id: BIGINT',
      'event_timestamp: TIMESTAMP WITH TIME ZONE',
      'score: DOUBLE',
      'name: VARCHAR',
      'label: VARCHAR',
      'tags: VARCHAR[]',
    ])
  })

  it('stops a running query when its signal is aborted', async () => {
    await file(
      'heavy.parquet',
      `SELECT TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND AS ts, i AS x FROM range(400000) r(i)`,
    )
    const heavy = new FeatureView({
      name: 'heavy',
      source: new FileSource({ name: 'heavy', path: 'heavy.parquet', timestampField: 'ts' }),
      schema: [new Field({ name: 'x', dtype: Int64 })],
    })
    const slow = await store('window').getHistoricalFeatures({
      entities: {
        sql: `SELECT TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND AS event_timestamp FROM range(400000) r(i)`,
      },
      features: [select(heavy, ['x'])],
    })
    const controller = new AbortController()
    const started = performance.now()
    const pending = slow.toParquet(join(dir, 'never.parquet'), { signal: controller.signal })
    setTimeout(() => controller.abort(new Error('stop')), 300)
    const stopped = await rejects(pending)
    expect([stopped.code, (stopped.cause as Error).message]).toEqual(['ABORTED', 'stop'])
    expect(performance.now() - started).toBeLessThan(5000)
    expect(readdirSync(dir).some((f) => f.includes('never'))).toBe(false)
    expect((await rejects(job.toRows(1, { signal: AbortSignal.abort() }))).code).toBe('ABORTED')
  })

  it('releases the query when a stream is left early', async () => {
    for await (const batch of job.stream()) {
      expect(batch.numRows).toBe(65_536)
      break
    }
    expect(await job.toRows(1)).toHaveLength(1)
  })
})
