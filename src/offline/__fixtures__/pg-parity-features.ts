// The views of the postgres offline store's parity tests: every common type, read from a PostgreSQL
// table, and on-demand views over them.
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
  OnDemandFeatureView,
  PostgreSQLSource,
  PushSource,
  RequestSource,
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

const requestValues = new RequestSource({
  name: 'request_values',
  schema: [new Field({ name: 'val_to_add', dtype: Int64 })],
})

/**
 * On-demand views over `pgParityStats`'s double, text and long, one per mode: a record at a time with
 * a request value, over columns with the same request value, and computed at write time.
 */
export function pgOnDemand(stats: FeatureView): OnDemandFeatureView[] {
  const plus = new Field({ name: 'double_plus_val', dtype: Float64 })
  return [
    new OnDemandFeatureView({
      name: 'pg_rows',
      sources: [stats.select(['f_double', 'f_text']), requestValues],
      schema: [plus, new Field({ name: 'text_length', dtype: Int64 })],
      transform: (r) => ({
        double_plus_val: r.f_double === null ? null : (r.f_double as number) + (r.val_to_add as number),
        text_length: r.f_text === null ? null : [...String(r.f_text)].length,
      }),
    }),
    new OnDemandFeatureView({
      name: 'pg_columns',
      mode: 'batch',
      sources: [stats.select(['f_double']), requestValues],
      schema: [plus],
      transform: (c) => ({
        double_plus_val: c.f_double!.map((v, i) =>
          v === null ? null : (v as number) + (c.val_to_add![i] as number),
        ),
      }),
    }),
    new OnDemandFeatureView({
      name: 'pg_written',
      sources: [stats.select(['f_long'])],
      schema: [new Field({ name: 'long_halved', dtype: Float64 })],
      writeToOnlineStore: true,
      transform: (r) => ({ long_halved: r.f_long === null ? null : Number(r.f_long) / 2 }),
    }),
  ]
}
