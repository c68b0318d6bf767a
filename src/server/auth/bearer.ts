import { LarderError } from '../../core/index.js'

/** Why a request is not authenticated; the 401 body's `details.reason`. */
export type UnauthenticatedReason =
  | 'no_token'
  | 'malformed_header'
  | 'malformed_token'
  | 'unknown_token'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'unknown_key'
  | 'bad_signature'
  | 'algorithm_not_allowed'
  | 'invalid_claims'
  | 'no_username'

/** The realm every Larder server names in `WWW-Authenticate`. */
const REALM = 'larder'

/**
 * An UNAUTHENTICATED error: answered as 401 with `WWW-Authenticate: Bearer` over HTTP, as the gRPC
 * status UNAUTHENTICATED over gRPC. `detail` names what is wrong; it never holds the token.
 */
export function unauthenticated(reason: UnauthenticatedReason, detail: string, hint?: string): LarderError {
  return new LarderError('UNAUTHENTICATED', detail, { hint, details: { reason } })
}

/**
 * The bearer token of a request's `Authorization` header (HTTP) or `authorization` metadata (gRPC).
 * Throws UNAUTHENTICATED `no_token` when there is none, `malformed_header` when the header is not
 * `Bearer <token>`.
 */
export function bearerToken(headers: Headers): string {
  const header = headers.get('authorization')
  if (header === null || header.trim() === '') {
    throw unauthenticated(
      'no_token',
      'no bearer token: the request has no Authorization header',
      'send the header Authorization: Bearer <token> (an OIDC access token or a static service token)',
    )
  }
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header)
  if (!match) {
    const scheme = header.trim().split(/\s+/)[0]!
    throw unauthenticated(
      'malformed_header',
      /^bearer$/i.test(scheme)
        ? 'the Authorization header holds no token after "Bearer"'
        : `the Authorization header uses the scheme "${scheme.slice(0, 20)}"; this server takes only Bearer tokens`,
      'send the header Authorization: Bearer <token>',
    )
  }
  return match[1]!
}

/**
 * The `WWW-Authenticate` value answering an UNAUTHENTICATED error (RFC 6750): a bare challenge when
 * no token was sent, `error="invalid_token"` when the one sent was refused.
 */
export function wwwAuthenticate(reason: unknown): string {
  return reason === 'no_token' ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="invalid_token"`
}
