export { callPrincipal, knownPrincipal, PRINCIPAL } from './call-principal.js'
export { type GrpcListening, type GrpcListenOptions, listenGrpc } from './grpc-server.js'
export {
  ERROR_CODE_HEADER,
  ERROR_HINT_HEADER,
  messageValue,
  requestFromMessage,
  requestMessage,
  responseFromMessage,
  responseMessage,
  VALUE_TYPES_HEADER,
  valueMessage,
} from './serving-messages.js'
export {
  type ServingServiceHooks,
  servingFetchHandlers,
  servingRoutes,
  servingService,
} from './serving-service.js'
export { GRPC_STATUS, grpcErrorOf } from './status-codes.js'
