// What a write refuses beyond what the Value encoder refuses: Float32 narrowing to infinity and
// instants (event times, UNIX_TIMESTAMP seconds) that Larder's microsecond timestamps cannot hold.
import { describe, expect, it } from 'vitest'
import { isLarderError } from './errors.js'
import {
  Array as ArrayOf,
  Float32,
  Float64,
  Set as SetOf,
  Struct,
  UnixTimestamp,
  ValueType,
  ZonedTimestamp,
} from './types.js'
import { checkInstant, checkValueRange, encodeValue, typedValue, zonedTimestamp } from './value-codec.js'

function refusal(f: () => unknown): { message: string; hint?: string } {
  try {
    f()
  } catch (e) {
    expect(isLarderError(e)).toBe(true)
    expect(e).toMatchObject({ code: 'INVALID_ARGUMENT' })
    return e as { message: string; hint?: string }
  }
  throw new Error('expected a refusal')
}

describe('checkValueRange', () => {
  it('refuses a finite number a Float32 narrows to infinity, anywhere the type reaches it', () => {
    // the encoder alone writes it: a float_val of +Infinity
    expect(encodeValue(Float32, 1e300)).toEqual(encodeValue(Float32, Number.POSITIVE_INFINITY))
    const error = refusal(() => checkValueRange(Float32, 1e300))
    expect(error.message).toBe('1e+300 is out of the range of FLOAT')
    expect(error.hint).toContain('3.4028235e38')
    expect(refusal(() => checkValueRange(Float32, -3.5e38)).message).toContain('-3.5e+38')
    expect(refusal(() => checkValueRange(ArrayOf(Float32), [1, 1e39])).message).toBe(
      '1e+39 is out of the range of an element of FLOAT_LIST (FLOAT)',
    )
    expect(() => checkValueRange(SetOf(Float32), new globalThis.Set([1e39]))).toThrow(/FLOAT_SET/)
    expect(() => checkValueRange(Struct({ rate: Float32 }), { rate: 1e300 })).toThrow(
      '1e+300 is out of the range of field "rate" of STRUCT (FLOAT)',
    )
    expect(() => checkValueRange(ArrayOf(Struct({ rate: Float32 })), [{ rate: 1 }, { rate: 1e300 }])).toThrow(
      'field "rate" of an element of STRUCT_LIST (FLOAT)',
    )
    expect(() => checkValueRange(ValueType.VALUE_LIST, [typedValue(ValueType.FLOAT, 1e300)])).toThrow(/FLOAT/)
  })

  it('keeps what a Float32 holds, what was not finite to begin with, and every Float64', () => {
    for (const v of [3.4e38, -3.4e38, 1e-50, 0, Number.NaN, Number.POSITIVE_INFINITY, null, undefined]) {
      expect(() => checkValueRange(Float32, v)).not.toThrow()
    }
    expect(() => checkValueRange(Float64, 1e300)).not.toThrow()
    expect(() => checkValueRange(ArrayOf(Float32), [1, null, 2])).not.toThrow()
    // a value of the wrong kind is the encoder's to name
    expect(() => checkValueRange(Float32, 'fast')).not.toThrow()
  })

  it('refuses UNIX_TIMESTAMP seconds outside the instants Larder holds', () => {
    const max = Math.floor(Number.MAX_SAFE_INTEGER / 1_000_000)
    for (const ok of [0, max, -max, BigInt(max), 1_790_000_000]) {
      expect(() => checkValueRange(UnixTimestamp, ok)).not.toThrow()
    }
    expect(refusal(() => checkValueRange(UnixTimestamp, 2n ** 53n)).message).toBe(
      '9007199254740992n is out of the range of UNIX_TIMESTAMP',
    )
    expect(() => checkValueRange(UnixTimestamp, max + 1)).toThrow(/UNIX_TIMESTAMP/)
    expect(() => checkValueRange(ArrayOf(UnixTimestamp), [0, null, -(max + 1)])).toThrow(
      /an element of UNIX_TIMESTAMP_LIST \(UNIX_TIMESTAMP\)/,
    )
    expect(() => checkValueRange(ZonedTimestamp, zonedTimestamp(2n ** 60n, 'UTC'))).toThrow(
      'the seconds of ZONED_TIMESTAMP (UNIX_TIMESTAMP)',
    )
  })
})

describe('checkInstant', () => {
  it('returns an integer of microseconds within ±(2^53 - 1) and refuses anything else, naming it', () => {
    expect(checkInstant(Number.MAX_SAFE_INTEGER, 'x')).toBe(Number.MAX_SAFE_INTEGER)
    expect(checkInstant(-Number.MAX_SAFE_INTEGER, 'x')).toBe(-Number.MAX_SAFE_INTEGER)
    const error = refusal(() =>
      checkInstant(2 ** 53 * 1000, 'column "event_timestamp" value 9007199254740992'),
    )
    expect(error.message).toBe(
      'column "event_timestamp" value 9007199254740992 (9007199254740992000 microseconds since the epoch) is outside the instants Larder holds (1684-07-28T00:12:25Z to 2255-06-05T23:47:34Z)',
    )
    expect(refusal(() => checkInstant(2 ** 53, 'the time')).message).toContain('2255-06-05T23:47:34.740')
    expect(() => checkInstant(Number.NaN, 'x')).toThrow(/NaN/)
    expect(() => checkInstant(1.5, 'x')).toThrow(/outside/)
  })
})
