import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Entity,
  FeatureView,
  Field,
  FileSource,
  Float64,
  LarderError,
  PostgreSQLSource,
} from '../../core/index.js'
import type { HistoricalRequest } from '../offline-store.js'
import { resolveFeatureRefs } from '../resolve-feature-refs.js'
import { DuckDBOfflineStore } from './duckdb-offline-store.js'

let dir: string
let store: DuckDBOfflineStore

const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'] })
const view = (path: string, options: { timestampField?: string; name?: string } = {}) =>
  new FeatureView({
    name: options.name ?? 'stats',
    entities: [driver],
    source: new FileSource({
      name: 'stats_source',
      path,
      timestampField: options.timestampField ?? 'event_timestamp',
    }),
    schema: [new Field({ name: 'conv_rate', dtype: Float64 })],
  })
const request = (entities: HistoricalRequest['entities'], fv = view('stats.parquet')): HistoricalRequest => ({
  entities,
  features: [{ projection: fv.projection, features: ['conv_rate'] }],
})
const good = [{ driver_id: 1, event_timestamp: '2026-01-01T00:00:00Z' }]

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-bad-'))
  const instance = await DuckDBInstance.create(':memory:')
  const db = await instance.connect()
  await db.run(
    `COPY (SELECT 1::BIGINT AS driver_id, TIMESTAMP '2026-01-01' AS event_timestamp, 0.5 AS conv_rate, 7 AS day)
     TO '${join(dir, 'stats.parquet')}'`,
  )
  await db.run(
    `COPY (SELECT * FROM (VALUES (1, 'yesterday'), (2, '2026-01-01')) t(driver_id, event_timestamp)) TO '${join(dir, 'bad_ts.csv')}'`,
  )
  db.closeSync()
  instance.closeSync()
  store = new DuckDBOfflineStore({ repoPath: dir })
})

afterAll(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

async function failure(promise: Promise<unknown>): Promise<LarderError> {
  try {
    await promise
  } catch (e) {
    expect(e).toBeInstanceOf(LarderError)
    expect((e as LarderError).hint).toBeTruthy()
    return e as LarderError
  }
  throw new Error('expected a LarderError')
}

/** Plans and runs the request, so errors found at either step surface. */
async function run(req: HistoricalRequest, fv?: FeatureView) {
  return (
    await store.getHistoricalFeatures(
      fv ? { ...req, features: [{ projection: fv.projection, features: ['conv_rate'] }] } : req,
    )
  ).toRows()
}

describe('bad input', () => {
  it('an entity table without a timestamp column', async () => {
    const e = await failure(run(request([{ driver_id: 1, day: 'monday' }])))
    expect(e.code).toBe('INVALID_ARGUMENT')
    expect(e.message).toBe('entity table has no "event_timestamp" column; its columns: driver_id, day')
  })

  it('an entity table without the join key', async () => {
    const e = await failure(run(request([{ id: 1, event_timestamp: '2026-01-01T00:00:00Z' }])))
    expect(e.message).toContain('entity table has no column "driver_id", a join key of feature view "stats"')
  })

  it('a reference to an unknown view or feature lists the known ones', () => {
    const views = new Map([
      ['stats', view('stats.parquet')],
      ['other', view('stats.parquet', { name: 'other' })],
    ])
    const unknownView = (() => {
      try {
        resolveFeatureRefs(['nope:conv_rate'], views)
      } catch (e) {
        return e as LarderError
      }
    })()!
    expect(unknownView.message).toContain('feature view "nope" not found')
    expect(unknownView.hint).toBe('known feature views: other, stats')
    const unknownFeature = (() => {
      try {
        resolveFeatureRefs(['stats:nope'], views)
      } catch (e) {
        return e as LarderError
      }
    })()!
    expect(unknownFeature.message).toContain('feature "nope" not found in feature view "stats"')
    expect(unknownFeature.hint).toBe('known features: conv_rate')
  })

  it("a SQL entity query that fails shows the engine's message and the query", async () => {
    const sql = 'SELECT driver_id, event_timestamp FROM no_such_table'
    const e = await failure(run(request({ sql })))
    expect(e.message).toContain(
      'the entity SQL query failed: Catalog Error: Table with name no_such_table does not exist',
    )
    expect(e.message).toContain(`query: ${sql}`)
    expect(e.details.query).toBe(sql)
  })

  it('a timestamp column of strings that are not timestamps names the column and the value', async () => {
    const rows = await failure(run(request([...good, { driver_id: 2, event_timestamp: 'yesterday' }])))
    expect(rows.message).toBe(
      'entity table column "event_timestamp" holds "yesterday" in row 2, which is not a timestamp',
    )
    const csv = await failure(run(request(join(dir, 'bad_ts.csv'))))
    expect(csv.message).toBe(
      `entity file ${join(dir, 'bad_ts.csv')}: column "event_timestamp" holds "yesterday", which is not a timestamp`,
    )
    const typed = await failure(run(request({ sql: 'SELECT 1 AS driver_id, 42 AS event_timestamp' })))
    expect(typed.message).toContain('column "event_timestamp" has type INTEGER, which is not a timestamp')
  })

  it('a missing source file names the path', async () => {
    const e = await failure(run(request(good, view('missing/stats.parquet'))))
    expect(e.code).toBe('DATA_SOURCE')
    expect(e.message).toBe(`FileSource "stats_source" (${join(dir, 'missing/stats.parquet')}): no such file`)
    const glob = await failure(run(request(good, view('missing/*.parquet'))))
    expect(glob.message).toContain('no files match the path')
    const entities = await failure(run(request(join(dir, 'nope.parquet'))))
    expect(entities.message).toBe(`entity file ${join(dir, 'nope.parquet')}: no such file`)
  })

  it('a declared column the source lacks names the path, the column and its role', async () => {
    const e = await failure(run(request(good, view('stats.parquet', { timestampField: 'ts' }))))
    expect(e.message).toBe(
      `FileSource "stats_source" (${join(dir, 'stats.parquet')}) has no column "ts", the timestamp field of feature view "stats"`,
    )
    expect(e.hint).toContain('its columns: driver_id, event_timestamp, conv_rate, day')
    expect(e.details).toMatchObject({ path: join(dir, 'stats.parquet'), column: 'ts' })
    const notTime = await failure(run(request(good, view('stats.parquet', { timestampField: 'day' }))))
    expect(notTime.message).toContain('column "day" has type INTEGER, which is not a timestamp')
  })

  it('a source the engine cannot read, and requests that mix or miss entities and dates', async () => {
    const pg = new FeatureView({
      name: 'pg',
      entities: [driver],
      source: new PostgreSQLSource({ name: 'pg_source', table: 't', timestampField: 'ts' }),
      schema: [new Field({ name: 'conv_rate', dtype: Float64 })],
    })
    expect((await failure(run(request(good, pg)))).code).toBe('UNSUPPORTED')
    const both = await failure(run({ ...request(good), startDate: '2026-01-01' }))
    expect(both.message).toContain('give either entities, or startDate and endDate')
    const half = await failure(run({ ...request(undefined), startDate: '2026-01-01' }))
    expect(half.message).toContain('give either entities, or startDate and endDate')
    const reversed = await failure(
      run({ ...request(undefined), startDate: '2026-01-02', endDate: '2026-01-01' }),
    )
    expect(reversed.message).toBe('startDate is after endDate')
  })

  it('a closed store refuses work', async () => {
    const closed = new DuckDBOfflineStore({ repoPath: dir })
    await closed.close()
    expect((await failure(closed.getHistoricalFeatures(request(good)))).message).toBe(
      'the offline store is closed',
    )
  })
})
