// The random cases of the offline/online parity tests (one per offline engine): feature rows of every
// value type over 48 hours, a ttl and a window end, and how a row is written to a source and how an
// offline value compares with an online one.
import fc from 'fast-check'
import { formatMicros, toMicros } from '../../core/index.js'
import type { Row } from '../../offline/index.js'

export const T0 = toMicros('2026-01-01T00:00:00Z')
export const SECOND = 1_000_000
/** Drivers 1..DRIVERS have rows; a parity check also reads DRIVERS + 1, which has none. */
export const DRIVERS = 12
const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n }

export const featureRow = fc.record({
  driver: fc.integer({ min: 1, max: DRIVERS }),
  second: fc.integer({ min: 0, max: 48 * 3600 }),
  createdLag: fc.integer({ min: 0, max: 3 }),
  // DuckDB infers BIGINT for integral numbers while writing, so huge integral doubles are left out.
  f_double: fc.option(fc.double({ noNaN: true, min: -1e18, max: 1e18 }), { nil: null }),
  f_float: fc.option(fc.float({ noNaN: true, min: Math.fround(-1e18), max: Math.fround(1e18) }), {
    nil: null,
  }),
  f_long: fc.option(fc.bigInt(INT64), { nil: null }),
  f_int: fc.option(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { nil: null }),
  f_text: fc.option(
    fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => s.replaceAll('\0', '')),
    { nil: null },
  ),
  f_flag: fc.option(fc.boolean(), { nil: null }),
  f_time: fc.option(fc.integer({ min: 0, max: 4_000_000_000 }), { nil: null }),
  f_longs: fc.option(fc.array(fc.bigInt(INT64), { maxLength: 4 }), { nil: null }),
})

export type FeatureRow = typeof featureRow extends fc.Arbitrary<infer R> ? R : never

/** Feature rows (no two with the same driver, event and created time), a ttl and a window end. */
export const scenario = fc.record({
  rows: fc.uniqueArray(featureRow, {
    minLength: 1,
    maxLength: 60,
    selector: (r) => `${r.driver}:${r.second}:${r.createdLag}`,
  }),
  ttl: fc.constantFrom(0, 3600, 7200, 86_400),
  endSecond: fc.integer({ min: 0, max: 50 * 3600 }),
})

/** The source row: timestamps as RFC 3339 text, the UnixTimestamp feature as a timestamp column. */
export function sourceRow(r: FeatureRow): Row {
  const { driver, second, createdLag, f_time, ...features } = r
  return {
    driver_id: driver,
    event_timestamp: formatMicros(T0 + second * SECOND),
    created: formatMicros(T0 + (second + createdLag) * SECOND),
    f_time: f_time === null ? null : formatMicros(f_time * SECOND),
    ...features,
  }
}

/** An offline value in the online representation: UnixTimestamp columns come back as RFC 3339 text. */
export function offlineValue(feature: string, value: unknown): unknown {
  if (feature === 'f_time' && typeof value === 'string') return Math.floor(toMicros(value) / SECOND)
  return value ?? null
}
