// `larder plan`/`apply` with Permission definitions, and `larder permissions list | describe | check`
// on a `larder init` repo, run in process.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { larder } from './__fixtures__/run-larder.js'

const PERMISSIONS = `import { ALL_ACTIONS, GroupBasedPolicy, Permission, READ, RoleBasedPolicy } from 'larderjs'

export const readers = new Permission({
  name: 'readers',
  types: ['FEATURE_VIEW', 'FEATURE_SERVICE'],
  namePatterns: ['driver_.*'],
  actions: ['DESCRIBE', READ],
  policy: new RoleBasedPolicy({ roles: ['reader'] }),
})

export const admins = new Permission({
  name: 'admins',
  actions: ALL_ACTIONS,
  policy: new GroupBasedPolicy({ groups: ['platform'] }),
  tags: { owner: 'platform-team' },
})
`

let root: string
let repo: string
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'larder-perm-'))
  repo = join(root, 'demo')
  expect((await larder('init', repo)).code).toBe(0)
  writeFileSync(join(repo, 'permissions.ts'), PERMISSIONS)
}, 60_000)
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('permissions in plan and apply', () => {
  it('plans and applies the permissions a repo defines', async () => {
    const plan = await larder('-c', repo, 'plan')
    expect(plan.code).toBe(0)
    expect(plan.stdout).toContain('  + create permission readers\n')
    expect(plan.stdout).toContain('  + create permission admins\n')
    const applied = await larder('-c', repo, 'apply')
    expect(applied.stderr).toBe('')
    expect(applied.code).toBe(0)
    const again = await larder('-c', repo, 'plan', '--json')
    const changes = JSON.parse(again.stdout).changes as { kind: string; name: string; action: string }[]
    // a module's exports are collected in name order (ES module namespaces sort their keys)
    expect(changes.filter((c) => c.kind === 'permission')).toEqual([
      { kind: 'permission', name: 'admins', action: 'unchanged', changedFields: [] },
      { kind: 'permission', name: 'readers', action: 'unchanged', changedFields: [] },
    ])
  })

  it('refuses a definition with a bad pattern, naming the permission and the file', async () => {
    const broken = join(repo, 'broken.ts')
    writeFileSync(
      broken,
      `import { Permission } from 'larderjs'\nexport const bad = new Permission({ name: 'bad', namePatterns: ['driver_(' ] })\n`,
    )
    try {
      const plan = await larder('-c', repo, 'plan')
      expect(plan.code).toBe(1)
      expect(plan.stderr).toContain(
        'broken.ts:2: permission "bad": name pattern "driver_(" is not a valid regular expression',
      )
    } finally {
      rmSync(broken)
    }
  })
})

describe('larder permissions', () => {
  it('lists the permissions, as a table and as JSON', async () => {
    const table = await larder('-c', repo, 'permissions', 'list')
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/│ NAME +│ TYPES +│ NAME PATTERNS +│ REQUIRED TAGS +│ ACTIONS +│ POLICY +│/)
    expect(table.stdout).toMatch(
      /│ readers +│ FEATURE_VIEW, FEATURE_SERVICE +│ driver_\.\* +│ +│ DESCRIBE, READ_OFFLINE, READ_ONLINE +│ roles reader +│/,
    )
    expect(table.stdout).toMatch(/│ admins +│ all types +│ any name +│ +│ ALL_ACTIONS +│ groups platform +│/)
    const json = JSON.parse((await larder('-c', repo, 'permissions', 'list', '--json')).stdout)
    expect(json).toEqual([
      expect.objectContaining({ name: 'admins', policy: { type: 'group_based', groups: ['platform'] } }),
      {
        name: 'readers',
        types: ['FEATURE_VIEW', 'FEATURE_SERVICE'],
        namePatterns: ['driver_.*'],
        requiredTags: {},
        actions: ['DESCRIBE', 'READ_OFFLINE', 'READ_ONLINE'],
        policy: { type: 'role_based', roles: ['reader'] },
        tags: {},
      },
    ])
  })

  it('describes one permission as the registry stores it, and names the known ones for a typo', async () => {
    const yaml = await larder('-c', repo, 'permissions', 'describe', 'readers')
    expect(yaml.code).toBe(0)
    expect(yaml.stdout).toContain('name: readers')
    expect(yaml.stdout).toContain('roleBasedPolicy:')
    expect(yaml.stdout).toContain('createdTimestamp:')
    const json = JSON.parse((await larder('-c', repo, 'permissions', 'describe', 'admins', '--json')).stdout)
    expect(json.spec).toMatchObject({ name: 'admins', project: 'demo', tags: { owner: 'platform-team' } })
    const missing = await larder('-c', repo, 'permissions', 'describe', 'reader')
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('permission "reader" not found in project "demo"')
    expect(missing.stderr).toContain('known: admins, readers')
  })

  it('checks what a principal may do on each object, as a table', async () => {
    const check = await larder(
      '-c',
      repo,
      'permissions',
      'check',
      '--user',
      'ada',
      '--roles',
      'reader,analyst',
    )
    expect(check.code).toBe(0)
    expect(check.stdout).toContain(
      'What "ada" (roles reader, analyst) may do in project "demo", under 2 permissions:',
    )
    expect(check.stdout).toMatch(
      /│ FEATURE_VIEW +│ driver_hourly_stats +│ deny +│ allow +│ deny +│ deny +│ allow +│ allow +│ deny +│ deny +│/,
    )
    expect(check.stdout).toMatch(/│ ENTITY +│ driver +│ deny +│ deny +│/)
    expect(check.stdout).toMatch(/\d+ of \d+ allowed; 0 denied because no permission covers them/)
    expect(check.stderr).toContain('auth type is no_auth')
  })

  it('checks as JSON, with the permission that granted and why the others refused', async () => {
    const run = await larder(
      '-c',
      repo,
      'permissions',
      'check',
      '--user',
      'bob',
      '--groups',
      'platform',
      '--actions',
      'DELETE,READ_ONLINE',
      '--json',
    )
    expect(run.code).toBe(0)
    const out = JSON.parse(run.stdout)
    expect(out).toMatchObject({
      project: 'demo',
      principal: { name: 'bob', roles: [], groups: ['platform'], namespaces: [] },
      permissions: 2,
      enforced: false,
    })
    const view = out.objects.find((o: { name: string }) => o.name === 'driver_hourly_stats')
    expect(view.actions).toEqual({
      DELETE: { allowed: true, outcome: 'granted', grantedBy: 'admins' },
      READ_ONLINE: { allowed: true, outcome: 'granted', grantedBy: 'admins' },
    })
    const reader = JSON.parse(
      (
        await larder(
          '-c',
          repo,
          'permissions',
          'check',
          '--user',
          'ada',
          '--roles',
          'reader',
          '--actions',
          'READ_ONLINE',
          '--json',
        )
      ).stdout,
    )
    const read = reader.objects.find((o: { name: string }) => o.name === 'driver_hourly_stats')
    expect(read.actions.READ_ONLINE).toEqual({ allowed: true, outcome: 'granted', grantedBy: 'readers' })
    const guest = JSON.parse(
      (await larder('-c', repo, 'permissions', 'check', '--user', 'eve', '--actions', 'DESCRIBE', '--json'))
        .stdout,
    )
    const project = guest.objects.find((o: { type: string }) => o.type === 'PROJECT')
    expect(project.actions.DESCRIBE).toEqual({
      allowed: false,
      outcome: 'denied',
      reasons: ['permission "admins" requires one of the groups platform; "eve" is in groups (none)'],
    })
    expect(guest.objects.map((o: { type: string }) => o.type)).toContain('PERMISSION')
  })

  it('refuses an unknown action and a missing --user', async () => {
    const typo = await larder('-c', repo, 'permissions', 'check', '--user', 'x', '--actions', 'READ')
    expect(typo.code).toBe(1)
    expect(typo.stderr).toContain('--actions: "READ" is not an action')
    const anonymous = await larder('-c', repo, 'permissions', 'check')
    expect(anonymous.code).not.toBe(0)
    expect(anonymous.stderr).toContain("required option '--user <name>' not specified")
  })
})
