// A small feature repo: a driver entity, hourly stats from a Parquet file, a score computed on
// request from the stats and the trip's distance, and the service a ranking model reads.
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
} from 'larderjs'

export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })

export const driverStatsSource = new FileSource({
  name: 'driver_stats_source',
  path: 'data/driver_stats.parquet',
  timestampField: 'event_timestamp',
})

/** Online values older than a day are served as OUTSIDE_MAX_AGE. */
export const driverStats = new FeatureView({
  name: 'driver_stats',
  entities: [driver],
  ttl: '1d',
  source: driverStatsSource,
  schema: [
    new Field({ name: 'conv_rate', dtype: Float32 }),
    new Field({ name: 'trips_today', dtype: Int64 }),
  ],
})

/** Sent with each request. */
export const tripRequest = new RequestSource({
  name: 'trip_request',
  schema: [new Field({ name: 'distance_km', dtype: Float64 })],
})

/** Computed on every read: a good converter close by scores high. */
export const tripScore = new OnDemandFeatureView({
  name: 'trip_score',
  sources: [driverStats.select(['conv_rate']), tripRequest],
  schema: [new Field({ name: 'score', dtype: Float64 })],
  transform: ({ conv_rate, distance_km }) => ({
    score: conv_rate === null ? null : (conv_rate as number) * 10 - (distance_km as number),
  }),
})

export const driverRanking = new FeatureService({
  name: 'driver_ranking',
  features: [driverStats.select(['conv_rate', 'trips_today']), tripScore],
})
