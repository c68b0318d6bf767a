import { createContextKey, type HandlerContext } from '@connectrpc/connect'
import { type Authenticator, LarderError, type Principal } from '../core/index.js'

/**
 * The context value holding a call's principal. A server that authenticated the request before the
 * RPC handler ran (the HTTP feature server, for the Connect protocol it mounts) sets it, so the call
 * is not authenticated twice.
 */
export const PRINCIPAL = createContextKey<Principal | undefined>(undefined, {
  description: 'larder principal',
})

/**
 * The principal of a call: the one already in its context values, else the one `authenticator` finds
 * in its metadata (`authorization: Bearer …`), kept for the rest of the call. Throws the
 * authenticator's UNAUTHENTICATED error, which the services answer as the gRPC status
 * UNAUTHENTICATED.
 */
export async function callPrincipal(ctx: HandlerContext, authenticator: Authenticator): Promise<Principal> {
  const known = ctx.values.get(PRINCIPAL)
  if (known !== undefined) return known
  const principal = await authenticator.authenticate(ctx.requestHeader, { signal: ctx.signal })
  ctx.values.set(PRINCIPAL, principal)
  return principal
}

/**
 * The principal `callPrincipal` found for this call. Throws INTERNAL when the call was not
 * authenticated first, a wiring fault that must not let a call through as anyone.
 */
export function knownPrincipal(ctx: HandlerContext): Principal {
  const principal = ctx.values.get(PRINCIPAL)
  if (principal === undefined) {
    throw new LarderError('INTERNAL', `the call ${ctx.method.name} was reached without authentication`)
  }
  return principal
}
