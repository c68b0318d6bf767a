import { create, fromBinary, type MessageInitShape, toBinary } from '@bufbuild/protobuf'
import { TimestampSchema } from '@bufbuild/protobuf/wkt'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type MapKey, type Value, ValueSchema } from '../gen/feast/types/Value_pb.js'
import { LarderError } from './errors.js'
import {
  Array as ArrayOf,
  type FeastType,
  Float32,
  Int32,
  Int64,
  Set as SetOf,
  String as Str,
  Struct,
  ValueType,
  valueTypeName,
} from './types.js'
import {
  decodeTimestamp,
  decodeValue,
  encodeTimestamp,
  encodeValue,
  type FeastValue,
  scalarMap,
  type TypedValue,
  typedValue,
  valueTypeOf,
  zonedTimestamp,
} from './value-codec.js'

const VT = ValueType
const hex = (b: Uint8Array) =>
  Buffer.from(b)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ')
const bytes = (h: string) => Uint8Array.from(Buffer.from(h.replace(/ /g, ''), 'hex'))

function errorOf(fn: () => unknown): LarderError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(LarderError)
    return e as LarderError
  }
  throw new Error('expected an error')
}

describe('Feast reference §7.2 worked examples', () => {
  it('float_val = 0.927… is 35 f5 69 6d 3f', () => {
    const convRate = 0.927398
    const encoded = encodeValue(Float32, convRate)
    expect(hex(encoded)).toBe('35 f5 69 6d 3f')
    expect(decodeValue(encoded)).toBe(Math.fround(convRate))
  })

  it('int64_val = 308 is 20 b4 02', () => {
    expect(hex(encodeValue(VT.INT64, 308))).toBe('20 b4 02')
    expect(decodeValue(bytes('20 b4 02'))).toBe(308)
  })

  it('string_val = "abc" is 12 03 61 62 63', () => {
    expect(hex(encodeValue(VT.STRING, 'abc'))).toBe('12 03 61 62 63')
  })

  it('double_val = 0.5 is 29 00 00 00 00 00 00 e0 3f', () => {
    expect(hex(encodeValue(VT.DOUBLE, 0.5))).toBe('29 00 00 00 00 00 00 e0 3f')
  })

  it('bool_val = true is 38 01', () => {
    expect(hex(encodeValue(VT.BOOL, true))).toBe('38 01')
  })

  it('int64_list_val = [1, 2] is 72 04 0a 02 01 02 (packed)', () => {
    expect(hex(encodeValue(ArrayOf(Int64), [1, 2]))).toBe('72 04 0a 02 01 02')
    expect(decodeValue(bytes('72 04 0a 02 01 02'))).toEqual([1, 2])
  })

  it('an unset Value is zero bytes and means null', () => {
    expect(encodeValue(VT.STRING, null).length).toBe(0)
    expect(decodeValue(new Uint8Array(0))).toBe(null)
  })

  it('Timestamp 2022-01-01T00:00:00Z is 08 80 b3 be 8e 06', () => {
    expect(hex(encodeTimestamp(1_640_995_200_000_000))).toBe('08 80 b3 be 8e 06')
    expect(decodeTimestamp(bytes('08 80 b3 be 8e 06'))).toBe(1_640_995_200_000_000)
  })
})

describe('encodeValue edge cases', () => {
  it('writes oneof defaults (0, "", false) instead of dropping them', () => {
    expect(hex(encodeValue(VT.INT64, 0))).toBe('20 00')
    expect(hex(encodeValue(VT.STRING, ''))).toBe('12 00')
    expect(hex(encodeValue(VT.BOOL, false))).toBe('38 00')
    expect(hex(encodeValue(ArrayOf(Int64), []))).toBe('72 00')
  })

  it('writes a null UNIX_TIMESTAMP as INT64_MIN, as Feast does, and reads it back as null', () => {
    const encoded = encodeValue(VT.UNIX_TIMESTAMP, null)
    expect(hex(encoded)).toBe('40 80 80 80 80 80 80 80 80 80 01')
    expect(decodeValue(encoded)).toBe(null)
    expect(decodeValue(encodeValue(VT.UNIX_TIMESTAMP_LIST, [1, null]))).toEqual([1, null])
  })

  it('writes NULL as null_val and reads it as null', () => {
    expect(hex(encodeValue(VT.NULL, null))).toBe('98 01 00')
    expect(decodeValue(bytes('98 01 00'))).toBe(null)
  })

  it('keeps int64 beyond 2^53 exact as bigint', () => {
    const big = 2n ** 53n + 1n
    expect(decodeValue(encodeValue(VT.INT64, big))).toBe(big)
    expect(decodeValue(encodeValue(VT.INT64, -(2n ** 63n)))).toBe(-(2n ** 63n))
    expect(decodeValue(encodeValue(VT.INT64, 2n ** 63n - 1n))).toBe(2n ** 63n - 1n)
    expect(decodeValue(encodeValue(VT.INT64, 12n))).toBe(12)
    expect(decodeValue(encodeValue(VT.INT64, Number.MIN_SAFE_INTEGER))).toBe(Number.MIN_SAFE_INTEGER)
    expect(decodeValue(encodeValue(VT.INT64, -(2n ** 53n)))).toBe(-(2n ** 53n))
  })

  it('writes a negative int32 as a 10-byte varint', () => {
    expect(hex(encodeValue(VT.INT32, -1))).toBe('18 ff ff ff ff ff ff ff ff ff 01')
    expect(decodeValue(encodeValue(VT.INT32, -2147483648))).toBe(-2147483648)
  })

  it('gives a length of two bytes to nested messages over 127 bytes', () => {
    const long = 'x'.repeat(200)
    const encoded = encodeValue(ArrayOf(Str), [long, long])
    expect(hex(encoded.subarray(0, 3))).toBe('62 96 03')
    expect(decodeValue(encoded)).toEqual([long, long])
  })

  it('encodes strings as UTF-8, surrogate pairs included', () => {
    const s = 'é😀中'
    expect(encodeValue(VT.STRING, s)).toEqual(Uint8Array.from([0x12, 9, ...Buffer.from(s)]))
    expect(decodeValue(encodeValue(VT.STRING, s))).toBe(s)
  })

  it("types MAP values like Feast's Python SDK, and lets typedValue override", () => {
    const encoded = encodeValue(VT.MAP, {
      n: 1,
      x: 0.5,
      s: 'a',
      b: true,
      l: [1, 2],
      t: typedValue(VT.INT32, 3),
    })
    const parsed = fromBinary(ValueSchema, encoded)
    expect(parsed.val.case).toBe('mapVal')
    const val = (parsed.val.value as { val: Record<string, Value> }).val
    expect(Object.fromEntries(Object.entries(val).map(([k, v]) => [k, v.val.case]))).toEqual({
      n: 'int64Val',
      x: 'doubleVal',
      s: 'stringVal',
      b: 'boolVal',
      l: 'int64ListVal',
      t: 'int32Val',
    })
  })

  it('reports values that do not fit their type', () => {
    const e = errorOf(() => encodeValue(VT.INT32, 'x'))
    expect(e.message).toBe('cannot encode "x" as INT32')
    expect(e.code).toBe('INVALID_ARGUMENT')
    expect(errorOf(() => encodeValue(VT.INT64, 2 ** 60)).hint).toMatch(/bigint/)
    expect(errorOf(() => encodeValue(ArrayOf(Int64), [1, 'a'])).message).toBe(
      'cannot encode "a" as an element of INT64_LIST',
    )
    expect(errorOf(() => encodeValue(VT.STRING_LIST, 'abc')).hint).toBe('expected an array or a Set')
    expect(errorOf(() => encodeValue(VT.JSON, { a: 1 })).hint).toBe('expected the JSON text as a string')
    expect(errorOf(() => encodeValue(VT.UNKNOWN, 1)).message).toBe('cannot encode a value of type UNKNOWN')
    expect(errorOf(() => encodeValue(VT.MAP, { f: () => 1 })).message).toMatch(/cannot infer/)
  })
})

describe('decodeValue robustness', () => {
  it('turns a field it does not know into an unknown value, without throwing', () => {
    const unknown = bytes('f8 03 05') // field 63, varint 5
    const v = decodeValue(unknown)
    expect(v).toMatchObject({ field: 63 })
    expect((v as { bytes: Uint8Array }).bytes).toEqual(unknown)
    expect(encodeValue(VT.MAP, { k: v })).toEqual(encodeValue(VT.MAP, { k: v }))
    expect(decodeValue(encodeValue(VT.MAP, { k: v }))).toEqual({ k: v })
    expect(valueTypeOf(unknown)).toBe(63)
  })

  it('reads a known field sent with another wire type as unknown', () => {
    expect(decodeValue(bytes('22 01 00'))).toMatchObject({ field: 4 })
  })

  it('accepts unpacked repeated numbers and skips unknown fields in lists', () => {
    expect(decodeValue(bytes('72 06 08 01 08 02 10 07'))).toEqual([1, 2])
  })

  it('throws INVALID_ARGUMENT on truncated bytes', () => {
    expect(errorOf(() => decodeValue(bytes('12 05 61'))).message).toMatch(/malformed feast.types.Value/)
    expect(errorOf(() => decodeValue(bytes('20 ff'))).code).toBe('INVALID_ARGUMENT')
  })

  it('reports the type of Value bytes without decoding them', () => {
    expect(valueTypeOf(new Uint8Array(0))).toBe(0)
    expect(valueTypeOf(encodeValue(VT.DOUBLE, 1))).toBe(VT.DOUBLE)
    expect(valueTypeOf(encodeValue(ArrayOf(Str), ['a']))).toBe(VT.STRING_LIST)
  })
})

// ---------------------------------------------------------------------------------------------
// Property tests: every type round-trips, and protobuf-es reads the bytes as the same message.

const int64 = fc.oneof(
  fc.maxSafeInteger(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(normalize),
  fc.constantFrom(0, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
)
const int32 = fc.integer()
const str = fc.string({ unit: 'binary', maxLength: 20 })
const key = str.filter((k) => k !== '__proto__')
const blob = fc.uint8Array({ maxLength: 20 })
// INT64_MIN is Feast's null timestamp, so it reads back as null
const seconds = int64.filter((v) => v !== -(2n ** 63n))
const timestamp = fc.oneof(seconds, fc.constant(null))
const uuid = fc.uuid()
const decimal = fc.stringMatching(/^-?\d{1,20}(\.\d{1,10})?$/)

function normalize(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
}

/** Values whose inferred type decodes back to an equal JS value (the domain of MAP values). */
const { inferable } = fc.letrec<{ inferable: FeastValue; record: Record<string, FeastValue> }>((tie) => ({
  inferable: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.double(),
    fc.bigInt({ min: 2n ** 53n, max: 2n ** 63n - 1n }),
    str,
    blob,
    fc.constant(null),
    fc.array(tie('inferable'), { maxLength: 4 }),
    tie('record'),
  ),
  record: fc.dictionary(key, tie('inferable'), { maxKeys: 4 }) as fc.Arbitrary<Record<string, FeastValue>>,
}))
const record = fc.dictionary(key, inferable, { maxKeys: 4 })

const structType = Struct({ id: Int64, name: Str, score: Float32, tags: ArrayOf(Str) })
const structValue = fc.record({
  id: fc.maxSafeInteger(),
  name: str,
  score: fc.float(),
  tags: fc.array(str, { maxLength: 3 }),
})

const list = <T>(a: fc.Arbitrary<T>) => fc.array(a, { maxLength: 6 })
const set = <T>(a: fc.Arbitrary<T>) => list(a).map((xs) => new Set(xs))

const mapKey: fc.Arbitrary<TypedValue> = fc.oneof(
  int32.map((v) => typedValue(VT.INT32, v)),
  int64.map((v) => typedValue(VT.INT64, v)),
  fc.float().map((v) => typedValue(VT.FLOAT, v)),
  fc.double().map((v) => typedValue(VT.DOUBLE, v)),
  fc.boolean().map((v) => typedValue(VT.BOOL, v)),
  seconds.map((v) => typedValue(VT.UNIX_TIMESTAMP, v)),
  blob.map((v) => typedValue(VT.BYTES, v)),
  uuid.map((v) => typedValue(VT.UUID, v)),
  uuid.map((v) => typedValue(VT.TIME_UUID, v)),
  decimal.map((v) => typedValue(VT.DECIMAL, v)),
)

/** One arbitrary per value type: the declared type and values of its JS representation. */
const CASES: readonly [string, FeastType | number, fc.Arbitrary<unknown>][] = [
  ['BYTES', VT.BYTES, blob],
  ['PDF_BYTES (in bytes_val)', VT.PDF_BYTES, blob],
  ['IMAGE_BYTES (in bytes_val)', VT.IMAGE_BYTES, blob],
  ['STRING', VT.STRING, str],
  ['INT32', Int32, int32],
  ['INT64', Int64, int64],
  ['DOUBLE', VT.DOUBLE, fc.double()],
  ['FLOAT', Float32, fc.float()],
  ['BOOL', VT.BOOL, fc.boolean()],
  ['UNIX_TIMESTAMP', VT.UNIX_TIMESTAMP, timestamp],
  ['BYTES_LIST', VT.BYTES_LIST, list(blob)],
  ['STRING_LIST', ArrayOf(Str), list(str)],
  ['INT32_LIST', VT.INT32_LIST, list(int32)],
  ['INT64_LIST', VT.INT64_LIST, list(int64)],
  ['DOUBLE_LIST', VT.DOUBLE_LIST, list(fc.double())],
  ['FLOAT_LIST', VT.FLOAT_LIST, list(fc.float())],
  ['BOOL_LIST', VT.BOOL_LIST, list(fc.boolean())],
  ['UNIX_TIMESTAMP_LIST', VT.UNIX_TIMESTAMP_LIST, list(timestamp)],
  ['NULL', VT.NULL, fc.constant(null)],
  ['MAP', VT.MAP, record],
  ['MAP_LIST', VT.MAP_LIST, list(record)],
  ['BYTES_SET', VT.BYTES_SET, set(blob)],
  ['STRING_SET', SetOf(Str), set(str)],
  ['INT32_SET', VT.INT32_SET, set(int32)],
  ['INT64_SET', VT.INT64_SET, set(int64)],
  ['DOUBLE_SET', VT.DOUBLE_SET, set(fc.double())],
  ['FLOAT_SET', VT.FLOAT_SET, set(fc.float())],
  ['BOOL_SET', VT.BOOL_SET, set(fc.boolean())],
  ['UNIX_TIMESTAMP_SET', VT.UNIX_TIMESTAMP_SET, set(timestamp)],
  ['JSON', VT.JSON, fc.json()],
  ['JSON_LIST', VT.JSON_LIST, list(fc.json())],
  ['STRUCT', structType, structValue],
  ['STRUCT (no schema)', VT.STRUCT, record],
  ['STRUCT_LIST', ArrayOf(structType), list(structValue)],
  ['UUID', VT.UUID, uuid],
  ['TIME_UUID', VT.TIME_UUID, uuid],
  ['UUID_LIST', VT.UUID_LIST, list(uuid)],
  ['TIME_UUID_LIST', VT.TIME_UUID_LIST, list(uuid)],
  ['UUID_SET', VT.UUID_SET, set(uuid)],
  ['TIME_UUID_SET', VT.TIME_UUID_SET, set(uuid)],
  ['VALUE_LIST', ArrayOf(ArrayOf(Int64)), list(list(int64))],
  ['VALUE_LIST (no element type)', VT.VALUE_LIST, list(inferable)],
  ['VALUE_SET', SetOf(ArrayOf(Str)), set(list(str))],
  ['DECIMAL', VT.DECIMAL, decimal],
  ['DECIMAL_LIST', VT.DECIMAL_LIST, list(decimal)],
  ['DECIMAL_SET', VT.DECIMAL_SET, set(decimal)],
  ['SCALAR_MAP', VT.SCALAR_MAP, list(fc.tuple(mapKey, inferable)).map((e) => scalarMap(e))],
  [
    'ZONED_TIMESTAMP',
    VT.ZONED_TIMESTAMP,
    fc
      .tuple(int64, fc.constantFrom('', 'UTC', 'Europe/Paris', '+05:30'))
      .map(([s, z]) => zonedTimestamp(s, z)),
  ],
]

describe('Value codec round trip (fast-check, every value type)', () => {
  it('covers every ValueType Larder knows', () => {
    const covered = new Set(CASES.map(([, t]) => (typeof t === 'number' ? t : t.valueType)))
    const all = Object.values(VT).filter((n) => n !== VT.UNKNOWN)
    expect(all.filter((n) => !covered.has(n)).map(valueTypeName)).toEqual([])
  })

  for (const [name, type, arb] of CASES) {
    it(`${name}: decode(encode(v)) equals v, and protobuf-es reads the same message`, () => {
      fc.assert(
        fc.property(arb, (v) => {
          const encoded = encodeValue(type, v)
          expect(decodeValue(encoded)).toEqual(v)
          const parsed = fromBinary(ValueSchema, encoded)
          expect(fromProtobufEs(parsed)).toEqual(v)
          expect(toBinary(ValueSchema, parsed)).toEqual(encoded)
        }),
        { numRuns: 150 },
      )
    })
  }
})

describe('cross-check against the generated protobuf-es ValueSchema', () => {
  const cases: [string, FeastType | number, unknown, MessageInitShape<typeof ValueSchema>['val']][] = [
    ['int64 beyond 2^53', VT.INT64, 2n ** 60n, { case: 'int64Val', value: 2n ** 60n }],
    ['negative int32', VT.INT32, -5, { case: 'int32Val', value: -5 }],
    ['float', Float32, 1.5, { case: 'floatVal', value: 1.5 }],
    ['string list', ArrayOf(Str), ['a', ''], { case: 'stringListVal', value: { val: ['a', ''] } }],
    ['empty bool list', VT.BOOL_LIST, [], { case: 'boolListVal', value: { val: [] } }],
    ['json', VT.JSON, '{"a":1}', { case: 'jsonVal', value: '{"a":1}' }],
    ['null', VT.NULL, null, { case: 'nullVal', value: 0 }],
    [
      'map with an empty key and a null value',
      VT.MAP,
      { '': null, k: 'v' },
      {
        case: 'mapVal',
        value: {
          val: {
            '': create(ValueSchema),
            k: create(ValueSchema, { val: { case: 'stringVal', value: 'v' } }),
          },
        },
      },
    ],
    [
      'zoned timestamp',
      VT.ZONED_TIMESTAMP,
      zonedTimestamp(1_700_000_000, 'Europe/Paris'),
      {
        case: 'zonedTimestampVal',
        value: { unixTimestamp: 1_700_000_000n, zone: 'Europe/Paris' },
      },
    ],
    [
      'scalar map',
      VT.SCALAR_MAP,
      scalarMap([[typedValue(VT.INT64, 7), 'seven']]),
      {
        case: 'scalarMapVal',
        value: {
          val: [
            {
              key: { key: { case: 'int64Val', value: 7n } },
              value: create(ValueSchema, { val: { case: 'stringVal', value: 'seven' } }),
            },
          ],
        },
      },
    ],
  ]
  for (const [name, type, value, val] of cases) {
    it(`${name}: the same bytes as toBinary(ValueSchema, create(ValueSchema, ...))`, () => {
      expect(hex(encodeValue(type, value))).toBe(hex(toBinary(ValueSchema, create(ValueSchema, { val }))))
    })
  }

  it('Timestamp: the same bytes as protobuf-es TimestampSchema', () => {
    for (const micros of [0, 1, 1_640_995_200_123_456, -1_500_000]) {
      const seconds = Math.floor(micros / 1e6)
      const es = create(TimestampSchema, { seconds: BigInt(seconds), nanos: (micros - seconds * 1e6) * 1000 })
      expect(hex(encodeTimestamp(micros))).toBe(hex(toBinary(TimestampSchema, es)))
      expect(decodeTimestamp(encodeTimestamp(micros))).toBe(micros)
    }
  })
})

/** protobuf-es's message, turned into Larder's JS representation independently of the codec under test. */
function fromProtobufEs(v: Value): unknown {
  const { case: c, value } = v.val
  const norm = (x: unknown) => (typeof x === 'bigint' ? normalize(x) : x)
  const ts = (x: bigint) => (x === -(2n ** 63n) ? null : normalize(x))
  const record = (m: { val: Record<string, Value> }) =>
    Object.fromEntries(Object.entries(m.val).map(([k, x]) => [k, fromProtobufEs(x)]))
  switch (c) {
    case undefined:
    case 'nullVal':
      return null
    case 'int64Val':
      return norm(value)
    case 'unixTimestampVal':
      return ts(value)
    case 'int64ListVal':
      return value.val.map(norm)
    case 'int64SetVal':
      return new Set(value.val.map(norm))
    case 'unixTimestampListVal':
      return value.val.map(ts)
    case 'unixTimestampSetVal':
      return new Set(value.val.map(ts))
    case 'mapVal':
    case 'structVal':
      return record(value)
    case 'mapListVal':
    case 'structListVal':
      return value.val.map(record)
    case 'listVal':
      return value.val.map(fromProtobufEs)
    case 'setVal':
      return new Set(value.val.map(fromProtobufEs))
    case 'zonedTimestampVal':
      return zonedTimestamp(norm(value.unixTimestamp) as number | bigint, value.zone)
    case 'scalarMapVal':
      return scalarMap(
        value.val.map(
          (e) => [mapKeyOf(e.key), fromProtobufEs(e.value ?? create(ValueSchema)) as FeastValue] as const,
        ),
      )
  }
  if (typeof value === 'object' && value !== null && 'val' in value) {
    return c.endsWith('SetVal') ? new Set<unknown>(value.val) : [...value.val]
  }
  return value
}

function mapKeyOf(key: MapKey | undefined): TypedValue {
  const k = key?.key
  if (!k?.case) return typedValue(VT.UNKNOWN, null)
  const type = {
    int32Val: VT.INT32,
    int64Val: VT.INT64,
    floatVal: VT.FLOAT,
    doubleVal: VT.DOUBLE,
    boolVal: VT.BOOL,
    unixTimestampVal: VT.UNIX_TIMESTAMP,
    bytesVal: VT.BYTES,
    uuidVal: VT.UUID,
    timeUuidVal: VT.TIME_UUID,
    decimalVal: VT.DECIMAL,
  }[k.case]
  return typedValue(type, (typeof k.value === 'bigint' ? normalize(k.value) : k.value) as FeastValue)
}
