import type { z } from 'zod'
import { LarderError } from '../core/index.js'

/** Integer literals long enough to lose digits as JS numbers, and the string tokens to leave alone. */
const TOKENS = /"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])(-?\d{16,})(?![\d.eE])/g
const BIG = '\u0000int:'
const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER)
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER)

/**
 * Parses a JSON request body without losing integer digits: an integer literal beyond ±(2^53 − 1)
 * becomes a bigint (others stay numbers), so an int64 join key such as 9007199254740993 reaches the
 * store exactly. Bodies without such literals take the plain `JSON.parse` path. Throws
 * INVALID_ARGUMENT (HTTP 422) when the text is not JSON.
 *
 * @example parseJsonBody('{"id":[9007199254740993]}') // { id: [9007199254740993n] }
 */
export function parseJsonBody(text: string): unknown {
  try {
    if (!/\d{16}/.test(text)) return JSON.parse(text)
    let marked = false
    const rewritten = text.replace(TOKENS, (token, digits: string | undefined) => {
      if (digits === undefined) return token
      marked = true
      return `"\\u0000int:${digits}"`
    })
    if (!marked) return JSON.parse(text)
    return JSON.parse(rewritten, (_key, value) => {
      if (typeof value !== 'string' || !value.startsWith(BIG)) return value
      const big = BigInt(value.slice(BIG.length))
      return big >= SAFE_MIN && big <= SAFE_MAX ? Number(big) : big
    })
  } catch (cause) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `the request body is not valid JSON: ${(cause as Error).message}`,
      {
        hint: 'send a JSON object, e.g. {"features": ["view:feature"], "entities": {"id": [1]}}',
        details: { field: 'body' },
      },
    )
  }
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
