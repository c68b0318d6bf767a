import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isLarderError } from '../core/index.js'
import { at, sampleData } from '../materialize/__fixtures__/driver-data.js'
import { createTestRepo, DRIVER_FEATURES, type TestRepo } from '../materialize/__fixtures__/test-repo.js'

const ODFV_FEATURES = new URL('./__fixtures__/odfv-features.ts', import.meta.url).pathname

async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise
  } catch (e) {
    if (isLarderError(e)) return { code: e.code, message: e.message }
    throw e
  }
  throw new Error('expected a rejection')
}

describe('on-demand feature views', () => {
  let repo: TestRepo
  beforeAll(async () => {
    repo = await createTestRepo({
      onlineStore: 'type: memory',
      definitions: ODFV_FEATURES,
      data: sampleData(),
    })
    await repo.store.materialize({ start: at(0), end: at(4) })
  })
  afterAll(async () => {
    await repo?.close()
  })

  it('computes row and batch outputs online from source reads and request data', async () => {
    const res = await repo.store.getOnlineFeatures(
      {
        entities: { driver_id: [1001, 1002, 4242], val_to_add: [1, 2, 3], val_to_add_2: [10, 20, 30] },
        features: [
          'transformed_conv_rate:conv_rate_plus_val1',
          'transformed_conv_rate:conv_rate_plus_val2',
          'transformed_conv_rate_batch:conv_rate_plus_val1',
        ],
        fullFeatureNames: true,
      },
      { now: at(4) },
    )
    expect(res.metadata.featureNames).toEqual([
      'driver_id',
      'transformed_conv_rate__conv_rate_plus_val1',
      'transformed_conv_rate__conv_rate_plus_val2',
      'transformed_conv_rate_batch__conv_rate_plus_val1',
    ])
    expect(res.results[1]!.values).toEqual([1.375, null, null])
    expect(res.results[1]!.statuses).toEqual(['PRESENT', 'NULL_VALUE', 'NULL_VALUE'])
    expect(res.results[2]!.values).toEqual([10.375, null, null])
    expect(res.results[3]!.values).toEqual([1.375, null, null])
  })

  it('computes the same outputs after the point-in-time join, with request data from the entity table', async () => {
    const job = await repo.store.getHistoricalFeatures({
      entities: [
        { driver_id: 1001, event_timestamp: at(4), val_to_add: 1, val_to_add_2: 10 },
        { driver_id: 1001, event_timestamp: at(2), val_to_add: 2, val_to_add_2: 20 },
        { driver_id: 1002, event_timestamp: at(4), val_to_add: 3, val_to_add_2: 30 },
      ],
      featureService: 'driver_odfv',
    })
    expect(job.columns).toEqual([
      'driver_id',
      'event_timestamp',
      'val_to_add',
      'val_to_add_2',
      'conv_rate',
      'conv_rate_plus_val1',
      'conv_rate_plus_val2',
    ])
    const rows = await job.toRows()
    expect(rows.map((r) => [r.conv_rate, r.conv_rate_plus_val1, r.conv_rate_plus_val2])).toEqual([
      [0.375, 1.375, 10.375],
      [0.125, 2.125, 20.125],
      [null, null, null],
    ])
    const table = await job.toArrow()
    expect(table.getChild('conv_rate_plus_val1')!.toArray()).toEqual(new Float64Array([1.375, 2.125, 0]))
  })

  it('drops source features nobody asked for from historical results', async () => {
    const job = await repo.store.getHistoricalFeatures({
      entities: [{ driver_id: 1001, event_timestamp: at(4), val_to_add: 1, val_to_add_2: 10 }],
      features: ['transformed_conv_rate_batch:conv_rate_plus_val2'],
    })
    expect(await job.toRows()).toEqual([
      {
        driver_id: 1001,
        event_timestamp: '2026-01-01T04:00:00Z',
        val_to_add: 1,
        val_to_add_2: 10,
        conv_rate_plus_val2: 10.375,
      },
    ])
  })

  it('stores a writeToOnlineStore view when its source is materialized, and reads it back', async () => {
    const res = await repo.store.getOnlineFeatures(
      {
        entities: { driver_id: [1001, 1003, 4242] },
        features: ['trips_label:trips_doubled', 'trips_label:label_upper'],
      },
      { now: at(4) },
    )
    expect(res.results[1]).toEqual({
      values: [14, 14, null],
      statuses: ['PRESENT', 'PRESENT', 'NOT_FOUND'],
      eventTimestamps: [Date.parse(at(3)) * 1000, Date.parse(at(3)) * 1000, 0],
    })
    expect(res.results[2]!.values).toEqual(['OK', 'LATE', null])
    const job = await repo.store.getHistoricalFeatures({
      entities: [{ driver_id: 1003, event_timestamp: at(4) }],
      features: ['trips_label:label_upper'],
    })
    expect((await job.toRows())[0]!.label_upper).toBe('LATE')
  })

  it('stores a writeToOnlineStore view when rows are written to its source online', async () => {
    await repo.store.writeToOnlineStore({
      featureViewName: 'driver_stats',
      df: [
        {
          driver_id: 2001,
          event_timestamp: at(3.5),
          conv_rate: 0.5,
          acc_rate: 0.5,
          trips: 21,
          rank: 1,
          label: 'pushed',
          active: true,
          seen: at(3.5),
          tags: [],
          scores: [],
        },
      ],
    })
    const res = await repo.store.getOnlineFeatures(
      { entities: { driver_id: [2001] }, features: ['trips_label:trips_doubled', 'trips_label:label_upper'] },
      { now: at(4) },
    )
    expect(res.results.slice(1).map((c) => c.values[0])).toEqual([42, 'PUSHED'])
  })

  it('writes historical results with on-demand columns to Parquet and CSV through the engine', async () => {
    const { mkdtempSync, readFileSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'larder-odfv-'))
    const job = await repo.store.getHistoricalFeatures({
      entities: [
        { driver_id: 1001, event_timestamp: at(4), val_to_add: 1, val_to_add_2: 10 },
        { driver_id: 1002, event_timestamp: at(4), val_to_add: 3, val_to_add_2: 30 },
      ],
      features: ['transformed_conv_rate:conv_rate_plus_val1'],
    })
    expect(await job.toCsv(join(dir, 'out.csv'))).toMatchObject({ rows: 2 })
    expect(readFileSync(join(dir, 'out.csv'), 'utf8').trim().split('\n')).toEqual([
      'driver_id,event_timestamp,val_to_add,val_to_add_2,conv_rate_plus_val1',
      '1001,2026-01-01 04:00:00+00,1,10,1.375',
      '1002,2026-01-01 04:00:00+00,3,30,',
    ])
    expect(await job.toParquet(join(dir, 'out.parquet'))).toMatchObject({ rows: 2 })
  })

  it("serves Feast's origin/destination service with an on-demand view, online and offline", async () => {
    const online = await repo.store.getOnlineFeatures(
      {
        entities: {
          origin_id: [1001, 1003],
          destination_id: [1003, 1001],
          driver_id: [1001, 1001],
          val_to_add: [1, 2],
          val_to_add_2: [0, 0],
        },
        featureService: 'trip',
        fullFeatureNames: true,
      },
      { now: at(4) },
    )
    expect(online.metadata.featureNames).toEqual([
      'origin_id',
      'destination_id',
      'driver_id',
      'origin__conv_rate',
      'destination__conv_rate',
      'transformed_conv_rate__conv_rate_plus_val1',
    ])
    expect(online.results.slice(3).map((c) => c.values)).toEqual([
      [0.375, 0.25],
      [0.25, 0.375],
      [1.375, 2.375],
    ])
    const job = await repo.store.getHistoricalFeatures({
      entities: [
        {
          origin_id: 1001,
          destination_id: 1003,
          driver_id: 1001,
          event_timestamp: at(4),
          val_to_add: 1,
          val_to_add_2: 0,
        },
        {
          origin_id: 1003,
          destination_id: 1001,
          driver_id: 1001,
          event_timestamp: at(4),
          val_to_add: 2,
          val_to_add_2: 0,
        },
      ],
      featureService: 'trip',
      fullFeatureNames: true,
    })
    const rows = await job.toRows()
    expect(
      rows.map((r) => [
        r.origin__conv_rate,
        r.destination__conv_rate,
        r.transformed_conv_rate__conv_rate_plus_val1,
      ]),
    ).toEqual([
      [0.375, 0.25, 1.375],
      [0.25, 0.375, 2.375],
    ])
    expect(job.request.features).toEqual([
      'origin:conv_rate',
      'destination:conv_rate',
      'transformed_conv_rate:conv_rate_plus_val1',
    ])
  })

  it('names the missing request field, online and offline', async () => {
    const online = await rejection(
      repo.store.getOnlineFeatures({
        entities: { driver_id: [1001], val_to_add: [1] },
        features: ['transformed_conv_rate:conv_rate_plus_val1'],
      }),
    )
    expect(online.code).toBe('INVALID_ARGUMENT')
    expect(online.message).toContain('"val_to_add_2"')
    const offline = await rejection(
      repo.store.getHistoricalFeatures({
        entities: [{ driver_id: 1001, event_timestamp: at(4), val_to_add: 1 }],
        features: ['transformed_conv_rate:conv_rate_plus_val1'],
      }),
    )
    expect(offline.code).toBe('INVALID_ARGUMENT')
    expect(offline.message).toContain('"val_to_add_2"')
  })

  it('reports a throwing transformation as an error naming the view and the entity row', async () => {
    const err = await rejection(
      repo.store.getOnlineFeatures(
        { entities: { driver_id: [1001, 1003] }, features: ['fragile:label_length'] },
        { now: at(4) },
      ),
    )
    expect(err.code).toBe('TRANSFORMATION_FAILED')
    expect(err.message).toContain('on-demand feature view "fragile" threw for entity row 1 (driver_id=1003)')
    expect(err.message).toContain('late labels are not allowed')
  })

  it('rejects request values of the wrong type, naming the field', async () => {
    const err = await rejection(
      repo.store.getOnlineFeatures({
        entities: { driver_id: [1001], val_to_add: ['one'], val_to_add_2: [2] },
        features: ['transformed_conv_rate:conv_rate_plus_val1'],
      }),
    )
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.message).toContain('request field "val_to_add"')
  })
})

describe('applying on-demand views', () => {
  it('fails at apply, not at request time, when a source feature does not exist in an inferred schema', async () => {
    const featuresFile = [
      "import { FeatureView, Field, Float64, OnDemandFeatureView } from 'larderjs'",
      `import { driver, driverStatsSource } from ${JSON.stringify(DRIVER_FEATURES)}`,
      "export const inferred = new FeatureView({ name: 'inferred', entities: [driver], source: driverStatsSource })",
      'export const bad = new OnDemandFeatureView({',
      "  name: 'bad',",
      "  sources: [inferred.select(['conv_rat'])],",
      "  schema: [new Field({ name: 'out', dtype: Float64 })],",
      '  transform: (r) => ({ out: r.conv_rat }),',
      '})',
    ].join('\n')
    const err = await rejection(
      createTestRepo({ onlineStore: 'type: memory', featuresFile, data: sampleData() }),
    )
    expect(err.code).toBe('INVALID_DEFINITION')
    expect(err.message).toBe(
      'on-demand feature view "bad": feature "conv_rat" not found in feature view "inferred"',
    )
  })
})
