import { LarderError } from '../core/index.js'

/**
 * BACKEND_UNAVAILABLE for a broker that could not be reached or dropped the connection, naming the
 * broker and where it was looked for (pass an address with no password: see {@link redactUrl}).
 *
 * @example throw brokerUnreachable('Redis', 'redis://127.0.0.1:6379', cause, 'start Redis, or fix ...')
 */
export function brokerUnreachable(broker: string, where: string, cause: unknown, hint: string): LarderError {
  const reason = describeCause(cause)
  return new LarderError(
    'BACKEND_UNAVAILABLE',
    `cannot reach ${broker} at ${where}${reason ? `: ${reason}` : ''}`,
    { hint, cause, details: { broker, where } },
  )
}

/**
 * A URL as it may appear in a message or log: its password replaced by `***`. Text that is not a
 * URL comes back unchanged.
 *
 * @example redactUrl('redis://app:secret@cache:6379/0') // 'redis://app:***@cache:6379/0'
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password === '') return url
    parsed.password = '***'
    return parsed.toString()
  } catch {
    return url
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof AggregateError && cause.errors.length > 0) return describeCause(cause.errors[0])
  if (cause instanceof Error) return cause.message || (cause as NodeJS.ErrnoException).code || cause.name
  return cause === undefined ? '' : String(cause)
}
