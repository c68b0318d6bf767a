import { type DurationInput, parseDuration } from './duration.js'
import { formatMicros, type Micros, nowMicros, type TimestampInput, toMicros } from './time.js'

/**
 * Where a feature store reads the current instant: the ages of online values (`maxAge`, and
 * `storageTtl` in stores without native expiry), the default instant of `explain`, the default end of
 * incremental materialization, and the times it records in the registry (apply, materialized
 * intervals, run history, saved datasets). Job bookkeeping that other processes read (heartbeats,
 * leases, cancellation stamps) always reads the system clock.
 */
export interface Clock {
  /** The current instant, in microseconds since the Unix epoch (UTC). */
  now(): Micros
}

/** The system clock (`Date.now()`): what every store reads unless it is given another clock. */
export const systemClock: Clock = Object.freeze({ now: nowMicros })

/** The instant `clock` reads, or the system clock's when no clock is given. */
export function clockNow(clock: Clock | undefined): Micros {
  return (clock ?? systemClock).now()
}

/**
 * A clock that moves only when told to: it starts at `start` (default: the system time when it is
 * made) and stays there until {@link ManualClock.set} or {@link ManualClock.advance}. For tests: a
 * store given this clock measures every age and default instant from it.
 *
 * @example
 * const clock = new ManualClock('2026-01-01T00:00:00Z')
 * clock.advance('1h') // 2026-01-01T01:00:00Z
 */
export class ManualClock implements Clock {
  #now: Micros

  /** Starts at `start` (ISO-8601 text, naive = UTC; a `Date`; or epoch milliseconds). */
  constructor(start: TimestampInput = nowMicros() / 1000) {
    this.#now = toMicros(start, 'clock start')
  }

  now(): Micros {
    return this.#now
  }

  /**
   * Moves the clock to `at` (ISO-8601 text, naive = UTC; a `Date`; or epoch milliseconds), forwards or
   * backwards, and returns the clock. An unreadable time is INVALID_ARGUMENT and leaves it where it was.
   *
   * @example clock.set('2026-01-01T00:00:00Z')
   */
  set(at: TimestampInput): this {
    this.#now = toMicros(at, 'clock.set() time')
    return this
  }

  /**
   * Moves the clock forwards by `by` (seconds, or text such as `'90s'`, `'1h30m'`, `'2d'`) and returns
   * the clock. A negative or unreadable duration is an error and leaves it where it was; use
   * {@link ManualClock.set} to go back.
   *
   * @example clock.advance('1h')
   */
  advance(by: DurationInput): this {
    this.#now += Math.round(parseDuration(by, 'clock.advance() duration') * 1_000_000)
    return this
  }

  /** The current instant as a `Date` (milliseconds; for display). */
  date(): Date {
    return new Date(Math.floor(this.#now / 1000))
  }

  /** The current instant in RFC 3339, UTC (`2026-01-01T00:00:00Z`). */
  toISOString(): string {
    return formatMicros(this.#now)
  }

  toString(): string {
    return this.toISOString()
  }
}
