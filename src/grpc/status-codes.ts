import { Code } from '@connectrpc/connect'
import type { LarderErrorCode } from '../core/index.js'

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
  INVALID_CONFIG: Code.Internal,
  REGISTRY_CORRUPT: Code.Internal,
  REPO_LOAD_FAILED: Code.Internal,
  DATA_SOURCE: Code.Internal,
  MISSING_DEPENDENCY: Code.Internal,
  TRANSFORMATION_FAILED: Code.Internal,
  INTERNAL: Code.Internal,
}
