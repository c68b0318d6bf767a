// Definitions of the small repos that explain.test.ts builds for one case each: a test picks the exports
// its repo registers. Kept apart from explain-features.ts, every view of which the shared explain,
// parity and route repos register.
import {
  Aggregation,
  FeatureView,
  Field,
  Float64,
  OnDemandFeatureView,
  PushSource,
  RedisStreamSource,
  StreamFeatureView,
} from '../../core/index.js'
import { driver, schema, stats, statsSource } from './explain-features.js'

export { driver, stats, statsSource }

/** Pushes for the stats rows: to the source file and the online store, or to the online store only. */
export const statsPush = new PushSource({ name: 'stats_push', batchSource: statsSource })

/** The stats rows, fed by pushes as well as by materialization. */
export const pushedStats = new FeatureView({
  name: 'pushed_stats',
  entities: [driver],
  ttl: '2h',
  schema: schema(),
  source: statsPush,
})

/** conv_rate per trip, computed on read: null for a driver without trips. */
export const convPerTrip = new OnDemandFeatureView({
  name: 'conv_per_trip',
  sources: [stats.select(['conv_rate', 'trips'])],
  schema: [new Field({ name: 'per_trip', dtype: Float64 })],
  transform: (r) => ({
    per_trip: r.conv_rate === null || !r.trips ? null : (r.conv_rate as number) / Number(r.trips),
  }),
})

/** conv_rate + 1, computed when stats is materialized and stored in the online store. */
export const convPlusOneStored = new OnDemandFeatureView({
  name: 'conv_plus_one_stored',
  sources: [stats.select(['conv_rate'])],
  schema: [new Field({ name: 'conv_rate_plus_one', dtype: Float64 })],
  writeToOnlineStore: true,
  transform: (r) => ({
    conv_rate_plus_one: r.conv_rate === null ? null : (r.conv_rate as number) + 1,
  }),
})

/** Trips in the last hour, from the tiles the stream processor (`larder stream`) writes. */
export const tripsLastHour = new StreamFeatureView({
  name: 'trips_last_hour',
  source: new RedisStreamSource({
    name: 'stats_stream',
    stream: 'stats',
    timestampField: 'event_timestamp',
    batchSource: statsSource,
  }),
  entities: [driver],
  schema: schema(),
  aggregations: [new Aggregation({ column: 'trips', function: 'sum', timeWindow: '1h' })],
  ttl: '2h',
})
