// Permissions as Feast's `Permission` message: the bytes written are the ones Feast's field numbers
// give (built here by a wire writer that knows nothing of Larder's generated code), they decode with
// the generated Feast schema, they read back to the same definition, and what Larder cannot read never
// widens access.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { describe, expect, it } from 'vitest'
import {
  AllowAll,
  CombinedGroupNamespacePolicy,
  decidePermission,
  GroupBasedPolicy,
  NamespaceBasedPolicy,
  Permission,
  type Principal,
  READ,
  RoleBasedPolicy,
} from '../core/index.js'
import {
  PermissionSchema,
  PermissionSpec_AuthzedAction,
  PermissionSpec_Type,
} from '../gen/feast/core/Permission_pb.js'
import { RegistrySchema } from '../gen/feast/core/Registry_pb.js'
import { bytes, mapEntry, msg, str } from './__fixtures__/proto-wire.js'
import {
  permissionFromProto,
  permissionToProto,
  projectPermissions,
  registryAuthObjects,
} from './permission-mapping.js'

const packed = (field: number, values: number[]) => bytes(field, Uint8Array.from(values))

describe('Permission as Feast stores it', () => {
  it('writes spec fields 1-8 with the enum numbers of PermissionSpec', () => {
    const permission = new Permission({
      name: 'readers',
      types: ['FEATURE_VIEW', 'FEATURE_SERVICE'],
      namePatterns: ['driver_.*'],
      requiredTags: { team: 'ml' },
      actions: ['DESCRIBE', 'READ_ONLINE'],
      policy: new RoleBasedPolicy({ roles: ['reader'] }),
      tags: { owner: 'platform' },
    })
    const written = toBinary(PermissionSchema, permissionToProto(permission, 'demo'))
    // Permission.spec = 1 { name 1, project 2, types 3 (FEATURE_VIEW=0, FEATURE_SERVICE=5, packed),
    // name_patterns 4, required_tags 5, actions 6 (DESCRIBE=1, READ_ONLINE=4, packed),
    // policy 7 { role_based_policy 3 { roles 1 } }, tags 8 }
    const feast = msg(
      1,
      str(1, 'readers'),
      str(2, 'demo'),
      packed(3, [0, 5]),
      str(4, 'driver_.*'),
      mapEntry(5, 'team', 'ml'),
      packed(6, [1, 4]),
      msg(7, msg(3, str(1, 'reader'))),
      mapEntry(8, 'owner', 'platform'),
    )
    expect(Buffer.from(written).toString('hex')).toBe(Buffer.from(feast).toString('hex'))
    const decoded = fromBinary(PermissionSchema, feast)
    expect(decoded.spec?.types).toEqual([
      PermissionSpec_Type.FEATURE_VIEW,
      PermissionSpec_Type.FEATURE_SERVICE,
    ])
    expect(decoded.spec?.actions).toEqual([
      PermissionSpec_AuthzedAction.DESCRIBE,
      PermissionSpec_AuthzedAction.READ_ONLINE,
    ])
    expect(decoded.spec?.policy?.policyType).toMatchObject({
      case: 'roleBasedPolicy',
      value: { roles: ['reader'] },
    })
  })

  it("writes each policy in its oneof field, and AllowAll as Feast's empty Policy", () => {
    const policyBytes = (policy: Permission['policy']) => {
      const p = new Permission({ name: 'p', types: ['ENTITY'], actions: ['DELETE'], policy })
      return Buffer.from(toBinary(PermissionSchema, permissionToProto(p, 'demo'))).toString('hex')
    }
    const expected = (policy: Uint8Array) =>
      Buffer.from(msg(1, str(1, 'p'), str(2, 'demo'), packed(3, [4]), packed(6, [3]), policy)).toString('hex')
    expect(policyBytes(new GroupBasedPolicy({ groups: ['g'] }))).toBe(expected(msg(7, msg(4, str(1, 'g')))))
    expect(policyBytes(new NamespaceBasedPolicy({ namespaces: ['n'] }))).toBe(
      expected(msg(7, msg(5, str(1, 'n')))),
    )
    expect(policyBytes(new CombinedGroupNamespacePolicy({ groups: ['g'], namespaces: ['n'] }))).toBe(
      expected(msg(7, msg(6, str(1, 'g'), str(2, 'n')))),
    )
    expect(policyBytes(AllowAll)).toBe(expected(msg(7)))
  })

  it('writes every type when none is given, as Feast writes ALL_RESOURCE_TYPES', () => {
    const p = permissionToProto(new Permission({ name: 'all' }), 'demo')
    expect(p.spec?.types).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    expect(p.spec?.actions).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
  })

  it('reads back the same definition, for every policy kind', () => {
    for (const policy of [
      AllowAll,
      new RoleBasedPolicy({ roles: ['a', 'b'] }),
      new GroupBasedPolicy({ groups: ['g'] }),
      new NamespaceBasedPolicy({ namespaces: ['n'] }),
      new CombinedGroupNamespacePolicy({ groups: ['g'], namespaces: ['n'] }),
    ]) {
      const original = new Permission({
        name: 'round-trip',
        types: ['STREAM_FEATURE_VIEW', 'DATA_SOURCE', 'LABEL_VIEW'],
        namePatterns: ['a.*', 'b'],
        requiredTags: { k: 'v' },
        actions: READ,
        policy,
        tags: { t: 'u' },
      })
      const bytesOut = toBinary(PermissionSchema, permissionToProto(original, 'demo'))
      const back = permissionFromProto(fromBinary(PermissionSchema, bytesOut))
      expect({ ...back, policy: { ...back.policy } }).toEqual({ ...original, policy: { ...original.policy } })
      expect(back.policy.type).toBe(policy.type)
    }
  })

  it("reads a Feast message without types or policy as every type and AllowAll (Feast's defaults)", () => {
    const feast = fromBinary(
      PermissionSchema,
      msg(1, str(1, 'feast-written'), str(2, 'demo'), packed(6, [1])),
    )
    const p = permissionFromProto(feast)
    expect(p.types).toHaveLength(12)
    expect(p.actions).toEqual(['DESCRIBE'])
    expect(p.policy).toBe(AllowAll)
  })
})

describe('projectPermissions', () => {
  const intern: Principal = { name: 'intern', roles: ['intern'], groups: [], namespaces: [], kind: 'token' }

  it('keeps each project apart, and turns an unreadable permission into one that grants nothing', () => {
    const registry = create(RegistrySchema, {
      permissions: [
        permissionToProto(new Permission({ name: 'everyone' }), 'demo'),
        permissionToProto(new Permission({ name: 'elsewhere' }), 'other'),
        // a Python pattern JavaScript cannot compile, as Feast could have stored it
        create(PermissionSchema, {
          spec: { name: 'python-only', project: 'demo', namePatterns: ['(?x) a'] },
        }),
        // an enum number from a newer Feast
        create(PermissionSchema, {
          spec: { name: 'future', project: 'demo', types: [42 as PermissionSpec_Type] },
        }),
      ],
    })
    const found = projectPermissions(registry, 'demo')
    expect(found.permissions.map((p) => p.name)).toEqual(['everyone'])
    expect(found.unreadable.map((u) => u.name)).toEqual(['python-only', 'future'])
    expect(found.unreadable[1]!.reason).toContain(
      'permission "future" in project "demo" has the type number 42',
    )
    const d = decidePermission(found.rules, intern, 'DELETE', { type: 'ENTITY', name: 'x', project: 'demo' })
    expect(d).toMatchObject({
      allowed: true,
      grantedBy: 'everyone',
      covering: ['everyone', 'python-only', 'future'],
    })
    const alone = projectPermissions(
      create(RegistrySchema, { permissions: registry.permissions.slice(2) }),
      'demo',
    )
    const refused = decidePermission(alone.rules, intern, 'DESCRIBE', {
      type: 'PROJECT',
      name: 'demo',
      project: 'demo',
    })
    expect(refused).toMatchObject({ allowed: false, outcome: 'denied' })
    expect(refused.reasons[0]).toContain('permission "python-only" cannot be read by Larder')
  })

  it('lists every object of a project with its stored tags', () => {
    const registry = create(RegistrySchema, {
      projects: [{ spec: { name: 'demo', tags: { env: 'prod' } } }],
      entities: [{ spec: { name: 'driver', project: 'demo', tags: { team: 'ml' } } }],
      dataSources: [{ name: 'src', project: 'demo', tags: { pii: 'yes' } }],
      featureViews: [{ spec: { name: 'fv', project: 'other' } }],
      permissions: [permissionToProto(new Permission({ name: 'everyone' }), 'demo')],
    })
    expect(registryAuthObjects(registry, 'demo')).toEqual([
      { type: 'PROJECT', name: 'demo', project: 'demo', tags: { env: 'prod' } },
      { type: 'ENTITY', name: 'driver', project: 'demo', tags: { team: 'ml' } },
      { type: 'DATA_SOURCE', name: 'src', project: 'demo', tags: { pii: 'yes' } },
      { type: 'PERMISSION', name: 'everyone', project: 'demo', tags: {} },
    ])
  })
})
