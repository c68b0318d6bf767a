import { Code, ConnectError } from '@connectrpc/connect'
import { callerSafeError, isLarderError, type LarderErrorCode } from '../core/index.js'

/** The gRPC status each `LarderError` code answers with, on every Larder gRPC service. */
export const GRPC_STATUS: Readonly<Record<LarderErrorCode, Code>> = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  INVALID_DEFINITION: Code.InvalidArgument,
  UNSUPPORTED: Code.Unimplemented,
  NOT_FOUND: Code.NotFound,
  ALREADY_EXISTS: Code.AlreadyExists,
  CONFLICT: Code.Aborted,
  BACKEND_UNAVAILABLE: Code.Unavailable,
  ABORTED: Code.Canceled,
  UNAUTHENTICATED: Code.Unauthenticated,
  PERMISSION_DENIED: Code.PermissionDenied,
  RESOURCE_EXHAUSTED: Code.ResourceExhausted,
  INVALID_CONFIG: Code.Internal,
  REGISTRY_CORRUPT: Code.Internal,
  REPO_LOAD_FAILED: Code.Internal,
  DATA_SOURCE: Code.Internal,
  MISSING_DEPENDENCY: Code.Internal,
  TRANSFORMATION_FAILED: Code.Internal,
  INTERNAL: Code.Internal,
}

/**
 * The `ConnectError` a serving call answers for an error: a `LarderError` becomes its gRPC status
 * (`GRPC_STATUS`) with its code and hint in the `codeHeader` and `hintHeader` metadata, its text as
 * `callerSafeError` shows it (a BACKEND_UNAVAILABLE error names the backend, never its host, port or
 * user); any other error is INTERNAL without its message. `onHidden` hears every error whose text the
 * caller does not see (anything but a `LarderError`, and BACKEND_UNAVAILABLE), so the server can log
 * it; a `ConnectError` is returned as it is.
 */
export function grpcErrorOf(
  error: unknown,
  headers: { readonly codeHeader: string; readonly hintHeader: string },
  onHidden?: (error: unknown) => void,
): ConnectError {
  if (error instanceof ConnectError) return error
  if (!isLarderError(error)) {
    onHidden?.(error)
    return new ConnectError('internal error', Code.Internal)
  }
  const shown = callerSafeError(error)
  if (shown !== error) onHidden?.(error)
  const metadata = new Headers({ [headers.codeHeader]: shown.code })
  if (shown.hint) metadata.set(headers.hintHeader, encodeURIComponent(shown.hint))
  return new ConnectError(shown.message, GRPC_STATUS[shown.code] ?? Code.Internal, metadata)
}
