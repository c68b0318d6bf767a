import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { isLarderError, type LarderErrorCode } from '../core/index.js'

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

/** The HTTP status of each error code. Codes the caller can fix are 4xx; a backend that is down is 503. */
const STATUS: Readonly<Record<LarderErrorCode, ContentfulStatusCode>> = {
  INVALID_ARGUMENT: 422,
  INVALID_DEFINITION: 422,
  UNSUPPORTED: 422,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  BACKEND_UNAVAILABLE: 503,
  ABORTED: 503,
  INVALID_CONFIG: 500,
  REGISTRY_CORRUPT: 500,
  REPO_LOAD_FAILED: 500,
  DATA_SOURCE: 500,
  MISSING_DEPENDENCY: 500,
  TRANSFORMATION_FAILED: 500,
  INTERNAL: 500,
}

/**
 * The status and body answering an error. A `LarderError` keeps its message, hint and details; a
 * status a framework attached (a body over the limit: 413) keeps its status; anything else is a bug
 * and answers 500 with a generic message, so no stack trace or internal text reaches the client.
 */
export function errorResponse(
  error: unknown,
  requestId: string | undefined,
): { status: ContentfulStatusCode; body: ErrorBody } {
  if (isLarderError(error)) {
    const status = STATUS[error.code] ?? 500
    const body: ErrorBody = { status_code: status, error_type: error.code, detail: error.message }
    if (error.hint) body.hint = error.hint
    if (Object.keys(error.details).length > 0) body.details = { ...error.details }
    if (requestId) body.request_id = requestId
    return { status, body }
  }
  const status = frameworkStatus(error)
  if (status !== undefined && status < 500) {
    const body: ErrorBody = {
      status_code: status,
      error_type: status === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST',
      detail: (error as Error).message || 'bad request',
    }
    if (requestId) body.request_id = requestId
    return { status, body }
  }
  const body: ErrorBody = {
    status_code: 500,
    error_type: 'INTERNAL',
    detail: 'internal error; the server log has the details under this request id',
  }
  if (requestId) body.request_id = requestId
  return { status: 500, body }
}

function frameworkStatus(error: unknown): ContentfulStatusCode | undefined {
  const status = (error as { status?: unknown } | null)?.status
  return typeof status === 'number' && status >= 400 && status <= 599
    ? (status as ContentfulStatusCode)
    : undefined
}
