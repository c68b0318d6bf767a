export { type UnauthenticatedReason, unauthenticated, wwwAuthenticate } from './bearer.js'
export { type AuthVariables, authenticate, principalOf } from './http-auth.js'
export { PermissionAuthorizer, type PermissionSource } from './permission-authorizer.js'
export { createServerAuth, type ServerAuthConfig, type ServerAuthOptions } from './server-auth.js'
