import { readFileSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { z } from 'zod'
import { LarderError, type TokenProvider } from '../core/index.js'

/**
 * The `auth:` block of `feature_store.yaml`: Feast's keys (`type`, the server-side OIDC keys, the
 * client-side token keys) plus Larder's (`jwks_url`, `clock_tolerance_seconds`, claim paths,
 * `static_tokens`, `protect_metrics`). Each type is a strict object, so a misspelt key fails at load.
 * What a server needs beyond the keys (an issuer to check against) is checked when a server starts
 * (`server/auth`), what a client needs (a token) when it calls: one file serves both roles.
 */

/** Where a Kubernetes pod finds its ServiceAccount's token, CA bundle and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/** Where a claim lives in a JWT: `a.b.c` (dots separate nested claims), or a list of names for claims whose name holds a dot. `{client_id}` stands for the configured client id. */
const claimPathSchema = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)])

const staticTokenSchema = z
  .object({
    name: z.string().min(1).describe('Who the token is: the principal name in logs and permissions'),
    token_sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'a sha256 in hex: 64 hex digits')
      .describe('sha256 of the token, in hex (`printf %s "$TOKEN" | sha256sum`); the token is never stored'),
    roles: z.array(z.string().min(1)).default([]).describe("The principal's roles"),
    groups: z.array(z.string().min(1)).default([]).describe("The principal's groups"),
    namespaces: z.array(z.string().min(1)).default([]).describe("The principal's namespaces"),
  })
  .strict()

/** Client-side keys (Feast's): how Larder's clients and Feast's obtain the token they send. */
const clientKeys = {
  token: z
    .string()
    .min(1)
    .optional()
    .describe('Client: the bearer token to send (better: token_env_var, or an environment reference)'),
  token_env_var: z
    .string()
    .min(1)
    .optional()
    .describe('Client: the environment variable holding the token, read at every call'),
}

const serverCommon = {
  static_tokens: z
    .array(staticTokenSchema)
    .optional()
    .describe('Larder: service tokens, stored as their sha256, each with a name, roles and groups'),
  protect_metrics: z
    .boolean()
    .default(false)
    .describe('Larder: require a token on GET /metrics too (default false: metrics stay open)'),
}

const noAuthSchema = z
  .object({ type: z.literal('no_auth').optional().describe('No authentication (default)') })
  .strict()

const oidcSchema = z
  .object({
    type: z.literal('oidc'),
    auth_discovery_url: z
      .url()
      .optional()
      .describe("The identity provider's OpenID discovery document (…/.well-known/openid-configuration)"),
    client_id: z.string().min(1).optional().describe('The OIDC client; the default audience'),
    ui_client_id: z.string().min(1).optional().describe("Feast: the web UI's OIDC client"),
    verify_ssl: z.boolean().default(true).describe("Verify the identity provider's TLS certificate"),
    ca_cert_path: z.string().optional().describe("PEM CA bundle for the identity provider's TLS certificate"),
    audience: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .optional()
      .describe('The aud a token must carry (one of them, for a list); default client_id'),
    issuer: z.string().min(1).optional().describe('The iss a token must carry; default the discovery issuer'),
    jwks_url: z
      .url()
      .optional()
      .describe('Larder: the JWKS to verify signatures with, instead of the discovery jwks_uri'),
    jwks_cache_lifespan_seconds: z
      .number()
      .positive()
      .default(300)
      .describe('How long the fetched JWKS is used before it is fetched again'),
    jwks_request_timeout_seconds: z
      .number()
      .positive()
      .default(10)
      .describe('Timeout of one fetch of the JWKS or discovery document'),
    jwks_refetch_cooldown_seconds: z
      .number()
      .nonnegative()
      .default(30)
      .describe('Larder: after a JWKS fetch, how long a token with an unknown key id waits for the next one'),
    clock_tolerance_seconds: z
      .number()
      .nonnegative()
      .default(60)
      .describe('Larder: clock skew allowed on exp and nbf'),
    algorithms: z
      .array(
        z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']),
      )
      .min(1)
      .optional()
      .describe('Larder: signature algorithms accepted (default all of these asymmetric ones)'),
    username_claims: z
      .array(claimPathSchema)
      .min(1)
      .default(['preferred_username', 'upn', 'azp', 'appid', 'sub'])
      .describe("Larder: claims naming the user, first string wins (Feast's order)"),
    roles_claims: z
      .array(claimPathSchema)
      .default(['resource_access.{client_id}.roles', 'roles'])
      .describe("Larder: claims holding roles, merged (Feast's: the client's Keycloak roles and roles)"),
    groups_claims: z.array(claimPathSchema).default(['groups']).describe('Larder: claims holding groups'),
    namespaces_claims: z
      .array(claimPathSchema)
      .default([])
      .describe('Larder: claims holding namespaces (Feast reads none from OIDC tokens)'),
    ...serverCommon,
    ...clientKeys,
    client_secret: z
      .string()
      .optional()
      .describe("Feast client: the client-credentials grant (not in Larder's clients)"),
    username: z.string().optional().describe("Feast client: the password grant (not in Larder's clients)"),
    password: z.string().optional().describe("Feast client: the password grant (not in Larder's clients)"),
    token_refresh_margin_seconds: z.number().nonnegative().optional().describe('Feast client; ignored'),
  })
  .strict()

const staticSchema = z
  .object({
    type: z.literal('static'),
    ...serverCommon,
    static_tokens: serverCommon.static_tokens.unwrap().min(1),
    ...clientKeys,
  })
  .strict()

const kubernetesSchema = z
  .object({
    type: z.literal('kubernetes'),
    user_token: z.string().min(1).optional().describe('Client: the ServiceAccount token to send'),
    api_server_url: z
      .url()
      .optional()
      .describe(
        'Larder: the Kubernetes API server reviewing tokens; default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, else https://kubernetes.default.svc',
      ),
    service_account_token_path: z
      .string()
      .min(1)
      .default(`${SERVICE_ACCOUNT_DIR}/token`)
      .describe("Larder: the server's own ServiceAccount token, sent to the API server (read at each call)"),
    ca_cert_path: z
      .string()
      .min(1)
      .default(`${SERVICE_ACCOUNT_DIR}/ca.crt`)
      .describe("Larder: PEM CA bundle of the API server's TLS certificate"),
    namespace: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Larder: the namespace whose RoleBindings give a ServiceAccount its roles; default the server's own (the ServiceAccount's namespace file)",
      ),
    review_cache_seconds: z
      .number()
      .nonnegative()
      .default(60)
      .describe(
        'Larder: how long an accepted token is trusted before it is reviewed again (0: every request)',
      ),
    review_cache_size: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('Larder: most accepted tokens kept in the review cache; the oldest goes first'),
    request_timeout_seconds: z
      .number()
      .positive()
      .default(10)
      .describe('Larder: timeout of one call to the API server'),
    ...serverCommon,
  })
  .strict()

/** The `auth:` block: `no_auth` (default), `oidc`, `static` (Larder: service tokens only) or `kubernetes` (TokenReview). */
export const authConfigSchema = z
  .discriminatedUnion('type', [noAuthSchema, oidcSchema, staticSchema, kubernetesSchema])
  .describe(
    'Authentication of the servers, and the token clients send: type no_auth (default), oidc (JWTs from an identity provider, plus optional static_tokens), static (static_tokens only) or kubernetes (tokens reviewed by the Kubernetes API server)',
  )

export const AUTH_TYPES = ['no_auth', 'oidc', 'static', 'kubernetes'] as const
export type AuthType = (typeof AUTH_TYPES)[number]

/** A claim path as its segments, `{client_id}` already replaced. */
export type ClaimPath = readonly string[]

/** A static service token: who it is, and the sha256 (hex, lower case) of its text. */
export interface StaticTokenEntry {
  readonly name: string
  readonly tokenSha256: string
  readonly roles: readonly string[]
  readonly groups: readonly string[]
  readonly namespaces: readonly string[]
}

/** How a server checks OIDC tokens. */
export interface OidcSettings {
  readonly discoveryUrl: string | undefined
  /** The issuer tokens must carry; undefined: the one the discovery document names. */
  readonly issuer: string | undefined
  /** The JWKS; undefined: the discovery document's `jwks_uri`. */
  readonly jwksUrl: string | undefined
  readonly clientId: string | undefined
  readonly uiClientId: string | undefined
  /** A token's `aud` must hold one of these (`audience`, else `client_id`; empty when neither is set). */
  readonly audience: readonly string[]
  readonly verifySsl: boolean
  /** Absolute path of a PEM CA bundle. */
  readonly caCertPath: string | undefined
  readonly jwksCacheLifespanSeconds: number
  readonly jwksRequestTimeoutSeconds: number
  readonly jwksRefetchCooldownSeconds: number
  readonly clockToleranceSeconds: number
  readonly algorithms: readonly string[]
  readonly claims: {
    readonly username: readonly ClaimPath[]
    readonly roles: readonly ClaimPath[]
    readonly groups: readonly ClaimPath[]
    readonly namespaces: readonly ClaimPath[]
  }
}

/** How a server has the Kubernetes API server review tokens (`auth.type: kubernetes`). */
export interface KubernetesSettings {
  /** The API server's URL; undefined: from `KUBERNETES_SERVICE_HOST`/`_PORT` when the server starts, else `https://kubernetes.default.svc`. */
  readonly apiServerUrl: string | undefined
  /** Absolute path of the server's ServiceAccount token. */
  readonly tokenPath: string
  /** Absolute path of the PEM CA bundle of the API server. */
  readonly caCertPath: string
  /** The namespace whose RoleBindings grant roles; undefined: the server's own (the `namespace` file beside the token). */
  readonly namespace: string | undefined
  readonly reviewCacheSeconds: number
  readonly reviewCacheSize: number
  readonly requestTimeoutSeconds: number
}

/** How a client obtains the token it sends (the client-side keys). */
export interface ClientAuthSettings {
  readonly token: string | undefined
  readonly tokenEnvVar: string | undefined
  /** Feast's identity-provider grants the file asks for (`client_secret`, `username`/`password`), which Larder's clients do not run. */
  readonly grant: 'client_credentials' | 'password' | undefined
  /** `kubernetes`: the ServiceAccount token. */
  readonly userToken: string | undefined
}

/** A parsed, defaulted `auth:` block. */
export interface AuthConfig {
  readonly type: AuthType
  /** Set for `oidc`. */
  readonly oidc: OidcSettings | undefined
  /** Set for `kubernetes`. */
  readonly kubernetes: KubernetesSettings | undefined
  /** Service tokens (`static`, and optional with `oidc`). */
  readonly staticTokens: readonly StaticTokenEntry[]
  /** Whether `GET /metrics` needs a token too. */
  readonly protectMetrics: boolean
  readonly client: ClientAuthSettings
}

/** The asymmetric JWS algorithms accepted by default. */
const DEFAULT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
]

/** The default of a file without `auth:`. */
export const NO_AUTH_CONFIG: AuthConfig = Object.freeze({
  type: 'no_auth',
  oidc: undefined,
  kubernetes: undefined,
  staticTokens: Object.freeze([]),
  protectMetrics: false,
  client: Object.freeze({ token: undefined, tokenEnvVar: undefined, grant: undefined, userToken: undefined }),
})

/**
 * The parsed `auth:` block as settings: defaults applied, claim paths split with `{client_id}`
 * replaced (a path that needs a client id is dropped without one), `ca_cert_path` absolute against
 * `repoPath`. Throws INVALID_CONFIG for two static tokens with one name or one hash, and for both
 * `token` and `token_env_var` (Feast refuses them together too).
 */
export function authConfigOf(
  block: z.output<typeof authConfigSchema> | undefined,
  repoPath: string,
  source: string,
): AuthConfig {
  if (block === undefined || block.type === undefined || block.type === 'no_auth') return NO_AUTH_CONFIG
  return enabledAuthConfig(block as Exclude<typeof block, z.output<typeof noAuthSchema>>, repoPath, source)
}

function enabledAuthConfig(
  block: Exclude<z.output<typeof authConfigSchema>, z.output<typeof noAuthSchema>>,
  repoPath: string,
  source: string,
): AuthConfig {
  const bad = (message: string, hint: string, key: string) =>
    new LarderError('INVALID_CONFIG', `${source}: auth: ${message}`, {
      hint,
      details: { path: ['auth', key] },
    })
  if (block.type !== 'kubernetes' && block.token !== undefined && block.token_env_var !== undefined) {
    throw bad(
      'token and token_env_var are both set',
      'keep one: token_env_var reads the token at every call, so a rotated token is picked up',
      'token',
    )
  }
  const staticTokens = (block.static_tokens ?? []).map((t) =>
    Object.freeze({
      name: t.name,
      tokenSha256: t.token_sha256.toLowerCase(),
      roles: Object.freeze([...t.roles]),
      groups: Object.freeze([...t.groups]),
      namespaces: Object.freeze([...t.namespaces]),
    }),
  )
  const names = new Set<string>()
  const byHash = new Map<string, string>()
  for (const t of staticTokens) {
    if (names.has(t.name)) {
      throw bad(
        `two static tokens are named "${t.name}"`,
        'give each service token its own name',
        'static_tokens',
      )
    }
    const same = byHash.get(t.tokenSha256)
    if (same !== undefined) {
      throw bad(
        `static tokens "${same}" and "${t.name}" have the same token_sha256`,
        'give each service its own token',
        'static_tokens',
      )
    }
    names.add(t.name)
    byHash.set(t.tokenSha256, t.name)
  }
  const common = {
    staticTokens: Object.freeze(staticTokens),
    protectMetrics: block.protect_metrics,
  }
  if (block.type === 'kubernetes') {
    const absolute = (path: string) => (isAbsolute(path) ? path : resolve(repoPath, path))
    const kubernetes: KubernetesSettings = Object.freeze({
      apiServerUrl: block.api_server_url,
      tokenPath: absolute(block.service_account_token_path),
      caCertPath: absolute(block.ca_cert_path),
      namespace: block.namespace,
      reviewCacheSeconds: block.review_cache_seconds,
      reviewCacheSize: block.review_cache_size,
      requestTimeoutSeconds: block.request_timeout_seconds,
    })
    return Object.freeze({
      type: 'kubernetes',
      oidc: undefined,
      kubernetes,
      ...common,
      client: Object.freeze({ ...NO_AUTH_CONFIG.client, userToken: block.user_token }),
    })
  }
  const grant =
    block.type === 'oidc'
      ? block.client_secret !== undefined
        ? 'client_credentials'
        : block.username !== undefined || block.password !== undefined
          ? 'password'
          : undefined
      : undefined
  const client = Object.freeze({
    token: block.token,
    tokenEnvVar: block.token_env_var,
    grant,
    userToken: undefined,
  } as const)
  if (block.type === 'static') {
    return Object.freeze({ type: 'static', oidc: undefined, kubernetes: undefined, ...common, client })
  }
  const clientId = block.client_id
  const paths = (list: readonly (string | readonly string[])[]): ClaimPath[] =>
    list.flatMap((p) => {
      const segments = typeof p === 'string' ? p.split('.') : [...p]
      if (segments.some((s) => s.includes('{client_id}')) && clientId === undefined) return []
      return [Object.freeze(segments.map((s) => s.replaceAll('{client_id}', clientId ?? '')))]
    })
  const audience =
    block.audience === undefined ? (clientId === undefined ? [] : [clientId]) : [block.audience].flat()
  const oidc: OidcSettings = Object.freeze({
    discoveryUrl: block.auth_discovery_url,
    issuer: block.issuer,
    jwksUrl: block.jwks_url,
    clientId,
    uiClientId: block.ui_client_id,
    audience: Object.freeze(audience),
    verifySsl: block.verify_ssl,
    caCertPath:
      block.ca_cert_path === undefined || block.ca_cert_path === ''
        ? undefined
        : isAbsolute(block.ca_cert_path)
          ? block.ca_cert_path
          : resolve(repoPath, block.ca_cert_path),
    jwksCacheLifespanSeconds: block.jwks_cache_lifespan_seconds,
    jwksRequestTimeoutSeconds: block.jwks_request_timeout_seconds,
    jwksRefetchCooldownSeconds: block.jwks_refetch_cooldown_seconds,
    clockToleranceSeconds: block.clock_tolerance_seconds,
    algorithms: Object.freeze([...(block.algorithms ?? DEFAULT_ALGORITHMS)]),
    claims: Object.freeze({
      username: paths(block.username_claims),
      roles: paths(block.roles_claims),
      groups: paths(block.groups_claims),
      namespaces: paths(block.namespaces_claims),
    }),
  })
  return Object.freeze({ type: 'oidc', oidc, kubernetes: undefined, ...common, client })
}

/** The environment variables a client reads its token from when the file names none, in this order. */
export const TOKEN_ENV_VARS = ['LARDER_AUTH_TOKEN', 'FEAST_OIDC_TOKEN'] as const

/** Where a Kubernetes pod finds its ServiceAccount token. */
const SERVICE_ACCOUNT_TOKEN = `${SERVICE_ACCOUNT_DIR}/token`

/**
 * The bearer token a client of a Larder or Feast server sends, from the file's client-side keys, or
 * undefined with `no_auth` (nothing is sent). With `oidc` and `static`: `token`, else the variable
 * `token_env_var` names, else `LARDER_AUTH_TOKEN`, else Feast's `FEAST_OIDC_TOKEN`. With
 * `kubernetes`: `user_token`, else `LOCAL_K8S_TOKEN`, else the pod's ServiceAccount token file.
 * Variables and files are read at each call, so a rotated token is used from the next call on. The
 * provider throws UNAUTHENTICATED when it finds no token, and UNSUPPORTED when the file asks for
 * Feast's client-credentials or password grant instead (Larder's clients do not talk to the identity
 * provider).
 *
 * @example const provider = clientTokenProvider(config.auth) // then `authorization: Bearer ${await provider()}`
 */
export function clientTokenProvider(
  auth: AuthConfig,
  env: NodeJS.ProcessEnv = process.env,
): TokenProvider | undefined {
  if (auth.type === 'no_auth') return undefined
  const { token, tokenEnvVar, grant, userToken } = auth.client
  if (auth.type === 'kubernetes') {
    return async () => {
      const given = userToken ?? nonEmpty(env.LOCAL_K8S_TOKEN)
      if (given !== undefined) return given
      try {
        return readFileSync(SERVICE_ACCOUNT_TOKEN, 'utf8').trim()
      } catch (cause) {
        throw new LarderError('UNAUTHENTICATED', 'auth type kubernetes: no ServiceAccount token to send', {
          hint: `set auth.user_token or LOCAL_K8S_TOKEN, or run in a pod (${SERVICE_ACCOUNT_TOKEN})`,
          cause,
        })
      }
    }
  }
  if (token !== undefined) return async () => token
  if (tokenEnvVar !== undefined) {
    return async () => {
      const value = nonEmpty(env[tokenEnvVar])
      if (value !== undefined) return value
      throw new LarderError('UNAUTHENTICATED', `auth.token_env_var names ${tokenEnvVar}, which is not set`, {
        hint: `export ${tokenEnvVar}=<token> before calling the server`,
      })
    }
  }
  if (grant !== undefined) {
    return async () => {
      throw new LarderError(
        'UNSUPPORTED',
        `auth asks for ${grant === 'client_credentials' ? 'the client-credentials grant (client_secret)' : 'the password grant (username, password)'}, which Larder's clients do not run`,
        {
          hint: `obtain a token from the identity provider yourself and give it in ${TOKEN_ENV_VARS.join(' or ')}, or with auth.token_env_var`,
        },
      )
    }
  }
  return async () => {
    for (const name of TOKEN_ENV_VARS) {
      const value = nonEmpty(env[name])
      if (value !== undefined) return value
    }
    throw new LarderError('UNAUTHENTICATED', `auth type ${auth.type}: no token to send to the server`, {
      hint: `set ${TOKEN_ENV_VARS.join(' or ')}, or auth.token_env_var (or auth.token) in feature_store.yaml`,
    })
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim()
  return trimmed === undefined || trimmed === '' ? undefined : trimmed
}

/**
 * The message of an `auth:` block that fails the schema: the allowed types for an unknown `type`,
 * and the keys of the block's type for an unknown key. Undefined for other issues.
 */
export function authConfigIssue(
  issue: z.core.$ZodIssue,
  block: unknown,
  source: string,
): LarderError | undefined {
  if (issue.code === 'invalid_union' && issue.path.join('.') === 'auth.type') {
    const type = (block as { type?: unknown } | null)?.type
    return new LarderError(
      'INVALID_CONFIG',
      `${source}: auth.type: ${JSON.stringify(type)} is not allowed; allowed: ${AUTH_TYPES.join(', ')}`,
      {
        hint: 'no_auth serves everyone; oidc checks JWTs of an identity provider; static checks service tokens',
        details: { path: issue.path },
      },
    )
  }
  if (issue.code === 'unrecognized_keys' && issue.path.join('.') === 'auth') {
    const type = ((block as { type?: string } | null)?.type ?? 'no_auth') as AuthType
    const schema = {
      no_auth: noAuthSchema,
      oidc: oidcSchema,
      static: staticSchema,
      kubernetes: kubernetesSchema,
    }[type]
    return new LarderError(
      'INVALID_CONFIG',
      `${source}: unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')} in auth (type ${type})`,
      {
        hint: `known keys of auth type ${type}: ${Object.keys(schema.shape).join(', ')}`,
        details: { path: issue.path, keys: issue.keys },
      },
    )
  }
  return undefined
}
