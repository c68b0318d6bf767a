import { describe, expect, it } from 'vitest'
import { clockNow, ManualClock, systemClock } from './clock.js'
import { toMicros } from './time.js'

describe('clocks', () => {
  it('reads the system clock by default', () => {
    const before = Date.now() * 1000
    const now = clockNow(undefined)
    expect(now).toBeGreaterThanOrEqual(before)
    expect(now).toBeLessThanOrEqual(Date.now() * 1000)
    expect(systemClock.now()).toBeGreaterThanOrEqual(now)
  })

  it('moves a manual clock only when set or advanced, to the microsecond', () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z')
    expect(clockNow(clock)).toBe(toMicros('2026-01-01T00:00:00Z'))
    expect(clock.advance('1h30m').toISOString()).toBe('2026-01-01T01:30:00Z')
    expect(clock.advance(0.000001).now()).toBe(toMicros('2026-01-01T01:30:00.000001Z'))
    expect(clock.set('2025-12-31T23:00:00Z').toString()).toBe('2025-12-31T23:00:00Z')
    expect(clock.date().toISOString()).toBe('2025-12-31T23:00:00.000Z')
    expect(new ManualClock(Date.UTC(2026, 0, 2)).toISOString()).toBe('2026-01-02T00:00:00Z')
  })

  it('refuses a time or duration it cannot read, and stays where it was', () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z')
    expect(() => clock.set('2026-02-30')).toThrow(/clock\.set\(\) time "2026-02-30" is not a valid timestamp/)
    expect(() => clock.advance('-1h')).toThrow(/clock\.advance\(\) duration "-1h" is not a duration/)
    expect(() => clock.advance(-5)).toThrow(/clock\.advance\(\) duration must be a non-negative number/)
    expect(clock.toISOString()).toBe('2026-01-01T00:00:00Z')
  })
})
