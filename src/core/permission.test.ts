// Feast's permissions: the definition (defaults, Feast's action groups, validation naming the
// permission) and the decision. The expected answers are literal tables written from Feast's rules
// (feast/permissions: action.py, matcher.py, policy.py, enforcer.py), not computed by the code tested.
import { describe, expect, it } from 'vitest'
import type { AuthObject, AuthObjectType, AuthzAction, Principal } from './auth.js'
import { isKind } from './brand.js'
import { isLarderError } from './errors.js'
import { FeatureService } from './feature-service.js'
import { FeatureView } from './feature-view.js'
import {
  ALL_ACTIONS,
  AllowAll,
  CombinedGroupNamespacePolicy,
  CRUD,
  decidePermission,
  GroupBasedPolicy,
  NamespaceBasedPolicy,
  Permission,
  type PermissionOptions,
  type Policy,
  permissionDenied,
  READ,
  RoleBasedPolicy,
  WRITE,
} from './permission.js'

/** Feast's `AuthzedAction`, in the order of its enum numbers. */
const ACTIONS: readonly AuthzAction[] = [
  'CREATE',
  'DESCRIBE',
  'UPDATE',
  'DELETE',
  'READ_ONLINE',
  'READ_OFFLINE',
  'WRITE_ONLINE',
  'WRITE_OFFLINE',
]

/** Feast's `PermissionSpec.Type`, in the order of its enum numbers. */
const TYPES: readonly AuthObjectType[] = [
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
]

/**
 * The object types a permission on each type covers. Feast matches with `isinstance`: BatchFeatureView
 * and StreamFeatureView are subclasses of FeatureView, OnDemandFeatureView is not; every other type
 * covers itself only.
 */
const COVERS: Record<AuthObjectType, readonly AuthObjectType[]> = {
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
}

function principal(name: string, p: Partial<Pick<Principal, 'roles' | 'groups' | 'namespaces'>>): Principal {
  return { name, roles: [], groups: [], namespaces: [], kind: 'token', ...p }
}

/** Five principals, one per way of satisfying a policy, and one who satisfies none. */
const PRINCIPALS = {
  analyst: principal('analyst', { roles: ['analyst'] }),
  mlTeam: principal('ml-team member', { groups: ['ml-team'] }),
  prod: principal('prod workload', { namespaces: ['prod'] }),
  mlInProd: principal('ml in prod', { groups: ['ml-team'], namespaces: ['prod'] }),
  intern: principal('intern', { roles: ['intern'], groups: ['interns'], namespaces: ['dev'] }),
} as const
type Who = keyof typeof PRINCIPALS

/** The five policy kinds, each naming the role, group or namespace the principals above hold. */
const POLICIES: Record<string, Policy> = {
  role: new RoleBasedPolicy({ roles: ['analyst', 'admin'] }),
  group: new GroupBasedPolicy({ groups: ['ml-team'] }),
  namespace: new NamespaceBasedPolicy({ namespaces: ['prod'] }),
  combined: new CombinedGroupNamespacePolicy({ groups: ['ml-team'], namespaces: ['prod'] }),
  allowAll: AllowAll,
}

/**
 * Whether each policy accepts each principal (Feast's `validate_user`): a role/group/namespace policy
 * needs one shared value; the combined one a shared group OR a shared namespace (its code; its guide
 * says "and"); AllowAll accepts everyone.
 */
const GRANTS: Record<string, Record<Who, boolean>> = {
  role: { analyst: true, mlTeam: false, prod: false, mlInProd: false, intern: false },
  group: { analyst: false, mlTeam: true, prod: false, mlInProd: true, intern: false },
  namespace: { analyst: false, mlTeam: false, prod: true, mlInProd: true, intern: false },
  combined: { analyst: false, mlTeam: true, prod: true, mlInProd: true, intern: false },
  allowAll: { analyst: true, mlTeam: true, prod: true, mlInProd: true, intern: true },
}

const object = (type: AuthObjectType, name = 'driver_stats', tags?: Record<string, string>): AuthObject => ({
  type,
  name,
  project: 'demo',
  ...(tags ? { tags } : {}),
})

describe('the permission matrix: action x policy kind x object type', () => {
  it('grants exactly the covered action on the covered types to the principals the policy accepts', () => {
    let checked = 0
    const wrong: string[] = []
    for (const granted of ACTIONS) {
      for (const [kind, policy] of Object.entries(POLICIES)) {
        for (const permissionType of TYPES) {
          const permissions = [
            new Permission({ name: 'p', types: [permissionType], actions: [granted], policy }),
          ]
          for (const objectType of TYPES) {
            for (const requested of ACTIONS) {
              const covered = COVERS[permissionType].includes(objectType) && requested === granted
              for (const [who, p] of Object.entries(PRINCIPALS) as [Who, Principal][]) {
                const expected = covered ? GRANTS[kind]![who] : false
                const outcome = covered ? (expected ? 'granted' : 'denied') : 'not_covered'
                const d = decidePermission(permissions, p, requested, object(objectType))
                checked++
                if (d.allowed !== expected || d.outcome !== outcome) {
                  wrong.push(
                    `${kind} ${granted} on ${permissionType}: ${who} ${requested} ${objectType} -> ${d.outcome}, expected ${outcome}`,
                  )
                }
              }
            }
          }
        }
      }
    }
    expect(wrong.slice(0, 10)).toEqual([])
    expect(checked).toBe(8 * 5 * 12 * 12 * 8 * 5)
  })

  it('allows everything when no permission is defined, and denies what none covers once one is', () => {
    for (const requested of ACTIONS) {
      for (const type of TYPES) {
        for (const p of Object.values(PRINCIPALS)) {
          expect(decidePermission([], p, requested, object(type))).toMatchObject({
            allowed: true,
            outcome: 'no_permissions',
          })
        }
      }
    }
    const onlyEntities = [new Permission({ name: 'entities', types: ['ENTITY'] })]
    expect(decidePermission(onlyEntities, PRINCIPALS.intern, 'DESCRIBE', object('PROJECT'))).toMatchObject({
      allowed: false,
      outcome: 'not_covered',
      covering: [],
    })
  })
})

/** Hand-written cases: the permissions, who asks, the action and object, and Feast's answer. */
const CASES: {
  readonly name: string
  readonly permissions: readonly PermissionOptions[]
  readonly who: Who
  readonly action: AuthzAction
  readonly object: AuthObject
  readonly allowed: boolean
  readonly outcome: string
  readonly grantedBy?: string
}[] = [
  {
    name: 'a name pattern must match the whole name (re.fullmatch): "driver" does not cover driver_stats',
    permissions: [{ name: 'p', namePatterns: ['driver'] }],
    who: 'analyst',
    action: 'DESCRIBE',
    object: object('FEATURE_VIEW', 'driver_stats'),
    allowed: false,
    outcome: 'not_covered',
  },
  {
    name: 'a name pattern matching the whole name covers it',
    permissions: [{ name: 'p', namePatterns: ['driver_.*'] }],
    who: 'analyst',
    action: 'DESCRIBE',
    object: object('FEATURE_VIEW', 'driver_stats'),
    allowed: true,
    outcome: 'granted',
    grantedBy: 'p',
  },
  {
    name: 'any one of several name patterns is enough',
    permissions: [{ name: 'p', namePatterns: ['rider_.*', '.*_stats'] }],
    who: 'analyst',
    action: 'DESCRIBE',
    object: object('FEATURE_VIEW', 'driver_stats'),
    allowed: true,
    outcome: 'granted',
    grantedBy: 'p',
  },
  {
    name: 'required tags present with the same values (and more tags) cover the object',
    permissions: [{ name: 'p', requiredTags: { team: 'ml' } }],
    who: 'intern',
    action: 'READ_ONLINE',
    object: object('FEATURE_VIEW', 'driver_stats', { team: 'ml', tier: 'gold' }),
    allowed: true,
    outcome: 'granted',
    grantedBy: 'p',
  },
  {
    name: 'a required tag with another value does not cover the object',
    permissions: [{ name: 'p', requiredTags: { team: 'ml' } }],
    who: 'intern',
    action: 'READ_ONLINE',
    object: object('FEATURE_VIEW', 'driver_stats', { team: 'ops' }),
    allowed: false,
    outcome: 'not_covered',
  },
  {
    name: 'an object without tags has none of the required ones',
    permissions: [{ name: 'p', requiredTags: { team: 'ml' } }],
    who: 'intern',
    action: 'READ_ONLINE',
    object: object('FEATURE_VIEW', 'driver_stats'),
    allowed: false,
    outcome: 'not_covered',
  },
  {
    name: 'affirmative: one covering permission that grants is enough, whatever the others say',
    permissions: [
      { name: 'admins', policy: new RoleBasedPolicy({ roles: ['admin'] }) },
      { name: 'ml', policy: new GroupBasedPolicy({ groups: ['ml-team'] }) },
    ],
    who: 'mlTeam',
    action: 'DELETE',
    object: object('ENTITY', 'driver'),
    allowed: true,
    outcome: 'granted',
    grantedBy: 'ml',
  },
  {
    name: 'covering permissions that all refuse deny',
    permissions: [
      { name: 'admins', policy: new RoleBasedPolicy({ roles: ['admin'] }) },
      { name: 'ml', policy: new GroupBasedPolicy({ groups: ['ml-team'] }) },
    ],
    who: 'prod',
    action: 'DELETE',
    object: object('ENTITY', 'driver'),
    allowed: false,
    outcome: 'denied',
  },
  {
    name: 'a permission of another action does not cover the request: denied, not refused',
    permissions: [{ name: 'readers', actions: READ, policy: new RoleBasedPolicy({ roles: ['analyst'] }) }],
    who: 'analyst',
    action: 'WRITE_ONLINE',
    object: object('FEATURE_VIEW'),
    allowed: false,
    outcome: 'not_covered',
  },
  {
    name: 'a permission on stream feature views does not cover a plain feature view',
    permissions: [{ name: 'streams', types: ['STREAM_FEATURE_VIEW'] }],
    who: 'analyst',
    action: 'DESCRIBE',
    object: object('FEATURE_VIEW'),
    allowed: false,
    outcome: 'not_covered',
  },
  {
    name: 'a permission without types covers every type, the project included',
    permissions: [{ name: 'everything' }],
    who: 'intern',
    action: 'UPDATE',
    object: object('PROJECT', 'demo'),
    allowed: true,
    outcome: 'granted',
    grantedBy: 'everything',
  },
]

describe('decisions, case by case', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const d = decidePermission(
        c.permissions.map((o) => new Permission(o)),
        PRINCIPALS[c.who],
        c.action,
        c.object,
      )
      expect(d).toMatchObject({ allowed: c.allowed, outcome: c.outcome })
      expect(d.grantedBy).toBe(c.grantedBy)
    })
  }

  it('says why each covering permission refused, and the error names principal, action and object', () => {
    const d = decidePermission(
      [
        new Permission({ name: 'admins', policy: new RoleBasedPolicy({ roles: ['admin'] }) }),
        new Permission({
          name: 'ml',
          policy: new CombinedGroupNamespacePolicy({ groups: ['ml'], namespaces: ['prod'] }),
        }),
      ],
      PRINCIPALS.intern,
      'WRITE_ONLINE',
      object('FEATURE_VIEW', 'driver_stats'),
    )
    expect(d.covering).toEqual(['admins', 'ml'])
    expect(d.reasons).toEqual([
      'permission "admins" requires one of the roles admin; "intern" has roles intern',
      'permission "ml" requires one of the groups ml or one of the namespaces prod; "intern" is in groups interns and namespaces dev',
    ])
    const e = permissionDenied(PRINCIPALS.intern, 'WRITE_ONLINE', object('FEATURE_VIEW', 'driver_stats'), d)
    expect(e.code).toBe('PERMISSION_DENIED')
    expect(e.message).toBe(
      'principal "intern" may not WRITE_ONLINE on feature view "driver_stats" (FEATURE_VIEW) in project "demo": ' +
        d.reasons.join('; '),
    )
    expect(e.details).toEqual({
      principal: 'intern',
      action: 'WRITE_ONLINE',
      object: { type: 'FEATURE_VIEW', name: 'driver_stats', project: 'demo' },
      permissions: ['admins', 'ml'],
    })
    const uncovered = permissionDenied(
      PRINCIPALS.intern,
      'DELETE',
      object('ENTITY', 'driver'),
      decidePermission(
        [new Permission({ name: 'x', types: ['PROJECT'] })],
        PRINCIPALS.intern,
        'DELETE',
        object('ENTITY', 'driver'),
      ),
    )
    expect(uncovered.message).toContain(
      'may not DELETE on entity "driver" (ENTITY) in project "demo": no permission covers',
    )
    expect(uncovered.hint).toContain('define a Permission')
  })
})

describe('Permission definitions', () => {
  it("has Feast's defaults: every type, ALL_ACTIONS, AllowAll, no name filter", () => {
    const p = new Permission({ name: 'everyone' })
    expect(p.types).toEqual(TYPES)
    expect(p.actions).toEqual(ACTIONS)
    expect(p.policy).toBe(AllowAll)
    expect(p.namePatterns).toEqual([])
    expect(p.requiredTags).toEqual({})
    expect(isKind(p, 'Permission')).toBe(true)
    expect(Object.isFrozen(p)).toBe(true)
  })

  it("has Feast's action groups (action.py)", () => {
    expect(ALL_ACTIONS).toEqual(ACTIONS)
    expect(READ).toEqual(['READ_OFFLINE', 'READ_ONLINE'])
    expect(WRITE).toEqual(['WRITE_OFFLINE', 'WRITE_ONLINE'])
    expect(CRUD).toEqual(['CREATE', 'DESCRIBE', 'UPDATE', 'DELETE'])
  })

  it('takes groups inside actions, definition classes as types, one pattern as a string, and trims', () => {
    const p = new Permission({
      name: 'reader',
      types: [FeatureView, FeatureService, 'FEATURE_VIEW'],
      actions: ['DESCRIBE', READ],
      namePatterns: ' .*risky.* ',
      requiredTags: { ' risk ': ' high ' },
    })
    expect(p.types).toEqual(['FEATURE_VIEW', 'FEATURE_SERVICE'])
    expect(p.actions).toEqual(['DESCRIBE', 'READ_OFFLINE', 'READ_ONLINE'])
    expect(p.namePatterns).toEqual(['.*risky.*'])
    expect(p.requiredTags).toEqual({ risk: 'high' })
  })

  it("translates Python's named groups and leading inline flags", () => {
    const named = new Permission({ name: 'p', namePatterns: ['(?P<x>ab)_(?P=x)'] })
    expect(named.matchesObject(object('ENTITY', 'ab_ab'))).toBe(true)
    expect(named.matchesObject(object('ENTITY', 'ab_cd'))).toBe(false)
    const caseless = new Permission({ name: 'p', namePatterns: ['(?i)driver_.*'] })
    expect(caseless.matchesObject(object('ENTITY', 'DRIVER_stats'))).toBe(true)
  })

  const refused: [string, PermissionOptions, RegExp][] = [
    [
      'a pattern that does not compile',
      { name: 'bad-regex', namePatterns: ['driver_(stats'] },
      /^permission "bad-regex": name pattern "driver_\(stats" is not a valid regular expression/,
    ],
    [
      'an inline flag JavaScript lacks',
      { name: 'verbose', namePatterns: ['(?x) driver'] },
      /^permission "verbose": name pattern "\(\?x\) driver" uses the inline flag x/,
    ],
    [
      'an unknown action',
      { name: 'typo', actions: ['READ' as AuthzAction] },
      /^permission "typo": "READ" is not an action/,
    ],
    [
      'an unknown type',
      { name: 'typo', types: ['VIEW' as AuthObjectType] },
      /^permission "typo": "VIEW" is not a type a permission covers/,
    ],
    [
      'a class Feast has no type for',
      { name: 'cls', types: [Map as never] },
      /^permission "cls": the class Map is not a type a permission covers/,
    ],
    ['no actions', { name: 'none', actions: [] }, /^permission "none": actions is empty/],
    [
      'an empty pattern',
      { name: 'blank', namePatterns: [' '] },
      /^permission "blank": namePatterns\[0\] must be a non-empty regular expression/,
    ],
    [
      'a policy that is not one',
      { name: 'pol', policy: { roles: ['a'] } as never },
      /^permission "pol": policy \[object Object\] is not a policy/,
    ],
    [
      'a policy whose roles are not strings',
      { name: 'pol', policy: { type: 'role_based', roles: [1] } as never },
      /^permission "pol": RoleBasedPolicy: roles must be a list of non-empty strings/,
    ],
    [
      "Feast's singular name_pattern",
      { name: 'old', namePattern: 'x' } as never,
      /^Permission: unknown option "namePattern"/,
    ],
  ]
  for (const [what, options, message] of refused) {
    it(`refuses ${what}, naming the permission and the value`, () => {
      let error: unknown
      try {
        new Permission(options)
      } catch (e) {
        error = e
      }
      expect(isLarderError(error) && error.code).toBe('INVALID_DEFINITION')
      expect((error as Error).message).toMatch(message)
      expect((error as { hint?: string }).hint).toBeTruthy()
    })
  }

  it('accepts a policy made by another copy of the package (by its shape)', () => {
    const p = new Permission({
      name: 'copy',
      policy: { type: 'group_based', groups: ['ml-team'] } as unknown as Policy,
    })
    expect(p.policy).toBeInstanceOf(GroupBasedPolicy)
    expect(p.policy.validate(PRINCIPALS.mlTeam).granted).toBe(true)
  })
})
