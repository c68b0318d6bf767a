// Definitions of the explain and parity test repos: a repo's features.ts re-exports this module.
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
  PushSource,
  RequestSource,
  String as Str,
} from '../../core/index.js'

export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })

export const statsSource = new FileSource({
  name: 'stats_source',
  path: 'data/stats.parquet',
  timestampField: 'event_timestamp',
  createdTimestampColumn: 'created',
})

/** The stats columns, a fresh copy for each view. */
export const schema = (): Field[] => [
  new Field({ name: 'driver_id', dtype: Int64 }),
  new Field({ name: 'conv_rate', dtype: Float32 }),
  new Field({ name: 'trips', dtype: Int64 }),
  new Field({ name: 'label', dtype: Str }),
]

/** Two hours of ttl (and of maxAge). */
export const stats = new FeatureView({
  name: 'stats',
  entities: [driver],
  ttl: '2h',
  schema: schema(),
  source: statsSource,
})

/** The same rows, never materialized by the tests. */
export const statsNever = new FeatureView({
  name: 'stats_never',
  entities: [driver],
  ttl: '2h',
  schema: schema(),
  source: statsSource,
})

/** The same rows, whose first materialization the tests make fail. */
export const statsFailing = new FeatureView({
  name: 'stats_failing',
  entities: [driver],
  ttl: '2h',
  schema: schema(),
  source: statsSource,
})

/** No ttl, but values older than 30 minutes are OUTSIDE_MAX_AGE. */
export const statsFresh = new FeatureView({
  name: 'stats_fresh',
  entities: [driver],
  maxAge: '30m',
  schema: schema(),
  source: statsSource,
})

/** Online rows expire 30 minutes after their event. */
export const statsExpiring = new FeatureView({
  name: 'stats_expiring',
  entities: [driver],
  ttl: '2h',
  storageTtl: '30m',
  schema: schema(),
  source: statsSource,
})

/** Fed by pushes only: nothing to materialize. */
export const live = new FeatureView({
  name: 'live',
  entities: [driver],
  schema: [new Field({ name: 'driver_id', dtype: Int64 }), new Field({ name: 'speed', dtype: Float64 })],
  source: new PushSource({ name: 'live_push' }),
})

/** conv_rate + 1, computed on read; null when conv_rate is. */
export const convPlusOne = new OnDemandFeatureView({
  name: 'conv_plus_one',
  sources: [stats.select(['conv_rate'])],
  schema: [new Field({ name: 'conv_rate_plus_one', dtype: Float64 })],
  transform: (r) => ({
    conv_rate_plus_one: r.conv_rate === null ? null : (r.conv_rate as number) + 1,
  }),
})

/** Throws for the label "bad". */
export const labelLength = new OnDemandFeatureView({
  name: 'label_length',
  sources: [stats.select(['label'])],
  schema: [new Field({ name: 'length', dtype: Int64 })],
  transform: (r) => {
    if (r.label === 'bad') throw new Error('the label "bad" is not allowed')
    return { length: r.label === null ? null : String(r.label).length }
  },
})

export const offset = new RequestSource({
  name: 'offset_request',
  schema: [new Field({ name: 'offset', dtype: Int64 })],
})

/** Needs the request field `offset`. */
export const tripsPlusOffset = new OnDemandFeatureView({
  name: 'trips_plus_offset',
  sources: [stats.select(['trips']), offset],
  schema: [new Field({ name: 'total', dtype: Int64 })],
  transform: (r) => ({
    total: r.trips === null ? null : Number(r.trips) + Number(r.offset),
  }),
})

/** One view under an alias keyed by another column, and an on-demand view keyed by driver_id. */
export const pairService = new FeatureService({
  name: 'pair',
  features: [
    stats.select(['conv_rate']).withName('origin').withJoinKeyMap({ driver_id: 'origin_id' }),
    convPlusOne,
  ],
})
