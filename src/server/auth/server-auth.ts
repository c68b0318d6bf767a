import type { AuthConfig } from '../../config/index.js'
import {
  type Authenticator,
  allowAllAuthorizer,
  anonymousAuthenticator,
  LarderError,
  type Principal,
  type ServerAuth,
} from '../../core/index.js'
import { bearerToken, unauthenticated } from './bearer.js'
import { KubernetesAuthenticator } from './kubernetes-authenticator.js'
import { OidcVerifier } from './oidc-verifier.js'
import { PermissionAuthorizer, type PermissionSource } from './permission-authorizer.js'
import { StaticTokens } from './static-tokens.js'

/** A server's authentication and authorization, with the Larder options that go with them. */
export interface ServerAuthConfig extends ServerAuth {
  /** Whether `GET /metrics` needs a token too (`auth.protect_metrics`; default open). */
  readonly protectMetrics: boolean
}

export interface ServerAuthOptions {
  /**
   * The registry whose permissions the server enforces, read at every authorization (a server's
   * background registry, so that no request waits for it and reloads are followed). Without it,
   * every authenticated principal may do everything.
   */
  readonly permissions?: PermissionSource
}

/**
 * The authentication of Larder's servers from the `auth:` block: `no_auth` answers every request as
 * the anonymous principal; `oidc` takes a JWT of the identity provider, or one of the
 * `static_tokens`; `static` takes only the static tokens. With `permissions` and an `auth` type other
 * than `no_auth`, the authorizer applies Feast's permissions of the registry (`PermissionAuthorizer`);
 * with `no_auth`, as in Feast, no permission is enforced and everyone may do everything;
 * `kubernetes` has the Kubernetes API server review each token (`KubernetesAuthenticator`), after
 * the static tokens. Throws INVALID_CONFIG for an `oidc` block a server cannot check tokens with (no
 * issuer source, no audience), and for `kubernetes` when the server's ServiceAccount token or the API
 * server's CA bundle cannot be read.
 *
 * @example const auth = createServerAuth(store.config.auth, { permissions: () => server.registry.load() })
 */
export function createServerAuth(config: AuthConfig, options: ServerAuthOptions = {}): ServerAuthConfig {
  const authenticator = createAuthenticator(config)
  return Object.freeze({
    authenticator,
    authorizer:
      config.type !== 'no_auth' && options.permissions !== undefined
        ? new PermissionAuthorizer(options.permissions)
        : allowAllAuthorizer,
    protectMetrics: config.protectMetrics,
  })
}

function createAuthenticator(config: AuthConfig): Authenticator {
  switch (config.type) {
    case 'no_auth':
      return anonymousAuthenticator
    case 'kubernetes': {
      const tokens = config.staticTokens.length > 0 ? new StaticTokens(config.staticTokens) : undefined
      return new KubernetesAuthenticator(config.kubernetes!, tokens)
    }
    case 'static':
      return new TokenAuthenticator('static', new StaticTokens(config.staticTokens), undefined)
    case 'oidc': {
      const oidc = config.oidc!
      if (oidc.discoveryUrl === undefined && (oidc.issuer === undefined || oidc.jwksUrl === undefined)) {
        throw new LarderError(
          'INVALID_CONFIG',
          'auth: oidc needs auth_discovery_url, or both issuer and jwks_url, for a server to check tokens',
          {
            hint: "set auth_discovery_url to the provider's …/.well-known/openid-configuration",
            details: { path: ['auth', 'auth_discovery_url'] },
          },
        )
      }
      if (oidc.audience.length === 0) {
        throw new LarderError(
          'INVALID_CONFIG',
          'auth: oidc needs client_id or audience: a server accepts only tokens issued for it',
          {
            hint: 'set auth.client_id (the audience defaults to it) or auth.audience',
            details: { path: ['auth', 'audience'] },
          },
        )
      }
      const tokens = config.staticTokens.length > 0 ? new StaticTokens(config.staticTokens) : undefined
      return new TokenAuthenticator('oidc', tokens, new OidcVerifier(oidc))
    }
  }
}

/** A JWT has three base64url parts separated by dots. */
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]*$/

/**
 * Bearer tokens: a static token when its hash is one of the configured ones, else (with OIDC) a JWT
 * verified against the identity provider.
 */
class TokenAuthenticator implements Authenticator {
  readonly type: 'oidc' | 'static'
  readonly #tokens: StaticTokens | undefined
  readonly #oidc: OidcVerifier | undefined

  constructor(type: 'oidc' | 'static', tokens: StaticTokens | undefined, oidc: OidcVerifier | undefined) {
    this.type = type
    this.#tokens = tokens
    this.#oidc = oidc
  }

  async authenticate(headers: Headers): Promise<Principal> {
    const token = bearerToken(headers)
    const service = this.#tokens?.match(token)
    if (service) return service
    if (this.#oidc && JWT_SHAPE.test(token)) return this.#oidc.verify(token)
    throw unauthenticated(
      'unknown_token',
      this.#oidc
        ? "the bearer token is neither a JWT nor one of the server's static tokens"
        : "the bearer token is not one of the server's static tokens",
      this.#oidc
        ? 'send an access token of the identity provider, or a service token listed in auth.static_tokens'
        : 'send a token whose sha256 is listed in auth.static_tokens',
    )
  }
}
