/**
 * Reading Arrow columns as the JS values of the Value codec (see `core/value-codec.ts`), driven by the
 * Feast type a field declares. Offline engines hand over Arrow record batches whose physical types need
 * not match the declared ones (an INT64 feature may arrive as Int32, a UnixTimestamp as a timestamp
 * column); the readers here bridge the two without going through `Vector.get` on the hot paths.
 */
import {
  type Data,
  DataType,
  type Dictionary,
  type List,
  type Struct,
  type Timestamp,
  TimeUnit,
  type Vector,
} from 'apache-arrow'
import {
  type FeastType,
  LarderError,
  type Micros,
  ValueType,
  valueTypeName,
  zonedTimestamp,
} from '../core/index.js'

/** Reads row `i` of a column as a codec value; `null` for an Arrow null. */
export type ColumnReader = (i: number) => unknown

const TWO_32 = 4294967296
/** High words strictly inside this bound give an int64 that a double holds exactly. */
const SAFE_HI = 0x200000
const UTF8 = new TextDecoder()
const UTF8_ENCODER = new TextEncoder()
const UNIT_MICROS: Readonly<Record<number, number>> = {
  [TimeUnit.SECOND]: 1_000_000,
  [TimeUnit.MILLISECOND]: 1000,
  [TimeUnit.MICROSECOND]: 1,
}

/**
 * A reader of one column for a field of type `type`. Throws INVALID_ARGUMENT, naming `where`, when the
 * Arrow type can never hold that Feast type (a string column for a Float64 feature, say); values that
 * merely do not fit are reported later by the codec.
 */
export function columnReader(vector: Vector, type: FeastType, where: string): ColumnReader {
  const data = singleChunk(vector)
  const at = vector.type as DataType
  const fast = data === undefined ? undefined : fastReader(data, at, type.valueType)
  if (fast && data) return data.nullCount === 0 ? fast : (i) => (data.getValid(i) ? fast(i) : null)
  const convert = converter(type, at, where)
  return (i) => {
    const v = vector.get(i)
    return v === null || v === undefined ? null : convert(v)
  }
}

/**
 * A reader of a timestamp column (any unit, with or without zone, or a date) as UTC microseconds;
 * `undefined` for a null. Throws INVALID_ARGUMENT, naming `where`, for a column that holds no instants.
 */
export function timestampReader(vector: Vector, where: string): (i: number) => Micros | undefined {
  const at = vector.type as DataType
  const data = singleChunk(vector)
  if (DataType.isTimestamp(at) && data !== undefined) {
    const read = microsReader(data, (at as Timestamp).unit)
    return (i) => (data.getValid(i) ? read(i) : undefined)
  }
  if (DataType.isDate(at) || DataType.isTimestamp(at)) {
    return (i) => {
      const ms = vector.get(i) as number | null
      return ms === null ? undefined : Math.round(ms * 1000)
    }
  }
  throw new LarderError('INVALID_ARGUMENT', `${where} is ${String(at)}, not a timestamp`, {
    hint: 'store event and created times as TIMESTAMP columns',
  })
}

function singleChunk(vector: Vector): Data | undefined {
  return vector.data.length === 1 ? (vector.data[0] as Data) : undefined
}

/** The 32-bit words of a 64-bit column (little-endian: low word first). */
function int64Words(data: Data): Int32Array {
  const values = data.values as BigInt64Array
  return new Int32Array(values.buffer, values.byteOffset, values.length * 2)
}

/** Reads a timestamp column of this unit as microseconds (nanoseconds are cut, as everywhere in Larder). */
function microsReader(data: Data, unit: TimeUnit): (i: number) => Micros {
  const words = int64Words(data)
  const big = data.values as BigInt64Array
  if (unit === TimeUnit.NANOSECOND) {
    return (i) => {
      const ns = big[i]!
      const us = ns / 1000n
      return Number(ns < 0n && us * 1000n !== ns ? us - 1n : us)
    }
  }
  const scale = UNIT_MICROS[unit]!
  return (i) => {
    const hi = words[2 * i + 1]!
    const raw = hi > -SAFE_HI && hi < SAFE_HI ? hi * TWO_32 + (words[2 * i]! >>> 0) : Number(big[i]!)
    return raw * scale
  }
}

/** Readers over the raw buffers for the common physical/declared pairs; undefined for the rest. */
function fastReader(data: Data, at: DataType, vt: number): ColumnReader | undefined {
  const values = data.values as ArrayLike<number>
  if (DataType.isFloat(at) || (DataType.isInt(at) && at.bitWidth <= 32)) {
    switch (vt) {
      case ValueType.DOUBLE:
      case ValueType.FLOAT:
      case ValueType.INT32:
      case ValueType.INT64:
      case ValueType.UNIX_TIMESTAMP:
        return (i) => values[i]
    }
    return undefined
  }
  if (DataType.isInt(at) && at.bitWidth === 64) {
    const words = int64Words(data)
    const big = data.values as BigInt64Array | BigUint64Array
    const signed = at.isSigned
    switch (vt) {
      case ValueType.INT64:
      case ValueType.UNIX_TIMESTAMP:
      case ValueType.INT32:
        return (i) => {
          const hi = words[2 * i + 1]!
          if (hi > -SAFE_HI && hi < SAFE_HI && (signed || hi >= 0)) return hi * TWO_32 + (words[2 * i]! >>> 0)
          const v = big[i]!
          return vt === ValueType.INT32 ? Number(v) : v
        }
      case ValueType.DOUBLE:
      case ValueType.FLOAT:
        return (i) => Number(big[i]!)
    }
    return undefined
  }
  if (DataType.isBool(at) && vt === ValueType.BOOL) {
    const bits = data.values as Uint8Array
    const offset = data.offset
    return (i) => {
      const at = offset + i
      return (bits[at >> 3]! & (1 << (at & 7))) !== 0
    }
  }
  if (DataType.isUtf8(at) && isTextType(vt)) {
    const bytes = data.values as Uint8Array
    const offsets = data.valueOffsets as Int32Array
    return (i) => utf8(bytes, offsets[i]!, offsets[i + 1]!)
  }
  if (DataType.isTimestamp(at) && vt === ValueType.UNIX_TIMESTAMP) {
    const micros = microsReader(data, (at as Timestamp).unit)
    return (i) => Math.floor(micros(i) / 1_000_000)
  }
  return undefined
}

function isTextType(vt: number): boolean {
  return (
    vt === ValueType.STRING ||
    vt === ValueType.JSON ||
    vt === ValueType.UUID ||
    vt === ValueType.TIME_UUID ||
    vt === ValueType.DECIMAL
  )
}

function utf8(bytes: Uint8Array, start: number, end: number): string {
  if (end - start < 48) {
    let s = ''
    for (let i = start; i < end; i++) {
      const c = bytes[i]!
      if (c >= 0x80) return UTF8.decode(bytes.subarray(start, end))
      s += String.fromCharCode(c)
    }
    return s
  }
  return UTF8.decode(bytes.subarray(start, end))
}

type Convert = (v: unknown) => unknown

/**
 * Converts a non-null value as `Vector.get` returns it for Arrow type `at` into the codec's value for
 * `type`: 64-bit integers arrive as bigints (kept beyond ±2^53), timestamps and dates as epoch
 * milliseconds, lists as vectors, structs and maps as row proxies.
 */
function converter(type: FeastType, at: DataType, where: string): Convert {
  if (DataType.isDictionary(at)) return converter(type, (at as Dictionary).dictionary, where)
  const vt = type.valueType
  switch (vt) {
    case ValueType.BYTES:
    case ValueType.PDF_BYTES:
      return (v) => (typeof v === 'string' ? UTF8_ENCODER.encode(v) : v)
    case ValueType.STRING:
    case ValueType.UUID:
    case ValueType.TIME_UUID:
    case ValueType.DECIMAL:
      return (v) => (typeof v === 'string' ? v : String(plain(v)))
    case ValueType.JSON:
      return (v) => (typeof v === 'string' ? v : JSON.stringify(plain(v), jsonSafe))
    case ValueType.INT32:
    case ValueType.DOUBLE:
    case ValueType.FLOAT:
      return (v) => (typeof v === 'bigint' ? Number(v) : v)
    case ValueType.INT64:
      return int64
    case ValueType.BOOL:
      return (v) => v
    case ValueType.UNIX_TIMESTAMP:
      return DataType.isTimestamp(at) || DataType.isDate(at) ? (v) => Math.floor((v as number) / 1000) : int64
    case ValueType.ZONED_TIMESTAMP:
      if (DataType.isTimestamp(at)) {
        const zone = (at as Timestamp).timezone ?? ''
        return (v) => zonedTimestamp(Math.floor((v as number) / 1000), zone === 'UTC' ? '' : zone)
      }
      return (v) => v
    case ValueType.STRUCT:
      if (type.fields && DataType.isStruct(at)) return structConverter(type.fields, at as Struct, where)
      return plain
    case ValueType.MAP:
      return plain
    case ValueType.SCALAR_MAP:
      return (v) =>
        DataType.isMap(at)
          ? new Map(Array.from(v as Iterable<[unknown, unknown]>, ([k, x]) => [plain(k), plain(x)]))
          : v
  }
  const element = type.element
  if (element !== undefined && (DataType.isList(at) || DataType.isFixedSizeList(at))) {
    const item = converter(element, (at as List).children[0]!.type, where)
    return (v) => Array.from(v as Iterable<unknown>, (x) => (x === null || x === undefined ? null : item(x)))
  }
  if (element !== undefined) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `${where} is declared ${type.name} but the offline store returned ${String(at)}`,
      {
        hint: 'declare the field with the type of its source column',
        details: { valueType: valueTypeName(vt) },
      },
    )
  }
  return plain
}

function structConverter(fields: Readonly<Record<string, FeastType>>, at: Struct, where: string): Convert {
  const children = Object.entries(fields).map(([name, ft]) => {
    const child = at.children.find((c) => c.name === name)
    return [name, child ? converter(ft, child.type, `${where}.${name}`) : plain] as const
  })
  return (v) => {
    const row = v as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const [name, convert] of children) {
      const x = row[name]
      out[name] = x === null || x === undefined ? null : convert(x)
    }
    return out
  }
}

function int64(v: unknown): unknown {
  if (typeof v !== 'bigint') return v
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
}

/** A value of `Vector.get` as plain JS: vectors as arrays, struct and map rows as objects. */
function plain(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return int64(v)
  if (Symbol.iterator in v && typeof (v as { toArray?: unknown }).toArray === 'function') {
    return Array.from(v as Iterable<unknown>, plain)
  }
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    const json = (v as { toJSON(): Record<string, unknown> }).toJSON()
    return Object.fromEntries(Object.entries(json).map(([k, x]) => [k, plain(x)]))
  }
  return v
}

function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value
}
