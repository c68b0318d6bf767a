import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Entity, FeatureView, Field, FileSource, Float64, Int64 } from '../core/index.js'
import { createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import { larder } from './__fixtures__/run-larder.js'

const CORE = fileURLToPath(new URL('../core/index.ts', import.meta.url))
const FEATURES = `import { Aggregation, Entity, Field, FileSource, Float64, Int64, NatsSource, StreamFeatureView } from ${JSON.stringify(CORE)}
export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
const rides = new FileSource({ name: 'rides_file', path: 'data/rides.parquet', timestampField: 'event_timestamp' })
export const ridesNats = new NatsSource({
  name: 'rides_nats', subject: 'rides.events', stream: 'RIDES', timestampField: 'event_timestamp', batchSource: rides,
})
export const rideStats = new StreamFeatureView({
  name: 'ride_stats',
  source: ridesNats,
  entities: [driver],
  schema: [new Field({ name: 'driver_id', dtype: Int64 }), new Field({ name: 'fare', dtype: Float64 })],
  aggregations: [new Aggregation({ column: 'fare', function: 'avg', timeWindow: '1h', slideInterval: '10m' })],
})
`
const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
const rideRows = new FeatureView({
  name: 'ride_rows',
  entities: [driver],
  schema: [new Field({ name: 'driver_id', dtype: Int64 }), new Field({ name: 'fare', dtype: Float64 })],
  source: new FileSource({
    name: 'rides_file',
    path: 'data/rides.parquet',
    timestampField: 'event_timestamp',
  }),
})

describe('the CLI with stream feature views', () => {
  let repo: TestRepo
  beforeAll(async () => {
    repo = await createTestRepo({
      onlineStore: 'type: memory',
      featuresFile: FEATURES,
      data: new Map([[rideRows, [{ driver_id: 1, event_timestamp: '2026-01-01T01:00:00Z', fare: 12 }]]]),
    })
  })
  afterAll(async () => {
    await repo?.close()
  })

  it('lists them with their aggregations and sources', async () => {
    const list = await larder('-c', repo.dir, 'list', 'stream-feature-views', '--json')
    expect(list.code).toBe(0)
    expect(JSON.parse(list.stdout)).toEqual([
      {
        name: 'ride_stats',
        entities: ['driver'],
        features: ['fare'],
        aggregations: ['avg_fare_3600s = avg(fare) over 1h every 10m'],
        source: 'rides_nats',
        batchSource: 'rides_file',
        ttl: '0',
        online: true,
        transformation: '',
        materializedUntil: '',
        tags: {},
      },
    ])
    const sources = JSON.parse((await larder('-c', repo.dir, 'list', 'data-sources', '--json')).stdout)
    expect(sources).toContainEqual({
      name: 'rides_nats',
      type: 'NatsSource',
      detail: 'subject rides.events; batch: rides_file',
    })
  })

  it('describes one as the registry stores it, and plans no change', async () => {
    const described = await larder('-c', repo.dir, 'describe', 'stream-feature-view', 'ride_stats', '--json')
    expect(described.code).toBe(0)
    const spec = JSON.parse(described.stdout).spec
    expect(spec.features.map((f: { name: string }) => f.name)).toEqual(['fare', 'avg_fare_3600s'])
    expect(spec.tilingHopSize).toBe('300s')
    expect(spec.streamSource.dataSourceClassType).toBe('larderjs.NatsSource')
    const plan = await larder('-c', repo.dir, 'plan')
    expect(plan.stdout).toContain('no changes')
    const missing = await larder('-c', repo.dir, 'describe', 'stream-feature-view', 'nope')
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toContain('stream feature view "nope" not found')
  })
})
