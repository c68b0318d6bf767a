/**
 * Feast's permissions (`feast/permissions/`): a `Permission` names the objects it covers (types, name
 * patterns, required tags), the actions it covers, and the policy a principal must satisfy to be
 * granted them. `decidePermission` is Feast's decision (`enforcer.py`), without I/O: the servers' authorizer
 * (`server/auth/permission-authorizer.ts`) and `larder permissions check` both call it.
 */
import {
  AUTHZ_ACTIONS,
  type AuthObject,
  type AuthObjectType,
  type AuthzAction,
  type Principal,
} from './auth.js'
import { type Branded, definitionKind } from './brand.js'
import { LarderError } from './errors.js'
import { checkKnownKeys, checkName, checkTags } from './validate.js'

/** Feast's permission object types (`PermissionSpec.Type`), in the order of the enum's numbers. */
export const AUTH_OBJECT_TYPES: readonly AuthObjectType[] = Object.freeze([
  'FEATURE_VIEW',
  'ON_DEMAND_FEATURE_VIEW',
  'BATCH_FEATURE_VIEW',
  'STREAM_FEATURE_VIEW',
  'ENTITY',
  'FEATURE_SERVICE',
  'DATA_SOURCE',
  'VALIDATION_REFERENCE',
  'SAVED_DATASET',
  'PERMISSION',
  'PROJECT',
  'LABEL_VIEW',
])

/** Feast's `ALL_ACTIONS`: every action. */
export const ALL_ACTIONS: readonly AuthzAction[] = Object.freeze([...AUTHZ_ACTIONS])
/** Feast's `READ`: reading the offline and the online store. */
export const READ: readonly AuthzAction[] = Object.freeze(['READ_OFFLINE', 'READ_ONLINE'])
/** Feast's `WRITE`: writing to the offline and the online store. */
export const WRITE: readonly AuthzAction[] = Object.freeze(['WRITE_OFFLINE', 'WRITE_ONLINE'])
/** Feast's `CRUD`: managing an object's definition. */
export const CRUD: readonly AuthzAction[] = Object.freeze(['CREATE', 'DESCRIBE', 'UPDATE', 'DELETE'])
/** Feast's `ALL_RESOURCE_TYPES`: the default of `types`. */
export const ALL_RESOURCE_TYPES: readonly AuthObjectType[] = AUTH_OBJECT_TYPES
/** Feast's `ALL_FEATURE_VIEW_TYPES`: every kind of feature view, on-demand views included. */
export const ALL_FEATURE_VIEW_TYPES: readonly AuthObjectType[] = Object.freeze([
  'FEATURE_VIEW',
  'ON_DEMAND_FEATURE_VIEW',
  'BATCH_FEATURE_VIEW',
  'STREAM_FEATURE_VIEW',
])

/**
 * The object types each permission type covers. Feast matches types with `isinstance`, so a
 * permission on `FeatureView` also covers its subclasses `BatchFeatureView` and `StreamFeatureView`;
 * an on-demand view is no `FeatureView`.
 */
const COVERED_TYPES: Readonly<Record<AuthObjectType, readonly AuthObjectType[]>> = Object.freeze({
  FEATURE_VIEW: ['FEATURE_VIEW', 'BATCH_FEATURE_VIEW', 'STREAM_FEATURE_VIEW'],
  ON_DEMAND_FEATURE_VIEW: ['ON_DEMAND_FEATURE_VIEW'],
  BATCH_FEATURE_VIEW: ['BATCH_FEATURE_VIEW'],
  STREAM_FEATURE_VIEW: ['STREAM_FEATURE_VIEW'],
  ENTITY: ['ENTITY'],
  FEATURE_SERVICE: ['FEATURE_SERVICE'],
  DATA_SOURCE: ['DATA_SOURCE'],
  VALIDATION_REFERENCE: ['VALIDATION_REFERENCE'],
  SAVED_DATASET: ['SAVED_DATASET'],
  PERMISSION: ['PERMISSION'],
  PROJECT: ['PROJECT'],
  LABEL_VIEW: ['LABEL_VIEW'],
})

/** Larder's definition classes accepted in `types`, by class name, as Feast accepts its classes. */
const CLASS_TYPES: Readonly<Record<string, AuthObjectType>> = Object.freeze({
  FeatureView: 'FEATURE_VIEW',
  OnDemandFeatureView: 'ON_DEMAND_FEATURE_VIEW',
  StreamFeatureView: 'STREAM_FEATURE_VIEW',
  Entity: 'ENTITY',
  FeatureService: 'FEATURE_SERVICE',
  Project: 'PROJECT',
  Permission: 'PERMISSION',
})

/** `feature view`, `data source`…: a permission type as messages name it. */
export function objectTypeLabel(type: AuthObjectType): string {
  return type.toLowerCase().replaceAll('_', ' ')
}

/** What a policy says of one principal: Feast's `validate_user` result. */
export interface PolicyVerdict {
  readonly granted: boolean
  /** Why the principal does not satisfy the policy; empty when granted. */
  readonly explanation: string
}

/** The kinds of Feast policy, as the `Policy` message's oneof names them (`allow_all`: the empty message). */
export const POLICY_TYPES = [
  'allow_all',
  'role_based',
  'group_based',
  'namespace_based',
  'combined_group_namespace',
] as const
export type PolicyType = (typeof POLICY_TYPES)[number]

/** Who a permission grants its actions to: one of Feast's policies. */
export interface Policy {
  readonly type: PolicyType
  /** Whether `principal` satisfies the policy, and why not when it does not. */
  validate(principal: Principal): PolicyVerdict
  /** `roles reader, admin`, `allow all`…: the policy in one phrase, for listings. */
  describe(): string
}

const GRANTED: PolicyVerdict = Object.freeze({ granted: true, explanation: '' })

function listText(values: readonly string[]): string {
  return values.length === 0 ? '(none)' : values.join(', ')
}

function checkStrings(where: string, field: string, value: unknown): readonly string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.trim() === '')) {
    throw new LarderError(
      'INVALID_DEFINITION',
      `${where}: ${field} must be a list of non-empty strings, got ${JSON.stringify(value)}`,
      { hint: `write ${field}: ['a', 'b']` },
    )
  }
  return Object.freeze((value as string[]).map((v) => v.trim()))
}

function anyShared(wanted: readonly string[], held: readonly string[]): boolean {
  return wanted.some((w) => held.includes(w))
}

/**
 * Grants its permission's actions to a principal holding at least one of `roles` (Feast's
 * `RoleBasedPolicy`).
 *
 * @example new RoleBasedPolicy({ roles: ['reader', 'admin'] })
 */
export class RoleBasedPolicy implements Policy {
  readonly type = 'role_based' as const
  readonly roles: readonly string[]

  constructor(options: { roles: readonly string[] }) {
    checkKnownKeys('RoleBasedPolicy', options, ['roles'])
    this.roles = checkStrings('RoleBasedPolicy', 'roles', options.roles)
    Object.freeze(this)
  }

  validate(principal: Principal): PolicyVerdict {
    if (anyShared(this.roles, principal.roles)) return GRANTED
    return {
      granted: false,
      explanation: `requires one of the roles ${listText(this.roles)}; "${principal.name}" has roles ${listText(principal.roles)}`,
    }
  }

  describe(): string {
    return `roles ${listText(this.roles)}`
  }
}

/**
 * Grants its permission's actions to a principal in at least one of `groups` (Feast's
 * `GroupBasedPolicy`).
 *
 * @example new GroupBasedPolicy({ groups: ['data-team'] })
 */
export class GroupBasedPolicy implements Policy {
  readonly type = 'group_based' as const
  readonly groups: readonly string[]

  constructor(options: { groups: readonly string[] }) {
    checkKnownKeys('GroupBasedPolicy', options, ['groups'])
    this.groups = checkStrings('GroupBasedPolicy', 'groups', options.groups)
    Object.freeze(this)
  }

  validate(principal: Principal): PolicyVerdict {
    if (anyShared(this.groups, principal.groups)) return GRANTED
    return {
      granted: false,
      explanation: `requires one of the groups ${listText(this.groups)}; "${principal.name}" is in groups ${listText(principal.groups)}`,
    }
  }

  describe(): string {
    return `groups ${listText(this.groups)}`
  }
}

/**
 * Grants its permission's actions to a principal in at least one of `namespaces` (Feast's
 * `NamespaceBasedPolicy`).
 *
 * @example new NamespaceBasedPolicy({ namespaces: ['production'] })
 */
export class NamespaceBasedPolicy implements Policy {
  readonly type = 'namespace_based' as const
  readonly namespaces: readonly string[]

  constructor(options: { namespaces: readonly string[] }) {
    checkKnownKeys('NamespaceBasedPolicy', options, ['namespaces'])
    this.namespaces = checkStrings('NamespaceBasedPolicy', 'namespaces', options.namespaces)
    Object.freeze(this)
  }

  validate(principal: Principal): PolicyVerdict {
    if (anyShared(this.namespaces, principal.namespaces)) return GRANTED
    return {
      granted: false,
      explanation: `requires one of the namespaces ${listText(this.namespaces)}; "${principal.name}" is in namespaces ${listText(principal.namespaces)}`,
    }
  }

  describe(): string {
    return `namespaces ${listText(this.namespaces)}`
  }
}

/**
 * Grants its permission's actions to a principal in at least one of `groups` OR at least one of
 * `namespaces`: Feast's `CombinedGroupNamespacePolicy` as its code decides (its guide says "and").
 *
 * @example new CombinedGroupNamespacePolicy({ groups: ['data-team'], namespaces: ['production'] })
 */
export class CombinedGroupNamespacePolicy implements Policy {
  readonly type = 'combined_group_namespace' as const
  readonly groups: readonly string[]
  readonly namespaces: readonly string[]

  constructor(options: { groups: readonly string[]; namespaces: readonly string[] }) {
    checkKnownKeys('CombinedGroupNamespacePolicy', options, ['groups', 'namespaces'])
    this.groups = checkStrings('CombinedGroupNamespacePolicy', 'groups', options.groups)
    this.namespaces = checkStrings('CombinedGroupNamespacePolicy', 'namespaces', options.namespaces)
    Object.freeze(this)
  }

  validate(principal: Principal): PolicyVerdict {
    if (anyShared(this.groups, principal.groups) || anyShared(this.namespaces, principal.namespaces)) {
      return GRANTED
    }
    return {
      granted: false,
      explanation: `requires one of the groups ${listText(this.groups)} or one of the namespaces ${listText(this.namespaces)}; "${principal.name}" is in groups ${listText(principal.groups)} and namespaces ${listText(principal.namespaces)}`,
    }
  }

  describe(): string {
    return `groups ${listText(this.groups)} or namespaces ${listText(this.namespaces)}`
  }
}

class AllowAllPolicy implements Policy {
  readonly type = 'allow_all' as const

  validate(): PolicyVerdict {
    return GRANTED
  }

  describe(): string {
    return 'allow all'
  }
}

/** Feast's `AllowAll`: grants its permission's actions to every authenticated principal. The default policy. */
export const AllowAll: Policy = Object.freeze(new AllowAllPolicy())

/** A policy, rebuilt from its shape so that one made by a second copy of the package is accepted too. */
function checkPolicy(where: string, value: unknown): Policy {
  try {
    return rebuildPolicy(where, value)
  } catch (e) {
    if (!(e instanceof LarderError) || e.message.startsWith(where)) throw e
    throw new LarderError(e.code, `${where}: ${e.message}`, { cause: e, hint: e.hint })
  }
}

function rebuildPolicy(where: string, value: unknown): Policy {
  const type = (value as { type?: unknown } | null)?.type
  const p = value as Record<string, readonly string[]>
  switch (typeof value === 'object' ? type : undefined) {
    case 'allow_all':
      return AllowAll
    case 'role_based':
      return new RoleBasedPolicy({ roles: p.roles! })
    case 'group_based':
      return new GroupBasedPolicy({ groups: p.groups! })
    case 'namespace_based':
      return new NamespaceBasedPolicy({ namespaces: p.namespaces! })
    case 'combined_group_namespace':
      return new CombinedGroupNamespacePolicy({ groups: p.groups!, namespaces: p.namespaces! })
    default:
      throw new LarderError('INVALID_DEFINITION', `${where}: policy ${String(value)} is not a policy`, {
        hint: "use new RoleBasedPolicy({ roles: ['reader'] }), GroupBasedPolicy, NamespaceBasedPolicy, CombinedGroupNamespacePolicy or AllowAll",
      })
  }
}

/** A permission type: its Feast name (`'FEATURE_VIEW'`), or a definition class (`FeatureView`). */
export type PermissionTypeInput = AuthObjectType | (abstract new (...args: never[]) => unknown)

/** An action, or a group of them (`READ`, `CRUD`…). */
export type PermissionActionInput = AuthzAction | readonly AuthzAction[]

export interface PermissionOptions {
  /** The permission's name, unique in its project. */
  name: string
  /**
   * The object types covered (Feast names, or the classes `FeatureView`, `FeatureService`…). Default,
   * and when empty: every type. `FEATURE_VIEW` also covers stream (and batch) feature views.
   */
  types?: PermissionTypeInput | readonly PermissionTypeInput[]
  /** Regular expressions an object's whole name must match (any of them); default: every name. */
  namePatterns?: string | readonly string[]
  /** Tags an object must carry with these exact values; default: none required. */
  requiredTags?: Record<string, string>
  /** The actions granted, and groups of them (`READ`, `WRITE`, `CRUD`); default `ALL_ACTIONS`. */
  actions?: PermissionActionInput | readonly PermissionActionInput[]
  /** Who is granted the actions; default `AllowAll`. */
  policy?: Policy
  /** Free-form tags of the permission itself. */
  tags?: Record<string, string>
}

const PERMISSION_KEYS = [
  'name',
  'types',
  'namePatterns',
  'requiredTags',
  'actions',
  'policy',
  'tags',
] as const

/** Python's inline flags at the start of a pattern that JavaScript has as flags. */
const LEADING_FLAGS = /^\(\?([a-zA-Z]+)\)/

/**
 * Compiles one of Feast's name patterns (Python `re`, matched with `re.fullmatch`) as a JavaScript
 * RegExp anchored at both ends. Python's named groups `(?P<n>…)`/`(?P=n)` and leading inline flags
 * `i`, `m`, `s` are translated; a pattern JavaScript cannot compile is an error naming it.
 */
function compileNamePattern(where: string, pattern: string): RegExp {
  let source = pattern
  let flags = ''
  const leading = LEADING_FLAGS.exec(source)
  if (leading) {
    const unsupported = [...leading[1]!].filter((f) => !'ims'.includes(f))
    if (unsupported.length > 0) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where}: name pattern ${JSON.stringify(pattern)} uses the inline flag ${unsupported.join('')}, which Larder cannot apply`,
        { hint: 'use only the flags i, m and s, or write the pattern without inline flags' },
      )
    }
    flags = [...new Set(leading[1]!)].join('')
    source = source.slice(leading[0].length)
  }
  source = source.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>')
  try {
    return new RegExp(`^(?:${source})$`, flags)
  } catch (cause) {
    throw new LarderError(
      'INVALID_DEFINITION',
      `${where}: name pattern ${JSON.stringify(pattern)} is not a valid regular expression (${(cause as Error).message})`,
      { cause, hint: "write a regular expression the whole object name must match, e.g. 'driver_.*'" },
    )
  }
}

function flatList<T>(value: T | readonly (T | readonly T[])[] | undefined): unknown[] {
  if (value === undefined) return []
  return Array.isArray(value) ? (value as unknown[]).flat() : [value]
}

function checkTypes(where: string, value: PermissionOptions['types']): readonly AuthObjectType[] {
  const out: AuthObjectType[] = []
  for (const t of flatList(value)) {
    const type =
      typeof t === 'function'
        ? CLASS_TYPES[(t as { name: string }).name]
        : (AUTH_OBJECT_TYPES as readonly unknown[]).includes(t)
          ? (t as AuthObjectType)
          : undefined
    if (type === undefined) {
      const shown = typeof t === 'function' ? `the class ${(t as { name: string }).name}` : JSON.stringify(t)
      throw new LarderError('INVALID_DEFINITION', `${where}: ${shown} is not a type a permission covers`, {
        hint: `use one of ${AUTH_OBJECT_TYPES.join(', ')}, or the classes ${Object.keys(CLASS_TYPES).join(', ')}`,
      })
    }
    if (!out.includes(type)) out.push(type)
  }
  return Object.freeze(out.length === 0 ? [...ALL_RESOURCE_TYPES] : out)
}

function checkActions(where: string, value: PermissionOptions['actions']): readonly AuthzAction[] {
  if (value === undefined) return ALL_ACTIONS
  const out: AuthzAction[] = []
  for (const a of flatList(value)) {
    if (!(AUTHZ_ACTIONS as readonly unknown[]).includes(a)) {
      throw new LarderError('INVALID_DEFINITION', `${where}: ${JSON.stringify(a)} is not an action`, {
        hint: `use ${AUTHZ_ACTIONS.join(', ')}, or the groups ALL_ACTIONS, READ, WRITE, CRUD`,
      })
    }
    if (!out.includes(a as AuthzAction)) out.push(a as AuthzAction)
  }
  if (out.length === 0) {
    throw new LarderError('INVALID_DEFINITION', `${where}: actions is empty, so it would grant nothing`, {
      hint: 'list the actions it grants, e.g. actions: [...READ, "DESCRIBE"], or leave actions out for ALL_ACTIONS',
    })
  }
  return Object.freeze(out)
}

function trimmedTags(where: string, value: unknown): Readonly<Record<string, string>> {
  const tags = checkTags(where, value)
  return Object.freeze(Object.fromEntries(Object.entries(tags).map(([k, v]) => [k.trim(), v.trim()])))
}

/**
 * A Feast permission: grants `actions` on the objects it covers (of one of `types`, whose whole name
 * matches one of `namePatterns`, carrying every `requiredTags` entry) to the principals its `policy`
 * accepts. Stored as Feast's `Permission` message by `larder apply`; the servers enforce the project's
 * permissions when their `auth` type is not `no_auth`. Validates at construction: an unknown type or
 * action, an empty action list, or a pattern that does not compile is INVALID_DEFINITION naming the
 * permission.
 *
 * @example
 * new Permission({
 *   name: 'feature-reader',
 *   types: ['FEATURE_VIEW', 'FEATURE_SERVICE'],
 *   policy: new RoleBasedPolicy({ roles: ['reader'] }),
 *   actions: ['DESCRIBE', ...READ],
 * })
 */
export class Permission implements Branded<'Permission'> {
  readonly [definitionKind] = 'Permission' as const
  readonly name: string
  readonly types: readonly AuthObjectType[]
  readonly namePatterns: readonly string[]
  readonly requiredTags: Readonly<Record<string, string>>
  readonly actions: readonly AuthzAction[]
  readonly policy: Policy
  readonly tags: Readonly<Record<string, string>>
  readonly #patterns: readonly RegExp[]
  readonly #covered: ReadonlySet<AuthObjectType>

  constructor(options: PermissionOptions) {
    checkKnownKeys('Permission', options, PERMISSION_KEYS)
    this.name = checkName('permission', options.name)
    const where = `permission "${this.name}"`
    this.types = checkTypes(where, options.types)
    const patterns = flatList(options.namePatterns)
    this.namePatterns = Object.freeze(
      patterns.map((p, i) => {
        if (typeof p !== 'string' || p.trim() === '') {
          throw new LarderError(
            'INVALID_DEFINITION',
            `${where}: namePatterns[${i}] must be a non-empty regular expression, got ${JSON.stringify(p)}`,
            { hint: 'leave namePatterns out to cover every name' },
          )
        }
        return p.trim()
      }),
    )
    this.#patterns = Object.freeze(this.namePatterns.map((p) => compileNamePattern(where, p)))
    this.requiredTags = trimmedTags(`${where}: requiredTags`, options.requiredTags)
    this.actions = checkActions(where, options.actions)
    this.policy = options.policy === undefined ? AllowAll : checkPolicy(where, options.policy)
    this.tags = trimmedTags(where, options.tags)
    this.#covered = new Set(this.types.flatMap((t) => COVERED_TYPES[t]))
    Object.freeze(this)
  }

  /**
   * Whether the permission covers `object` (Feast's `match_resource`): its type is one of `types` or a
   * subtype, its whole name matches one of `namePatterns` (any name when there are none), and it
   * carries every required tag with the same value (an object whose tags are unknown carries none).
   */
  matchesObject(object: AuthObject): boolean {
    if (!this.#covered.has(object.type)) return false
    if (this.#patterns.length > 0 && !this.#patterns.some((p) => p.test(object.name))) return false
    const tags = object.tags ?? {}
    return Object.entries(this.requiredTags).every(([k, v]) => tags[k] === v)
  }

  /** Whether the permission covers `action` on `object`: both must match for it to decide. */
  appliesTo(action: AuthzAction, object: AuthObject): boolean {
    return this.actions.includes(action) && this.matchesObject(object)
  }
}

/**
 * What `decidePermission` weighs: a permission, or a stand-in for one that could not be read (which
 * applies to everything and grants nothing, so an unreadable permission never widens access).
 */
export interface PermissionRule {
  readonly name: string
  appliesTo(action: AuthzAction, object: AuthObject): boolean
  readonly policy: Pick<Policy, 'validate'>
}

/** How a decision was reached. */
export type DecisionOutcome = 'no_permissions' | 'granted' | 'denied' | 'not_covered'

/** The answer of `decidePermission`. */
export interface PermissionDecision {
  readonly allowed: boolean
  /**
   * `no_permissions`: none is defined, so everything is allowed; `granted`: a covering permission's
   * policy accepts the principal; `denied`: covering permissions exist and none accepts it;
   * `not_covered`: permissions exist but none covers the action on the object (Feast: "No
   * permissions defined to manage …"), which is denied.
   */
  readonly outcome: DecisionOutcome
  /** The names of the permissions that cover the action on the object. */
  readonly covering: readonly string[]
  /** The permission that granted, when one did. */
  readonly grantedBy: string | undefined
  /** Why each covering permission refused (`permission "x" requires one of the roles …`). */
  readonly reasons: readonly string[]
}

/**
 * Feast's decision for `principal` doing `action` on `object` under a project's `permissions`
 * (`enforcer.py`, affirmative): with no permission defined, everything is allowed; otherwise the
 * permissions covering the object and the action decide, and one whose policy accepts the principal is
 * enough; when permissions exist but none covers the pair, it is denied. No I/O.
 */
export function decidePermission(
  permissions: readonly PermissionRule[],
  principal: Principal,
  action: AuthzAction,
  object: AuthObject,
): PermissionDecision {
  if (permissions.length === 0) {
    return { allowed: true, outcome: 'no_permissions', covering: [], grantedBy: undefined, reasons: [] }
  }
  const covering = permissions.filter((p) => p.appliesTo(action, object))
  const names = covering.map((p) => p.name)
  if (covering.length === 0) {
    return { allowed: false, outcome: 'not_covered', covering: [], grantedBy: undefined, reasons: [] }
  }
  const reasons: string[] = []
  for (const p of covering) {
    const verdict = p.policy.validate(principal)
    if (verdict.granted) {
      return { allowed: true, outcome: 'granted', covering: names, grantedBy: p.name, reasons: [] }
    }
    reasons.push(`permission "${p.name}" ${verdict.explanation}`)
  }
  return { allowed: false, outcome: 'denied', covering: names, grantedBy: undefined, reasons }
}

/**
 * The PERMISSION_DENIED error of a refused decision: names the principal, the action and the object,
 * says why (the refusing permissions' reasons, or that none covers the pair), and carries them in
 * `details` (`principal`, `action`, `object: {type, name, project}`, `permissions`).
 */
export function permissionDenied(
  principal: Principal,
  action: AuthzAction,
  object: AuthObject,
  decision: PermissionDecision,
): LarderError {
  const who = `"${principal.name}"`
  const what = `${action} on ${objectTypeLabel(object.type)} "${object.name}" (${object.type}) in project "${object.project}"`
  const why =
    decision.outcome === 'not_covered'
      ? `no permission covers ${action} on it, and with permissions defined what none covers is denied`
      : decision.reasons.join('; ')
  const hint =
    decision.outcome === 'not_covered'
      ? `define a Permission whose types, namePatterns and requiredTags cover ${object.type} "${object.name}" with the action ${action}, then run larder apply`
      : `give ${who} what one of the permissions ${decision.covering.map((n) => `"${n}"`).join(', ')} requires, or a Permission granting ${action} on it`
  return new LarderError('PERMISSION_DENIED', `principal ${who} may not ${what}: ${why}`, {
    hint,
    details: {
      principal: principal.name,
      action,
      object: { type: object.type, name: object.name, project: object.project },
      permissions: decision.covering,
    },
  })
}
