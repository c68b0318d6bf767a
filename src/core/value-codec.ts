/**
 * Hand-written codec for Feast's `feast.types.Value` protobuf (standard proto3 binary) and for
 * `google.protobuf.Timestamp`, the two encodings of Feast's online stores.
 *
 * JS representation of a decoded Value, by the oneof case that was set:
 *
 * | Value case | JS value |
 * | --- | --- |
 * | none (zero bytes), `null_val` | `null` |
 * | `bytes_val` (also PDF_BYTES and IMAGE_BYTES) | `Uint8Array` (a copy) |
 * | `string_val`, `json_val` (the JSON text, never parsed), `uuid_val`, `time_uuid_val`, `decimal_val` | `string` |
 * | `int32_val` | `number` |
 * | `int64_val` | `number` when within ±(2^53 − 1), else `bigint`, so every int64 is exact |
 * | `double_val`, `float_val` | `number` (a float is widened from 32 bits) |
 * | `bool_val` | `boolean` |
 * | `unix_timestamp_val` | epoch **seconds** as for int64; Feast's null timestamp (INT64_MIN) is `null` |
 * | `*_list_val`, `json_list_val`, `map_list_val`, `struct_list_val`, `list_val` | `Array`; timestamp lists may hold `null` |
 * | `*_set_val`, `set_val` | `Set` (in wire order) |
 * | `map_val`, `struct_val` | a plain object `{ [key]: value }` |
 * | `scalar_map_val` | {@link ScalarMapValue}: entries whose keys are {@link TypedValue}s |
 * | `zoned_timestamp_val` | {@link ZonedTimestampValue} |
 * | a field this version does not know | {@link UnknownValue} holding the original bytes (never an error) |
 *
 * Encoding is driven by the declared type (a `FeastType` or a ValueType number) and accepts the same
 * shapes, plus arrays for sets. Inside a MAP, a STRUCT without schema, a nested list without element
 * type or a SCALAR_MAP, where no type is declared, the type is inferred from the JS value the way
 * Feast's Python SDK infers it: boolean → BOOL, integral number or bigint → INT64, other number →
 * DOUBLE, string → STRING, Uint8Array → BYTES, array → the list of its elements' type (VALUE_LIST when
 * they differ or hold null), Set → the matching set, object or string-keyed Map → MAP, Map with other
 * keys → SCALAR_MAP. Wrap a value in {@link typedValue} to choose another type there.
 *
 * `null`/`undefined` encode to zero bytes (Feast's "no value"), except for UNIX_TIMESTAMP, which Feast
 * writes as INT64_MIN, and NULL, which is `null_val`. Scalar oneof fields are written even when they
 * hold the default (0, "", false), as proto3 does for oneof members.
 */
import { LarderError } from './errors.js'
import type { Micros } from './time.js'
import { type FeastType, ValueType, valueTypeName } from './types.js'

/** Brand key of the special value objects below; `Symbol.for` so that two copies of the package agree. */
export const VALUE_KIND: unique symbol = Symbol.for('larderjs.valueKind')

/** A value with an explicit Feast type, for places where the type would otherwise be inferred. */
export interface TypedValue {
  readonly [VALUE_KIND]: 'Typed'
  /** A `ValueType` number. */
  readonly type: number
  readonly value: FeastValue
}

/** Feast's `ZonedTimestamp`: an instant in epoch seconds and the zone it was observed in. */
export interface ZonedTimestampValue {
  readonly [VALUE_KIND]: 'ZonedTimestamp'
  /** Epoch seconds (a bigint beyond ±2^53). */
  readonly unixTimestamp: number | bigint
  /** An IANA zone name or `+hh:mm`; empty means UTC. */
  readonly zone: string
}

/** Feast's `ScalarMap`: entries in wire order, keyed by typed scalars (INT32, INT64, FLOAT, DOUBLE, BOOL, UNIX_TIMESTAMP, BYTES, UUID, TIME_UUID, DECIMAL). */
export interface ScalarMapValue {
  readonly [VALUE_KIND]: 'ScalarMap'
  readonly entries: readonly (readonly [TypedValue, FeastValue])[]
}

/** A Value whose oneof field this version does not know; `bytes` is the whole Value, re-encoded as is. */
export interface UnknownValue {
  readonly [VALUE_KIND]: 'Unknown'
  /** The protobuf field number that was set. */
  readonly field: number
  readonly bytes: Uint8Array
}

/** A decoded Value; see the table at the top of this module. */
export type FeastValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | FeastValue[]
  | Set<FeastValue>
  | FeastRecord
  | TypedValue
  | ZonedTimestampValue
  | ScalarMapValue
  | UnknownValue

/** The JS form of a MAP or STRUCT value. */
export interface FeastRecord {
  [key: string]: FeastValue
}

/** A value with an explicit type. @example typedValue(ValueType.INT32, 7) */
export function typedValue(type: number, value: FeastValue): TypedValue {
  return { [VALUE_KIND]: 'Typed', type, value }
}

/** A ZONED_TIMESTAMP value. @example zonedTimestamp(1_700_000_000, 'Europe/Paris') */
export function zonedTimestamp(unixTimestamp: number | bigint, zone = ''): ZonedTimestampValue {
  return { [VALUE_KIND]: 'ZonedTimestamp', unixTimestamp, zone }
}

/** A SCALAR_MAP value. @example scalarMap([[typedValue(ValueType.INT64, 1), 'one']]) */
export function scalarMap(entries: readonly (readonly [TypedValue, FeastValue])[]): ScalarMapValue {
  return { [VALUE_KIND]: 'ScalarMap', entries }
}

type Special = TypedValue | ZonedTimestampValue | ScalarMapValue | UnknownValue

/** Which special value object this is, or undefined for any other value. */
export function specialKind(value: unknown): Special[typeof VALUE_KIND] | undefined {
  return typeof value === 'object' && value !== null ? (value as Partial<Special>)[VALUE_KIND] : undefined
}

const VT = ValueType
const VARINT = 0
const I64 = 1
const LEN = 2
const I32 = 5
const TWO_32 = 4294967296
const INT64_MIN_HI = 0x80000000

// Float bits go through scratch arrays; protobuf is little-endian, and so is every platform Node ships for.
const F64 = new Float64Array(1)
const F64_BYTES = new Uint8Array(F64.buffer)
const F32 = new Float32Array(1)
const F32_BYTES = new Uint8Array(F32.buffer)
const UTF8_ENCODER = new TextEncoder()
const UTF8_DECODER = new TextDecoder()

/** Element type of each list and set type (the type each repeated entry is checked against). */
const ELEMENT_TYPE: Readonly<Record<number, number>> = {
  [VT.BYTES_LIST]: VT.BYTES,
  [VT.STRING_LIST]: VT.STRING,
  [VT.INT32_LIST]: VT.INT32,
  [VT.INT64_LIST]: VT.INT64,
  [VT.DOUBLE_LIST]: VT.DOUBLE,
  [VT.FLOAT_LIST]: VT.FLOAT,
  [VT.BOOL_LIST]: VT.BOOL,
  [VT.UNIX_TIMESTAMP_LIST]: VT.UNIX_TIMESTAMP,
  [VT.BYTES_SET]: VT.BYTES,
  [VT.STRING_SET]: VT.STRING,
  [VT.INT32_SET]: VT.INT32,
  [VT.INT64_SET]: VT.INT64,
  [VT.DOUBLE_SET]: VT.DOUBLE,
  [VT.FLOAT_SET]: VT.FLOAT,
  [VT.BOOL_SET]: VT.BOOL,
  [VT.UNIX_TIMESTAMP_SET]: VT.UNIX_TIMESTAMP,
  [VT.JSON_LIST]: VT.JSON,
  [VT.UUID_LIST]: VT.UUID,
  [VT.TIME_UUID_LIST]: VT.TIME_UUID,
  [VT.UUID_SET]: VT.UUID,
  [VT.TIME_UUID_SET]: VT.TIME_UUID,
  [VT.DECIMAL_LIST]: VT.DECIMAL,
  [VT.DECIMAL_SET]: VT.DECIMAL,
}

const SET_TYPES: ReadonlySet<number> = new Set([
  VT.BYTES_SET,
  VT.STRING_SET,
  VT.INT32_SET,
  VT.INT64_SET,
  VT.DOUBLE_SET,
  VT.FLOAT_SET,
  VT.BOOL_SET,
  VT.UNIX_TIMESTAMP_SET,
  VT.UUID_SET,
  VT.TIME_UUID_SET,
  VT.DECIMAL_SET,
  VT.VALUE_SET,
])

/** `MapKey` oneof field number for each key type of a SCALAR_MAP, and back. */
const MAP_KEY_FIELD: Readonly<Record<number, number>> = {
  [VT.INT32]: 1,
  [VT.INT64]: 2,
  [VT.FLOAT]: 3,
  [VT.DOUBLE]: 4,
  [VT.BOOL]: 5,
  [VT.UNIX_TIMESTAMP]: 6,
  [VT.BYTES]: 7,
  [VT.UUID]: 8,
  [VT.TIME_UUID]: 9,
  [VT.DECIMAL]: 10,
}
const MAP_KEY_TYPE: readonly number[] = [
  VT.UNKNOWN,
  VT.INT32,
  VT.INT64,
  VT.FLOAT,
  VT.DOUBLE,
  VT.BOOL,
  VT.UNIX_TIMESTAMP,
  VT.BYTES,
  VT.UUID,
  VT.TIME_UUID,
  VT.DECIMAL,
]

// ---------------------------------------------------------------------------------------------
// Writing

/** A growable buffer; one shared instance, reset by each top-level encode (encoding is synchronous). */
class Writer {
  buf = new Uint8Array(1024)
  pos = 0

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  byte(b: number): void {
    this.ensure(1)
    this.buf[this.pos++] = b
  }

  uint32(value: number): void {
    this.ensure(5)
    const buf = this.buf
    let v = value >>> 0
    while (v > 127) {
      buf[this.pos++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    buf[this.pos++] = v
  }

  tag(field: number, wire: number): void {
    this.uint32((field << 3) | wire)
  }

  /** A varint of the 64-bit two's complement value `hi:lo` (both unsigned 32-bit). */
  varint64(loIn: number, hiIn: number): void {
    this.ensure(10)
    const buf = this.buf
    let lo = loIn
    let hi = hiIn
    while (hi !== 0 || lo > 127) {
      buf[this.pos++] = (lo & 0x7f) | 0x80
      lo = ((lo >>> 7) | (hi << 25)) >>> 0
      hi >>>= 7
    }
    buf[this.pos++] = lo
  }

  int64(v: number | bigint): void {
    if (typeof v === 'number') {
      const hi = Math.floor(v / TWO_32)
      this.varint64(v - hi * TWO_32, hi >>> 0)
    } else {
      const u = BigInt.asUintN(64, v)
      this.varint64(Number(u & 0xffffffffn), Number(u >> 32n))
    }
  }

  int32(v: number): void {
    if (v >= 0) this.uint32(v)
    else this.varint64(v >>> 0, 0xffffffff)
  }

  double(v: number): void {
    this.ensure(8)
    F64[0] = v
    this.buf.set(F64_BYTES, this.pos)
    this.pos += 8
  }

  float(v: number): void {
    this.ensure(4)
    F32[0] = v
    this.buf.set(F32_BYTES, this.pos)
    this.pos += 4
  }

  bytes(b: Uint8Array): void {
    this.uint32(b.length)
    this.raw(b)
  }

  raw(b: Uint8Array): void {
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  string(s: string): void {
    const n = s.length
    let len = 0
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c < 0x80) len += 1
      else if (c < 0x800) len += 2
      else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        len += 4
        i++
      } else len += 3
    }
    this.uint32(len)
    this.ensure(len)
    const buf = this.buf
    if (len === n) {
      for (let i = 0; i < n; i++) buf[this.pos + i] = s.charCodeAt(i)
    } else {
      UTF8_ENCODER.encodeInto(s, buf.subarray(this.pos, this.pos + len))
    }
    this.pos += len
  }

  /** Reserves one byte for the length of a nested message; `join` fills it in. */
  fork(): number {
    this.ensure(1)
    return this.pos++
  }

  join(start: number): void {
    const len = this.pos - start - 1
    if (len < 128) {
      this.buf[start] = len
      return
    }
    let n = 1
    for (let v = len >>> 7; v > 0; v >>>= 7) n++
    this.ensure(n - 1)
    const buf = this.buf
    buf.copyWithin(start + n, start + 1, this.pos)
    this.pos += n - 1
    let v = len
    let p = start
    while (v > 127) {
      buf[p++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    buf[p] = v
  }

  finish(): Uint8Array {
    const out = this.buf.slice(0, this.pos)
    this.pos = 0
    return out
  }
}

const W = new Writer()

/**
 * Encodes a value as `feast.types.Value` protobuf bytes for the declared type. Throws a
 * `LarderError` (INVALID_ARGUMENT) naming the value and the type when the value does not fit.
 *
 * @example encodeValue(Float32, 0.5) // Uint8Array [0x35, 0, 0, 0, 0x3f]
 * @example encodeValue(ValueType.INT64, 308) // Uint8Array [0x20, 0xb4, 0x02]
 */
export function encodeValue(type: FeastType | number, value: unknown): Uint8Array {
  W.pos = 0
  if (typeof type === 'number') writeValue(type, undefined, value)
  else writeValue(type.valueType, type, value)
  return W.finish()
}

function writeValue(type: number, ft: FeastType | undefined, v: unknown): void {
  // PDF and image bytes have their own ValueType numbers but travel in bytes_val
  const vt = type === VT.PDF_BYTES || type === VT.IMAGE_BYTES ? VT.BYTES : type
  if (v === null || v === undefined) {
    if (vt === VT.UNIX_TIMESTAMP) {
      W.tag(VT.UNIX_TIMESTAMP, VARINT)
      W.varint64(0, INT64_MIN_HI)
    } else if (vt === VT.NULL) writeNull()
    return
  }
  const kind = specialKind(v)
  if (kind === 'Typed') {
    writeValue((v as TypedValue).type, undefined, (v as TypedValue).value)
    return
  }
  if (kind === 'Unknown') {
    W.raw((v as UnknownValue).bytes)
    return
  }
  if (writeScalar(vt, vt, v)) return
  switch (vt) {
    case VT.NULL:
      writeNull()
      return
    case VT.MAP:
    case VT.STRUCT: {
      W.tag(vt, LEN)
      const at = W.fork()
      writeMapBody(v, vt, ft?.fields)
      W.join(at)
      return
    }
    case VT.MAP_LIST:
    case VT.STRUCT_LIST: {
      W.tag(vt, LEN)
      const at = W.fork()
      const fields = ft?.element?.fields
      for (const item of checkIterable(v, vt)) {
        W.tag(1, LEN)
        const entry = W.fork()
        writeMapBody(item, vt, fields)
        W.join(entry)
      }
      W.join(at)
      return
    }
    case VT.VALUE_LIST:
    case VT.VALUE_SET: {
      W.tag(vt, LEN)
      const at = W.fork()
      const element = ft?.element
      for (const item of checkIterable(v, vt)) {
        W.tag(1, LEN)
        const inner = W.fork()
        if (element) writeValue(element.valueType, element, item)
        else writeInferred(item)
        W.join(inner)
      }
      W.join(at)
      return
    }
    case VT.SCALAR_MAP:
      writeScalarMap(v)
      return
    case VT.ZONED_TIMESTAMP:
      writeZoned(v)
      return
  }
  const element = ELEMENT_TYPE[vt]
  if (element !== undefined) {
    writeScalarList(vt, element, v)
    return
  }
  throw new LarderError('INVALID_ARGUMENT', `cannot encode a value of type ${valueTypeName(vt)}`, {
    hint: "declare the field with one of Feast's value types (Int64, Float32, String, Array(...), ...)",
  })
}

/** Writes a scalar of type `vt` as field `field` (tag and payload); false when `vt` is not a scalar type. */
function writeScalar(field: number, vt: number, v: unknown): boolean {
  switch (vt) {
    case VT.BYTES:
      W.tag(field, LEN)
      W.bytes(checkBytes(v, vt))
      return true
    case VT.STRING:
    case VT.JSON:
    case VT.UUID:
    case VT.TIME_UUID:
    case VT.DECIMAL:
      W.tag(field, LEN)
      W.string(checkString(v, vt))
      return true
    case VT.INT32:
      W.tag(field, VARINT)
      W.int32(checkInt32(v, vt))
      return true
    case VT.INT64:
    case VT.UNIX_TIMESTAMP:
      W.tag(field, VARINT)
      W.int64(checkInt64(v, vt))
      return true
    case VT.DOUBLE:
      W.tag(field, I64)
      W.double(checkNumber(v, vt))
      return true
    case VT.FLOAT:
      W.tag(field, I32)
      W.float(checkNumber(v, vt))
      return true
    case VT.BOOL:
      W.tag(field, VARINT)
      W.byte(checkBool(v, vt) ? 1 : 0)
      return true
  }
  return false
}

function writeNull(): void {
  W.tag(VT.NULL, VARINT)
  W.byte(0)
}

function writeInferred(v: unknown): void {
  if (v === null || v === undefined) return
  writeValue(inferType(v), undefined, v)
}

function writeScalarList(vt: number, element: number, v: unknown): void {
  W.tag(vt, LEN)
  const at = W.fork()
  const items = checkIterable(v, vt)
  if (element === VT.BYTES || element === VT.STRING || element >= VT.JSON) {
    for (const item of items) {
      W.tag(1, LEN)
      if (element === VT.BYTES) W.bytes(checkBytes(item, element, vt))
      else W.string(checkString(item, element, vt))
    }
  } else {
    const mark = W.pos
    W.tag(1, LEN)
    const packed = W.fork()
    for (const item of items) {
      switch (element) {
        case VT.INT32:
          W.int32(checkInt32(item, element, vt))
          break
        case VT.INT64:
          W.int64(checkInt64(item, element, vt))
          break
        case VT.UNIX_TIMESTAMP:
          if (item === null || item === undefined) W.varint64(0, INT64_MIN_HI)
          else W.int64(checkInt64(item, element, vt))
          break
        case VT.DOUBLE:
          W.double(checkNumber(item, element, vt))
          break
        case VT.FLOAT:
          W.float(checkNumber(item, element, vt))
          break
        default:
          W.byte(checkBool(item, element, vt) ? 1 : 0)
      }
    }
    // proto3 leaves an empty packed field out
    if (W.pos === packed + 1) W.pos = mark
    else W.join(packed)
  }
  W.join(at)
}

function writeMapBody(v: unknown, vt: number, fields: Readonly<Record<string, FeastType>> | undefined): void {
  const entry = (key: string, item: unknown) => {
    W.tag(1, LEN)
    const at = W.fork()
    W.tag(1, LEN)
    W.string(key)
    W.tag(2, LEN)
    const inner = W.fork()
    const ft = fields?.[key]
    if (ft) writeValue(ft.valueType, ft, item)
    else writeInferred(item)
    W.join(inner)
    W.join(at)
  }
  if (v instanceof Map) {
    for (const [key, item] of v) {
      if (typeof key !== 'string') throw mismatch(v, vt, undefined, 'a Map with string keys')
      entry(key, item)
    }
  } else if (isPlainRecord(v)) {
    for (const key of Object.keys(v)) entry(key, v[key])
  } else throw mismatch(v, vt, undefined, 'an object')
}

function writeScalarMap(v: unknown): void {
  let entries: Iterable<readonly [unknown, unknown]>
  if (specialKind(v) === 'ScalarMap') entries = (v as ScalarMapValue).entries
  else if (v instanceof Map) entries = v
  else throw mismatch(v, VT.SCALAR_MAP, undefined, 'scalarMap([...]) or a Map')
  W.tag(VT.SCALAR_MAP, LEN)
  const at = W.fork()
  for (const [key, item] of entries) {
    W.tag(1, LEN)
    const entry = W.fork()
    const typed = specialKind(key) === 'Typed' ? (key as TypedValue) : undefined
    const keyType = typed ? typed.type : inferType(key)
    const keyValue = typed ? typed.value : key
    if (keyValue !== null && keyValue !== undefined) {
      const field = MAP_KEY_FIELD[keyType]
      if (field === undefined) {
        throw new LarderError(
          'INVALID_ARGUMENT',
          `a SCALAR_MAP key cannot be ${describe(keyValue)} (${valueTypeName(keyType)})`,
          {
            hint: 'keys are INT32, INT64, FLOAT, DOUBLE, BOOL, UNIX_TIMESTAMP, BYTES, UUID, TIME_UUID or DECIMAL; string keys belong in a MAP',
          },
        )
      }
      W.tag(1, LEN)
      const keyAt = W.fork()
      writeScalar(field, keyType, keyValue)
      W.join(keyAt)
    }
    W.tag(2, LEN)
    const inner = W.fork()
    writeInferred(item)
    W.join(inner)
    W.join(entry)
  }
  W.join(at)
}

function writeZoned(v: unknown): void {
  if (typeof v !== 'object' || v === null || !('unixTimestamp' in v)) {
    throw mismatch(v, VT.ZONED_TIMESTAMP, undefined, 'zonedTimestamp(seconds, zone)')
  }
  const z = v as { unixTimestamp: unknown; zone?: unknown }
  const seconds = checkInt64(z.unixTimestamp, VT.ZONED_TIMESTAMP)
  const zone = z.zone === undefined ? '' : checkString(z.zone, VT.ZONED_TIMESTAMP)
  W.tag(VT.ZONED_TIMESTAMP, LEN)
  const at = W.fork()
  if (seconds !== 0 && seconds !== 0n) {
    W.tag(1, VARINT)
    W.int64(seconds)
  }
  if (zone !== '') {
    W.tag(2, LEN)
    W.string(zone)
  }
  W.join(at)
}

/** The ValueType Feast's Python SDK would infer for a JS value (see the module comment). */
function inferType(v: unknown): number {
  switch (typeof v) {
    case 'boolean':
      return VT.BOOL
    case 'number':
      return Number.isSafeInteger(v) && !Object.is(v, -0) ? VT.INT64 : VT.DOUBLE
    case 'bigint':
      return VT.INT64
    case 'string':
      return VT.STRING
    case 'object': {
      if (v === null) break
      const kind = specialKind(v)
      if (kind === 'Typed') return (v as TypedValue).type
      if (kind === 'ZonedTimestamp') return VT.ZONED_TIMESTAMP
      if (kind === 'ScalarMap') return VT.SCALAR_MAP
      if (v instanceof Uint8Array) return VT.BYTES
      if (Array.isArray(v)) return inferCollection(v, false)
      if (v instanceof Set) return inferCollection(v, true)
      if (v instanceof Map) {
        for (const key of v.keys()) if (typeof key !== 'string') return VT.SCALAR_MAP
        return VT.MAP
      }
      if (isPlainRecord(v)) return VT.MAP
    }
  }
  throw new LarderError('INVALID_ARGUMENT', `cannot infer a Feast value type for ${describe(v)}`, {
    hint: 'give the value a declared type, or wrap it as typedValue(ValueType.X, value)',
  })
}

const LIST_OF: Readonly<Record<number, readonly [number, number]>> = {
  [VT.BOOL]: [VT.BOOL_LIST, VT.BOOL_SET],
  [VT.INT64]: [VT.INT64_LIST, VT.INT64_SET],
  [VT.DOUBLE]: [VT.DOUBLE_LIST, VT.DOUBLE_SET],
  [VT.STRING]: [VT.STRING_LIST, VT.STRING_SET],
  [VT.BYTES]: [VT.BYTES_LIST, VT.BYTES_SET],
  [VT.MAP]: [VT.MAP_LIST, VT.VALUE_SET],
}

function inferCollection(items: Iterable<unknown>, isSet: boolean): number {
  const nested = isSet ? VT.VALUE_SET : VT.VALUE_LIST
  let element = -1
  let hasBigint = false
  for (const item of items) {
    if (item === null || item === undefined) return nested
    let t = -1
    switch (typeof item) {
      case 'boolean':
        t = VT.BOOL
        break
      case 'number':
        t = Number.isSafeInteger(item) && !Object.is(item, -0) ? VT.INT64 : VT.DOUBLE
        break
      case 'bigint':
        t = VT.INT64
        hasBigint = true
        break
      case 'string':
        t = VT.STRING
        break
      default:
        if (item instanceof Uint8Array) t = VT.BYTES
        else if (specialKind(item) === undefined && (isPlainRecord(item) || isStringKeyedMap(item)))
          t = VT.MAP
    }
    if (t === -1) return nested
    if (element === -1 || element === t) element = t
    else if ((element === VT.INT64 || element === VT.DOUBLE) && (t === VT.INT64 || t === VT.DOUBLE)) {
      element = VT.DOUBLE
    } else return nested
  }
  if (element === -1 || (element === VT.DOUBLE && hasBigint)) return nested
  return LIST_OF[element]![isSet ? 1 : 0]
}

function isStringKeyedMap(v: unknown): boolean {
  if (!(v instanceof Map)) return false
  for (const key of v.keys()) if (typeof key !== 'string') return false
  return true
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

function checkBytes(v: unknown, vt: number, container?: number): Uint8Array {
  if (v instanceof Uint8Array) return v
  throw mismatch(v, vt, container)
}

function checkString(v: unknown, vt: number, container?: number): string {
  if (typeof v === 'string') return v
  throw mismatch(v, vt, container)
}

function checkNumber(v: unknown, vt: number, container?: number): number {
  if (typeof v === 'number') return v
  throw mismatch(v, vt, container)
}

function checkBool(v: unknown, vt: number, container?: number): boolean {
  if (typeof v === 'boolean') return v
  throw mismatch(v, vt, container)
}

function checkInt32(v: unknown, vt: number, container?: number): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647) return v
  throw mismatch(v, vt, container, 'an integer from -2^31 to 2^31-1')
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

function checkInt64(v: unknown, vt: number, container?: number): number | bigint {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return v
    if (Number.isInteger(v)) {
      throw mismatch(v, vt, container, 'a safe integer; pass integers beyond ±2^53 as bigint')
    }
  } else if (typeof v === 'bigint' && v >= INT64_MIN && v <= INT64_MAX) return v
  throw mismatch(v, vt, container, 'an integer (number or bigint) within the int64 range')
}

function checkIterable(v: unknown, vt: number): Iterable<unknown> {
  if (Array.isArray(v) || v instanceof Set) return v
  throw mismatch(v, vt, undefined, 'an array or a Set')
}

function mismatch(v: unknown, vt: number, container?: number, expected?: string): LarderError {
  const where = container === undefined ? valueTypeName(vt) : `an element of ${valueTypeName(container)}`
  return new LarderError('INVALID_ARGUMENT', `cannot encode ${describe(v)} as ${where}`, {
    hint: expected ? `expected ${expected}` : `expected ${EXPECTED[vt] ?? 'a value of that type'}`,
    details: { valueType: valueTypeName(vt) },
  })
}

const EXPECTED: Readonly<Record<number, string>> = {
  [VT.BYTES]: 'a Uint8Array',
  [VT.STRING]: 'a string',
  [VT.JSON]: 'the JSON text as a string',
  [VT.UUID]: 'a string',
  [VT.TIME_UUID]: 'a string',
  [VT.DECIMAL]: 'the decimal as a string',
  [VT.DOUBLE]: 'a number',
  [VT.FLOAT]: 'a number',
  [VT.BOOL]: 'true or false',
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)
  if (typeof v === 'bigint') return `${v}n`
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) return String(v)
  if (v instanceof Uint8Array) return `bytes[${v.length}]`
  if (Array.isArray(v)) return `an array of ${v.length}`
  if (v instanceof Set) return `a Set of ${v.size}`
  if (v instanceof Map) return `a Map of ${v.size}`
  return typeof v === 'object' ? 'an object' : typeof v
}

// ---------------------------------------------------------------------------------------------
// Range checks of writes

/** The largest magnitude of an instant Larder holds exactly: 2^53 - 1 microseconds (June 2255). */
const MAX_INSTANT_MICROS = Number.MAX_SAFE_INTEGER
/** The same bound in whole seconds, for UNIX_TIMESTAMP values (epoch seconds). */
const MAX_INSTANT_SECONDS = Math.floor(MAX_INSTANT_MICROS / 1_000_000)
const INSTANT_RANGE = '1684-07-28T00:12:25Z to 2255-06-05T23:47:34Z'

/**
 * Checks that an instant (microseconds since the epoch) is one Larder holds exactly: an integer within
 * ±(2^53 - 1) microseconds, years 1684 to 2255, which every online and offline store can also hold.
 * Returns it; throws INVALID_ARGUMENT naming `what`, the value and the range otherwise.
 *
 * @example checkInstant(toMicros(input), 'column "event_timestamp"')
 */
export function checkInstant(micros: number, what: string): Micros {
  if (Number.isSafeInteger(micros)) return micros
  throw new LarderError(
    'INVALID_ARGUMENT',
    `${what} (${describeInstant(micros)}) is outside the instants Larder holds (${INSTANT_RANGE})`,
    { hint: 'give a time within that range (epoch milliseconds when a number)' },
  )
}

function describeInstant(micros: number): string {
  const ms = micros / 1000
  if (Number.isFinite(ms) && Math.abs(ms) <= 8.64e15) return new Date(ms).toISOString()
  return `${micros} microseconds since the epoch`
}

/**
 * Checks what {@link encodeValue} accepts but a store cannot keep as given: a finite number that a
 * Float32 narrows to ±Infinity (beyond ±3.4028235e38), and a UNIX_TIMESTAMP (epoch seconds, also in
 * lists, sets and zoned timestamps) outside the instants Larder holds (see {@link checkInstant}).
 * Walks lists, sets, struct fields and typed elements by the declared type. Throws INVALID_ARGUMENT
 * naming the value, the type and the range; returns nothing when the value fits.
 *
 * @example checkValueRange(Float32, 1e300) // throws: 1e+300 is out of the range of FLOAT
 */
export function checkValueRange(type: FeastType | number, value: unknown): void {
  if (typeof type === 'number') rangeOf(type, undefined, value, undefined)
  else rangeOf(type.valueType, type, value, undefined)
}

/** Checks `v` against type `vt`; `where` says where it sits in a value (an element, a field), if not at the top. */
function rangeOf(vt: number, ft: FeastType | undefined, v: unknown, where: string | undefined): void {
  if (v === null || v === undefined) return
  const kind = specialKind(v)
  if (kind === 'Typed') {
    rangeOf((v as TypedValue).type, undefined, (v as TypedValue).value, where)
    return
  }
  if (kind === 'Unknown') return
  switch (vt) {
    case VT.FLOAT:
      if (typeof v === 'number' && Number.isFinite(v) && !Number.isFinite(Math.fround(v))) {
        throw outOfRange(
          v,
          vt,
          where,
          'Float32 holds magnitudes up to 3.4028235e38; declare the field Float64',
        )
      }
      return
    case VT.UNIX_TIMESTAMP:
      if (typeof v === 'number' || typeof v === 'bigint') {
        const seconds = Number(v)
        if (!(Math.abs(seconds) <= MAX_INSTANT_SECONDS)) {
          throw outOfRange(v, vt, where, `epoch seconds within ±${MAX_INSTANT_SECONDS} (${INSTANT_RANGE})`)
        }
      }
      return
    case VT.ZONED_TIMESTAMP:
      if (typeof v === 'object' && 'unixTimestamp' in (v as object)) {
        const seconds = (v as { unixTimestamp: unknown }).unixTimestamp
        rangeOf(VT.UNIX_TIMESTAMP, undefined, seconds, `the seconds of ${where ?? valueTypeName(vt)}`)
      }
      return
    case VT.STRUCT:
      if (ft?.fields && typeof v === 'object') {
        for (const [name, field] of Object.entries(ft.fields)) {
          const item = v instanceof Map ? v.get(name) : (v as Record<string, unknown>)[name]
          rangeOf(field.valueType, field, item, `field "${name}" of ${where ?? valueTypeName(vt)}`)
        }
      }
      return
  }
  const element =
    ELEMENT_TYPE[vt] ??
    (vt === VT.VALUE_LIST || vt === VT.VALUE_SET || vt === VT.STRUCT_LIST ? -1 : undefined)
  if (element === undefined || !(Array.isArray(v) || v instanceof Set)) return
  const inner = `an element of ${where ?? valueTypeName(vt)}`
  if (element === VT.FLOAT || element === VT.UNIX_TIMESTAMP) {
    for (const item of v) rangeOf(element, undefined, item, inner)
  } else if (ft?.element) {
    for (const item of v) rangeOf(ft.element.valueType, ft.element, item, inner)
  } else if (element === -1) {
    // undeclared elements: only a typedValue says what they are
    for (const item of v) rangeOf(VT.UNKNOWN, undefined, item, inner)
  }
}

function outOfRange(v: unknown, vt: number, where: string | undefined, expected: string): LarderError {
  const what = where === undefined ? valueTypeName(vt) : `${where} (${valueTypeName(vt)})`
  return new LarderError('INVALID_ARGUMENT', `${describe(v)} is out of the range of ${what}`, {
    hint: `expected ${expected}`,
    details: { valueType: valueTypeName(vt) },
  })
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Cursor over the bytes being decoded; one shared instance (decoding is synchronous). */
const R: { buf: Uint8Array; pos: number } = { buf: new Uint8Array(0), pos: 0 }
let LO = 0
let HI = 0

function malformed(what: string): LarderError {
  return new LarderError('INVALID_ARGUMENT', `malformed feast.types.Value: ${what} at byte ${R.pos}`, {
    hint: 'the stored bytes are not a protobuf Value; rewrite the row (materialize again)',
  })
}

function readVarint64(end: number): void {
  const buf = R.buf
  let lo = 0
  let hi = 0
  for (let shift = 0; shift < 28; shift += 7) {
    if (R.pos >= end) throw malformed('truncated varint')
    const b = buf[R.pos++]!
    lo |= (b & 0x7f) << shift
    if (b < 0x80) {
      LO = lo >>> 0
      HI = 0
      return
    }
  }
  if (R.pos >= end) throw malformed('truncated varint')
  let b = buf[R.pos++]!
  lo |= (b & 0x0f) << 28
  hi = (b & 0x7f) >> 4
  if (b < 0x80) {
    LO = lo >>> 0
    HI = hi >>> 0
    return
  }
  for (let shift = 3; shift <= 31; shift += 7) {
    if (R.pos >= end) throw malformed('truncated varint')
    b = buf[R.pos++]!
    hi |= (b & 0x7f) << shift
    if (b < 0x80) {
      LO = lo >>> 0
      HI = hi >>> 0
      return
    }
  }
  throw malformed('varint longer than 10 bytes')
}

function readUint32(end: number): number {
  const buf = R.buf
  if (R.pos < end && buf[R.pos]! < 0x80) return buf[R.pos++]!
  readVarint64(end)
  return LO
}

/** The signed int64 in LO/HI: a number when safe, else a bigint. */
function int64Value(): number | bigint {
  const lo = LO
  const hi = HI
  if (hi & INT64_MIN_HI) {
    const nlo = (~lo + 1) >>> 0
    const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0
    if (nhi < 0x200000) return -(nhi * TWO_32 + nlo)
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo))
  }
  if (hi < 0x200000) return hi * TWO_32 + lo
  return (BigInt(hi) << 32n) | BigInt(lo)
}

function readInt64(end: number): number | bigint {
  readVarint64(end)
  return int64Value()
}

function readTimestampSeconds(end: number): number | bigint | null {
  readVarint64(end)
  if (LO === 0 && HI === INT64_MIN_HI) return null
  return int64Value()
}

function readInt32(end: number): number {
  readVarint64(end)
  return LO | 0
}

function readBool(end: number): boolean {
  readVarint64(end)
  return LO !== 0 || HI !== 0
}

function readDouble(end: number): number {
  if (R.pos + 8 > end) throw malformed('truncated double')
  for (let i = 0; i < 8; i++) F64_BYTES[i] = R.buf[R.pos + i]!
  R.pos += 8
  return F64[0]!
}

function readFloat(end: number): number {
  if (R.pos + 4 > end) throw malformed('truncated float')
  for (let i = 0; i < 4; i++) F32_BYTES[i] = R.buf[R.pos + i]!
  R.pos += 4
  return F32[0]!
}

/** Reads a length prefix and returns the end of the delimited bytes. */
function readLength(end: number): number {
  const len = readUint32(end)
  const stop = R.pos + len
  if (stop > end) throw malformed('length beyond the end of the message')
  return stop
}

function readBytes(end: number): Uint8Array {
  const stop = readLength(end)
  const out = new Uint8Array(R.buf.subarray(R.pos, stop))
  R.pos = stop
  return out
}

function readString(end: number): string {
  const stop = readLength(end)
  const buf = R.buf
  const start = R.pos
  R.pos = stop
  if (stop - start < 32) {
    let s = ''
    for (let i = start; i < stop; i++) {
      const c = buf[i]!
      if (c >= 0x80) return UTF8_DECODER.decode(buf.subarray(start, stop))
      s += String.fromCharCode(c)
    }
    return s
  }
  return UTF8_DECODER.decode(buf.subarray(start, stop))
}

function skipField(wire: number, end: number): void {
  switch (wire) {
    case VARINT:
      readVarint64(end)
      return
    case I64:
      R.pos += 8
      break
    case LEN:
      R.pos = readLength(end)
      return
    case I32:
      R.pos += 4
      break
    default:
      throw malformed(`wire type ${wire}`)
  }
  if (R.pos > end) throw malformed('truncated field')
}

/**
 * Decodes `feast.types.Value` protobuf bytes into the JS representation described at the top of this
 * module. Zero bytes decode to `null`. A field this version does not know yields an
 * {@link UnknownValue}; only bytes that are not protobuf at all throw (INVALID_ARGUMENT).
 *
 * @example decodeValue(Uint8Array.of(0x20, 0xb4, 0x02)) // 308
 */
export function decodeValue(bytes: Uint8Array): FeastValue {
  if (bytes.length === 0) return null
  R.buf = bytes
  R.pos = 0
  return readValue(bytes.length)
}

function readValue(end: number): FeastValue {
  const start = R.pos
  let result: FeastValue = null
  let unknownField = 0
  while (R.pos < end) {
    const tag = readUint32(end)
    const field = tag >>> 3
    const wire = tag & 7
    if (wire !== wireOf(field)) {
      skipField(wire, end)
      unknownField = field
      continue
    }
    unknownField = 0
    result = readField(field, end)
  }
  if (unknownField !== 0) {
    return { [VALUE_KIND]: 'Unknown', field: unknownField, bytes: new Uint8Array(R.buf.subarray(start, end)) }
  }
  return result
}

/** The wire type of each Value oneof field, or -1 for a field number the oneof does not have. */
function wireOf(field: number): number {
  if (field <= 0 || field > VT.ZONED_TIMESTAMP) return -1
  switch (field) {
    case VT.INT32:
    case VT.INT64:
    case VT.BOOL:
    case VT.UNIX_TIMESTAMP:
    case VT.NULL:
      return VARINT
    case VT.DOUBLE:
      return I64
    case VT.FLOAT:
      return I32
    case 9:
    case 10:
    case 30:
    case 31:
      return -1
    default:
      return LEN
  }
}

function readField(field: number, end: number): FeastValue {
  switch (field) {
    case VT.BYTES:
      return readBytes(end)
    case VT.STRING:
    case VT.JSON:
    case VT.UUID:
    case VT.TIME_UUID:
    case VT.DECIMAL:
      return readString(end)
    case VT.INT32:
      return readInt32(end)
    case VT.INT64:
      return readInt64(end)
    case VT.DOUBLE:
      return readDouble(end)
    case VT.FLOAT:
      return readFloat(end)
    case VT.BOOL:
      return readBool(end)
    case VT.UNIX_TIMESTAMP:
      return readTimestampSeconds(end)
    case VT.NULL:
      readVarint64(end)
      return null
    case VT.MAP:
    case VT.STRUCT:
      return readMap(readLength(end))
    case VT.MAP_LIST:
    case VT.STRUCT_LIST:
      return readRepeated(readLength(end), LEN, (stop) => readMap(readLength(stop)))
    case VT.VALUE_LIST:
      return readRepeated(readLength(end), LEN, readNestedValue)
    case VT.VALUE_SET:
      return new Set(readRepeated(readLength(end), LEN, readNestedValue))
    case VT.SCALAR_MAP:
      return readScalarMap(readLength(end))
    case VT.ZONED_TIMESTAMP:
      return readZoned(readLength(end))
  }
  const list = readScalarList(ELEMENT_TYPE[field]!, readLength(end))
  return SET_TYPES.has(field) ? new Set(list) : list
}

function readNestedValue(end: number): FeastValue {
  const stop = readLength(end)
  const v = readValue(stop)
  R.pos = stop
  return v
}

function readScalarList(element: number, end: number): FeastValue[] {
  switch (element) {
    case VT.BYTES:
      return readRepeated(end, LEN, readBytes)
    case VT.INT32:
      return readRepeated(end, VARINT, readInt32)
    case VT.INT64:
      return readRepeated(end, VARINT, readInt64)
    case VT.UNIX_TIMESTAMP:
      return readRepeated(end, VARINT, readTimestampSeconds)
    case VT.DOUBLE:
      return readRepeated(end, I64, readDouble)
    case VT.FLOAT:
      return readRepeated(end, I32, readFloat)
    case VT.BOOL:
      return readRepeated(end, VARINT, readBool)
    default:
      return readRepeated(end, LEN, readString)
  }
}

/** Reads `repeated <T> val = 1` up to `end`, packed or not; other fields are skipped. */
function readRepeated<T>(end: number, wire: number, one: (end: number) => T): T[] {
  const out: T[] = []
  while (R.pos < end) {
    const tag = readUint32(end)
    const w = tag & 7
    if (tag >>> 3 !== 1) skipField(w, end)
    else if (w === wire) out.push(one(end))
    else if (w === LEN) {
      const stop = readLength(end)
      while (R.pos < stop) out.push(one(stop))
    } else skipField(w, end)
  }
  R.pos = end
  return out
}

function readMap(end: number): FeastRecord {
  const out: FeastRecord = {}
  while (R.pos < end) {
    const tag = readUint32(end)
    if (tag !== ((1 << 3) | LEN)) {
      skipField(tag & 7, end)
      continue
    }
    const stop = readLength(end)
    let key = ''
    let value: FeastValue = null
    while (R.pos < stop) {
      const t = readUint32(stop)
      if (t === ((1 << 3) | LEN)) key = readString(stop)
      else if (t === ((2 << 3) | LEN)) value = readNestedValue(stop)
      else skipField(t & 7, stop)
    }
    if (key === '__proto__') {
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
    } else out[key] = value
  }
  R.pos = end
  return out
}

function readScalarMap(end: number): ScalarMapValue {
  const entries: [TypedValue, FeastValue][] = []
  while (R.pos < end) {
    const tag = readUint32(end)
    if (tag !== ((1 << 3) | LEN)) {
      skipField(tag & 7, end)
      continue
    }
    const stop = readLength(end)
    let key = typedValue(VT.UNKNOWN, null)
    let value: FeastValue = null
    while (R.pos < stop) {
      const t = readUint32(stop)
      if (t === ((1 << 3) | LEN)) key = readMapKey(readLength(stop))
      else if (t === ((2 << 3) | LEN)) value = readNestedValue(stop)
      else skipField(t & 7, stop)
    }
    entries.push([key, value])
  }
  R.pos = end
  return scalarMap(entries)
}

function readMapKey(end: number): TypedValue {
  let key = typedValue(VT.UNKNOWN, null)
  while (R.pos < end) {
    const tag = readUint32(end)
    const field = tag >>> 3
    const type = MAP_KEY_TYPE[field]
    if (type === undefined || type === VT.UNKNOWN || (tag & 7) !== wireOf(type)) {
      skipField(tag & 7, end)
      continue
    }
    key = typedValue(type, readField(type, end))
  }
  R.pos = end
  return key
}

function readZoned(end: number): ZonedTimestampValue {
  let seconds: number | bigint = 0
  let zone = ''
  while (R.pos < end) {
    const tag = readUint32(end)
    if (tag === ((1 << 3) | VARINT)) seconds = readInt64(end)
    else if (tag === ((2 << 3) | LEN)) zone = readString(end)
    else skipField(tag & 7, end)
  }
  return zonedTimestamp(seconds, zone)
}

/**
 * The ValueType number of the oneof case set in Value bytes (0 when none is set, i.e. a null value),
 * read without decoding the value.
 */
export function valueTypeOf(bytes: Uint8Array): number {
  R.buf = bytes
  R.pos = 0
  let field = 0
  while (R.pos < bytes.length) {
    const tag = readUint32(bytes.length)
    field = tag >>> 3
    skipField(tag & 7, bytes.length)
  }
  return field
}

// ---------------------------------------------------------------------------------------------
// google.protobuf.Timestamp

/**
 * Encodes an instant as `google.protobuf.Timestamp` bytes (`seconds`, `nanos`), as Feast stores the
 * Redis `_ts:<view>` field.
 *
 * @example encodeTimestamp(1_640_995_200_000_000) // Uint8Array [0x08, 0x80, 0xb3, 0xbe, 0x8e, 0x06]
 */
export function encodeTimestamp(micros: Micros): Uint8Array {
  if (!Number.isSafeInteger(micros)) {
    throw new LarderError('INVALID_ARGUMENT', `timestamp ${micros} is not an integer of microseconds`, {
      hint: 'pass microseconds since the epoch, e.g. toMicros(date)',
    })
  }
  const seconds = Math.floor(micros / 1_000_000)
  const nanos = (micros - seconds * 1_000_000) * 1000
  W.pos = 0
  if (seconds !== 0) {
    W.tag(1, VARINT)
    W.int64(seconds)
  }
  if (nanos !== 0) {
    W.tag(2, VARINT)
    W.uint32(nanos)
  }
  return W.finish()
}

/** Decodes `google.protobuf.Timestamp` bytes to microseconds since the epoch (nanoseconds are truncated). */
export function decodeTimestamp(bytes: Uint8Array): Micros {
  R.buf = bytes
  R.pos = 0
  const end = bytes.length
  let seconds = 0
  let nanos = 0
  while (R.pos < end) {
    const tag = readUint32(end)
    if (tag === ((1 << 3) | VARINT)) seconds = Number(readInt64(end))
    else if (tag === ((2 << 3) | VARINT)) nanos = readInt32(end)
    else skipField(tag & 7, end)
  }
  return seconds * 1_000_000 + Math.floor(nanos / 1000)
}
