import { formatMicros, type Micros } from '../../core/index.js'
import type { SqlDialect } from '../pit/sql.js'

/**
 * PostgreSQL's hooks for the point-in-time SQL builder. Sessions run with `TimeZone=UTC`, so a naive
 * `timestamp` column and a `timestamptz` column compare as the same instants without a conversion
 * that would keep PostgreSQL from using an index on the column; relations keep their timestamp columns
 * as they are, and literals are `timestamptz`. There is no ASOF join: views use the lateral form
 * (`LEFT JOIN LATERAL (… ORDER BY … LIMIT 1)`), which an index on (join keys, timestamp) serves.
 */
export const postgresDialect: SqlDialect = {
  ident: (name) => `"${name.replaceAll('"', '""')}"`,
  timestamp: (micros: Micros) => `TIMESTAMPTZ '${formatMicros(micros)}'`,
  minusMicros: (expr, micros) => `(${expr} - INTERVAL '${micros} microseconds')`,
  utcInstant: (expr) => `(${expr})::timestamptz`,
  keyBucket: (keys, parts) => `mod(abs(hashtext(ROW(${keys.join(', ')})::text)::bigint), ${parts})`,
  // extract(epoch …) is numeric since PostgreSQL 14, so exact to the microsecond
  epochMicros: (expr) => `(extract(epoch FROM ${expr}) * 1000000)::bigint`,
  fromEpochMicros: (expr) => `(TIMESTAMPTZ 'epoch' + (${expr}) * INTERVAL '1 microsecond')`,
  types: { int64: 'bigint', float64: 'double precision' },
  // no first(): the ordered array's first element (null values kept)
  firstValue: (value, order, filter) => `(array_agg(${value} ORDER BY ${order})${filter})[1]`,
  lateral: true,
}
