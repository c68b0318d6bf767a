import {
  Bool as ArrowBool,
  Field as ArrowField,
  Float64 as ArrowFloat64,
  Int32 as ArrowInt32,
  Int64 as ArrowInt64,
  Struct as ArrowStruct,
  Dictionary,
  List,
  makeData,
  Timestamp,
  TimeUnit,
  Uint64,
  Utf8,
  Vector,
  vectorFromArray,
} from 'apache-arrow'
import { describe, expect, it } from 'vitest'
import {
  Array as ArrayOf,
  Bool,
  Float64,
  Int32,
  Int64,
  Json,
  String as Str,
  Struct,
  UnixTimestamp,
  ZonedTimestamp,
  zonedTimestamp,
} from '../core/index.js'
import { columnReader, timestampReader } from './arrow-values.js'

function int64Vector(type: ArrowInt64 | Uint64 | Timestamp, values: bigint[], valid?: boolean[]): Vector {
  const nullBitmap = valid && Uint8Array.of(valid.reduce((bits, v, i) => bits | (v ? 1 << i : 0), 0))
  const data = type instanceof Uint64 ? BigUint64Array.from(values) : BigInt64Array.from(values)
  return new Vector([
    makeData({
      type,
      length: values.length,
      nullCount: valid ? valid.filter((v) => !v).length : 0,
      nullBitmap,
      data,
    } as never),
  ])
}

const read = (vector: Vector, type: Parameters<typeof columnReader>[1]) => {
  const reader = columnReader(vector, type, 'column')
  return Array.from({ length: vector.length }, (_, i) => reader(i))
}

describe('columnReader', () => {
  it('reads int64 as numbers while safe and bigints beyond, nulls included', () => {
    const v = int64Vector(new ArrowInt64(), [1n, -(2n ** 60n), 2n ** 53n - 1n, 0n], [true, true, true, false])
    expect(read(v, Int64)).toEqual([1, -(2n ** 60n), 2 ** 53 - 1, null])
    expect(read(int64Vector(new Uint64(), [2n ** 63n + 1n]), Int64)).toEqual([2n ** 63n + 1n])
    expect(read(int64Vector(new ArrowInt64(), [3n]), Float64)).toEqual([3])
  })

  it('reads epoch seconds for UnixTimestamp from timestamps of every unit', () => {
    const t = 1_767_225_600n
    for (const [unit, scale] of [
      [TimeUnit.SECOND, 1n],
      [TimeUnit.MILLISECOND, 1000n],
      [TimeUnit.MICROSECOND, 1_000_000n],
      [TimeUnit.NANOSECOND, 1_000_000_000n],
    ] as const) {
      const v = int64Vector(new Timestamp(unit, 'UTC'), [t * scale + scale / 2n, -scale / 2n])
      expect(read(v, UnixTimestamp), TimeUnit[unit]).toEqual(
        unit === TimeUnit.SECOND ? [1_767_225_600, 0] : [1_767_225_600, -1],
      )
    }
    expect(read(vectorFromArray([1_767_225_600, null], new ArrowInt32()), UnixTimestamp)).toEqual([
      1_767_225_600,
      null,
    ])
  })

  it('converts through Vector.get for nested and dictionary columns', () => {
    const list = vectorFromArray(
      [[1n, 2n ** 60n], null, []],
      new List(new ArrowField('item', new ArrowInt64(), true)),
    )
    expect(read(list, ArrayOf(Int64))).toEqual([[1, 2n ** 60n], null, []])
    const dict = vectorFromArray(['a', 'b', null, 'a'], new Dictionary(new Utf8(), new ArrowInt32()))
    expect(read(dict, Str)).toEqual(['a', 'b', null, 'a'])
    const struct = vectorFromArray(
      [{ x: 1, y: 'q' }],
      new ArrowStruct([new ArrowField('x', new ArrowInt32(), true), new ArrowField('y', new Utf8(), true)]),
    )
    expect(read(struct, Struct({ x: Int32, y: Str }))).toEqual([{ x: 1, y: 'q' }])
    expect(read(struct, Json)).toEqual(['{"x":1,"y":"q"}'])
    const zoned = int64Vector(new Timestamp(TimeUnit.MICROSECOND, 'Europe/Paris'), [1_767_225_600_000_000n])
    expect(read(zoned, ZonedTimestamp)).toEqual([zonedTimestamp(1_767_225_600, 'Europe/Paris')])
  })

  it('reads booleans, floats and strings from their buffers', () => {
    expect(read(vectorFromArray([true, null, false], new ArrowBool()), Bool)).toEqual([true, null, false])
    expect(read(vectorFromArray([0.5, null], new ArrowFloat64()), Float64)).toEqual([0.5, null])
    expect(read(vectorFromArray(['héllo', '', null], new Utf8()), Str)).toEqual(['héllo', '', null])
  })

  it('refuses a list type for a scalar column, naming it', () => {
    expect(() =>
      columnReader(vectorFromArray([1], new ArrowInt32()), ArrayOf(Int64), 'feature "xs"'),
    ).toThrow('feature "xs" is declared Array(Int64) but the offline store returned Int32')
  })
})

describe('timestampReader', () => {
  it('reads microseconds from any unit and dates, undefined for null', () => {
    const ts = timestampReader(
      int64Vector(new Timestamp(TimeUnit.NANOSECOND), [1_500n, -1_500n, 0n], [true, true, false]),
      'ts',
    )
    expect([ts(0), ts(1), ts(2)]).toEqual([1, -2, undefined])
    expect(() => timestampReader(vectorFromArray(['x'], new Utf8()), 'timestamp field "ts"')).toThrow(
      'timestamp field "ts" is Utf8, not a timestamp',
    )
  })
})
