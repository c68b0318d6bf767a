import { type DuckDBType, DuckDBTypeId } from '@duckdb/node-api'
import {
  Array as ArrayOf,
  Bool,
  Bytes,
  type FeastType,
  Float32,
  Float64,
  Int32,
  Int64,
  Invalid,
  Json,
  Map as MapType,
  String as StringType,
  Struct,
  UnixTimestamp,
  Uuid,
  ValueType,
} from '../../core/index.js'

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

/**
 * The Feast type of a DuckDB column type, as `larder apply` infers schemas: integers up to 32 bits are
 * Int32, wider ones Int64, DOUBLE and DECIMAL are Float64, timestamps and dates UnixTimestamp, lists
 * Array(...). Types without a Feast equivalent (HUGEINT, INTERVAL, unions, ...) give `Invalid`.
 */
export function feastTypeOf(t: DuckDBType): FeastType {
  switch (t.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return Bool
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
      return Int32
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.UBIGINT:
      return Int64
    case DuckDBTypeId.FLOAT:
      return Float32
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.DECIMAL:
      return Float64
    case DuckDBTypeId.VARCHAR:
      return t.alias === 'JSON' ? Json : StringType
    case DuckDBTypeId.UUID:
      return Uuid
    case DuckDBTypeId.BLOB:
      return Bytes
    case DuckDBTypeId.DATE:
      return UnixTimestamp
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const element = feastTypeOf(t.valueType)
      if (element === Invalid) return Invalid
      try {
        return ArrayOf(element)
      } catch {
        return Invalid
      }
    }
    case DuckDBTypeId.STRUCT: {
      const fields = t.entryTypes.map(feastTypeOf)
      if (fields.length === 0 || fields.includes(Invalid)) return Invalid
      return Struct(Object.fromEntries(t.entryNames.map((n, i) => [n, fields[i]!])))
    }
    case DuckDBTypeId.MAP:
      return t.keyType.typeId === DuckDBTypeId.VARCHAR ? MapType : Invalid
    default:
      return isTimestampType(t) ? UnixTimestamp : Invalid
  }
}

const WRITTEN_AS: Readonly<Record<number, string>> = {
  [ValueType.BYTES]: 'BLOB',
  [ValueType.STRING]: 'VARCHAR',
  [ValueType.INT32]: 'INTEGER',
  [ValueType.INT64]: 'BIGINT',
  [ValueType.DOUBLE]: 'DOUBLE',
  [ValueType.FLOAT]: 'FLOAT',
  [ValueType.BOOL]: 'BOOLEAN',
  [ValueType.UNIX_TIMESTAMP]: 'TIMESTAMPTZ',
}

/**
 * The DuckDB type a column of this Feast type gets in a new file: the inverse of `feastTypeOf` for
 * scalars and their lists; undefined for other types (the values' own type is kept).
 */
export function duckdbTypeOf(t: FeastType): string | undefined {
  if (t.element !== undefined && t.element.element === undefined && t.element.fields === undefined) {
    const element = WRITTEN_AS[t.element.valueType]
    return element === undefined ? undefined : `${element}[]`
  }
  return t.element === undefined && t.fields === undefined ? WRITTEN_AS[t.valueType] : undefined
}
