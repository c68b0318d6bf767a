import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type FeastValue, scalarMap, typedValue, ValueType, zonedTimestamp } from '../core/index.js'
import { jsonResponseText, jsonValue, toJsonResponse } from './json-response.js'
import type { FieldStatus, OnlineFeaturesResponse } from './online-features.js'

describe('toJsonResponse', () => {
  it('renames to snake case and writes timestamps as RFC 3339 in UTC', () => {
    const json = toJsonResponse({
      metadata: { featureNames: ['driver_id', 'conv_rate'], valueTypes: [ValueType.INT64, ValueType.FLOAT] },
      results: [
        { values: [1001], statuses: ['PRESENT'], eventTimestamps: [0] },
        {
          values: [Math.fround(0.0758)],
          statuses: ['OUTSIDE_MAX_AGE'],
          eventTimestamps: [1_767_225_600_123_456],
        },
      ],
    })
    expect(JSON.stringify(json)).toBe(
      '{"metadata":{"feature_names":["driver_id","conv_rate"]},"results":[' +
        '{"values":[1001],"statuses":["PRESENT"],"event_timestamps":["1970-01-01T00:00:00Z"]},' +
        '{"values":[0.0758],"statuses":["OUTSIDE_MAX_AGE"],"event_timestamps":["2026-01-01T00:00:00.123456Z"]}]}',
    )
  })
})

describe('jsonResponseText', () => {
  const scalar: fc.Arbitrary<FeastValue> = fc.oneof(
    fc.double(),
    fc.float().map(Math.fround),
    fc.integer(),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.string({ unit: 'binary' }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 8 }),
  )
  const value: fc.Arbitrary<FeastValue> = fc.oneof(
    { weight: 4, arbitrary: scalar },
    fc.array(scalar, { maxLength: 3 }),
    fc.array(scalar, { maxLength: 3 }).map((xs) => new Set(xs)),
    fc.dictionary(fc.string(), scalar, { maxKeys: 3 }),
  )
  const status = fc.constantFrom<FieldStatus>('PRESENT', 'NULL_VALUE', 'NOT_FOUND', 'OUTSIDE_MAX_AGE')
  const response: fc.Arbitrary<OnlineFeaturesResponse> = fc
    .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 4 }))
    .chain(([rows, columns]) =>
      fc.record({
        metadata: fc.record({
          featureNames: fc.array(fc.string({ unit: 'binary' }), { minLength: columns, maxLength: columns }),
          valueTypes: fc.array(
            fc.constantFrom(
              ValueType.FLOAT,
              ValueType.DOUBLE,
              ValueType.INT64,
              ValueType.STRING,
              ValueType.FLOAT_LIST,
            ),
            {
              minLength: columns,
              maxLength: columns,
            },
          ),
        }),
        results: fc.array(
          fc.record({
            values: fc.array(value, { minLength: rows, maxLength: rows }),
            statuses: fc.array(status, { minLength: rows, maxLength: rows }),
            eventTimestamps: fc.array(fc.maxSafeNat(), {
              minLength: rows,
              maxLength: rows,
            }),
          }),
          { minLength: columns, maxLength: columns },
        ),
      }),
    )

  it('writes the same text as JSON.stringify(toJsonResponse(...)) for any response', () => {
    fc.assert(
      fc.property(response, (r) => {
        expect(jsonResponseText(r)).toBe(JSON.stringify(toJsonResponse(r)))
      }),
      { numRuns: 500 },
    )
  })
})

describe('jsonValue', () => {
  it('keeps int64 exact: a number while safe, a string beyond 2^53', () => {
    expect(jsonValue(2 ** 53 - 1)).toBe(9007199254740991)
    expect(jsonValue(2n ** 53n + 1n)).toBe('9007199254740993')
    expect(jsonValue(-(2n ** 63n))).toBe('-9223372036854775808')
  })

  it('writes bytes as base64, sets as arrays, maps as objects and non-finite numbers as strings', () => {
    expect(jsonValue(Uint8Array.of(0, 1, 255))).toBe('AAH/')
    expect(jsonValue(new Set(['a', 'b']))).toEqual(['a', 'b'])
    expect(jsonValue({ a: 1, b: [2n ** 60n, null], c: { d: true } })).toEqual({
      a: 1,
      b: ['1152921504606846976', null],
      c: { d: true },
    })
    expect(jsonValue(scalarMap([[typedValue(ValueType.INT64, 7), 'seven']]))).toEqual({ 7: 'seven' })
    expect([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY].map(jsonValue)).toEqual([
      'NaN',
      'Infinity',
      '-Infinity',
    ])
  })

  it('writes float32 with the fewest digits that read back as the same float32', () => {
    const floats = [0.1, 1234567, 3.4028234663852886e38, 1e-45, 16777216, 0.333333343267]
    for (const f of floats) {
      const written = jsonValue(Math.fround(f), ValueType.FLOAT) as number
      expect(Math.fround(written)).toBe(Math.fround(f))
      expect(
        String(written)
          .replace(/^0\.|e.*$|\./g, '')
          .replace(/^0+/, '').length,
      ).toBeLessThanOrEqual(9)
    }
    expect(jsonValue(Math.fround(0.1), ValueType.FLOAT)).toBe(0.1)
    expect(jsonValue([Math.fround(0.2), Math.fround(2.5)], ValueType.FLOAT_LIST)).toEqual([0.2, 2.5])
    expect(jsonValue(Math.fround(0.1), ValueType.DOUBLE)).toBe(Math.fround(0.1))
  })

  it('writes a zoned timestamp as local time with its offset', () => {
    expect(jsonValue(zonedTimestamp(1_767_225_600, 'Europe/Paris'))).toBe('2026-01-01T01:00:00+01:00')
    expect(jsonValue(zonedTimestamp(1_782_864_000, 'Europe/Paris'))).toBe('2026-07-01T02:00:00+02:00')
    expect(jsonValue(zonedTimestamp(1_767_225_600, '-05:30'))).toBe('2025-12-31T18:30:00-05:30')
    expect(jsonValue(zonedTimestamp(1_767_225_600))).toBe('2026-01-01T00:00:00+00:00')
  })
})
