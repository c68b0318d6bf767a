// The view of the parity test, with every common type; each run picks its ttl.
import {
  Array as ArrayOf,
  Bool,
  Entity,
  FeatureView,
  Field,
  FileSource,
  Float32,
  Float64,
  Int32,
  Int64,
  String as Str,
  UnixTimestamp,
} from '../../core/index.js'

export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })

export const PARITY_FEATURES = [
  ['f_double', Float64],
  ['f_float', Float32],
  ['f_long', Int64],
  ['f_int', Int32],
  ['f_text', Str],
  ['f_flag', Bool],
  ['f_time', UnixTimestamp],
  ['f_longs', ArrayOf(Int64)],
] as const

export function parityStats(ttlSeconds: number): FeatureView {
  return new FeatureView({
    name: 'parity_stats',
    entities: [driver],
    ttl: ttlSeconds,
    schema: [
      new Field({ name: 'driver_id', dtype: Int64 }),
      ...PARITY_FEATURES.map(([name, dtype]) => new Field({ name, dtype })),
    ],
    source: new FileSource({
      name: 'parity_source',
      path: 'data/parity.parquet',
      timestampField: 'event_timestamp',
      createdTimestampColumn: 'created',
    }),
  })
}
