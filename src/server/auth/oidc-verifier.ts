import {
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  jwtVerify,
} from 'jose'
import type { OidcSettings } from '../../config/index.js'
import { LarderError, type Principal } from '../../core/index.js'
import { unauthenticated } from './bearer.js'
import { principalFromClaims } from './claims.js'
import { type IdpFetch, idpFetch } from './idp-fetch.js'

type KeySet = ReturnType<typeof createRemoteJWKSet>

interface Resolved {
  readonly issuer: string
  readonly jwksUrl: string
  readonly keys: KeySet
}

/**
 * Verifies OIDC access tokens (JWTs) with `jose`: the signature against the identity provider's JWKS
 * (fetched, cached for `jwks_cache_lifespan_seconds`, fetched again when a token names a key id the
 * cached set lacks, at most once per `jwks_refetch_cooldown_seconds`), `exp` (required) and `nbf`
 * with `clock_tolerance_seconds` of skew, the issuer, the audience, and an asymmetric algorithm. The
 * issuer and JWKS come from the discovery document unless `issuer` and `jwks_url` are given; the
 * document is read on the first token and kept, and read again after a failure.
 */
export class OidcVerifier {
  readonly #settings: OidcSettings
  readonly #fetch: IdpFetch
  #resolved: Promise<Resolved> | undefined

  constructor(settings: OidcSettings) {
    this.#settings = settings
    this.#fetch = idpFetch(settings)
  }

  /**
   * The principal of a verified token. Throws UNAUTHENTICATED naming what is wrong (expired, not yet
   * valid, wrong audience or issuer, unknown key, bad signature, not a JWT, no username), and
   * BACKEND_UNAVAILABLE when the discovery document or the JWKS cannot be fetched.
   */
  async verify(token: string): Promise<Principal> {
    const resolved = await this.#resolve()
    const s = this.#settings
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(token, resolved.keys, {
        issuer: resolved.issuer,
        audience: [...s.audience],
        clockTolerance: s.clockToleranceSeconds,
        algorithms: [...s.algorithms],
        requiredClaims: ['exp'],
      }))
    } catch (e) {
      throw this.#explain(e, token, resolved)
    }
    return principalFromClaims(payload, s.claims)
  }

  #resolve(): Promise<Resolved> {
    this.#resolved ??= this.#discover().catch((e: unknown) => {
      this.#resolved = undefined
      throw e
    })
    return this.#resolved
  }

  async #discover(): Promise<Resolved> {
    const s = this.#settings
    let issuer = s.issuer
    let jwksUrl = s.jwksUrl
    if ((issuer === undefined || jwksUrl === undefined) && s.discoveryUrl !== undefined) {
      const doc = await this.#discoveryDocument(s.discoveryUrl)
      issuer ??= doc.issuer
      jwksUrl ??= doc.jwks_uri
    }
    if (issuer === undefined || jwksUrl === undefined) {
      throw new LarderError('INVALID_CONFIG', 'auth: oidc has no issuer or JWKS to check tokens against', {
        hint: 'set auth.auth_discovery_url, or auth.issuer and auth.jwks_url',
      })
    }
    const keys = createRemoteJWKSet(new URL(jwksUrl), {
      timeoutDuration: Math.round(s.jwksRequestTimeoutSeconds * 1000),
      cacheMaxAge: s.jwksCacheLifespanSeconds * 1000,
      cooldownDuration: s.jwksRefetchCooldownSeconds * 1000,
      [customFetch]: (url, init) => this.#fetch(url, init),
    })
    return { issuer, jwksUrl, keys }
  }

  async #discoveryDocument(url: string): Promise<{ issuer?: string; jwks_uri?: string }> {
    const unavailable = (why: string, cause?: unknown) =>
      new LarderError('BACKEND_UNAVAILABLE', `the OIDC discovery document at ${url} ${why}`, {
        hint: 'check auth.auth_discovery_url and that the identity provider is up; the request can be retried',
        cause,
      })
    let res: Response
    try {
      res = await this.#fetch(url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(Math.round(this.#settings.jwksRequestTimeoutSeconds * 1000)),
      })
    } catch (cause) {
      throw unavailable(`could not be fetched: ${tlsAware(cause)}`, cause)
    }
    if (res.status !== 200) throw unavailable(`answered HTTP ${res.status}`)
    let doc: unknown
    try {
      doc = await res.json()
    } catch (cause) {
      throw unavailable('is not JSON', cause)
    }
    const { issuer, jwks_uri } = (doc ?? {}) as { issuer?: unknown; jwks_uri?: unknown }
    if (typeof issuer !== 'string' || typeof jwks_uri !== 'string') {
      throw unavailable('names no issuer or no jwks_uri')
    }
    return { issuer, jwks_uri }
  }

  /** A jose failure as the LarderError the client sees. */
  #explain(e: unknown, token: string, resolved: Resolved): LarderError {
    const s = this.#settings
    const tolerance = `clock tolerance ${s.clockToleranceSeconds} s`
    if (e instanceof errors.JWTExpired) {
      return unauthenticated(
        'expired',
        `the token expired at ${when(e.payload.exp)} (${tolerance})`,
        'get a new token',
      )
    }
    if (e instanceof errors.JWTClaimValidationFailed) {
      const claim = e.claim
      if (claim === 'nbf') {
        return unauthenticated(
          'not_yet_valid',
          `the token is not valid before ${when(e.payload.nbf)} (${tolerance})`,
          'check the clocks of the identity provider and this server',
        )
      }
      if (claim === 'aud') {
        return unauthenticated(
          'wrong_audience',
          `the token's audience ${shown(e.payload.aud)} is not ${either(s.audience)}`,
          'set auth.audience (default: client_id) to the aud your identity provider puts in tokens for this server',
        )
      }
      if (claim === 'iss') {
        return unauthenticated(
          'wrong_issuer',
          `the token's issuer ${shown(e.payload.iss)} is not "${resolved.issuer}"`,
          'get a token from the identity provider this server trusts (auth.auth_discovery_url or auth.issuer)',
        )
      }
      if (claim === 'exp' && e.reason === 'missing') {
        return unauthenticated('invalid_claims', 'the token has no expiry (exp)', 'tokens must expire')
      }
      return unauthenticated('invalid_claims', `the token's claim "${claim}" is invalid (${e.reason})`)
    }
    if (e instanceof errors.JWKSNoMatchingKey) {
      const kid = header(token).kid
      return unauthenticated(
        'unknown_key',
        `the token is signed with ${kid === undefined ? 'no key id' : `key id "${kid}"`}, which the JWKS at ${resolved.jwksUrl} does not hold`,
        'get a token from the identity provider this server trusts; after a key rotation, retry',
      )
    }
    if (e instanceof errors.JWSSignatureVerificationFailed) {
      return unauthenticated(
        'bad_signature',
        `the token's signature does not verify with the key ${shown(header(token).kid)} of the JWKS at ${resolved.jwksUrl}`,
        'the token was altered or signed by another issuer',
      )
    }
    if (e instanceof errors.JOSEAlgNotAllowed) {
      return unauthenticated(
        'algorithm_not_allowed',
        `the token is signed with ${shown(header(token).alg)}, which this server does not accept (${s.algorithms.join(', ')})`,
        'see auth.algorithms',
      )
    }
    if (
      e instanceof errors.JWSInvalid ||
      e instanceof errors.JWTInvalid ||
      e instanceof errors.JOSENotSupported
    ) {
      return unauthenticated('malformed_token', `the bearer token is not a valid JWT: ${e.message}`)
    }
    if (e instanceof errors.JWKSTimeout) {
      return new LarderError(
        'BACKEND_UNAVAILABLE',
        `the JWKS at ${resolved.jwksUrl} did not answer within ${s.jwksRequestTimeoutSeconds} s`,
        { hint: 'check that the identity provider is up; the request can be retried', cause: e },
      )
    }
    return new LarderError(
      'BACKEND_UNAVAILABLE',
      `the JWKS at ${resolved.jwksUrl} could not be used to check the token: ${tlsAware(e)}`,
      { hint: 'check that the identity provider is up and serves a JSON Web Key Set there', cause: e },
    )
  }
}

function header(token: string): { kid?: string; alg?: string } {
  try {
    return decodeProtectedHeader(token)
  } catch {
    return {}
  }
}

function when(seconds: unknown): string {
  return typeof seconds === 'number' && Number.isFinite(seconds)
    ? new Date(seconds * 1000).toISOString()
    : String(seconds)
}

/** A claim value for a message, cut short: claims are not secret, but they are the caller's text. */
function shown(value: unknown): string {
  if (value === undefined) return '(none)'
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 200 ? `${text.slice(0, 200)}…` : text
}

function either(values: readonly string[]): string {
  return values.map((v) => `"${v}"`).join(' or ')
}

/** An error message, with the TLS options named when the failure is a certificate check. */
function tlsAware(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e)
  const causeCode = (e as { cause?: { code?: unknown } } | null)?.cause?.code
  const code = (e as { code?: unknown } | null)?.code ?? causeCode
  return typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)
    ? `${message} (${code}; for a private CA set auth.ca_cert_path, or auth.verify_ssl: false)`
    : message
}
