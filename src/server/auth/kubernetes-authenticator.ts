import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { KubernetesSettings } from '../../config/index.js'
import type { Authenticator, Principal } from '../../core/index.js'
import { bearerToken, unauthenticated } from './bearer.js'
import { KubeApi } from './kube-api.js'
import type { StaticTokens } from './static-tokens.js'

const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews'
const RBAC = '/apis/rbac.authorization.k8s.io/v1'
const SERVICE_ACCOUNT_USER = 'system:serviceaccount:'
const SERVICE_ACCOUNTS_GROUP = 'system:serviceaccounts:'

/** The parts of a TokenReview's answer Larder reads (authentication.k8s.io/v1). */
interface TokenReviewStatus {
  readonly authenticated?: boolean
  readonly error?: string
  readonly user?: { readonly username?: string; readonly groups?: readonly string[] }
}

/** The parts of a RoleBinding or ClusterRoleBinding Larder reads (rbac.authorization.k8s.io/v1). */
interface Binding {
  readonly metadata?: { readonly namespace?: string }
  readonly roleRef?: { readonly name?: string }
  readonly subjects?: readonly {
    readonly kind?: string
    readonly name?: string
    readonly namespace?: string
  }[]
}

interface Cached {
  readonly principal: Principal
  readonly until: number
}

/**
 * `auth.type: kubernetes`, as Feast's `KubernetesTokenParser`: a bearer token (not one of the
 * `static_tokens`) is reviewed by POSTing a TokenReview to the Kubernetes API server; the user and
 * groups come from its status. A ServiceAccount (`system:serviceaccount:<ns>:<name>`) is the
 * principal `<ns>:<name>` with the namespace `<ns>`, and its roles are the roles of the RoleBindings of
 * the server's namespace and of the ClusterRoleBindings naming it; another user keeps its name, and
 * its roles are those of every RoleBinding and ClusterRoleBinding naming it or one of its groups. A
 * group `system:serviceaccounts:<ns>` adds the namespace `<ns>` too. Accepted tokens are kept
 * `review_cache_seconds` (at most `review_cache_size`, oldest out first), keyed by their sha256;
 * concurrent requests with one token share one review. Throws UNAUTHENTICATED when the API server
 * does not authenticate the token, BACKEND_UNAVAILABLE when it cannot be asked.
 */
export class KubernetesAuthenticator implements Authenticator {
  readonly type = 'kubernetes'
  readonly #api: KubeApi
  readonly #settings: KubernetesSettings
  readonly #tokens: StaticTokens | undefined
  readonly #cache = new Map<string, Cached>()
  readonly #pending = new Map<string, Promise<Principal>>()
  #namespace: string | undefined

  /** Throws INVALID_CONFIG when the server's token, CA bundle or namespace cannot be read. */
  constructor(
    settings: KubernetesSettings,
    tokens: StaticTokens | undefined,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.#settings = settings
    this.#tokens = tokens
    this.#api = new KubeApi(settings, env)
    this.#namespace = settings.namespace ?? this.#ownNamespace()
  }

  /** The API server tokens are reviewed by. */
  get apiServerUrl(): string {
    return this.#api.url
  }

  async authenticate(headers: Headers, options: { readonly signal?: AbortSignal } = {}): Promise<Principal> {
    const token = bearerToken(headers)
    const service = this.#tokens?.match(token)
    if (service) return service
    const key = createHash('sha256').update(token, 'utf8').digest('base64')
    const cached = this.#cache.get(key)
    if (cached !== undefined) {
      if (cached.until > Date.now()) return cached.principal
      this.#cache.delete(key)
    }
    let pending = this.#pending.get(key)
    if (pending === undefined) {
      pending = this.#review(token, options.signal).finally(() => this.#pending.delete(key))
      this.#pending.set(key, pending)
    }
    const principal = await pending
    this.#remember(key, principal)
    return principal
  }

  #remember(key: string, principal: Principal): void {
    const { reviewCacheSeconds, reviewCacheSize } = this.#settings
    if (reviewCacheSeconds === 0) return
    this.#cache.delete(key)
    while (this.#cache.size >= reviewCacheSize) this.#cache.delete(this.#cache.keys().next().value!)
    this.#cache.set(key, { principal, until: Date.now() + reviewCacheSeconds * 1000 })
  }

  async #review(token: string, signal: AbortSignal | undefined): Promise<Principal> {
    const review = (await this.#api.post(
      TOKEN_REVIEWS,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
      signal,
    )) as { status?: TokenReviewStatus } | null
    const status = review?.status ?? {}
    const username = status.user?.username
    if (status.authenticated !== true || typeof username !== 'string' || username === '') {
      throw unauthenticated(
        'unknown_token',
        `the Kubernetes API server did not authenticate the bearer token${status.error ? `: ${status.error}` : ''}`,
        'send the token of a ServiceAccount (or user) of the cluster this server reviews tokens with',
      )
    }
    const groups = [...new Set(status.user?.groups ?? [])].sort()
    const namespaces = new Set(
      groups
        .filter((g) => g.startsWith(SERVICE_ACCOUNTS_GROUP))
        .map((g) => g.slice(SERVICE_ACCOUNTS_GROUP.length)),
    )
    const account = serviceAccountOf(username)
    if (account !== undefined) {
      namespaces.add(account.namespace)
      return Object.freeze({
        name: `${account.namespace}:${account.name}`,
        roles: Object.freeze(await this.#serviceAccountRoles(account, signal)),
        groups: Object.freeze(groups),
        namespaces: Object.freeze([...namespaces].sort()),
        kind: 'kubernetes',
      })
    }
    return Object.freeze({
      name: username,
      roles: Object.freeze(await this.#userRoles(username, groups, signal)),
      groups: Object.freeze(groups),
      namespaces: Object.freeze([...namespaces].sort()),
      kind: 'kubernetes',
    })
  }

  async #serviceAccountRoles(
    account: { readonly namespace: string; readonly name: string },
    signal: AbortSignal | undefined,
  ): Promise<string[]> {
    const namespace = this.#namespace ?? account.namespace
    const [local, cluster] = await Promise.all([
      this.#bindings(`${RBAC}/namespaces/${encodeURIComponent(namespace)}/rolebindings`, signal),
      this.#bindings(`${RBAC}/clusterrolebindings`, signal),
    ])
    return rolesOf([...local, ...cluster], (subject, binding) => {
      if (subject.kind !== 'ServiceAccount' || subject.name !== account.name) return false
      // a RoleBinding's subject without a namespace is in the binding's own namespace
      return (subject.namespace ?? binding.metadata?.namespace) === account.namespace
    })
  }

  async #userRoles(
    username: string,
    groups: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<string[]> {
    const [local, cluster] = await Promise.all([
      this.#bindings(`${RBAC}/rolebindings`, signal),
      this.#bindings(`${RBAC}/clusterrolebindings`, signal),
    ])
    const inGroups = new Set(groups)
    return rolesOf(
      [...local, ...cluster],
      (subject) =>
        (subject.kind === 'User' && subject.name === username) ||
        (subject.kind === 'Group' && subject.name !== undefined && inGroups.has(subject.name)),
    )
  }

  async #bindings(path: string, signal: AbortSignal | undefined): Promise<readonly Binding[]> {
    const list = (await this.#api.get(path, signal)) as { items?: readonly Binding[] } | null
    return list?.items ?? []
  }

  /** The namespace the server runs in: the `namespace` file beside its ServiceAccount token, if any. */
  #ownNamespace(): string | undefined {
    try {
      const text = readFileSync(join(dirname(this.#settings.tokenPath), 'namespace'), 'utf8').trim()
      return text === '' ? undefined : text
    } catch {
      return undefined
    }
  }
}

/** `system:serviceaccount:<ns>:<name>` as its namespace and name; undefined for another user. */
function serviceAccountOf(username: string): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SERVICE_ACCOUNT_USER)) return undefined
  const [namespace, name, ...rest] = username.slice(SERVICE_ACCOUNT_USER.length).split(':')
  if (namespace === undefined || name === undefined || namespace === '' || name === '' || rest.length > 0) {
    return undefined
  }
  return { namespace, name }
}

/** The sorted role names of the bindings with a subject `matches` accepts. */
function rolesOf(
  bindings: readonly Binding[],
  matches: (subject: NonNullable<Binding['subjects']>[number], binding: Binding) => boolean,
): string[] {
  const roles = new Set<string>()
  for (const binding of bindings) {
    const role = binding.roleRef?.name
    if (role !== undefined && (binding.subjects ?? []).some((s) => matches(s, binding))) roles.add(role)
  }
  return [...roles].sort()
}
