import { formatMicros, type Micros } from '../../core/index.js'
import { ident } from '../local/quote.js'
import type { SqlDialect } from '../pit/sql.js'

const TWO_POW_64 = '18446744073709551616::HUGEINT'

/** DuckDB's hooks for the point-in-time SQL builder. */
export const duckdbDialect: SqlDialect = {
  ident,
  timestamp: (micros: Micros) => `TIMESTAMP '${formatMicros(micros).replace('T', ' ').replace('Z', '')}'`,
  minusMicros: (expr, micros) => `(${expr} - INTERVAL '${micros} microseconds')`,
  utcInstant: (expr) => `CAST(${expr} AS TIMESTAMPTZ)`,
  keyBucket: (keys, parts) => `(hash(${keys.join(', ')}) % ${parts})`,
  epochMicros: (expr) => `epoch_us(${expr})`,
  fromEpochMicros: (expr) => `make_timestamp(${expr})`,
  types: { int64: 'BIGINT', float64: 'DOUBLE' },
  // `first` keeps a null value, unlike `any_value`
  firstValue: (value, order, filter) => `first(${value} ORDER BY ${order})${filter}`,
  asof: {
    // Without a created column: event ts in the high 64 bits of a HUGEINT, the source position (a
    // non-negative BIGINT) in the low 64 bits. With one: a struct, compared field by field, since three
    // 64-bit values do not fit a HUGEINT; a null created ts becomes -infinity, below every other.
    featureKey: (ts, created, position) =>
      created === undefined
        ? `(epoch_us(${ts})::HUGEINT * ${TWO_POW_64} + ${position}::HUGEINT)`
        : `struct_pack(t := ${ts}, c := coalesce(${created}, TIMESTAMP '-infinity'), p := ${position}::BIGINT)`,
    entityKey: (ts, created) =>
      created
        ? `struct_pack(t := ${ts}, c := TIMESTAMP 'infinity', p := 9223372036854775807::BIGINT)`
        : `(epoch_us(${ts})::HUGEINT * ${TWO_POW_64} + 18446744073709551615::HUGEINT)`,
  },
}
