import { LarderError } from './errors.js'

/** A duration as a user writes it: seconds, or a string such as `'2h'`, `'1d'`, `'1h30m'`, `'500ms'`. */
export type DurationInput = number | string

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/y

/**
 * Parses a duration into seconds. A number is seconds; a string is one or more `<number><unit>` parts
 * with units ms, s, m, h, d, w. `0` and `'0'` mean "no duration". Negative values are rejected.
 *
 * @example parseDuration('1h30m') // 5400
 */
export function parseDuration(input: DurationInput, what = 'duration'): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${what} must be a non-negative number of seconds, got ${input}`,
      )
    }
    return input
  }
  const text = input.trim()
  if (text === '0') return 0
  let total = 0
  DURATION_PART.lastIndex = 0
  let matched = 0
  while (DURATION_PART.lastIndex < text.length) {
    const start = DURATION_PART.lastIndex
    const m = DURATION_PART.exec(text)
    if (!m || m.index !== start) {
      matched = -1
      break
    }
    total += Number(m[1]) * UNIT_SECONDS[m[2]!]!
    matched++
  }
  if (matched <= 0) {
    throw new LarderError('INVALID_DEFINITION', `${what} ${JSON.stringify(input)} is not a duration`, {
      hint: "write seconds as a number, or a string such as '30m', '2h', '1d', '1h30m' (0 means none)",
    })
  }
  return Math.round(total * 1e6) / 1e6
}

/** Formats seconds as the shortest readable string (`'1d'`, `'2h30m'`); `0` stays `'0'`. */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return '0'
  const parts: string[] = []
  let rest = seconds
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    const n = Math.floor(rest / size)
    if (n > 0) {
      parts.push(`${n}${unit}`)
      rest -= n * size
    }
  }
  if (rest > 0) parts.push(Number.isInteger(rest) ? `${rest}s` : `${Math.round(rest * 1000)}ms`)
  return parts.join('')
}
