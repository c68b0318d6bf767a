import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { callerSafeError, isLarderError, type LarderErrorCode } from '../core/index.js'
import { wwwAuthenticate } from './auth/bearer.js'

/**
 * The JSON body of every error answer. `status_code`, `detail` and `error_type` are the fields of
 * Feast's registry REST errors; `hint` says what to do, `details` names the objects involved (a field
 * path, a view, a join key), `request_id` matches the `x-request-id` header and the log line.
 */
export interface ErrorBody {
  status_code: number
  error_type: string
  detail: string
  hint?: string
  details?: Record<string, unknown>
  request_id?: string
}

/**
 * The HTTP status of each error code. Codes the caller can fix are 4xx (a request over a limit is 413,
 * as a body over the size limit is); a backend that is down is 503.
 */
const STATUS: Readonly<Record<LarderErrorCode, ContentfulStatusCode>> = {
  INVALID_ARGUMENT: 422,
  INVALID_DEFINITION: 422,
  UNSUPPORTED: 422,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  BACKEND_UNAVAILABLE: 503,
  ABORTED: 503,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  RESOURCE_EXHAUSTED: 413,
  INVALID_CONFIG: 500,
  REGISTRY_CORRUPT: 500,
  REPO_LOAD_FAILED: 500,
  DATA_SOURCE: 500,
  MISSING_DEPENDENCY: 500,
  TRANSFORMATION_FAILED: 500,
  INTERNAL: 500,
}

/**
 * The status, body and headers answering an error. A `LarderError` keeps its message, hint and
 * details (UNAUTHENTICATED adds `WWW-Authenticate: Bearer`), except BACKEND_UNAVAILABLE, whose text
 * may name hosts, ports and users: it answers the text of `callerSafeError` (which backend, and the
 * request id to find the detail in the server's log). A status a framework attached (a body over the
 * limit: 413, with `Connection: close` when the rest of the body was left unread) keeps its status;
 * anything else is a bug and answers 500 with a generic message, so no stack trace or internal text
 * reaches the client.
 */
export function errorResponse(
  error: unknown,
  requestId: string | undefined,
): { status: ContentfulStatusCode; body: ErrorBody; headers: Record<string, string> } {
  if (isLarderError(error)) {
    const shown = callerSafeError(error)
    const status = STATUS[shown.code] ?? 500
    const body: ErrorBody = { status_code: status, error_type: shown.code, detail: shown.message }
    if (shown.hint) body.hint = shown.hint
    if (Object.keys(shown.details).length > 0) body.details = { ...shown.details }
    if (requestId) body.request_id = requestId
    const headers: Record<string, string> =
      shown.code === 'UNAUTHENTICATED' ? { 'www-authenticate': wwwAuthenticate(shown.details.reason) } : {}
    return { status, body, headers }
  }
  const status = frameworkStatus(error)
  if (status !== undefined && status < 500) {
    const body: ErrorBody = {
      status_code: status,
      error_type: status === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST',
      detail: (error as Error).message || 'bad request',
    }
    if (status === 413) {
      body.hint =
        'send a smaller body (split the rows into several requests), or start the server with a larger --max-body-bytes'
    }
    if (requestId) body.request_id = requestId
    // the rest of a refused body was not read (see `requestBodyLimit`): the connection cannot carry
    // another request, and the client is told so
    const close = (error as { closeConnection?: unknown }).closeConnection === true
    return { status, body, headers: close ? { connection: 'close' } : {} }
  }
  const body: ErrorBody = {
    status_code: 500,
    error_type: 'INTERNAL',
    detail: 'internal error; the server log has the details under this request id',
  }
  if (requestId) body.request_id = requestId
  return { status: 500, body, headers: {} }
}

function frameworkStatus(error: unknown): ContentfulStatusCode | undefined {
  const status = (error as { status?: unknown } | null)?.status
  return typeof status === 'number' && status >= 400 && status <= 599
    ? (status as ContentfulStatusCode)
    : undefined
}

/** Connect protocol code names of the statuses the server answers before an RPC handler runs. */
const CONNECT_CODES: Readonly<Record<number, string>> = {
  401: 'unauthenticated',
  403: 'permission_denied',
  413: 'resource_exhausted',
  503: 'unavailable',
}

/**
 * An error answered on a Connect RPC path (`/feast.serving.ServingService/*`) before the RPC handler
 * ran (authentication, body limit): the Connect protocol's error body `{code, message}` with the
 * LarderError code and hint in the `larder-error-code` and `larder-error-hint` headers, which
 * Larder's client reads as it reads them from the handler's own errors.
 */
export function rpcErrorResponse(
  error: unknown,
  requestId: string | undefined,
): {
  status: ContentfulStatusCode
  body: { code: string; message: string }
  headers: Record<string, string>
} {
  const { status, body, headers } = errorResponse(error, requestId)
  const rpcHeaders: Record<string, string> = { ...headers, 'larder-error-code': body.error_type }
  if (body.hint) rpcHeaders['larder-error-hint'] = encodeURIComponent(body.hint)
  return {
    status,
    body: { code: CONNECT_CODES[status] ?? 'internal', message: body.detail },
    headers: rpcHeaders,
  }
}
