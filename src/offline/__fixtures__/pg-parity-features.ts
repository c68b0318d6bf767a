// The view of the postgres offline store's parity test: every common type, read from a PostgreSQL table.
import {
  Array as ArrayOf,
  Bool,
  Entity,
  FeatureView,
  Field,
  Float32,
  Float64,
  Int32,
  Int64,
  PostgreSQLSource,
  PushSource,
  String as Str,
  UnixTimestamp,
} from '../../core/index.js'

export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })

export const PG_PARITY_FEATURES = [
  ['f_double', Float64, 'double precision'],
  ['f_float', Float32, 'real'],
  ['f_long', Int64, 'bigint'],
  ['f_int', Int32, 'integer'],
  ['f_text', Str, 'text'],
  ['f_flag', Bool, 'boolean'],
  ['f_time', UnixTimestamp, 'timestamptz'],
  ['f_longs', ArrayOf(Int64), 'bigint[]'],
] as const

/** The table the view reads: join key, event and created timestamps, then the features. */
export const PG_PARITY_TABLE = `(driver_id bigint, event_timestamp timestamptz, created timestamptz, ${PG_PARITY_FEATURES.map(
  ([name, , type]) => `${name} ${type}`,
).join(', ')})`

export function pgParityStats(ttlSeconds: number, table: string): FeatureView {
  return new FeatureView({
    name: 'parity_stats',
    entities: [driver],
    ttl: ttlSeconds,
    schema: [
      new Field({ name: 'driver_id', dtype: Int64 }),
      ...PG_PARITY_FEATURES.map(([name, dtype]) => new Field({ name, dtype })),
    ],
    source: new PostgreSQLSource({
      name: 'parity_source',
      table,
      timestampField: 'event_timestamp',
      createdTimestampColumn: 'created',
    }),
  })
}

/** A push source whose rows go to a PostgreSQL table, and the view it feeds (online). */
export function pgPushed(table: string): { pushSource: PushSource; view: FeatureView } {
  const batch = new PostgreSQLSource({ name: 'pushed_batch', table, timestampField: 'event_timestamp' })
  const pushSource = new PushSource({ name: 'pushed', batchSource: batch })
  const view = new FeatureView({
    name: 'pushed_stats',
    entities: [driver],
    source: pushSource,
    schema: [new Field({ name: 'driver_id', dtype: Int64 }), new Field({ name: 'f_long', dtype: Int64 })],
  })
  return { pushSource, view }
}
