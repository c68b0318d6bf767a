import { LarderError } from './errors.js'

/**
 * Larder's instants are integers of microseconds since the Unix epoch, UTC. A JS number holds them
 * exactly until the year 2255. `Date` is used only at the edges, for display.
 */
export type Micros = number

/** Anything a user may pass as a point in time. */
export type TimestampInput = Date | string | number

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$/

/** The forms `toMicros` reads, for error hints. */
const TIMESTAMP_FORMS =
  '2026-11-22, 2026-11-22T10:00, 2026-11-22T10:00:00, 2026-11-22T10:00:00.123456, each optionally ending in Z or an offset such as +02:00 (no offset means UTC)'

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
]

/**
 * Parses an instant. Strings are ISO-8601 / RFC 3339: a date, or a date and time to the minute, second
 * or fraction, with `Z`, an offset, or none (then UTC, never local time). Every field is checked, so
 * `2026-02-30` or `T25:00` is an error rather than a date rolled over into the next month or day.
 * Numbers are epoch milliseconds, as with `Date`. Keeps microseconds that `Date` would drop (digits
 * past the sixth are truncated).
 *
 * @example toMicros('2026-11-22T10:00:00.123456+01:00') // 1_795_338_000_123_456
 */
export function toMicros(input: TimestampInput, what = 'timestamp'): Micros {
  if (input instanceof Date) {
    const ms = input.getTime()
    if (Number.isNaN(ms)) throw invalid(what, input, 'it is an invalid Date')
    return ms * 1000
  }
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw invalid(what, input, 'it is not a finite number of milliseconds')
    return Math.round(input * 1000)
  }
  if (typeof input !== 'string') throw invalid(what, input, `it is a ${typeof input}`)
  const m = ISO.exec(input.trim())
  if (!m) throw invalid(what, input)
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m
  const year = Number(y)
  const month = Number(mo)
  const day = Number(d)
  const hour = Number(h)
  const minute = Number(mi)
  const second = Number(s)
  let offsetHours = 0
  let offsetMinutes = 0
  let sign = 1
  if (zone && zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '')
    offsetHours = Number(digits.slice(0, 2))
    offsetMinutes = Number(digits.slice(2))
    sign = zone[0] === '-' ? -1 : 1
  }
  const reason =
    outOfRange(month, 1, 12, 'month') ??
    (day < 1 || day > daysInMonth(year, month)
      ? `${MONTHS[month - 1]} ${year} has ${daysInMonth(year, month)} days, not ${day}`
      : undefined) ??
    outOfRange(hour, 0, 23, 'hour') ??
    outOfRange(minute, 0, 59, 'minute') ??
    outOfRange(second, 0, 59, 'second') ??
    outOfRange(offsetHours, 0, 23, 'offset hour') ??
    outOfRange(offsetMinutes, 0, 59, 'offset minute')
  if (reason !== undefined) throw invalid(what, input, reason)
  const seconds = ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute) * 60 + second
  const offset = sign * (offsetHours * 60 + offsetMinutes) * 60
  return (seconds - offset) * 1_000_000 + Number(frac.padEnd(6, '0').slice(0, 6))
}

/** Why a field is out of its range (`hour 25 is not in 00-23`), or undefined when it is in it. */
function outOfRange(value: number, min: number, max: number, field: string): string | undefined {
  if (value >= min && value <= max) return undefined
  return `${field} ${value} is not in ${String(min).padStart(2, '0')}-${String(max).padStart(2, '0')}`
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm), for any year. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146_097 + doe - 719_468
}

function invalid(what: string, input: unknown, reason?: string): LarderError {
  const shown = input instanceof Date ? 'Invalid Date' : (JSON.stringify(input) ?? String(input))
  return new LarderError(
    'INVALID_ARGUMENT',
    `${what} ${shown} is not a valid timestamp${reason ? `: ${reason}` : ''}`,
    { hint: `write an ISO-8601 time: ${TIMESTAMP_FORMS}` },
  )
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
