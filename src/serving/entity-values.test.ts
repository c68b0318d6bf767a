import { describe, expect, it } from 'vitest'
import { ValueType } from '../core/index.js'
import { joinKeyValue, parseJoinKeyText } from './entity-values.js'

describe('joinKeyValue', () => {
  it('keeps numbers for INT64 keys and bigints only beyond 2^53', () => {
    expect(joinKeyValue(1001, ValueType.INT64, 'driver_id', 'v')).toBe(1001)
    expect(joinKeyValue(1001n, ValueType.INT64, 'driver_id', 'v')).toBe(1001)
    expect(joinKeyValue(2n ** 62n, ValueType.INT64, 'driver_id', 'v')).toBe(2n ** 62n)
    expect(joinKeyValue(7n, ValueType.INT32, 'k', 'v')).toBe(7)
  })

  it('never converts between strings and numbers', () => {
    expect(() => joinKeyValue('1001', ValueType.INT64, 'driver_id', 'stats')).toThrow(
      'join key "driver_id" = "1001" (a string) does not match its type INT64 in feature view "stats"',
    )
    expect(() => joinKeyValue(1001, ValueType.STRING, 'zip', 'stats')).toThrow(
      'does not match its type STRING',
    )
    expect(() => joinKeyValue(2 ** 31, ValueType.INT32, 'k', 'stats')).toThrow(
      'does not match its type INT32',
    )
    expect(() => joinKeyValue(2n ** 63n, ValueType.INT64, 'k', 'stats')).toThrow(
      'does not match its type INT64',
    )
    expect(() => joinKeyValue(undefined, ValueType.INT64, 'k', 'stats')).toThrow('= undefined does not match')
  })
})

describe('parseJoinKeyText', () => {
  it('parses text by the key type', () => {
    expect(parseJoinKeyText('1001', ValueType.INT64, 'driver_id')).toBe(1001)
    expect(parseJoinKeyText('-9223372036854775808', ValueType.INT64, 'k')).toBe(-(2n ** 63n))
    expect(parseJoinKeyText('02139', ValueType.STRING, 'zip')).toBe('02139')
    expect(parseJoinKeyText('AAH/', ValueType.BYTES, 'k')).toEqual(Uint8Array.of(0, 1, 255))
  })

  it('rejects text that is not of the type, naming the key', () => {
    expect(() => parseJoinKeyText('abc', ValueType.INT64, 'driver_id')).toThrow(
      'join key "driver_id" = "abc" is not a valid INT64',
    )
    expect(() => parseJoinKeyText('9223372036854775808', ValueType.INT64, 'k')).toThrow('not a valid INT64')
    expect(() => parseJoinKeyText('3000000000', ValueType.INT32, 'k')).toThrow('not a valid INT32')
  })
})
