import {
  DuckDBArrayValue,
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBListValue,
  DuckDBMapValue,
  DuckDBStructValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
} from '@duckdb/node-api'
import {
  Binary,
  Bool,
  type Data,
  type DataType,
  DateDay,
  Field,
  Float32,
  Float64,
  Int8,
  Int16,
  Int32,
  Int64,
  List,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  TimestampMicrosecond,
  Uint8,
  Uint16,
  Uint32,
  Uint64,
  Utf8,
} from 'apache-arrow'
import { formatMicros } from '../../core/index.js'

/**
 * The Arrow type a DuckDB column becomes. Timestamps of every precision become microsecond timestamps
 * (nanoseconds are truncated), with zone `UTC` for TIMESTAMPTZ and none for a naive TIMESTAMP; DECIMAL
 * becomes Float64; fixed-size ARRAYs become lists; types Arrow JS cannot hold faithfully (HUGEINT, UUID,
 * INTERVAL, MAP, ...) become their text.
 */
export function arrowTypeOf(t: DuckDBType): DataType {
  switch (t.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return new Bool()
    case DuckDBTypeId.TINYINT:
      return new Int8()
    case DuckDBTypeId.SMALLINT:
      return new Int16()
    case DuckDBTypeId.INTEGER:
      return new Int32()
    case DuckDBTypeId.BIGINT:
      return new Int64()
    case DuckDBTypeId.UTINYINT:
      return new Uint8()
    case DuckDBTypeId.USMALLINT:
      return new Uint16()
    case DuckDBTypeId.UINTEGER:
      return new Uint32()
    case DuckDBTypeId.UBIGINT:
      return new Uint64()
    case DuckDBTypeId.FLOAT:
      return new Float32()
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.DECIMAL:
      return new Float64()
    case DuckDBTypeId.BLOB:
      return new Binary()
    case DuckDBTypeId.DATE:
      return new DateDay()
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
      return new TimestampMicrosecond()
    case DuckDBTypeId.TIMESTAMP_TZ:
      return new TimestampMicrosecond('UTC')
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY:
      return new List(new Field('item', arrowTypeOf(t.valueType), true))
    case DuckDBTypeId.STRUCT:
      return new Struct(t.entryNames.map((n, i) => new Field(n, arrowTypeOf(t.entryTypes[i]!), true)))
    default:
      return new Utf8()
  }
}

/** The Arrow schema of a result with these column names and DuckDB types. */
export function arrowSchema(names: readonly string[], types: readonly DuckDBType[]): Schema {
  return new Schema(names.map((n, i) => new Field(n, arrowTypeOf(types[i]!), true)))
}

/** One record batch from columns of DuckDB values (all of the same length, in schema order). */
export function toRecordBatch(
  schema: Schema,
  types: readonly DuckDBType[],
  columns: readonly (readonly DuckDBValue[])[],
): RecordBatch {
  const length = columns[0]?.length ?? 0
  const children = types.map((t, i) => columnData(t, columns[i]!))
  const data = makeData({ type: new Struct(schema.fields), length, nullCount: 0, children })
  return new RecordBatch(schema, data)
}

/** Arrow data for one column of DuckDB values, built directly so that 64-bit values stay exact. */
function columnData(t: DuckDBType, values: readonly DuckDBValue[]): Data {
  const type = arrowTypeOf(t)
  const length = values.length
  let nullCount = 0
  const validity = new Uint8Array((length + 7) >> 3)
  for (let i = 0; i < length; i++) {
    if (values[i] === null) nullCount++
    else validity[i >> 3]! |= 1 << (i & 7)
  }
  const nullBitmap = nullCount > 0 ? validity : undefined
  const common = { length, nullCount, nullBitmap }
  switch (t.typeId) {
    case DuckDBTypeId.BOOLEAN: {
      const bits = new Uint8Array((length + 7) >> 3)
      values.forEach((v, i) => {
        if (v === true) bits[i >> 3]! |= 1 << (i & 7)
      })
      return makeData({ type: type as Bool, ...common, data: bits })
    }
    case DuckDBTypeId.TINYINT:
      return makeData({ type: type as Int8, ...common, data: Int8Array.from(values, numberOrZero) })
    case DuckDBTypeId.SMALLINT:
      return makeData({ type: type as Int16, ...common, data: Int16Array.from(values, numberOrZero) })
    case DuckDBTypeId.INTEGER:
      return makeData({ type: type as Int32, ...common, data: Int32Array.from(values, numberOrZero) })
    case DuckDBTypeId.UTINYINT:
      return makeData({ type: type as Uint8, ...common, data: Uint8Array.from(values, numberOrZero) })
    case DuckDBTypeId.USMALLINT:
      return makeData({ type: type as Uint16, ...common, data: Uint16Array.from(values, numberOrZero) })
    case DuckDBTypeId.UINTEGER:
      return makeData({ type: type as Uint32, ...common, data: Uint32Array.from(values, numberOrZero) })
    case DuckDBTypeId.BIGINT:
      return makeData({ type: type as Int64, ...common, data: BigInt64Array.from(values, bigintOrZero) })
    case DuckDBTypeId.UBIGINT:
      return makeData({ type: type as Uint64, ...common, data: BigUint64Array.from(values, bigintOrZero) })
    case DuckDBTypeId.FLOAT:
      return makeData({ type: type as Float32, ...common, data: Float32Array.from(values, numberOrZero) })
    case DuckDBTypeId.DOUBLE:
      return makeData({ type: type as Float64, ...common, data: Float64Array.from(values, numberOrZero) })
    case DuckDBTypeId.DECIMAL:
      return makeData({
        type: type as Float64,
        ...common,
        data: Float64Array.from(values, (v) => (v instanceof DuckDBDecimalValue ? v.toDouble() : 0)),
      })
    case DuckDBTypeId.DATE:
      return makeData({
        type: type as DateDay,
        ...common,
        data: Int32Array.from(values, (v) => (v instanceof DuckDBDateValue ? v.days : 0)),
      })
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
    case DuckDBTypeId.TIMESTAMP_TZ:
      return makeData({
        type: type as TimestampMicrosecond,
        ...common,
        data: BigInt64Array.from(values, (v) => timestampMicros(v) ?? 0n),
      })
    case DuckDBTypeId.BLOB: {
      const bytes = values.map((v) => (v instanceof DuckDBBlobValue ? v.bytes : EMPTY))
      return makeData({ type: type as Binary, ...common, ...packBytes(bytes) })
    }
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const valueOffsets = new Int32Array(length + 1)
      const items: DuckDBValue[] = []
      values.forEach((v, i) => {
        if (v instanceof DuckDBListValue || v instanceof DuckDBArrayValue) items.push(...v.items)
        valueOffsets[i + 1] = items.length
      })
      return makeData({ type: type as List, ...common, valueOffsets, child: columnData(t.valueType, items) })
    }
    case DuckDBTypeId.STRUCT: {
      const children = t.entryNames.map((name, j) =>
        columnData(
          t.entryTypes[j]!,
          values.map((v) => (v instanceof DuckDBStructValue ? (v.entries[name] ?? null) : null)),
        ),
      )
      return makeData({ type: type as Struct, ...common, children })
    }
    default: {
      const text = values.map((v) =>
        v === null ? EMPTY : ENCODER.encode(typeof v === 'string' ? v : String(v)),
      )
      return makeData({ type: type as Utf8, ...common, ...packBytes(text) })
    }
  }
}

const EMPTY = new Uint8Array(0)
const ENCODER = new TextEncoder()

function packBytes(items: readonly Uint8Array[]): { valueOffsets: Int32Array; data: Uint8Array } {
  const valueOffsets = new Int32Array(items.length + 1)
  let total = 0
  items.forEach((b, i) => {
    total += b.length
    valueOffsets[i + 1] = total
  })
  const data = new Uint8Array(total)
  for (const [i, b] of items.entries()) data.set(b, valueOffsets[i]!)
  return { valueOffsets, data }
}

function numberOrZero(v: DuckDBValue): number {
  return typeof v === 'number' ? v : 0
}

function bigintOrZero(v: DuckDBValue): bigint {
  return typeof v === 'bigint' ? v : 0n
}

/** Microseconds since the epoch of a DuckDB timestamp value of any precision, else undefined. */
export function timestampMicros(v: DuckDBValue): bigint | undefined {
  if (v instanceof DuckDBTimestampValue || v instanceof DuckDBTimestampTZValue) return v.micros
  if (v instanceof DuckDBTimestampMillisecondsValue) return v.millis * 1000n
  if (v instanceof DuckDBTimestampSecondsValue) return v.seconds * 1_000_000n
  if (v instanceof DuckDBTimestampNanosecondsValue) return v.nanos / 1000n
  return undefined
}

/**
 * A DuckDB value as a plain JS value for `toRows`: timestamps as RFC 3339 UTC strings with microseconds,
 * 64-bit integers as numbers when safe (else bigints), DECIMAL as numbers, BLOB as `Uint8Array`, lists as
 * arrays, structs and maps as objects, anything else as its text.
 */
export function rowValue(v: DuckDBValue): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
  }
  const micros = timestampMicros(v)
  if (micros !== undefined) {
    const n = Number(micros)
    return Math.abs(n) < 8.64e18 ? formatMicros(n) : v.toString()
  }
  if (v instanceof DuckDBDecimalValue) return v.toDouble()
  if (v instanceof DuckDBBlobValue) return v.bytes
  if (v instanceof DuckDBListValue || v instanceof DuckDBArrayValue) return v.items.map(rowValue)
  if (v instanceof DuckDBStructValue) {
    return Object.fromEntries(Object.entries(v.entries).map(([k, x]) => [k, rowValue(x)]))
  }
  if (v instanceof DuckDBMapValue)
    return Object.fromEntries(v.entries.map((e) => [String(rowValue(e.key)), rowValue(e.value)]))
  return v.toString()
}
