import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LarderError } from './errors.js'
import { formatMicros, toMicros } from './time.js'

function errorOf(f: () => unknown): LarderError {
  try {
    f()
  } catch (e) {
    if (e instanceof LarderError) return e
    throw e
  }
  throw new Error('expected an error')
}

describe('toMicros', () => {
  it('reads every accepted form, naive as UTC, with offsets and microseconds', () => {
    const base = Date.UTC(2026, 10, 22, 10) * 1000
    expect(toMicros('2026-11-22')).toBe(Date.UTC(2026, 10, 22) * 1000)
    expect(toMicros('2026-11-22T10:00')).toBe(base)
    expect(toMicros('2026-11-22 10:00:00')).toBe(base)
    expect(toMicros('2026-11-22T10:00:00Z')).toBe(base)
    expect(toMicros('2026-11-22t10:00:00z')).toBe(base)
    expect(toMicros('2026-11-22T12:00:00+02:00')).toBe(base)
    expect(toMicros('2026-11-22T07:30:00-0230')).toBe(base)
    expect(toMicros('2026-11-22T10:00:00.123456Z')).toBe(base + 123_456)
    expect(toMicros('2026-11-22T10:00:00.1Z')).toBe(base + 100_000)
    expect(toMicros('2026-11-22T10:00:00.123456789')).toBe(base + 123_456)
    expect(toMicros('2026-11-22T11:00:00.000001+01:00')).toBe(base + 1)
    expect(toMicros('  2026-11-22T10:00:00Z  ')).toBe(base)
    expect(toMicros(new Date(base / 1000))).toBe(base)
    expect(toMicros(base / 1000 + 0.5)).toBe(base + 500)
  })

  it('keeps leap days of leap years only', () => {
    expect(formatMicros(toMicros('2024-02-29'))).toBe('2024-02-29T00:00:00Z')
    expect(formatMicros(toMicros('2000-02-29T23:59:59'))).toBe('2000-02-29T23:59:59Z')
    expect(errorOf(() => toMicros('2025-02-29')).message).toBe(
      'timestamp "2025-02-29" is not a valid timestamp: February 2025 has 28 days, not 29',
    )
    expect(() => toMicros('1900-02-29')).toThrow(/February 1900 has 28 days/)
    expect(() => toMicros('2026-04-31')).toThrow(/April 2026 has 30 days, not 31/)
  })

  it('refuses out-of-range fields instead of rolling them over, naming the value and the forms', () => {
    const cases: [string, string][] = [
      ['2026-02-30', 'February 2026 has 28 days, not 30'],
      ['2026-01-00', 'January 2026 has 31 days, not 0'],
      ['2026-13-01', 'month 13 is not in 01-12'],
      ['2026-00-10', 'month 0 is not in 01-12'],
      ['2026-01-01T25:00:00', 'hour 25 is not in 00-23'],
      ['2026-01-01T24:00:00', 'hour 24 is not in 00-23'],
      ['2026-01-01T10:60', 'minute 60 is not in 00-59'],
      ['2026-01-01T10:00:60Z', 'second 60 is not in 00-59'],
      ['2026-01-01T10:00:00+24:00', 'offset hour 24 is not in 00-23'],
      ['2026-01-01T10:00:00+01:75', 'offset minute 75 is not in 00-59'],
    ]
    for (const [text, reason] of cases) {
      const error = errorOf(() => toMicros(text, 'end'))
      expect(error.code, text).toBe('INVALID_ARGUMENT')
      expect(error.message, text).toBe(`end "${text}" is not a valid timestamp: ${reason}`)
      expect(error.hint, text).toContain('2026-11-22T10:00:00.123456')
      expect(error.hint, text).toContain('+02:00')
    }
  })

  it('refuses text that is not a timestamp at all', () => {
    for (const text of ['yesterday', '2026-1-1', '2026-01-01T1:00', '20260101', '2026-01-01T10:00:00+2']) {
      expect(errorOf(() => toMicros(text)).message, text).toBe(`timestamp "${text}" is not a valid timestamp`)
    }
    expect(errorOf(() => toMicros(new Date(Number.NaN), 'now')).message).toBe(
      'now Invalid Date is not a valid timestamp: it is an invalid Date',
    )
    expect(() => toMicros(Number.POSITIVE_INFINITY)).toThrow(/not a finite number/)
  })

  it('agrees with Date on every valid instant, from year 1 to 9999', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('0001-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59Z'),
          noInvalidDate: true,
        }),
        (d) => {
          const iso = d.toISOString()
          expect(toMicros(iso)).toBe(d.getTime() * 1000)
          expect(toMicros(iso.slice(0, -1))).toBe(d.getTime() * 1000)
        },
      ),
    )
  })

  it('accepts exactly the calendar days that exist', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9999 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 31 }),
        (y, m, d) => {
          const text = `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`
          const date = new Date(`${text}T00:00:00Z`)
          const exists = date.getUTCDate() === d && date.getUTCMonth() === m - 1
          if (exists) expect(toMicros(text)).toBe(date.getTime() * 1000)
          else expect(() => toMicros(text)).toThrow(/not a valid timestamp/)
        },
      ),
    )
  })
})
