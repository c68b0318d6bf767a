import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fromBinary } from '@bufbuild/protobuf'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Entity,
  FeatureView,
  Field,
  FileSource,
  Float64,
  Int64,
  isLarderError,
  String as Str,
  toMicros,
} from '../core/index.js'
import { FeatureViewState } from '../gen/feast/core/FeatureView_pb.js'
import { RegistrySchema } from '../gen/feast/core/Registry_pb.js'
import { describeWithService, redisUnavailable } from '../testing/services.js'
import { createTestRepo, type TestRepo } from './__fixtures__/test-repo.js'
import {
  clearEngine,
  engineBlock,
  startWorkers,
  type WorkerProcess,
} from './bullmq/__fixtures__/bullmq-harness.js'
import { unloadedViews } from './unloaded-views.js'

// A stream view over a Redis stream whose batch source is a Parquet file: materialization loads its
// non-aggregated features from the batch source, as `feast materialize` does, and records the interval
// on the StreamFeatureView's own meta; incremental materialization continues from it.

const CORE = fileURLToPath(new URL('../core/index.ts', import.meta.url))
const FEATURES = `import {
  Aggregation, Entity, Field, FileSource, Float64, Int64, RedisStreamSource, StreamFeatureView, String,
} from ${JSON.stringify(CORE)}
export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
const tripsFile = new FileSource({ name: 'trips_file', path: 'data/trips.parquet', timestampField: 'event_timestamp' })
const tripsStream = new RedisStreamSource({
  name: 'trips_stream', stream: 'trips', timestampField: 'event_timestamp', batchSource: tripsFile,
})
const schema = [
  new Field({ name: 'driver_id', dtype: Int64 }),
  new Field({ name: 'fare', dtype: Float64 }),
  new Field({ name: 'city', dtype: String }),
]
export const tripStats = new StreamFeatureView({
  name: 'trip_stats', source: tripsStream, entities: [driver], schema, ttl: '1d',
  aggregations: [new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h' })],
})
export const tripArchive = new StreamFeatureView({
  name: 'trip_archive', source: tripsStream, entities: [driver], schema, online: false,
})
`

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
const TRIPS = [
  { driver_id: 1, event_timestamp: '2026-01-01T01:00:00Z', fare: 10, city: 'Lisbon' },
  { driver_id: 1, event_timestamp: '2026-01-01T03:00:00Z', fare: 30, city: 'Porto' },
  { driver_id: 1, event_timestamp: '2026-01-01T05:00:00Z', fare: 50, city: 'Braga' },
  { driver_id: 2, event_timestamp: '2026-01-01T02:00:00Z', fare: 20, city: 'Faro' },
  { driver_id: 3, event_timestamp: '2025-12-31T23:00:00Z', fare: 5, city: 'Evora' },
]
const START = '2026-01-01T00:00:00Z'
const END = '2026-01-01T04:00:00Z'
const LATER = '2026-01-01T06:00:00Z'
const PLAIN = ['trip_stats:fare', 'trip_stats:city']

function streamRepo(batchEngine?: string): Promise<TestRepo> {
  return createTestRepo({
    onlineStore: 'type: sqlite\npath: data/online.db',
    featuresFile: FEATURES,
    data: new Map([[tripsFileView, TRIPS]]),
    ...(batchEngine === undefined ? {} : { batchEngine }),
  })
}

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

/** The intervals the registry file holds on the stream view's own message, decoded from its bytes. */
function storedIntervals(repo: TestRepo, view: string) {
  const proto = fromBinary(RegistrySchema, readFileSync(join(repo.dir, 'data/registry.db')))
  expect(proto.featureViews.some((v) => v.spec?.name === view)).toBe(false)
  const meta = proto.streamFeatureViews.find((v) => v.spec?.project === repo.project && v.spec.name === view)!
    .meta!
  return {
    state: meta.state,
    intervals: meta.materializationIntervals.map((i) => [
      new Date(Number(i.startTime!.seconds) * 1000).toISOString(),
      new Date(Number(i.endTime!.seconds) * 1000).toISOString(),
    ]),
  }
}

describe('materializing a stream feature view with the local engine', () => {
  let repo: TestRepo
  beforeAll(async () => {
    repo = await streamRepo()
  })
  afterAll(async () => {
    await repo?.close()
  })

  it('refuses an offline-only stream view and lists stream views among the loadable ones', async () => {
    const offline = await rejection(
      repo.store.materialize({ start: START, end: END, views: ['trip_archive'] }),
    )
    expect(offline.code).toBe('INVALID_ARGUMENT')
    expect(offline.message).toBe(
      'stream feature view "trip_archive" is not served online (online: false), so it cannot be materialized',
    )
    const unknown = await rejection(repo.store.materialize({ start: START, end: END, views: ['nope'] }))
    expect(unknown.code).toBe('NOT_FOUND')
    expect(unknown.hint).toBe('feature views that can be materialized: trip_stats')
  })

  it("loads its plain features' point-in-time values at the window end and records the interval on its meta", async () => {
    const result = await repo.store.materialize({ start: START, end: END })
    expect(result.views).toEqual([
      expect.objectContaining({ view: 'trip_stats', start: toMicros(START), end: toMicros(END), rows: 2 }),
    ])
    const online = await repo.store.getOnlineFeatures(
      { entities: { driver_id: [1, 2, 3] }, features: PLAIN },
      { now: END },
    )
    const [, fare, city] = online.results
    expect(fare!.values).toEqual([30, 20, null])
    expect(city!.values).toEqual(['Porto', 'Faro', null])
    expect(fare!.eventTimestamps.slice(0, 2)).toEqual([
      toMicros('2026-01-01T03:00:00Z'),
      toMicros('2026-01-01T02:00:00Z'),
    ])
    // driver 3's only row is before the window: it has a training value at END but nothing online
    const training = await (
      await repo.store.getHistoricalFeatures({
        entities: [1, 2].map((id) => ({ driver_id: id, event_timestamp: END })),
        features: PLAIN,
      })
    ).toRows()
    expect(training.map((r) => [r.fare, r.city])).toEqual([
      [fare!.values[0], city!.values[0]],
      [fare!.values[1], city!.values[1]],
    ])
    // materialization loads no tiles: its aggregations are the stream processor's (not found until it runs)
    const aggregated = await repo.store.getOnlineFeatures(
      { entities: { driver_id: [1] }, features: ['trip_stats:sum_fare_3600s'] },
      { now: END },
    )
    expect(aggregated.results[1]!.statuses).toEqual(['NOT_FOUND'])

    const catalog = await repo.store.catalog({ allowCache: false })
    expect(catalog.materializationIntervals('trip_stats')).toEqual([
      { start: toMicros(START), end: toMicros(END) },
    ])
    expect(storedIntervals(repo, 'trip_stats')).toEqual({
      state: FeatureViewState.AVAILABLE_ONLINE,
      intervals: [['2026-01-01T00:00:00.000Z', '2026-01-01T04:00:00.000Z']],
    })
    const runs = await repo.store.listMaterializationRuns()
    expect(runs).toEqual([expect.objectContaining({ view: 'trip_stats', status: 'succeeded', rowsRead: 2 })])
  })

  it('continues incrementally from the recorded end', async () => {
    const result = await repo.store.materializeIncremental({ end: LATER, views: ['trip_stats'] })
    expect(result.views).toEqual([
      expect.objectContaining({ view: 'trip_stats', start: toMicros(END), end: toMicros(LATER), rows: 1 }),
    ])
    const online = await repo.store.getOnlineFeatures(
      { entities: { driver_id: [1, 2] }, features: PLAIN },
      { now: LATER },
    )
    expect(online.results.slice(1).map((r) => r.values)).toEqual([
      [50, 20],
      ['Braga', 'Faro'],
    ])
    expect(storedIntervals(repo, 'trip_stats').intervals).toEqual([
      ['2026-01-01T00:00:00.000Z', '2026-01-01T04:00:00.000Z'],
      ['2026-01-01T04:00:00.000Z', '2026-01-01T06:00:00.000Z'],
    ])
  })

  it('is named as unloaded after a switch to an empty online store', async () => {
    expect(await unloadedViews(repo.store)).toEqual([])
    const yaml = join(repo.dir, 'feature_store.yaml')
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('data/online.db', 'data/other.db'))
    const switched = await repo.reopen()
    await switched.apply()
    const unloaded = await unloadedViews(switched)
    expect(unloaded.map((u) => [u.view, u.start, u.end])).toEqual([
      ['trip_stats', toMicros(START), toMicros(LATER)],
    ])
    expect(unloaded[0]!.message).toContain(
      'stream feature view "trip_stats" was materialized from 2026-01-01T00:00:00Z to 2026-01-01T06:00:00Z',
    )
  })
})

// Workers run the built CLI: run `npx tsc -p tsconfig.build.json` (or `npm run build`) first.
const [host, port] = (process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379').split(':') as [string, string]
const REDIS_URL = `redis://${host}:${port}`

describeWithService(
  'materializing a stream feature view with the bullmq engine',
  await redisUnavailable(host, Number(port)),
  () => {
    it('loads its plain features on the workers and records the interval on its meta', async () => {
      const block = engineBlock(REDIS_URL, ['partitions: 2', 'slice: 2h'])
      let repo: TestRepo | undefined
      let workers: WorkerProcess[] = []
      try {
        repo = await streamRepo(block)
        workers = await startWorkers(repo.dir, 2)
        const result = await repo.store.materialize({ start: START, end: END, views: ['trip_stats'] })
        expect(result.views).toEqual([
          expect.objectContaining({ view: 'trip_stats', start: toMicros(START), end: toMicros(END) }),
        ])
        expect((await repo.store.getJob(result.job)).status).toBe('succeeded')
        const online = await repo.store.getOnlineFeatures(
          { entities: { driver_id: [1, 2, 3] }, features: PLAIN },
          { now: END },
        )
        expect(online.results.slice(1).map((r) => r.values)).toEqual([
          [30, 20, null],
          ['Porto', 'Faro', null],
        ])
        expect(storedIntervals(repo, 'trip_stats')).toEqual({
          state: FeatureViewState.AVAILABLE_ONLINE,
          intervals: [['2026-01-01T00:00:00.000Z', '2026-01-01T04:00:00.000Z']],
        })
      } finally {
        await Promise.all(workers.map((w) => w.stop()))
        await repo?.close()
        await clearEngine(REDIS_URL, block)
      }
    }, 60_000)
  },
)
