import {
  Code,
  ConnectError,
  type ConnectRouter,
  createConnectRouter,
  type ServiceImpl,
} from '@connectrpc/connect'
import { createFetchHandler } from '@connectrpc/connect/protocol'
import { isLarderError } from '../core/index.js'
import { ServingService } from '../gen/feast/serving/ServingService_pb.js'
import { getOnlineFeatures, type ServingTarget, STRICT_HEADER } from '../serving/index.js'
import {
  ERROR_CODE_HEADER,
  ERROR_HINT_HEADER,
  requestFromMessage,
  responseMessage,
  VALUE_TYPES_HEADER,
} from './serving-messages.js'
import { GRPC_STATUS } from './status-codes.js'

/**
 * Feast's `feast.serving.ServingService`: `GetFeastServingInfo` answers `version`, and
 * `GetOnlineFeatures` reads as `POST /get-online-features` does (same resolution, statuses and
 * errors), answering values as `feast.types.Value` encoded by each column's declared type (the types
 * also go in the `larder-value-types` header, for Larder's client). A
 * `LarderError` becomes the matching gRPC status (NOT_FOUND, INVALID_ARGUMENT, UNAVAILABLE…) with its
 * code and hint in the `larder-error-code` and `larder-error-hint` metadata; any other error is
 * INTERNAL without its message.
 *
 * @example createConnectRouter().service(ServingService, servingService(target, '0.1.0'))
 */
export function servingService(target: ServingTarget, version: string): ServiceImpl<typeof ServingService> {
  return {
    getFeastServingInfo: () => ({ version }),
    async getOnlineFeatures(message, context) {
      try {
        const response = await getOnlineFeatures(target, requestFromMessage(message), {
          signal: context.signal,
          strict: context.requestHeader.get(STRICT_HEADER) === 'true',
        })
        context.responseHeader.set(VALUE_TYPES_HEADER, response.metadata.valueTypes.join(','))
        return responseMessage(response)
      } catch (e) {
        throw connectError(e)
      }
    },
  }
}

/** Registers the service on a Connect router (for `connectNodeAdapter`). */
export function servingRoutes(target: ServingTarget, version: string): (router: ConnectRouter) => void {
  return (router) => {
    router.service(ServingService, servingService(target, version))
  }
}

/**
 * The service as fetch handlers, one per method path (`/feast.serving.ServingService/GetOnlineFeatures`),
 * answering the Connect protocol and gRPC-Web over HTTP/1.1: for mounting on the HTTP feature server,
 * where Larder's client calls them.
 */
export function servingFetchHandlers(
  target: ServingTarget,
  version: string,
): { readonly path: string; readonly fetch: (request: Request) => Promise<Response> }[] {
  const router = createConnectRouter()
  servingRoutes(target, version)(router)
  return router.handlers.map((h) => ({ path: h.requestPath, fetch: createFetchHandler(h) }))
}

function connectError(e: unknown): ConnectError {
  if (e instanceof ConnectError) return e
  if (!isLarderError(e)) return new ConnectError('internal error', Code.Internal)
  const metadata = new Headers({ [ERROR_CODE_HEADER]: e.code })
  if (e.hint) metadata.set(ERROR_HINT_HEADER, encodeURIComponent(e.hint))
  return new ConnectError(e.message, GRPC_STATUS[e.code] ?? Code.Internal, metadata)
}
