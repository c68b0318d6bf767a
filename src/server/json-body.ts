import type { z } from 'zod'
import { LarderError } from '../core/index.js'

/** Integer literals long enough to lose digits as JS numbers, and the string tokens to leave alone. */
const TOKENS = /"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])(-?\d{16,})(?![\d.eE])/g
const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER)
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER)
/**
 * The deepest nesting of arrays and objects a body may have. Feast's bodies nest a few levels (body,
 * `df`, column, list value); deeper input only reaches recursive code downstream (`JSON.stringify` in
 * an error message) and overflows its stack.
 */
export const MAX_BODY_DEPTH = 64
/** A `"__proto__"` key, each character possibly escaped. */
const PROTO_KEY =
  /"(?:_|\\u005[fF]){2}(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[fF])(?:t|\\u0074)(?:o|\\u006[fF])(?:_|\\u005[fF]){2}"\s*:/
const UTF8 = new TextDecoder('utf-8', { fatal: true })

/**
 * The text of a request body. Throws INVALID_ARGUMENT (HTTP 422) when the bytes are not UTF-8, rather
 * than replacing them with U+FFFD, which would turn a name or key into another one.
 */
export function decodeBody(bytes: ArrayBuffer): string {
  try {
    return UTF8.decode(bytes)
  } catch {
    throw bodyError('the request body is not valid UTF-8', 'send the JSON encoded as UTF-8')
  }
}

/**
 * Parses a JSON request body without losing integer digits: an integer literal beyond ±(2^53 − 1)
 * becomes a bigint (others stay numbers), so an int64 join key such as 9007199254740993 reaches the
 * store exactly. Bodies without such literals take the plain `JSON.parse` path. Throws
 * INVALID_ARGUMENT (HTTP 422) when the text is not JSON, nests deeper than {@link MAX_BODY_DEPTH}, or
 * has a `__proto__` key (which parsing into objects would turn into a prototype, dropping the field).
 *
 * @example parseJsonBody('{"id":[9007199254740993]}') // { id: [9007199254740993n] }
 */
export function parseJsonBody(text: string): unknown {
  if (nestsDeeperThan(text, MAX_BODY_DEPTH)) {
    throw bodyError(
      `the request body nests arrays and objects deeper than ${MAX_BODY_DEPTH} levels`,
      'send a flatter body',
    )
  }
  let value: unknown
  try {
    value = parse(text)
  } catch (cause) {
    throw bodyError(
      `the request body is not valid JSON: ${(cause as Error).message}`,
      'send a JSON object, e.g. {"features": ["view:feature"], "entities": {"id": [1]}}',
    )
  }
  if (PROTO_KEY.test(text) && hasProtoKey(text)) {
    throw bodyError('the request body has a "__proto__" key', 'rename the field or column')
  }
  return value
}

function parse(text: string): unknown {
  if (!/\d{16}/.test(text)) return JSON.parse(text)
  // a marker that no string of the body holds, so that a string cannot pass for an integer
  let marker = 'int:'
  for (let n = 0; text.includes(`\\u0000${marker}`); n++) marker = `int${n}:`
  const prefix = `\u0000${marker}`
  let marked = false
  const rewritten = text.replace(TOKENS, (token, digits: string | undefined) => {
    if (digits === undefined) return token
    marked = true
    return `"\\u0000${marker}${digits}"`
  })
  if (!marked) return JSON.parse(text)
  return JSON.parse(rewritten, (_key, value) => {
    if (typeof value !== 'string' || !value.startsWith(prefix)) return value
    const big = BigInt(value.slice(prefix.length))
    return big >= SAFE_MIN && big <= SAFE_MAX ? Number(big) : big
  })
}

/** Whether arrays and objects in JSON text (outside its strings) nest deeper than `limit`. */
function nestsDeeperThan(text: string, limit: number): boolean {
  // too few brackets to nest that deep: most bodies (columns of scalars) stop at this native search
  if (occurrences(text, '[', limit) + occurrences(text, '{', limit) <= limit) return false
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) i = stringEnd(text, i)
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

/** How many times `ch` occurs in `text`, counting no further than `max` + 1. */
function occurrences(text: string, ch: string, max: number): number {
  let n = 0
  for (let i = text.indexOf(ch); i !== -1 && n <= max; i = text.indexOf(ch, i + 1)) n++
  return n
}

/** The index of the quote that closes the string opening at `start`, or the text's length. */
function stringEnd(text: string, start: number): number {
  for (let i = text.indexOf('"', start + 1); i !== -1; i = text.indexOf('"', i + 1)) {
    let backslashes = 0
    while (text.charCodeAt(i - 1 - backslashes) === 0x5c) backslashes++
    if (backslashes % 2 === 0) return i
  }
  return text.length
}

/** Whether the body has a `__proto__` key; the pattern alone also matches a key ending in `\"__proto__`. */
function hasProtoKey(text: string): boolean {
  let found = false
  JSON.parse(text, (key, value) => {
    if (key === '__proto__') found = true
    return value
  })
  return found
}

function bodyError(message: string, hint: string): LarderError {
  return new LarderError('INVALID_ARGUMENT', message, { hint, details: { field: 'body' } })
}

/**
 * Checks a parsed body against a schema and returns the typed value. Throws INVALID_ARGUMENT (HTTP
 * 422) naming the first offending field by its path (`body.entities.driver_id`) and what was wrong.
 */
export function validateBody<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issue = result.error.issues[0]!
  const path = ['body', ...issue.path.map(String)].join('.')
  const keys = (issue as { keys?: string[] }).keys
  const message =
    issue.code === 'unrecognized_keys' && keys
      ? `unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`
      : issue.message
  throw new LarderError('INVALID_ARGUMENT', `${path}: ${message}`, {
    hint: 'GET /openapi.json describes every request body',
    details: { field: path, issues: result.error.issues.length },
  })
}
