import { formatMicros, type Micros } from '../../core/index.js'
import type { SqlDialect } from '../pit/sql.js'

const TWO_POW_64 = '18446744073709551616::HUGEINT'

/** DuckDB's hooks for the point-in-time SQL builder. */
export const duckdbDialect: SqlDialect = {
  ident: (name) => `"${name.replaceAll('"', '""')}"`,
  timestamp: (micros: Micros) => `TIMESTAMP '${formatMicros(micros).replace('T', ' ').replace('Z', '')}'`,
  minusMicros: (expr, micros) => `(${expr} - INTERVAL '${micros} microseconds')`,
  utcInstant: (expr) => `CAST(${expr} AS TIMESTAMPTZ)`,
  keyBucket: (keys, parts) => `(hash(${keys.join(', ')}) % ${parts})`,
  asof: {
    // event ts in the high 64 bits, created ts (offset to be unsigned; null = 0) in the low 64 bits
    featureKey: (ts, created) =>
      `(epoch_us(${ts})::HUGEINT * ${TWO_POW_64} + ` +
      `coalesce(epoch_us(${created})::HUGEINT + 9223372036854775808::HUGEINT, 0::HUGEINT))`,
    entityKey: (ts) => `(epoch_us(${ts})::HUGEINT * ${TWO_POW_64} + 18446744073709551615::HUGEINT)`,
  },
}

/** A DuckDB string literal. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}
