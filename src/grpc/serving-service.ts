import {
  type ConnectRouter,
  createConnectRouter,
  createContextValues,
  type ServiceImpl,
} from '@connectrpc/connect'
import { universalServerRequestFromFetch, universalServerResponseToFetch } from '@connectrpc/connect/protocol'
import { authorizeAll, NO_AUTH, type Principal, type ServerAuth } from '../core/index.js'
import { ServingService } from '../gen/feast/serving/ServingService_pb.js'
import { getOnlineFeatures, onlineReadObjects, type ServingTarget, STRICT_HEADER } from '../serving/index.js'
import { callPrincipal, PRINCIPAL } from './call-principal.js'
import {
  ERROR_CODE_HEADER,
  ERROR_HINT_HEADER,
  requestFromMessage,
  responseMessage,
  VALUE_TYPES_HEADER,
} from './serving-messages.js'
import { grpcErrorOf } from './status-codes.js'

/** Hooks of the serving service. */
export interface ServingServiceHooks {
  /**
   * Hears each error whose text the caller is not shown (a backend that is unavailable, which may
   * name hosts and users; a bug), for the server's log.
   */
  readonly onHiddenError?: (error: unknown) => void
}

/**
 * Feast's `feast.serving.ServingService`: `GetFeastServingInfo` answers `version`, and
 * `GetOnlineFeatures` reads as `POST /get-online-features` does (same resolution, statuses and
 * errors), answering values as `feast.types.Value` encoded by each column's declared type (the types
 * also go in the `larder-value-types` header, for Larder's client). Each call is authenticated with
 * `auth` (metadata `authorization: Bearer …`; default: no authentication) and authorized: READ_ONLINE
 * on what a read reads, DESCRIBE of the project for the serving info. A `LarderError` becomes the
 * matching gRPC status (NOT_FOUND, INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED,
 * UNAVAILABLE…) with its code and hint in the `larder-error-code` and `larder-error-hint` metadata;
 * any other error is INTERNAL without its message. An unavailable backend is named without its
 * host, port or user; `hooks.onHiddenError` hears the full error.
 *
 * @example createConnectRouter().service(ServingService, servingService(target, '0.1.0'))
 */
export function servingService(
  target: ServingTarget,
  version: string,
  auth: ServerAuth = NO_AUTH,
  hooks: ServingServiceHooks = {},
): ServiceImpl<typeof ServingService> {
  const project = target.config.project
  const connectError = (e: unknown) =>
    grpcErrorOf(e, { codeHeader: ERROR_CODE_HEADER, hintHeader: ERROR_HINT_HEADER }, hooks.onHiddenError)
  return {
    async getFeastServingInfo(_message, context) {
      try {
        const principal = await callPrincipal(context, auth.authenticator)
        await auth.authorizer.authorize(principal, 'DESCRIBE', { type: 'PROJECT', name: project, project })
        return { version }
      } catch (e) {
        throw connectError(e)
      }
    },
    async getOnlineFeatures(message, context) {
      try {
        const principal = await callPrincipal(context, auth.authenticator)
        const request = requestFromMessage(message)
        const catalog = (await target.registry.load({ signal: context.signal })).catalog(project)
        await authorizeAll(auth.authorizer, principal, 'READ_ONLINE', onlineReadObjects(catalog, request))
        const response = await getOnlineFeatures(target, request, {
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

/** Registers the service on a Connect router (for `connectNodeAdapter`), with `auth` (default none). */
export function servingRoutes(
  target: ServingTarget,
  version: string,
  auth: ServerAuth = NO_AUTH,
  hooks: ServingServiceHooks = {},
): (router: ConnectRouter) => void {
  return (router) => {
    router.service(ServingService, servingService(target, version, auth, hooks))
  }
}

/**
 * The service as fetch handlers, one per method path (`/feast.serving.ServingService/GetOnlineFeatures`),
 * answering the Connect protocol and gRPC-Web over HTTP/1.1: for mounting on the HTTP feature server,
 * where Larder's client calls them. The server authenticated the request already and passes its
 * principal; `auth.authorizer` authorizes each call.
 */
export function servingFetchHandlers(
  target: ServingTarget,
  version: string,
  auth: ServerAuth = NO_AUTH,
  hooks: ServingServiceHooks = {},
): {
  readonly path: string
  readonly fetch: (request: Request, principal: Principal) => Promise<Response>
}[] {
  const router = createConnectRouter()
  servingRoutes(target, version, auth, hooks)(router)
  return router.handlers.map((h) => ({
    path: h.requestPath,
    fetch: async (request, principal) => {
      const universal = universalServerRequestFromFetch(request, {})
      universal.contextValues = createContextValues().set(PRINCIPAL, principal)
      return universalServerResponseToFetch(await h(universal))
    },
  }))
}
