export { type UnauthenticatedReason, unauthenticated, wwwAuthenticate } from './bearer.js'
export { type AuthVariables, authenticate, principalOf } from './http-auth.js'
export { createServerAuth, type ServerAuthConfig } from './server-auth.js'
