import { type DuckDBType, DuckDBTypeId } from '@duckdb/node-api'

const TIMESTAMP_IDS: ReadonlySet<DuckDBTypeId> = new Set([
  DuckDBTypeId.TIMESTAMP,
  DuckDBTypeId.TIMESTAMP_TZ,
  DuckDBTypeId.TIMESTAMP_S,
  DuckDBTypeId.TIMESTAMP_MS,
  DuckDBTypeId.TIMESTAMP_NS,
])

/** True for DuckDB's timestamp types (any precision, with or without time zone); not DATE. */
export function isTimestampType(t: DuckDBType): boolean {
  return TIMESTAMP_IDS.has(t.typeId)
}

/**
 * An expression turning a column of type `t` into a naive-UTC `TIMESTAMP`, or undefined when the type
 * cannot hold instants. Strings are parsed (an offset is honoured, none means UTC); a string that is
 * not a timestamp fails the query when `strings` is `strict`, and becomes NULL when it is `lenient`
 * (the caller then looks for such rows to name the value).
 */
export function toUtcTimestamp(
  expr: string,
  t: DuckDBType,
  strings: 'strict' | 'lenient',
): string | undefined {
  switch (t.typeId) {
    case DuckDBTypeId.TIMESTAMP:
      return expr
    case DuckDBTypeId.TIMESTAMP_TZ:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
    case DuckDBTypeId.DATE:
      return `CAST(${expr} AS TIMESTAMP)`
    case DuckDBTypeId.VARCHAR:
      return `CAST(${strings === 'strict' ? 'CAST' : 'TRY_CAST'}(${expr} AS TIMESTAMPTZ) AS TIMESTAMP)`
    default:
      return undefined
  }
}
