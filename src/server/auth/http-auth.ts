import type { Context, MiddlewareHandler } from 'hono'
import { type Authenticator, LarderError, type Principal } from '../../core/index.js'

/** The Hono context variable holding the request's principal. */
export type AuthVariables = { principal: Principal }

/**
 * Hono middleware that authenticates every request except CORS preflights and those `isPublic`
 * accepts, and keeps the principal for the routes (`principalOf`). A refused request never reaches
 * its route: the authenticator's UNAUTHENTICATED error answers 401 through the app's `onError`.
 * With an authenticator that names `everyone`, every request is that principal, read from nothing.
 */
export function authenticate(
  authenticator: Authenticator,
  isPublic: (c: Context) => boolean = () => false,
): MiddlewareHandler<{ Variables: AuthVariables }> {
  const everyone = authenticator.everyone
  if (everyone !== undefined) {
    return (c, next) => {
      c.set('principal', everyone)
      return next()
    }
  }
  return async (c, next) => {
    if (c.req.method !== 'OPTIONS' && !isPublic(c)) {
      c.set('principal', await authenticator.authenticate(c.req.raw.headers, { signal: c.req.raw.signal }))
    }
    await next()
  }
}

/**
 * The principal `authenticate` found for this request. Throws INTERNAL when it did not run for the
 * route, a wiring fault that must not let a request through as anyone.
 */
export function principalOf(c: Context): Principal {
  const principal = c.get('principal') as Principal | undefined
  if (principal === undefined) {
    throw new LarderError(
      'INTERNAL',
      `the route ${c.req.method} ${c.req.path} was reached without authentication`,
    )
  }
  return principal
}
