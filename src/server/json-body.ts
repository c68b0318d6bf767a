import type { MiddlewareHandler } from 'hono'
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

/**
 * Most bytes of a refused body the server reads and drops, after the limit, so that its connection
 * can carry the next request: beyond it (or {@link DRAIN_MAX_MS}), the 413 closes the connection.
 * Closing instead makes a client still sending fail with EPIPE before it reads the 413; the price of
 * draining is transient garbage (two 50 MB chunked bodies at once raise peak RSS by 70–100 MiB).
 */
export const DRAIN_MAX_BYTES = 64 * 1024 * 1024
/** Most milliseconds the server waits for the rest of a refused chunked body (see {@link DRAIN_MAX_BYTES}). */
export const DRAIN_MAX_MS = 5000

/** Methods @hono/node-server gives no body, whatever they declare. */
const BODILESS_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'TRACE'])

/**
 * Middleware refusing request bodies larger than `maxBodyBytes` with 413 (an error whose `status` is
 * 413; `errorResponse` answers it). A body that declares its length is refused from `content-length`
 * without reading it (Node then reads and drops it cheaply, outside web streams, so the connection
 * stays usable and the client, still sending, is not cut off). A chunked body is
 * counted as it arrives and never buffered beyond the limit: once over it, the rest is read and dropped,
 * up to {@link DRAIN_MAX_BYTES} and {@link DRAIN_MAX_MS}, before the 413 is answered, so the next
 * request on the connection is read cleanly; a longer or slower body is answered with `Connection:
 * close` and the connection ends after the answer.
 *
 * Unlike Hono's `bodyLimit`, a declared body is not touched here: reading `c.req.raw.body` makes
 * @hono/node-server build a web `Request` and stream around every request, most of the cost of a
 * small POST.
 */
export function requestBodyLimit(maxBodyBytes: number): MiddlewareHandler {
  return async (c, next) => {
    if (BODILESS_METHODS.has(c.req.method)) return next()
    const length = c.req.header('content-length')
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      const declared = Number.parseInt(length, 10)
      if (declared > maxBodyBytes) throw tooLarge(maxBodyBytes, false)
      return next()
    }
    const body = c.req.raw.body
    if (!body) return next()
    const reader = body.getReader()
    let size = 0
    let buffer = new Uint8Array(0)
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      const offset = size
      size += value.length
      if (size > maxBodyBytes) throw tooLarge(maxBodyBytes, !(await drained(reader)))
      if (size > buffer.length) {
        const grown = new Uint8Array(Math.min(maxBodyBytes, Math.max(size, buffer.length * 2)))
        grown.set(buffer.subarray(0, offset))
        buffer = grown
      }
      buffer.set(value, offset)
    }
    c.req.raw = new Request(c.req.raw, { body: buffer.subarray(0, size) })
    await next()
  }
}

/**
 * Reads and drops the rest of a body; true once it ended, false when it goes on beyond
 * {@link DRAIN_MAX_BYTES} or {@link DRAIN_MAX_MS} (the reader is then left as it is: the connection
 * closes after the answer).
 */
async function drained(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), DRAIN_MAX_MS)
  })
  try {
    for (let bytes = 0; bytes <= DRAIN_MAX_BYTES; ) {
      const next = await Promise.race([reader.read(), late])
      if (next === 'late') return false
      if (next.done) return true
      bytes += next.value.length
    }
    return false
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The error of a body over the limit: HTTP 413 (`status`), with `closeConnection` when the answer must
 * close the connection (the rest of the body was not read).
 */
function tooLarge(maxBodyBytes: number, closeConnection: boolean): Error {
  return Object.assign(new Error(`the request body is larger than the limit of ${maxBodyBytes} bytes`), {
    status: 413,
    closeConnection,
  })
}
