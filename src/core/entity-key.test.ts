import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DUMMY_ENTITY_ID, DUMMY_ENTITY_VALUE } from './entity.js'
import {
  deserializeEntityKey,
  entityKeyPrefix,
  entityKeySerializer,
  serializeEntityKey,
} from './entity-key.js'
import { LarderError } from './errors.js'
import { ValueType } from './types.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const driver = [{ joinKey: 'driver_id', valueType: ValueType.INT64, value: 1001 }]

function errorOf(fn: () => unknown): LarderError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(LarderError)
    return e as LarderError
  }
  throw new Error('expected an error')
}

describe('serializeEntityKey (Feast reference §7.1 worked examples)', () => {
  it('v3, driver_id=1001 (int64)', () => {
    expect(hex(serializeEntityKey(driver))).toBe(
      '01000000' +
        '02000000' +
        '09000000' +
        '6472697665725f6964' +
        '04000000' +
        '08000000' +
        'e903000000000000',
    )
  })

  it('v2, driver_id=1001', () => {
    expect(hex(serializeEntityKey(driver, 2))).toBe(
      '02000000' + '6472697665725f6964' + '04000000' + '08000000' + 'e903000000000000',
    )
  })

  it('v1, driver_id=1002 (the spec example: INT64 as 4 bytes)', () => {
    expect(hex(serializeEntityKey([{ ...driver[0]!, value: 1002 }], 1))).toBe(
      '020000006472697665725f69640400000004000000ea030000',
    )
  })

  it('v3, the entity-less dummy key (__dummy_id = "")', () => {
    const key = serializeEntityKey([
      { joinKey: DUMMY_ENTITY_ID, valueType: ValueType.STRING, value: DUMMY_ENTITY_VALUE },
    ])
    expect(hex(key)).toBe(
      '01000000' + '02000000' + '0a000000' + '5f5f64756d6d795f6964' + '02000000' + '00000000',
    )
  })
})

describe('serializeEntityKey', () => {
  it('sorts composite keys by join key, whatever the given order', () => {
    const a = { joinKey: 'b_key', valueType: ValueType.STRING, value: 'x' }
    const b = { joinKey: 'a_key', valueType: ValueType.INT32, value: -2 }
    const key = serializeEntityKey([a, b])
    expect(key).toEqual(serializeEntityKey([b, a]))
    expect(hex(key)).toBe(
      '02000000' +
        '02000000' +
        '05000000' +
        hex(Buffer.from('a_key')) +
        '02000000' +
        '05000000' +
        hex(Buffer.from('b_key')) +
        '03000000' +
        '04000000' +
        'feffffff' +
        '02000000' +
        '01000000' +
        '78',
    )
  })

  it('writes BYTES raw, UNIX_TIMESTAMP and large INT64 as 8 bytes', () => {
    const key = serializeEntityKey([
      { joinKey: 'b', valueType: ValueType.BYTES, value: Uint8Array.of(1, 2) },
      { joinKey: 't', valueType: ValueType.UNIX_TIMESTAMP, value: 1_640_995_200 },
      { joinKey: 'x', valueType: ValueType.INT64, value: 2n ** 62n },
    ])
    expect(hex(key).endsWith('04000000' + '08000000' + '0000000000000040')).toBe(true)
    expect(hex(key)).toContain('01000000' + '02000000' + '0102')
    expect(hex(key)).toContain('08000000' + '08000000' + '8099cf6100000000')
  })

  it('rejects value types that cannot be keys, wrong values and v1 overflow', () => {
    expect(
      errorOf(() => serializeEntityKey([{ joinKey: 'r', valueType: ValueType.DOUBLE, value: 1 }])).message,
    ).toBe('join key "r" has value type DOUBLE, which cannot be part of an entity key')
    const wrong = errorOf(() => serializeEntityKey([{ ...driver[0]!, value: '1001' }]))
    expect(wrong.message).toBe('join key "driver_id" is INT64 but was given "1001"')
    expect(wrong.code).toBe('INVALID_ARGUMENT')
    expect(errorOf(() => serializeEntityKey([{ ...driver[0]!, value: 1.5 }])).hint).toMatch(/integer/)
    expect(errorOf(() => serializeEntityKey([{ ...driver[0]!, value: 2 ** 31 }], 1)).message).toMatch(
      /does not fit/,
    )
    expect(errorOf(() => serializeEntityKey(driver, 4 as 3)).message).toMatch(/version 4/)
  })
})

describe('entityKeySerializer', () => {
  it('takes values in join-key declaration order and matches serializeEntityKey', () => {
    const key = entityKeySerializer([
      { name: 'z', valueType: ValueType.STRING },
      { name: 'a', valueType: ValueType.INT64 },
    ])
    expect(key(['s', 5])).toEqual(
      serializeEntityKey([
        { joinKey: 'a', valueType: ValueType.INT64, value: 5 },
        { joinKey: 'z', valueType: ValueType.STRING, value: 's' },
      ]),
    )
    expect(errorOf(() => key(['s'])).message).toMatch(/needs 2 values, got 1/)
  })
})

describe('entityKeyPrefix', () => {
  it('is the start of every key over the same join keys', () => {
    const key = serializeEntityKey(driver)
    expect(hex(key).startsWith(hex(entityKeyPrefix(['driver_id'])))).toBe(true)
    expect(hex(entityKeyPrefix(['driver_id'], 2))).toBe('02000000' + '6472697665725f6964')
  })
})

describe('deserializeEntityKey', () => {
  it('reads back v3 keys of every key type', () => {
    const entries = [
      { joinKey: 'a', valueType: ValueType.BYTES, value: Uint8Array.of(9) },
      { joinKey: 'b', valueType: ValueType.INT32, value: -7 },
      { joinKey: 'c', valueType: ValueType.INT64, value: 1001 },
      { joinKey: 'd', valueType: ValueType.INT64, value: -(2n ** 60n) },
      { joinKey: 'e', valueType: ValueType.STRING, value: 'héllo' },
      { joinKey: 'f', valueType: ValueType.UNIX_TIMESTAMP, value: 1_640_995_200 },
    ]
    expect(deserializeEntityKey(serializeEntityKey(entries))).toEqual(entries)
  })

  it('strips trailing NULs from key names, like Feast', () => {
    const key = serializeEntityKey([{ joinKey: 'id\0', valueType: ValueType.STRING, value: 'v' }])
    expect(deserializeEntityKey(key)[0]!.joinKey).toBe('id')
  })

  it('rejects bytes that are not a v3 key', () => {
    expect(errorOf(() => deserializeEntityKey(serializeEntityKey(driver, 2))).code).toBe('INVALID_ARGUMENT')
    expect(errorOf(() => deserializeEntityKey(Uint8Array.of(1, 0, 0))).message).toMatch(/not a v3 entity key/)
  })
})

describe('entity key round trip (fast-check)', () => {
  const safe = (v: bigint) =>
    v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
  const int64 = fc.oneof(fc.maxSafeInteger(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(safe))
  const entry = fc.oneof(
    fc.string({ unit: 'binary' }).map((value) => ({ valueType: ValueType.STRING, value })),
    fc.uint8Array({ maxLength: 16 }).map((value) => ({ valueType: ValueType.BYTES, value })),
    fc.integer().map((value) => ({ valueType: ValueType.INT32, value })),
    int64.map((value) => ({ valueType: ValueType.INT64, value })),
    int64.map((value) => ({ valueType: ValueType.UNIX_TIMESTAMP, value })),
  )

  it('deserializeEntityKey(serializeEntityKey(entries)) gives the entries sorted by join key', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.stringMatching(/^[a-z_]{1,8}$/), entry), {
          selector: ([k]) => k,
          maxLength: 4,
        }),
        (pairs) => {
          const entries = pairs.map(([joinKey, e]) => ({ joinKey, ...e }))
          const sorted = [...entries].sort((a, b) => (a.joinKey < b.joinKey ? -1 : 1))
          expect(deserializeEntityKey(serializeEntityKey(entries))).toEqual(sorted)
        },
      ),
    )
  })
})
