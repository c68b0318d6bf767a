/**
 * The vocabulary of authentication and authorization that every server surface shares (the feature
 * server, gRPC, the registry server, the UI): who made a request (`Principal`), what it does
 * (`AuthzAction`, Feast's `AuthzedAction` names) and to what (`AuthObject`, Feast's permission
 * resource types). The implementations (OIDC, static tokens, Feast's permissions) live in
 * `server/auth/`; this module does no I/O, so `grpc/` and `serving/` can take them as interfaces.
 */
import { isLarderError } from './errors.js'

/** Feast's `AuthzedAction` (Permission.proto): what a request does to an object. */
export const AUTHZ_ACTIONS = [
  'CREATE',
  'DESCRIBE',
  'UPDATE',
  'DELETE',
  'READ_ONLINE',
  'READ_OFFLINE',
  'WRITE_ONLINE',
  'WRITE_OFFLINE',
] as const
export type AuthzAction = (typeof AUTHZ_ACTIONS)[number]

/** Feast's permission resource types (`PermissionSpec.Type`). */
export type AuthObjectType =
  | 'FEATURE_VIEW'
  | 'ON_DEMAND_FEATURE_VIEW'
  | 'BATCH_FEATURE_VIEW'
  | 'STREAM_FEATURE_VIEW'
  | 'ENTITY'
  | 'FEATURE_SERVICE'
  | 'DATA_SOURCE'
  | 'VALIDATION_REFERENCE'
  | 'SAVED_DATASET'
  | 'PERMISSION'
  | 'PROJECT'
  | 'LABEL_VIEW'

/** The object an action applies to: its Feast type, name and project (a project names itself). */
export interface AuthObject {
  readonly type: AuthObjectType
  readonly name: string
  readonly project: string
  /** The object's tags when the caller has them at hand (Feast's `required_tags` match on them). */
  readonly tags?: Readonly<Record<string, string>>
}

/**
 * Who made a request. `anonymous` is every request of a server without authentication (`no_auth`);
 * `oidc` a verified JWT (name from its username claims, roles, groups and namespaces from the
 * configured claims); `token` one of the server's static service tokens (name and roles from its
 * entry in the config); `kubernetes` a token the Kubernetes API server reviewed (name, groups and
 * namespaces from the review, roles from the RBAC bindings).
 */
export interface Principal {
  readonly name: string
  readonly roles: readonly string[]
  readonly groups: readonly string[]
  readonly namespaces: readonly string[]
  readonly kind: 'anonymous' | 'oidc' | 'token' | 'kubernetes'
}

/** The principal of every request to a server without authentication. */
export const ANONYMOUS: Principal = Object.freeze({
  name: 'anonymous',
  roles: Object.freeze([]),
  groups: Object.freeze([]),
  namespaces: Object.freeze([]),
  kind: 'anonymous',
})

/**
 * Turns a request's headers (HTTP headers or gRPC metadata) into a principal, or throws a
 * `LarderError` UNAUTHENTICATED whose message names what is wrong (no token, expired, wrong
 * audience…) without the token itself; BACKEND_UNAVAILABLE when the identity provider cannot be
 * reached to check it.
 */
export interface Authenticator {
  /** `no_auth`, `oidc`, `static` or `kubernetes`: for logs and messages. */
  readonly type: string
  /**
   * The principal of every request, when the authenticator reads nothing from a request (`no_auth`):
   * a server then neither builds the request's headers nor calls `authenticate`.
   */
  readonly everyone?: Principal
  authenticate(headers: Headers, options?: { readonly signal?: AbortSignal }): Promise<Principal>
}

/**
 * Decides whether a principal may do an action on an object: returns when it may, throws a
 * `LarderError` PERMISSION_DENIED naming the principal, the action and the object when it may not.
 * Routes call it with their Feast action; they never look at tokens.
 */
export interface Authorizer {
  /** Set when every principal may do every action: a caller may then skip naming the objects. */
  readonly allowsEverything?: true
  authorize(principal: Principal, action: AuthzAction, object: AuthObject): void | Promise<void>
}

/** What a server needs to check requests: who is calling, and whether they may. */
export interface ServerAuth {
  readonly authenticator: Authenticator
  readonly authorizer: Authorizer
}

/** Gives the bearer token for the next call; called once per call, so a rotated token is picked up. */
export type TokenProvider = () => Promise<string>

/** `no_auth`: every request is the anonymous principal. */
export const anonymousAuthenticator: Authenticator = Object.freeze({
  type: 'no_auth',
  everyone: ANONYMOUS,
  authenticate: async () => ANONYMOUS,
})

/**
 * Feast's rule when no permission is defined: every authenticated principal may do everything (and
 * with `no_auth`, the anonymous one too). Feast's permissions replace this authorizer.
 */
export const allowAllAuthorizer: Authorizer = Object.freeze({
  allowsEverything: true,
  authorize: () => undefined,
})

/** A server without authentication: anonymous requests, all allowed (Feast's local behaviour). */
export const NO_AUTH: ServerAuth = Object.freeze({
  authenticator: anonymousAuthenticator,
  authorizer: allowAllAuthorizer,
})

/** Authorizes `action` on each object in turn; the first refusal throws. */
export async function authorizeAll(
  authorizer: Authorizer,
  principal: Principal,
  action: AuthzAction,
  objects: Iterable<AuthObject>,
): Promise<void> {
  for (const object of objects) await authorizer.authorize(principal, action, object)
}

/**
 * The items whose object the principal may `action`, in their order: how lists are filtered (Feast's
 * `permitted_resources`). A refusal drops the item; any other error is thrown.
 */
export async function permittedItems<T>(
  authorizer: Authorizer,
  principal: Principal,
  action: AuthzAction,
  items: readonly T[],
  objectOf: (item: T) => AuthObject,
): Promise<T[]> {
  const out: T[] = []
  for (const item of items) {
    try {
      await authorizer.authorize(principal, action, objectOf(item))
      out.push(item)
    } catch (e) {
      if (!(isLarderError(e) && e.code === 'PERMISSION_DENIED')) throw e
    }
  }
  return out
}
