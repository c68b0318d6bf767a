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
import { isTimestampType } from '../local/timestamps.js'

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
