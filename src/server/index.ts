export {
  createServerAuth,
  PermissionAuthorizer,
  type PermissionSource,
  type ServerAuthConfig,
  type ServerAuthOptions,
} from './auth/index.js'
export { BackgroundRegistry, type BackgroundRegistryOptions } from './background-registry.js'
export { type ErrorBody, errorResponse } from './errors.js'
export {
  API_PATH_PREFIXES,
  DEFAULT_MAX_BODY_BYTES,
  FeatureServer,
  type FeatureServerOptions,
  isApiPath,
} from './feature-server.js'
export { type Listening, type ListenOptions, listen, readTls } from './listen.js'
export { ServerMetrics } from './metrics.js'
export { type RequestGuardOptions, RequestGuards } from './request-guards.js'
export { serveStaticUi } from './static-ui.js'
