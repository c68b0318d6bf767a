import { LarderError } from './errors.js'

/**
 * Larder's instants are integers of microseconds since the Unix epoch, UTC. A JS number holds them
 * exactly until the year 2255. `Date` is used only at the edges, for display.
 */
export type Micros = number

/** Anything a user may pass as a point in time. */
export type TimestampInput = Date | string | number

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$/

/**
 * Parses an instant. Strings are ISO-8601 / RFC 3339; a string without an offset is UTC (never local
 * time). Numbers are epoch milliseconds, as with `Date`. Keeps microseconds that `Date` would drop.
 *
 * @example toMicros('2026-11-22T10:00:00.123456Z') // 1_795_000_000_123_456 (say)
 */
export function toMicros(input: TimestampInput, what = 'timestamp'): Micros {
  if (input instanceof Date) {
    const ms = input.getTime()
    if (Number.isNaN(ms)) throw invalid(what, input)
    return ms * 1000
  }
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw invalid(what, input)
    return Math.round(input * 1000)
  }
  if (typeof input !== 'string') throw invalid(what, input)
  const m = ISO.exec(input.trim())
  if (!m) throw invalid(what, input)
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m
  let micros = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) * 1000
  micros += Number(frac.padEnd(6, '0').slice(0, 6))
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1
    const digits = zone.slice(1).replace(':', '')
    micros -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000_000
  }
  if (Number.isNaN(micros)) throw invalid(what, input)
  return micros
}

function invalid(what: string, input: unknown): LarderError {
  return new LarderError('INVALID_ARGUMENT', `${what} ${JSON.stringify(input)} is not a valid timestamp`, {
    hint: "write an ISO-8601 time such as '2026-11-22T10:00:00Z' (no offset means UTC)",
  })
}

/** RFC 3339 in UTC with `Z`, with 0, 3 or 6 fractional digits as needed. */
export function formatMicros(micros: Micros): string {
  const ms = Math.floor(micros / 1000)
  const rest = micros - ms * 1000
  const iso = new Date(ms).toISOString() // YYYY-MM-DDTHH:MM:SS.mmmZ
  if (rest !== 0) return `${iso.slice(0, -1)}${String(rest).padStart(3, '0')}Z`
  if (ms % 1000 !== 0) return iso
  return `${iso.slice(0, -5)}Z`
}

/** The current instant in microseconds. */
export function nowMicros(): Micros {
  return Date.now() * 1000
}

export const MICROS_PER_SECOND = 1_000_000
