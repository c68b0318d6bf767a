// Feature definitions of the test repos: a repo's features.ts re-exports this module.
import {
  Array as ArrayOf,
  Bool,
  Entity,
  FeatureService,
  FeatureView,
  Field,
  FileSource,
  Float32,
  Float64,
  Int32,
  Int64,
  PushSource,
  String as Str,
  UnixTimestamp,
} from '../../core/index.js'

export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
export const rider = new Entity({ name: 'rider', joinKeys: ['rider_id'], valueType: Str })

export const driverStatsSource = new FileSource({
  name: 'driver_stats_source',
  path: 'data/driver_stats.parquet',
  timestampField: 'event_timestamp',
  createdTimestampColumn: 'created',
})

/** Every common type, two hours of ttl (and so of maxAge). */
export const driverStats = new FeatureView({
  name: 'driver_stats',
  entities: [driver],
  ttl: '2h',
  schema: [
    new Field({ name: 'driver_id', dtype: Int64 }),
    new Field({ name: 'conv_rate', dtype: Float32 }),
    new Field({ name: 'acc_rate', dtype: Float64 }),
    new Field({ name: 'trips', dtype: Int64 }),
    new Field({ name: 'rank', dtype: Int32 }),
    new Field({ name: 'label', dtype: Str }),
    new Field({ name: 'active', dtype: Bool }),
    new Field({ name: 'seen', dtype: UnixTimestamp }),
    new Field({ name: 'tags', dtype: ArrayOf(Str) }),
    new Field({ name: 'scores', dtype: ArrayOf(Float64) }),
  ],
  source: driverStatsSource,
})

/** The same source, never served online. */
export const driverHistory = new FeatureView({
  name: 'driver_history',
  entities: [driver],
  schema: [new Field({ name: 'driver_id', dtype: Int64 }), new Field({ name: 'trips', dtype: Int64 })],
  online: false,
  source: driverStatsSource,
})

/** A view fed by a push source without a batch source: nothing to materialize. */
export const driverLive = new FeatureView({
  name: 'driver_live',
  entities: [driver],
  schema: [new Field({ name: 'driver_id', dtype: Int64 }), new Field({ name: 'speed', dtype: Float64 })],
  source: new PushSource({ name: 'driver_live_push' }),
})

export const riderStats = new FeatureView({
  name: 'rider_stats',
  entities: [rider],
  schema: [new Field({ name: 'rider_id', dtype: Str }), new Field({ name: 'rating', dtype: Float64 })],
  source: new FileSource({
    name: 'rider_stats_source',
    path: 'data/rider_stats.parquet',
    timestampField: 'event_timestamp',
  }),
})

/** An entity-less view: one row for everyone, under Feast's dummy key. */
export const globalStats = new FeatureView({
  name: 'global_stats',
  schema: [new Field({ name: 'active_drivers', dtype: Int64 })],
  source: new FileSource({
    name: 'global_stats_source',
    path: 'data/global_stats.parquet',
    timestampField: 'event_timestamp',
  }),
})

export const driverActivity = new FeatureService({
  name: 'driver_activity',
  features: [
    driverStats.select(['conv_rate', 'trips']),
    driverStats
      .select(['conv_rate'])
      .withName('other_driver')
      .withJoinKeyMap({ driver_id: 'other_driver_id' }),
    globalStats,
  ],
})
