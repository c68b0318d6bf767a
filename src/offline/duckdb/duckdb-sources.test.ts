import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import type { RecordBatch } from 'apache-arrow'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Entity,
  FeatureView,
  Field,
  FileSource,
  Float64,
  Int64,
  LarderError,
  String as Str,
} from '../../core/index.js'
import { pullColumns } from '../pit/plan.js'
import { DuckDBOfflineStore } from './duckdb-offline-store.js'

let dir: string
let db: DuckDBConnection
let instance: DuckDBInstance
let store: DuckDBOfflineStore

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-sources-'))
  instance = await DuckDBInstance.create(':memory:')
  db = await instance.connect()
  await db.run("SET TimeZone = 'UTC'")
  store = new DuckDBOfflineStore({ repoPath: dir, threads: 2 })
})

afterAll(async () => {
  await store.close()
  db.closeSync()
  instance.closeSync()
  rmSync(dir, { recursive: true, force: true })
})

async function file(name: string, select: string): Promise<string> {
  const path = join(dir, name)
  mkdirSync(join(path, '..'), { recursive: true })
  const format = name.endsWith('.csv') ? '(FORMAT csv, HEADER true)' : '(FORMAT parquet)'
  await db.run(`COPY (${select}) TO '${path}' ${format}`)
  return path
}

async function query(sql: string): Promise<unknown[][]> {
  return (await db.runAndReadAll(sql)).getRowsJS()
}

async function collect(
  batches: AsyncIterable<RecordBatch>,
): Promise<{ rows: Record<string, unknown>[]; sizes: number[] }> {
  const rows: Record<string, unknown>[] = []
  const sizes: number[] = []
  for await (const b of batches) {
    sizes.push(b.numRows)
    for (const r of b) rows.push(r.toJSON())
  }
  return { rows, sizes }
}

const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'] })
const ts = (s: string) => `TIMESTAMP '2026-01-01 ${s}'`

describe('reading sources', () => {
  it('reads CSV files, directories and globs of Parquet, and zoned, string and nanosecond timestamps', async () => {
    await file(
      'csv/stats.csv',
      `SELECT * FROM (VALUES (1, '2026-01-01T00:00:00Z', 1.5), (1, '2026-01-01T02:00:00+01:00', 2.5)) t(driver_id, ts, v)`,
    )
    await file(
      'dir/a/part1.parquet',
      `SELECT 1::BIGINT AS driver_id, ${ts('00:00')}::TIMESTAMPTZ AS ts, 1.5::DOUBLE AS v`,
    )
    await file(
      'dir/b/part2.parquet',
      `SELECT 1::BIGINT AS driver_id, ${ts('01:00')}::TIMESTAMPTZ AS ts, 2.5::DOUBLE AS v`,
    )
    await file(
      'ns/x.parquet',
      `SELECT 1::BIGINT AS driver_id, ${ts('01:00')}::TIMESTAMP_NS AS ts, 2.5::DOUBLE AS v`,
    )
    const entities = [
      { driver_id: 1, event_timestamp: '2026-01-01T00:30:00Z' },
      { driver_id: 1, event_timestamp: '2026-01-01T01:00:00Z' },
    ]
    for (const path of ['csv/stats.csv', 'dir', 'dir/*/*.parquet', 'ns/x.parquet']) {
      const view = new FeatureView({
        name: 'v',
        entities: [driver],
        source: new FileSource({ name: 's', path, timestampField: 'ts' }),
        schema: [new Field({ name: 'v', dtype: Float64 })],
      })
      const job = await store.getHistoricalFeatures({
        entities,
        features: [{ projection: view.projection, features: ['v'] }],
      })
      expect(
        (await job.toRows()).map((r) => r.v),
        path,
      ).toEqual(path.startsWith('ns') ? [null, 2.5] : [1.5, 2.5])
    }
  })

  it('infers Feast types from source columns', async () => {
    await file(
      'types.parquet',
      `SELECT 1::BIGINT a, 1::INTEGER b, 1::SMALLINT c, 1.5::DOUBLE d, 1.5::FLOAT e, 'x' f, true g, 'x'::BLOB h,
        now() i, now()::TIMESTAMP j, [1, 2]::BIGINT[] k, ['x'] l, 1.5::DECIMAL(10, 2) m, INTERVAL 1 DAY n, {'x': 1} o`,
    )
    const columns = await store.describeSource(
      new FileSource({ name: 'types', path: 'types.parquet', timestampField: 'i' }),
    )
    expect(columns.map((c) => `${c.name}: ${c.type.name} (${c.sourceType})`)).toEqual([
      'a: Int64 (BIGINT)',
      'b: Int32 (INTEGER)',
      'c: Int32 (SMALLINT)',
      'd: Float64 (DOUBLE)',
      'e: Float32 (FLOAT)',
      'f: String (VARCHAR)',
      'g: Bool (BOOLEAN)',
      'h: Bytes (BLOB)',
      'i: UnixTimestamp (TIMESTAMP WITH TIME ZONE)',
      'j: UnixTimestamp (TIMESTAMP)',
      'k: Array(Int64) (BIGINT[])',
      'l: Array(String) (VARCHAR[])',
      'm: Float64 (DECIMAL(10,2))',
      'n: Invalid (INTERVAL)',
      'o: Struct({x: Int32}) (STRUCT("x" INTEGER))',
    ])
  })
})

describe('entity-less range retrieval', () => {
  it('returns every row of the views in the range, latest per key and timestamp', async () => {
    await file(
      'range_a.parquet',
      `SELECT * FROM (VALUES
        (1::BIGINT, ${ts('01:00')}, ${ts('01:00')}, 'first'),
        (1, ${ts('01:00')}, ${ts('01:30')}, 'corrected'),
        (2, ${ts('02:00')}, ${ts('02:00')}, 'two'),
        (1, ${ts('03:00')}, ${ts('03:00')}, 'late'),
        (1, ${ts('05:00')}, ${ts('05:00')}, 'outside')
      ) t(driver_id, event_timestamp, created, label)`,
    )
    await file(
      'range_b.parquet',
      `SELECT 1::BIGINT AS driver_id, ${ts('00:30')} AS event_timestamp, 7::BIGINT AS rating`,
    )
    const a = new FeatureView({
      name: 'a',
      entities: [driver],
      source: new FileSource({
        name: 'a',
        path: 'range_a.parquet',
        timestampField: 'event_timestamp',
        createdTimestampColumn: 'created',
      }),
      schema: [new Field({ name: 'label', dtype: Str })],
    })
    const b = new FeatureView({
      name: 'b',
      entities: [driver],
      ttl: '1h',
      source: new FileSource({ name: 'b', path: 'range_b.parquet', timestampField: 'event_timestamp' }),
      schema: [new Field({ name: 'rating', dtype: Int64 })],
    })
    const job = await store.getHistoricalFeatures({
      features: [
        { projection: a.projection, features: ['label'] },
        { projection: b.projection, features: ['rating'] },
      ],
      startDate: '2026-01-01T00:00:00Z',
      endDate: '2026-01-01T04:00:00Z',
    })
    expect(job.columns).toEqual(['driver_id', 'event_timestamp', 'label', 'rating'])
    expect(await job.toRows()).toEqual([
      { driver_id: 1, event_timestamp: '2026-01-01T00:30:00Z', label: null, rating: 7 },
      { driver_id: 1, event_timestamp: '2026-01-01T01:00:00Z', label: 'corrected', rating: 7 },
      { driver_id: 2, event_timestamp: '2026-01-01T02:00:00Z', label: 'two', rating: null },
      { driver_id: 1, event_timestamp: '2026-01-01T03:00:00Z', label: 'late', rating: null },
    ])
  })
})

describe('pullLatest', () => {
  it('yields the latest row per key in [start, end] in chunks, ties by created, null keys skipped', async () => {
    await file(
      'pull.parquet',
      `SELECT i % 1000 AS id, ${ts('00:00')} + INTERVAL (i // 1000) MINUTE AS ts,
        CASE WHEN i % 7 = 0 THEN NULL ELSE ${ts('00:00')} END AS created, i::DOUBLE AS value
       FROM range(5000) r(i)
       UNION ALL SELECT 3, ${ts('00:03')}, ${ts('09:00')}, -1
       UNION ALL SELECT NULL, ${ts('00:03')}, NULL, -2
       UNION ALL SELECT 5, ${ts('00:04')}, NULL, -3`,
    )
    const view = new FeatureView({
      name: 'pull',
      entities: [driver],
      source: new FileSource({
        name: 'pull',
        path: 'pull.parquet',
        timestampField: 'event_timestamp',
        createdTimestampColumn: 'created',
        fieldMapping: { id: 'driver_id', ts: 'event_timestamp' },
      }),
      schema: [new Field({ name: 'value', dtype: Float64 })],
    })
    expect(pullColumns(view)).toEqual({
      joinKeys: ['driver_id'],
      features: ['value'],
      eventTimestamp: 'event_timestamp',
      createdTimestamp: 'created',
    })
    const { rows, sizes } = await collect(
      store.pullLatest(
        view,
        { start: '2026-01-01T00:01:00Z', end: '2026-01-01T00:03:00Z' },
        { batchSize: 300 },
      ),
    )
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1000)
    expect(sizes).toEqual([300, 300, 300, 100])
    const byKey = new Map(rows.map((r) => [r.driver_id, r]))
    expect(byKey.get(3n)).toEqual({
      driver_id: 3n,
      value: -1,
      event_timestamp: Date.UTC(2026, 0, 1, 0, 3),
      created: Date.UTC(2026, 0, 1, 9),
    })
    expect(byKey.get(5n)!.value).toBe(3005)
    expect(byKey.get(10n)!.value).toBe(3010)
    expect(byKey.get(10n)!.created).toBeNull()
    expect(byKey.has(null)).toBe(false)

    // a window larger than one pass is read in passes over parts of the keys, with the same rows
    const inPasses = new DuckDBOfflineStore({ repoPath: dir, threads: 2, latestRowsPerPass: 700 })
    try {
      const passed = await collect(
        inPasses.pullLatest(
          view,
          { start: '2026-01-01T00:01:00Z', end: '2026-01-01T00:03:00Z' },
          { batchSize: 300 },
        ),
      )
      expect(passed.sizes.length).toBeGreaterThanOrEqual(5)
      const order = (xs: Record<string, unknown>[]) =>
        [...xs].sort((a, b) => Number(a.driver_id as bigint) - Number(b.driver_id as bigint))
      expect(order(passed.rows)).toEqual(order(rows))
    } finally {
      await inPasses.close()
    }
  })
})

describe('writeRows', () => {
  const view = (path: string) =>
    new FeatureView({
      name: 'written',
      entities: [driver],
      source: new FileSource({
        name: 'written',
        path,
        timestampField: 'event_timestamp',
        createdTimestampColumn: 'created',
        fieldMapping: { id: 'driver_id' },
      }),
      schema: [new Field({ name: 'score', dtype: Float64 }), new Field({ name: 'note', dtype: Str })],
    })

  it('appends to a Parquet file under source names, casting to its types, and leaves no temporary file', async () => {
    await file(
      'write/one.parquet',
      `SELECT 1::INTEGER AS id, ${ts('00:00')} AS event_timestamp, ${ts('00:00')} AS created, 0.5::DOUBLE AS score, 'a' AS note`,
    )
    await store.writeRows(view('write/one.parquet'), [
      { driver_id: 2, event_timestamp: '2026-01-01T01:00:00.000001Z', score: 1.5 },
      {
        driver_id: 3,
        event_timestamp: new Date('2026-01-01T02:00:00Z'),
        created: '2026-01-01T03:00:00Z',
        note: 'c',
      },
    ])
    expect(
      await query(
        `SELECT id, typeof(id), strftime(event_timestamp, '%H:%M:%S.%f'), created IS NULL, score, note FROM '${join(dir, 'write/one.parquet')}'`,
      ),
    ).toEqual([
      [1, 'INTEGER', '00:00:00.000000', false, 0.5, 'a'],
      [2, 'INTEGER', '01:00:00.000001', true, 1.5, null],
      [3, 'INTEGER', '02:00:00.000000', false, null, 'c'],
    ])
    expect(readdirSync(join(dir, 'write'))).toEqual(['one.parquet'])
  })

  it('names a part file by its idempotency key, so an append repeated under the key replaces itself', async () => {
    mkdirSync(join(dir, 'write/keyed'), { recursive: true })
    const rows = [{ driver_id: 1, event_timestamp: '2026-01-01T00:00:00Z', score: 1, note: 'x' }]
    await store.writeRows(view('write/keyed'), rows, { idempotencyKey: 'stream-0001-abc' })
    await store.writeRows(view('write/keyed'), rows, { idempotencyKey: 'stream-0001-abc' })
    await store.writeRows(view('write/keyed'), rows, { idempotencyKey: 'stream 0002/x' })
    const files = readdirSync(join(dir, 'write/keyed')).filter((f) => f.endsWith('.parquet'))
    expect(files).toHaveLength(2)
    expect(files).toContain('part-stream-0001-abc.parquet')
    expect(await query(`SELECT count(*) FROM '${join(dir, 'write/keyed')}/*.parquet'`)).toEqual([[2n]])
  })

  it('adds new part files to a directory, and creates a missing file', async () => {
    mkdirSync(join(dir, 'write/parts'), { recursive: true })
    const rows = [{ driver_id: 1, event_timestamp: '2026-01-01T00:00:00Z', score: 1, note: 'x' }]
    await store.writeRows(view('write/parts'), rows)
    await store.writeRows(view('write/parts'), rows)
    expect(readdirSync(join(dir, 'write/parts')).filter((f) => f.endsWith('.parquet')).length).toBe(2)
    await store.writeRows(view('write/new.csv'), rows)
    await store.writeRows(view('write/new.csv'), rows)
    expect(
      await query(`SELECT count(*), min(id), max(created) FROM read_csv('${join(dir, 'write/new.csv')}')`),
    ).toEqual([[2n, 1n, null]])
    const part = readdirSync(join(dir, 'write/parts')).find((f) => f.endsWith('.parquet'))
    expect(
      await query(`SELECT typeof(score), typeof(created) FROM '${join(dir, 'write/parts', part!)}'`),
    ).toEqual([['DOUBLE', 'TIMESTAMP WITH TIME ZONE']])
    const job = await store.getHistoricalFeatures({
      entities: [{ driver_id: 1, event_timestamp: '2026-01-02T00:00:00Z' }],
      features: [{ projection: view('write/parts').projection, features: ['score', 'note'] }],
    })
    expect(await job.toRows()).toEqual([
      { driver_id: 1, event_timestamp: '2026-01-02T00:00:00Z', score: 1, note: 'x' },
    ])
  })

  it('never lets a concurrent reader see a partly written file', async () => {
    const path = await file(
      'write/busy.parquet',
      `SELECT i::INTEGER AS id, ${ts('00:00')} AS event_timestamp, NULL::TIMESTAMP AS created, i::DOUBLE AS score, 'x' AS note FROM range(20000) r(i)`,
    )
    const batch = Array.from({ length: 500 }, (_, i) => ({
      driver_id: i,
      event_timestamp: '2026-01-01T00:00:00Z',
      score: i,
    }))
    let writing = true
    const counts: bigint[] = []
    const reader = (async () => {
      while (writing) counts.push((await query(`SELECT count(*) FROM '${path}'`))[0]![0] as bigint)
    })()
    for (let i = 0; i < 8; i++) await store.writeRows(view('write/busy.parquet'), batch)
    writing = false
    await reader
    expect(counts.length).toBeGreaterThan(0)
    for (const c of counts) expect((Number(c) - 20_000) % 500).toBe(0)
    expect(await query(`SELECT count(*) FROM '${path}'`)).toEqual([[24_000n]])
  })

  it('rejects columns the file lacks, rows without their timestamp, and globs', async () => {
    const e = await store
      .writeRows(view('write/one.parquet'), [
        { driver_id: 1, event_timestamp: '2026-01-01T00:00:00Z', extra: 1 },
      ])
      .catch((x) => x)
    expect(e).toBeInstanceOf(LarderError)
    expect(e.message).toContain('the column "extra"')
    expect(e.hint).toContain('id, event_timestamp, created, score, note')
    const noTs = await store.writeRows(view('write/one.parquet'), [{ driver_id: 1 }]).catch((x) => x)
    expect(noTs.message).toContain('have no column "event_timestamp"')
    const glob = await store.writeRows(view('write/*.parquet'), [{ driver_id: 1 }]).catch((x) => x)
    expect(glob.code).toBe('UNSUPPORTED')
  })
})

it('reports a file that is not Parquet as a DATA_SOURCE error naming it', async () => {
  writeFileSync(join(dir, 'junk.parquet'), 'not parquet')
  const e = await store
    .describeSource(new FileSource({ name: 'junk', path: 'junk.parquet', timestampField: 'ts' }))
    .catch((x) => x)
  expect(e).toBeInstanceOf(LarderError)
  expect(e.code).toBe('DATA_SOURCE')
  expect(e.message).toContain(`FileSource "junk" (${join(dir, 'junk.parquet')}) cannot be read`)
})
