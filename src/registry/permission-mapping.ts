import { create, type Message } from '@bufbuild/protobuf'
import {
  AllowAll,
  AUTH_OBJECT_TYPES,
  AUTHZ_ACTIONS,
  type AuthObject,
  type AuthObjectType,
  CombinedGroupNamespacePolicy,
  GroupBasedPolicy,
  isLarderError,
  LarderError,
  NamespaceBasedPolicy,
  Permission,
  type PermissionRule,
  type Policy,
  RoleBasedPolicy,
} from '../core/index.js'
import { type Permission as PermissionProto, PermissionSchema } from '../gen/feast/core/Permission_pb.js'
import { type Policy as PolicyProto, PolicySchema } from '../gen/feast/core/Policy_pb.js'
import type { Registry as RegistryProto } from '../gen/feast/core/Registry_pb.js'
import { OBJECT_TABLES } from './registry-objects.js'

/**
 * Feast's `Permission` message of a permission in `project`: `spec` {name 1, project 2, types 3 (the
 * `PermissionSpec.Type` numbers), name_patterns 4, required_tags 5, actions 6 (the `AuthzedAction`
 * numbers), policy 7, tags 8}, and an empty `meta` (apply stamps it). The policy is the oneof of
 * Feast's `Policy`; `AllowAll` is the empty `Policy`, as Feast writes it.
 */
export function permissionToProto(permission: Permission, project: string): PermissionProto {
  return create(PermissionSchema, {
    spec: {
      name: permission.name,
      project,
      types: permission.types.map((t) => AUTH_OBJECT_TYPES.indexOf(t)),
      namePatterns: [...permission.namePatterns],
      requiredTags: { ...permission.requiredTags },
      actions: permission.actions.map((a) => AUTHZ_ACTIONS.indexOf(a)),
      policy: policyToProto(permission.policy),
      tags: { ...permission.tags },
    },
  })
}

/** Feast's `Policy` message of a policy (name and project left empty, as Feast leaves them). */
export function policyToProto(policy: Policy): PolicyProto {
  switch (policy.type) {
    case 'allow_all':
      return create(PolicySchema)
    case 'role_based':
      return create(PolicySchema, {
        policyType: { case: 'roleBasedPolicy', value: { roles: [...(policy as RoleBasedPolicy).roles] } },
      })
    case 'group_based':
      return create(PolicySchema, {
        policyType: { case: 'groupBasedPolicy', value: { groups: [...(policy as GroupBasedPolicy).groups] } },
      })
    case 'namespace_based':
      return create(PolicySchema, {
        policyType: {
          case: 'namespaceBasedPolicy',
          value: { namespaces: [...(policy as NamespaceBasedPolicy).namespaces] },
        },
      })
    case 'combined_group_namespace': {
      const combined = policy as CombinedGroupNamespacePolicy
      return create(PolicySchema, {
        policyType: {
          case: 'combinedGroupNamespacePolicy',
          value: { groups: [...combined.groups], namespaces: [...combined.namespaces] },
        },
      })
    }
  }
}

/** The policy of Feast's `Policy` message: the oneof's case, and `AllowAll` for none (or no message). */
export function policyFromProto(proto: PolicyProto | undefined): Policy {
  const p = proto?.policyType
  switch (p?.case) {
    case 'roleBasedPolicy':
      return new RoleBasedPolicy({ roles: p.value.roles })
    case 'groupBasedPolicy':
      return new GroupBasedPolicy({ groups: p.value.groups })
    case 'namespaceBasedPolicy':
      return new NamespaceBasedPolicy({ namespaces: p.value.namespaces })
    case 'combinedGroupNamespacePolicy':
      return new CombinedGroupNamespacePolicy({ groups: p.value.groups, namespaces: p.value.namespaces })
    default:
      return AllowAll
  }
}

/**
 * The permission of Feast's `Permission` message. No types means every type (Feast's default);
 * an enum number Larder does not know, or a pattern that does not compile, is INVALID_DEFINITION
 * naming the permission.
 */
export function permissionFromProto(proto: PermissionProto): Permission {
  const spec = proto.spec
  const name = spec?.name ?? ''
  const where = `permission "${name}"${spec?.project ? ` in project "${spec.project}"` : ''}`
  const known = <T>(list: readonly T[], n: number, what: string): T => {
    const value = list[n]
    if (value === undefined) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where} has the ${what} number ${n}, which Larder does not know`,
        {
          hint: `known ${what}s: ${list.join(', ')}`,
        },
      )
    }
    return value
  }
  return new Permission({
    name,
    types: (spec?.types ?? []).map((t) => known(AUTH_OBJECT_TYPES, t, 'type')),
    namePatterns: spec?.namePatterns ?? [],
    requiredTags: { ...spec?.requiredTags },
    actions: (spec?.actions ?? []).map((a) => known(AUTHZ_ACTIONS, a, 'action')),
    policy: policyFromProto(spec?.policy),
    tags: { ...spec?.tags },
  })
}

/** A stored permission Larder cannot read: it applies to everything and grants nothing. */
class UnreadablePermission implements PermissionRule {
  readonly name: string
  readonly reason: string
  readonly policy: PermissionRule['policy']

  constructor(name: string, reason: string) {
    this.name = name
    this.reason = reason
    this.policy = { validate: () => ({ granted: false, explanation: `cannot be read by Larder: ${reason}` }) }
  }

  appliesTo(): boolean {
    return true
  }
}

/** A project's permissions as `decidePermission` weighs them, with those that could not be read. */
export interface ProjectPermissions {
  readonly project: string
  readonly permissions: readonly Permission[]
  /** What `decidePermission` weighs: the permissions and a refusing stand-in for each unreadable one. */
  readonly rules: readonly PermissionRule[]
  readonly unreadable: readonly { readonly name: string; readonly reason: string }[]
}

/**
 * The permissions stored for `project` (Feast keeps them per project). A message Larder cannot read
 * (an unknown enum number, a Python pattern JavaScript cannot compile) becomes a rule that covers every
 * object and action and grants nothing: it can deny what another permission would not grant, never
 * allow more.
 */
export function projectPermissions(registry: RegistryProto, project: string): ProjectPermissions {
  const permissions: Permission[] = []
  const rules: PermissionRule[] = []
  const unreadable: { name: string; reason: string }[] = []
  for (const message of registry.permissions) {
    if (message.spec?.project !== project) continue
    try {
      const p = permissionFromProto(message)
      permissions.push(p)
      rules.push(p)
    } catch (e) {
      if (!isLarderError(e)) throw e
      const name = message.spec?.name ?? ''
      unreadable.push({ name, reason: e.message })
      rules.push(new UnreadablePermission(name, e.message))
    }
  }
  return { project, permissions, rules, unreadable }
}

/** Feast's permission type of the objects of each registry table. */
const TABLE_TYPES: Readonly<Record<string, AuthObjectType>> = {
  projects: 'PROJECT',
  entities: 'ENTITY',
  data_sources: 'DATA_SOURCE',
  feature_views: 'FEATURE_VIEW',
  stream_feature_views: 'STREAM_FEATURE_VIEW',
  on_demand_feature_views: 'ON_DEMAND_FEATURE_VIEW',
  label_views: 'LABEL_VIEW',
  feature_services: 'FEATURE_SERVICE',
  saved_datasets: 'SAVED_DATASET',
  validation_references: 'VALIDATION_REFERENCE',
  permissions: 'PERMISSION',
}

type Tagged = { spec?: { tags?: Record<string, string> }; tags?: Record<string, string> }

/**
 * Every object of `project` in the registry as an object of Feast's permissions (type, name, project,
 * and all its tags as stored), the project itself first, then table by table in the registry's order.
 */
export function registryAuthObjects(registry: RegistryProto, project: string): AuthObject[] {
  const out: AuthObject[] = []
  for (const table of OBJECT_TABLES) {
    const type = TABLE_TYPES[table.table]
    if (type === undefined) continue
    for (const message of table.list(registry) as Message[]) {
      if (table.projectOf(message) !== project) continue
      const tagged = message as Tagged
      out.push({
        type,
        name: table.nameOf(message),
        project,
        tags: { ...(tagged.spec?.tags ?? tagged.tags ?? {}) },
      })
    }
  }
  return out
}
