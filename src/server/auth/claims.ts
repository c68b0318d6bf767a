import type { JWTPayload } from 'jose'
import type { ClaimPath, OidcSettings } from '../../config/index.js'
import type { Principal } from '../../core/index.js'
import { unauthenticated } from './bearer.js'

/**
 * The principal a verified token's claims describe: its name from the first username claim holding a
 * string (Feast's order by default: preferred_username, upn, azp, appid, sub), roles, groups and
 * namespaces merged from their claim paths in order, without duplicates. A claim holding a string
 * counts as a list of one; other values are ignored, as Feast ignores them. Throws UNAUTHENTICATED
 * `no_username` when no username claim holds a string.
 */
export function principalFromClaims(payload: JWTPayload, claims: OidcSettings['claims']): Principal {
  let name: string | undefined
  for (const path of claims.username) {
    const value = claimAt(payload, path)
    if (typeof value === 'string' && value !== '') {
      name = value
      break
    }
  }
  if (name === undefined) {
    throw unauthenticated(
      'no_username',
      `the token names no user: none of the claims ${claims.username.map((p) => p.join('.')).join(', ')} holds a string`,
      'set auth.username_claims to the claim your identity provider puts the user name in',
    )
  }
  return Object.freeze({
    name,
    roles: strings(payload, claims.roles),
    groups: strings(payload, claims.groups),
    namespaces: strings(payload, claims.namespaces),
    kind: 'oidc',
  })
}

function strings(payload: JWTPayload, paths: readonly ClaimPath[]): readonly string[] {
  const out = new Set<string>()
  for (const path of paths) {
    const value = claimAt(payload, path)
    const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value : []
    for (const v of list) if (typeof v === 'string' && v !== '') out.add(v)
  }
  return Object.freeze([...out])
}

function claimAt(payload: JWTPayload, path: ClaimPath): unknown {
  let at: unknown = payload
  for (const key of path) {
    if (at === null || typeof at !== 'object' || Array.isArray(at) || !Object.hasOwn(at, key))
      return undefined
    at = (at as Record<string, unknown>)[key]
  }
  return at
}
