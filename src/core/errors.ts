/** Machine-readable error codes; the CLI and the server map them to exit codes and HTTP statuses. */
export type LarderErrorCode =
  | 'INVALID_DEFINITION'
  | 'INVALID_CONFIG'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CONFLICT'
  | 'REGISTRY_CORRUPT'
  | 'REPO_LOAD_FAILED'
  | 'DATA_SOURCE'
  | 'BACKEND_UNAVAILABLE'
  | 'MISSING_DEPENDENCY'
  | 'TRANSFORMATION_FAILED'
  | 'UNSUPPORTED'
  | 'ABORTED'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'INTERNAL'

export interface LarderErrorOptions {
  /** The underlying error, shown with `--verbose`. */
  cause?: unknown
  /** One line telling the user what to do next. */
  hint?: string
  /** Structured context (object names, paths) for logs and JSON error bodies. */
  details?: Record<string, unknown>
}

/**
 * The one error type Larder throws on purpose. Its message names the object and the value at fault;
 * `hint` says how to fix it. Anything else that escapes is a bug.
 */
export class LarderError extends Error {
  override readonly name = 'LarderError'
  readonly code: LarderErrorCode
  readonly hint: string | undefined
  readonly details: Readonly<Record<string, unknown>>

  constructor(code: LarderErrorCode, message: string, options: LarderErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.hint = options.hint
    this.details = Object.freeze({ ...options.details })
  }
}

/** True for a `LarderError`, also one thrown by a second copy of the package. */
export function isLarderError(value: unknown): value is LarderError {
  return (
    value instanceof Error && value.name === 'LarderError' && typeof (value as LarderError).code === 'string'
  )
}

/** A count with its noun in the right number, for messages: `1 row`, `2 rows`, `0 rows`. */
export function countOf(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`
}

/** Formats a list of known names for an error message: `a, b, c` or `(none)`. */
export function knownNames(names: Iterable<string>): string {
  const sorted = [...names].sort()
  return sorted.length === 0 ? '(none)' : sorted.join(', ')
}

/**
 * The error as a server answers it to its caller. A BACKEND_UNAVAILABLE error's message and hint may
 * name hosts, ports, users, databases and paths of the deployment, so it is replaced by one that
 * names only what the server said about it: `details.backend` (e.g. `the online store (redis)`,
 * default `a backend this request needs`) and `details.reason` (e.g. `no answer within 1000 ms`),
 * with a hint to retry and to look for the request id in the server's log. Every other error is
 * returned as it is. Servers log the original.
 *
 * @example callerSafeError(e).message // 'the online store (redis) is unavailable'
 */
export function callerSafeError(error: LarderError): LarderError {
  if (error.code !== 'BACKEND_UNAVAILABLE') return error
  const backend = typeof error.details.backend === 'string' ? error.details.backend : undefined
  const reason = typeof error.details.reason === 'string' ? error.details.reason : undefined
  return new LarderError(
    'BACKEND_UNAVAILABLE',
    `${backend ?? 'a backend this request needs'} is unavailable${reason ? `: ${reason}` : ''}`,
    {
      hint: 'retry the request later; the server log has the details under its request id',
      details: backend === undefined ? {} : { backend },
    },
  )
}
