import { describe, expect, it } from 'vitest'
import {
  Aggregation,
  Entity,
  FeatureView,
  Field,
  FileSource,
  Float64,
  Int64,
  LarderError,
  PushSource,
} from '../../core/index.js'
import { planEntity, planLatest, planViews, rangeEntityKeys } from './plan.js'

const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'] })
const location = new Entity({ name: 'location', joinKeys: ['location_id'] })

const statsSource = new FileSource({
  name: 'stats_source',
  path: 'stats.parquet',
  timestampField: 'event_timestamp',
  createdTimestampColumn: 'created',
  fieldMapping: { conv: 'conv_rate', id: 'driver_id', ts: 'event_timestamp' },
})
const stats = new FeatureView({
  name: 'driver_stats',
  entities: [driver],
  ttl: '2h',
  source: statsSource,
  schema: [new Field({ name: 'conv_rate', dtype: Float64 }), new Field({ name: 'trips', dtype: Int64 })],
})
const trips = new FeatureView({
  name: 'trips',
  entities: [location],
  source: new FileSource({ name: 'trips_source', path: 'trips.parquet', timestampField: 'ts' }),
  schema: [new Field({ name: 'trips', dtype: Int64 })],
})

function thrown(fn: () => unknown): LarderError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(LarderError)
    return e as LarderError
  }
  throw new Error('expected a LarderError')
}

describe('planViews', () => {
  it('applies field mapping to features, join keys and timestamps, and converts the ttl', () => {
    const [p] = planViews([{ projection: stats.projection, features: ['conv_rate'] }], false)
    expect(p!.view).toEqual({
      name: 'driver_stats',
      keys: [{ source: 'id', entity: 'driver_id' }],
      timestamp: 'ts',
      created: 'created',
      ttlMicros: 7_200_000_000,
      features: [{ source: 'conv', output: 'conv_rate' }],
    })
    expect(p!.columns.map((c) => c.role)).toEqual([
      'timestamp field',
      'created timestamp column',
      'join key "driver_id"',
      'feature "conv_rate"',
    ])
  })

  it("applies a projection's alias and join-key map", () => {
    const origin = trips.withName('origin').withJoinKeyMap({ location_id: 'origin_id' })
    const [p] = planViews([{ projection: origin, features: ['trips'] }], true)
    expect(p!.view.name).toBe('origin')
    expect(p!.view.keys).toEqual([{ source: 'location_id', entity: 'origin_id' }])
    expect(p!.view.features).toEqual([{ source: 'trips', output: 'origin__trips' }])
    expect(p!.view.created).toBeUndefined()
    expect(p!.view.ttlMicros).toBe(0)
  })

  it('rejects a name clash without full names and says to use them', () => {
    const e = thrown(() =>
      planViews(
        [
          { projection: stats.projection, features: ['trips'] },
          { projection: trips.projection, features: ['trips'] },
        ],
        false,
      ),
    )
    expect(e.message).toContain('feature column "trips" is requested from "driver_stats" and "trips"')
    expect(e.hint).toContain('fullFeatureNames: true')
    const ok = planViews(
      [
        { projection: stats.projection, features: ['trips'] },
        { projection: trips.projection, features: ['trips'] },
      ],
      true,
    )
    expect(ok.flatMap((p) => p.view.features.map((f) => f.output))).toEqual([
      'driver_stats__trips',
      'trips__trips',
    ])
  })

  it('names unknown features, empty requests and views without a batch source', () => {
    expect(thrown(() => planViews([], false)).message).toContain('names no features')
    const unknown = thrown(() => planViews([{ projection: stats.projection, features: ['nope'] }], false))
    expect(unknown.message).toContain('feature "nope" not found in feature view "driver_stats"')
    expect(unknown.hint).toContain('conv_rate, trips')
    const pushed = new FeatureView({
      name: 'pushed',
      entities: [driver],
      source: new PushSource({ name: 'push' }),
      schema: [new Field({ name: 'x', dtype: Int64 })],
    })
    expect(
      thrown(() => planViews([{ projection: pushed.projection, features: ['x'] }], false)).message,
    ).toContain('feature view "pushed" has no batch source')
  })
})

describe('planEntity', () => {
  const views = planViews([{ projection: stats.projection, features: ['conv_rate'] }], false)

  it('takes event_timestamp, else the only timestamp column with a notice', () => {
    const plain = planEntity(
      [
        { name: 'driver_id', isTimestamp: false },
        { name: 'event_timestamp', isTimestamp: true },
        { name: 'other_ts', isTimestamp: true },
      ],
      views,
    )
    expect(plain).toEqual({ timestampColumn: 'event_timestamp', notices: [] })
    const inferred = planEntity(
      [
        { name: 'driver_id', isTimestamp: false },
        { name: 'when', isTimestamp: true },
      ],
      views,
    )
    expect(inferred.timestampColumn).toBe('when')
    expect(inferred.notices[0]).toContain('using "when", its only timestamp column')
  })

  it('rejects an entity table without a timestamp column, listing its columns', () => {
    const e = thrown(() => planEntity([{ name: 'driver_id', isTimestamp: false }], views))
    expect(e.message).toContain('entity table has no "event_timestamp" column; its columns: driver_id')
    const two = thrown(() =>
      planEntity(
        [
          { name: 'driver_id', isTimestamp: false },
          { name: 'a', isTimestamp: true },
          { name: 'b', isTimestamp: true },
        ],
        views,
      ),
    )
    expect(two.message).toContain('several timestamp columns (a, b)')
  })

  it('rejects a missing join key, a feature named like an entity column and reserved names', () => {
    const missing = thrown(() => planEntity([{ name: 'event_timestamp', isTimestamp: true }], views))
    expect(missing.message).toContain(
      'entity table has no column "driver_id", a join key of feature view "driver_stats"',
    )
    expect(missing.hint).toContain('withJoinKeyMap')
    const clash = thrown(() =>
      planEntity(
        [
          { name: 'driver_id', isTimestamp: false },
          { name: 'event_timestamp', isTimestamp: true },
          { name: 'conv_rate', isTimestamp: false },
        ],
        views,
      ),
    )
    expect(clash.message).toContain('feature column "conv_rate"')
    const reserved = thrown(() => planEntity([{ name: '__larder_row', isTimestamp: false }], views))
    expect(reserved.message).toContain('reserved prefix')
  })
})

describe('range and latest plans', () => {
  it('collects the join keys of every view for range retrieval', () => {
    const views = planViews(
      [
        { projection: stats.projection, features: ['conv_rate'] },
        { projection: trips.projection, features: ['trips'] },
      ],
      true,
    )
    expect(rangeEntityKeys(views)).toEqual(['driver_id', 'location_id'])
  })

  it('reads every feature of the view for materialization, under Feast names', () => {
    const { planned, columns } = planLatest(stats)
    expect(columns).toEqual({
      joinKeys: ['driver_id'],
      features: ['conv_rate', 'trips'],
      eventTimestamp: 'event_timestamp',
      createdTimestamp: 'created',
    })
    expect(planned.view.features.map((f) => f.source)).toEqual(['conv', 'trips'])
  })
})

describe('planViews with windows', () => {
  const aggregations = [
    new Aggregation({ column: 'conv_rate', function: 'MEAN', timeWindow: '1h' }),
    new Aggregation({ column: 'trips', function: 'sum', timeWindow: '10m' }),
    new Aggregation({ column: 'trips', function: 'max', timeWindow: '10m', name: 'top' }),
  ]

  it('plans canonical functions, mapped source columns, output names, windows and result casts', () => {
    const [p] = planViews(
      [{ projection: stats.projection, features: [], windows: { hopSeconds: 300, aggregations } }],
      true,
    )
    expect(p!.view.windows).toEqual({
      hopMicros: 300_000_000,
      aggregations: [
        {
          fn: 'avg',
          source: 'conv',
          output: 'driver_stats__MEAN_conv_rate_3600s',
          windowMicros: 3_600_000_000,
          cast: 'float64',
        },
        {
          fn: 'sum',
          source: 'trips',
          output: 'driver_stats__sum_trips_600s',
          windowMicros: 600_000_000,
          cast: 'int64',
        },
        { fn: 'max', source: 'trips', output: 'driver_stats__top', windowMicros: 600_000_000, cast: 'int64' },
      ],
    })
    expect(p!.columns.map((c) => c.role).slice(-1)).toEqual(['aggregated column of max(trips) over 10m'])
  })

  it('names an aggregation of a column the view lacks, and output names that clash', () => {
    const tip = new Aggregation({ column: 'tip', function: 'sum', timeWindow: '1h' })
    const e = thrown(() =>
      planViews(
        [{ projection: stats.projection, features: [], windows: { hopSeconds: 300, aggregations: [tip] } }],
        false,
      ),
    )
    expect(e.message).toBe(
      'feature view "driver_stats": sum(tip) over 1h aggregates "tip", which is not in its schema',
    )
    const clash = new Aggregation({ column: 'trips', function: 'sum', timeWindow: '1h', name: 'conv_rate' })
    expect(
      thrown(() =>
        planViews(
          [
            {
              projection: stats.projection,
              features: ['conv_rate'],
              windows: { hopSeconds: 300, aggregations: [clash] },
            },
          ],
          false,
        ),
      ).message,
    ).toBe('feature column "conv_rate" is requested from "driver_stats" twice')
  })
})
