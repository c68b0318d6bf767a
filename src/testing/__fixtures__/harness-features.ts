// Definitions for the test-harness tests: a module namespace, as a user's features.ts would export.
import {
  Entity,
  FeatureService,
  FeatureView,
  Field,
  FileSource,
  Float32,
  Float64,
  Int64,
  OnDemandFeatureView,
  RequestSource,
  String as StringType,
} from '../../index.js'

export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })

export const driverStatsSource = new FileSource({
  name: 'driver_stats',
  path: 'data/driver_stats.parquet',
  timestampField: 'event_timestamp',
  createdTimestampColumn: 'created',
})

/** Stale a day after its event; gone from the (memory) online store three days after it was written. */
export const driverStats = new FeatureView({
  name: 'driver_hourly_stats',
  entities: [driver],
  ttl: '1d',
  storageTtl: '3d',
  source: driverStatsSource,
  schema: [
    new Field({ name: 'conv_rate', dtype: Float32 }),
    new Field({ name: 'acc_rate', dtype: Float32 }),
    new Field({ name: 'avg_daily_trips', dtype: Int64 }),
  ],
})

/** Parquet files matched by a glob. */
export const tripsSource = new FileSource({
  name: 'trips_source',
  path: 'data/trips/*.parquet',
  timestampField: 'ts',
})

export const trips = new FeatureView({
  name: 'trips',
  entities: [driver],
  source: tripsSource,
  schema: [
    new Field({ name: 'trip_count', dtype: Int64 }),
    new Field({ name: 'last_city', dtype: StringType }),
  ],
})

/** A source the tests give no rows. */
export const ratingsSource = new FileSource({
  name: 'ratings',
  path: 'data/ratings.parquet',
  timestampField: 'event_timestamp',
})

export const ratings = new FeatureView({
  name: 'ratings',
  entities: [driver],
  source: ratingsSource,
  schema: [new Field({ name: 'stars', dtype: Float64 })],
})

export const inputRequest = new RequestSource({
  name: 'vals_to_add',
  schema: [new Field({ name: 'val_to_add', dtype: Int64 })],
})

export const convPlus = new OnDemandFeatureView({
  name: 'conv_plus',
  sources: [driverStats.select(['conv_rate']), inputRequest],
  schema: [new Field({ name: 'conv_rate_plus_val', dtype: Float64 })],
  transform: ({ conv_rate, val_to_add }) => ({
    conv_rate_plus_val: conv_rate === null ? null : (conv_rate as number) + (val_to_add as number),
  }),
})

export const driverActivity = new FeatureService({
  name: 'driver_activity',
  features: [driverStats.select(['conv_rate', 'avg_daily_trips']), convPlus],
})

/** Not a definition: ignored, as apply ignores it. */
export const SAMPLE_SIZE = 3
