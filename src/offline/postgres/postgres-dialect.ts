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
  lateral: true,
}
