import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Entity,
  eventState,
  FeatureView,
  Field,
  FileSource,
  Float64,
  Int64,
  isLarderError,
  String as Str,
  tileIndex,
  toMicros,
} from '../core/index.js'
import { createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import { entityKeyEncoder, viewRef } from '../online/online-store.js'
import { hasTiles, tileViewRef } from '../online/tile-store.js'
import { FeatureServer } from '../server/index.js'

// A repo with stream views over a Redis stream whose events land in a Parquet batch source: apply and
// plan register them, reads serve their non-aggregated features and combine their aggregations' tiles online;
// historical retrieval computes the aggregations from the batch source.

const CORE = fileURLToPath(new URL('../core/index.ts', import.meta.url))
const features = (factor: number, extra = '') => `import {
  Aggregation, Entity, FeatureService, Field, FileSource, Float64, Int64, RedisStreamSource, StreamFeatureView, String,
} from ${JSON.stringify(CORE)}
export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
export const tripsFile = new FileSource({ name: 'trips_file', path: 'data/trips.parquet', timestampField: 'event_timestamp' })
export const tripsStream = new RedisStreamSource({
  name: 'trips_stream', stream: 'trips', timestampField: 'event_timestamp', batchSource: tripsFile,
})
export const tripStats = new StreamFeatureView({
  name: 'trip_stats',
  source: tripsStream,
  entities: [driver],
  schema: [
    new Field({ name: 'driver_id', dtype: Int64 }),
    new Field({ name: 'fare', dtype: Float64 }),
    new Field({ name: 'city', dtype: String }),
  ],
  aggregations: [new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h' })],
  transform: (e) => ({ ...e, fare: Number(e.fare) * ${factor} }),
  ttl: '1d',
})
// no schema: apply infers it from the batch source, then checks the aggregation against it
export const tripCities = new StreamFeatureView({
  name: 'trip_cities',
  source: tripsStream,
  entities: [driver],
  aggregations: [new Aggregation({ column: 'city', function: 'count_distinct', timeWindow: '1d' })],
})
export const tripService = new FeatureService({ name: 'trip_service', features: [tripStats.select(['fare', 'city'])] })
export const tripTotals = new FeatureService({ name: 'trip_totals', features: [tripStats] })
${extra}`

const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
/** The batch source's rows, written through a feature view over the same file. */
const tripsFileView = new FeatureView({
  name: 'trips_file_rows',
  entities: [driver],
  schema: [
    new Field({ name: 'driver_id', dtype: Int64 }),
    new Field({ name: 'fare', dtype: Float64 }),
    new Field({ name: 'city', dtype: Str }),
  ],
  source: new FileSource({
    name: 'trips_file',
    path: 'data/trips.parquet',
    timestampField: 'event_timestamp',
  }),
})

async function rejection(
  promise: Promise<unknown>,
): Promise<{ code: string; message: string; hint?: string }> {
  try {
    await promise
  } catch (e) {
    if (isLarderError(e)) return { code: e.code, message: e.message, hint: e.hint }
    throw e
  }
  throw new Error('expected a rejection')
}

describe('stream feature views in a feature repo', () => {
  let repo: TestRepo
  beforeAll(async () => {
    repo = await createTestRepo({
      onlineStore: 'type: memory',
      featuresFile: features(2),
      data: new Map([
        [
          tripsFileView,
          [
            { driver_id: 1, event_timestamp: '2026-01-01T01:00:00Z', fare: 10, city: 'Lisbon' },
            { driver_id: 1, event_timestamp: '2026-01-01T03:00:00Z', fare: 30, city: 'Porto' },
            { driver_id: 2, event_timestamp: '2026-01-01T02:00:00Z', fare: 20, city: 'Faro' },
          ],
        ],
      ]),
    })
  })
  afterAll(async () => {
    await repo?.close()
  })

  it('are registered by apply, with their sources, and plan shows nothing left to do', async () => {
    const plan = await repo.store.plan()
    expect(plan.changes.filter((c) => c.action !== 'unchanged')).toEqual([])
    expect(
      plan.changes
        .filter((c) => c.kind === 'stream feature view')
        .map((c) => c.name)
        .sort(),
    ).toEqual(['trip_cities', 'trip_stats'])
    expect(
      plan.changes
        .filter((c) => c.kind === 'data source')
        .map((c) => c.name)
        .sort(),
    ).toEqual(['trips_file', 'trips_stream'])
    const views = await repo.store.listStreamFeatureViews()
    expect(views.map((v) => v.name).sort()).toEqual(['trip_cities', 'trip_stats'])
    const inferred = await repo.store.getStreamFeatureView('trip_cities')
    expect(inferred.features.map((f) => `${f.name}:${f.dtype.name}`)).toEqual([
      'fare:Float64',
      'city:String',
      'count_distinct_city_86400s:Int64',
    ])
    const described = (await repo.store.describe('stream feature view', 'trip_stats')) as {
      spec: {
        aggregations: unknown[]
        mode: string
        streamSource: { type: string; dataSourceClassType: string }
      }
    }
    expect(described.spec.aggregations).toEqual([
      { column: 'fare', function: 'sum', timeWindow: '3600s', slideInterval: '3600s' },
    ])
    expect(described.spec.mode).toBe('typescript-row')
    expect(described.spec.streamSource).toMatchObject({
      type: 'PUSH_SOURCE',
      dataSourceClassType: 'larderjs.RedisStreamSource',
    })
  })

  it('serve their non-aggregated features online, by reference and by service', async () => {
    await repo.store.writeToOnlineStore({
      featureViewName: 'trip_stats',
      df: [
        { driver_id: 1, event_timestamp: '2026-01-01T03:00:00Z', fare: 60, city: 'Porto' },
        { driver_id: 2, event_timestamp: '2026-01-01T02:00:00Z', fare: 40, city: 'Faro' },
      ],
    })
    const now = '2026-01-01T04:00:00Z'
    const byRef = await repo.store.getOnlineFeatures(
      { entities: { driver_id: [1, 2, 3] }, features: ['trip_stats:fare', 'trip_stats:city'] },
      { now },
    )
    expect(byRef.metadata.featureNames).toEqual(['driver_id', 'fare', 'city'])
    expect(byRef.results[1]!.values).toEqual([60, 40, null])
    expect(byRef.results[2]!.statuses).toEqual(['PRESENT', 'PRESENT', 'NOT_FOUND'])
    const byService = await repo.store.getOnlineFeatures(
      { entities: { driver_id: [2] }, featureService: 'trip_service', fullFeatureNames: true },
      { now },
    )
    expect(byService.metadata.featureNames).toEqual(['driver_id', 'trip_stats__fare', 'trip_stats__city'])
    expect(byService.results.slice(1).map((r) => r.values[0])).toEqual([40, 'Faro'])
  })

  it('serve their aggregated features online from the tiles: NOT_FOUND before any event, then the window sums', async () => {
    const before = await repo.store.getOnlineFeatures({
      entities: { driver_id: [1] },
      features: ['trip_stats:sum_fare_3600s'],
    })
    expect(before.results[1]!.statuses).toEqual(['NOT_FOUND'])
    const online = await repo.store.online()
    if (!hasTiles(online)) throw new Error('the test store keeps no tiles')
    const catalog = (await repo.store.registry.load()).catalog(repo.store.config.project)
    const view = catalog.streamFeatureView('trip_stats')
    const tiles = tileViewRef(repo.store.config.project, view)
    const key = (id: number) =>
      entityKeyEncoder(viewRef(repo.store.config.project, view.storageView), 3)([id])
    const hop = tiles.hopMicros
    const at = (iso: string) => toMicros(iso)
    const event = (id: string, driver: number, iso: string, fare: number) => ({
      id,
      entityKey: key(driver),
      tile: tileIndex(at(iso), hop),
      eventTs: at(iso),
      states: tiles.aggregations.map((a) =>
        eventState(a, fare, { ts: at(iso), created: -Infinity, order: id }),
      ),
    })
    const now = at('2026-01-01T04:00:00Z')
    await online.applyTiles(
      tiles,
      [
        event('1', 1, '2026-01-01T02:50:00Z', 5), // outside the hour before 04:00
        event('2', 1, '2026-01-01T03:10:00Z', 7),
        event('3', 1, '2026-01-01T03:59:00Z', 11),
        event('4', 2, '2026-01-01T03:30:00Z', 2),
      ],
      now,
    )
    const read = await repo.store.getOnlineFeatures(
      { entities: { driver_id: [1, 2, 3] }, features: ['trip_stats:fare', 'trip_stats:sum_fare_3600s'] },
      { now: '2026-01-01T04:00:00Z' },
    )
    expect(read.metadata.featureNames).toEqual(['driver_id', 'fare', 'sum_fare_3600s'])
    expect(read.results[2]!.values).toEqual([18, 2, null])
    expect(read.results[2]!.statuses).toEqual(['PRESENT', 'PRESENT', 'NOT_FOUND'])
    const byService = await repo.store.getOnlineFeatures(
      { entities: { driver_id: [1] }, featureService: 'trip_totals' },
      { now: '2026-01-01T04:00:00Z' },
    )
    expect(byService.metadata.featureNames).toContain('sum_fare_3600s')
    const unknown = await rejection(
      repo.store.getOnlineFeatures({ entities: { driver_id: [1] }, features: ['trip_stats:tip'] }),
    )
    expect(unknown).toMatchObject({ code: 'NOT_FOUND' })
  })

  it("serve their aggregated features over HTTP too, through the server's timed online store", async () => {
    const online = await repo.store.online()
    if (!hasTiles(online)) throw new Error('the test store keeps no tiles')
    const catalog = (await repo.store.registry.load()).catalog(repo.store.config.project)
    const view = catalog.streamFeatureView('trip_stats')
    const tiles = tileViewRef(repo.store.config.project, view)
    const key = entityKeyEncoder(viewRef(repo.store.config.project, view.storageView), 3)([7])
    const now = toMicros(new Date())
    const eventTs = now - 60_000_000
    await online.applyTiles(
      tiles,
      [
        {
          id: 'http-1',
          entityKey: key,
          tile: tileIndex(eventTs, tiles.hopMicros),
          eventTs,
          states: tiles.aggregations.map((a) =>
            eventState(a, 13, { ts: eventTs, created: -Infinity, order: 'http-1' }),
          ),
        },
      ],
      now,
    )
    const server = new FeatureServer(repo.store, {
      logger: pino({ level: 'silent' }),
      registryRefreshSeconds: 0,
    })
    try {
      const res = await server.app.request('/get-online-features', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ entities: { driver_id: [7] }, features: ['trip_stats:sum_fare_3600s'] }),
      })
      expect(res.status).toBe(200)
      const body = (await res.json()) as { results: { values: unknown[]; statuses: string[] }[] }
      expect(body.results[1]).toMatchObject({ values: [13], statuses: ['PRESENT'] })
    } finally {
      await server.close()
    }
  })

  it('give point-in-time training rows of their non-aggregated features from the batch source', async () => {
    const job = await repo.store.getHistoricalFeatures({
      entities: [
        { driver_id: 1, event_timestamp: '2026-01-01T02:00:00Z' },
        { driver_id: 1, event_timestamp: '2026-01-01T04:00:00Z' },
      ],
      features: ['trip_stats:fare', 'trip_stats:city'],
    })
    const rows = await job.toRows()
    expect(rows.map((r) => [r.fare, r.city])).toEqual([
      [10, 'Lisbon'],
      [30, 'Porto'],
    ])
  })

  it('give training rows of their aggregations from the batch source, windows cut at the 5-minute hop', async () => {
    const job = await repo.store.getHistoricalFeatures({
      entities: [
        { driver_id: 1, event_timestamp: '2026-01-01T03:04:59.999999Z' },
        { driver_id: 1, event_timestamp: '2026-01-01T04:00:00Z' },
        { driver_id: 2, event_timestamp: '2026-01-01T02:00:00Z' },
        { driver_id: 3, event_timestamp: '2026-01-01T04:00:00Z' },
      ],
      features: ['trip_stats:sum_fare_3600s', 'trip_stats:fare', 'trip_cities:count_distinct_city_86400s'],
    })
    expect(job.columns).toEqual([
      'driver_id',
      'event_timestamp',
      'fare',
      'sum_fare_3600s',
      'count_distinct_city_86400s',
    ])
    const rows = await job.toRows()
    // at 03:04:59.999999 the window is [02:05, t] (tiles 02:05 to 03:00); at 04:00 it is [03:05, 04:00]
    expect(rows.map((r) => [r.fare, r.sum_fare_3600s, r.count_distinct_city_86400s])).toEqual([
      [30, 30, 2],
      [30, null, 2],
      [20, 20, 1],
      [null, null, 0],
    ])
  })

  it("give a service's aggregations offline after its plain features, under the view's name", async () => {
    const job = await repo.store.getHistoricalFeatures({
      entities: [{ driver_id: 1, event_timestamp: '2026-01-01T03:30:00Z' }],
      featureService: 'trip_totals',
      fullFeatureNames: true,
    })
    expect(job.columns).toEqual([
      'driver_id',
      'event_timestamp',
      'trip_stats__fare',
      'trip_stats__city',
      'trip_stats__sum_fare_3600s',
    ])
    const [row] = await job.toRows()
    expect([row!.trip_stats__fare, row!.trip_stats__city, row!.trip_stats__sum_fare_3600s]).toEqual([
      30,
      'Porto',
      30,
    ])
  })

  it('show a change of the transform, and a new stream view, in the plan', async () => {
    writeFileSync(
      join(repo.dir, 'features.ts'),
      features(
        3,
        `export const tripMax = new StreamFeatureView({ name: 'trip_max', source: tripsStream, entities: [driver],
  aggregations: [new Aggregation({ column: 'fare', function: 'max', timeWindow: '2h' })] })\n`,
      ),
    )
    const changes = (await repo.store.plan()).changes
      .filter((c) => c.action !== 'unchanged')
      .sort((a, b) => b.name.localeCompare(a.name))
    expect(changes).toEqual([
      {
        kind: 'stream feature view',
        name: 'trip_stats',
        action: 'update',
        changedFields: [expect.stringMatching(/^transformation code [0-9a-f]{12} -> [0-9a-f]{12}$/)],
      },
      { kind: 'stream feature view', name: 'trip_max', action: 'create', changedFields: [] },
    ])
    await repo.store.apply()
    expect((await repo.store.getStreamFeatureView('trip_max')).aggregatedFeatures.map((f) => f.name)).toEqual(
      ['max_fare_7200s'],
    )
  })

  it('refuses at apply an aggregation of a field the batch source lacks', async () => {
    writeFileSync(
      join(repo.dir, 'features.ts'),
      features(
        2,
        `export const tips = new StreamFeatureView({ name: 'tips', source: tripsStream, entities: [driver],
  aggregations: [new Aggregation({ column: 'tip', function: 'sum', timeWindow: '1h' })] })\n`,
      ),
    )
    const e = await rejection(repo.store.plan())
    expect(e.code).toBe('INVALID_DEFINITION')
    expect(e.message).toContain(
      'stream feature view "tips": sum(tip) over 1h aggregates "tip", which is not in the schema',
    )
  })
})
