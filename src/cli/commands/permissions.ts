import type { Command } from 'commander'
import { stringify } from 'yaml'
import {
  ALL_ACTIONS,
  ALL_RESOURCE_TYPES,
  AUTHZ_ACTIONS,
  type AuthObject,
  type AuthzAction,
  knownNames,
  LarderError,
  type Permission,
  type PermissionDecision,
  type Principal,
} from '../../core/index.js'
import { projectPermissions, registryAuthObjects } from '../../registry/index.js'
import { PermissionAuthorizer } from '../../server/index.js'
import type { CommandContext } from '../context.js'
import { type Output, paint, printRows } from '../output.js'

/**
 * `larder permissions list | describe NAME | check --user U`: the Feast permissions stored for the
 * project, one of them as the registry stores it, and what a principal may do to each object of the
 * project under them (the decision the servers make, with Feast's rules).
 */
export function registerPermissions(program: Command, ctx: CommandContext): void {
  const permissions = program
    .command('permissions')
    .description("list the project's permissions, and check what a principal may do under them")
    .addHelpText(
      'after',
      `
The servers (larder serve, serve-registry, ui) enforce these permissions when the repo's auth type
is oidc or static. With no permission defined, every authenticated principal may do everything; once
one is defined, an action on an object needs a permission that covers both and whose policy accepts
the principal. See docs/security.md.`,
    )

  permissions
    .command('list')
    .description('the permissions of the project: types, name patterns, required tags, actions, policy')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const store = await ctx.openStore()
      const state = await store.registry.load({ allowCache: false })
      const found = projectPermissions(state.proto, store.project)
      if (opts.json) {
        ctx.output.out(
          JSON.stringify(
            [
              ...found.permissions.map(permissionJson),
              ...found.unreadable.map((u) => ({ name: u.name, unreadable: u.reason })),
            ],
            null,
            2,
          ),
        )
        return
      }
      printRows(
        ctx.output,
        found.permissions.map(permissionRow),
        false,
        `No permissions in project "${store.project}": every authenticated principal may do everything (define a Permission and run larder apply)`,
      )
      for (const u of found.unreadable) {
        ctx.output.err(
          `warning: permission "${u.name}" cannot be read (${u.reason}); the servers treat it as covering everything and granting nothing`,
        )
      }
    })

  permissions
    .command('describe')
    .description('one permission as the registry stores it (YAML, or JSON with --json)')
    .argument('<name>', 'the permission name')
    .option('--json', 'print proto3 JSON')
    .action(async (name: string, opts: { json?: boolean }) => {
      const store = await ctx.openStore()
      const json = await store.describe('permission', name, { allowCache: false })
      ctx.output.out(opts.json ? JSON.stringify(json, null, 2) : stringify(json))
    })

  permissions
    .command('check')
    .description(
      'what a principal may do: for each object of the project and each action, allowed or denied, and by which permission',
    )
    .requiredOption('--user <name>', "the principal's name")
    .option('--roles <roles>', 'its roles (comma-separated or repeated)', collect)
    .option('--groups <groups>', 'its groups (comma-separated or repeated)', collect)
    .option('--namespaces <namespaces>', 'its namespaces (comma-separated or repeated)', collect)
    .option('--actions <actions>', 'only these actions (comma-separated or repeated; default all)', collect)
    .option('--json', 'print as JSON')
    .action(async (opts: CheckOptions) => {
      const actions = checkActions(opts.actions ?? [])
      const principal: Principal = {
        name: opts.user,
        roles: opts.roles ?? [],
        groups: opts.groups ?? [],
        namespaces: opts.namespaces ?? [],
        kind: 'token',
      }
      const store = await ctx.openStore()
      const state = await store.registry.load({ allowCache: false })
      const authorizer = new PermissionAuthorizer(async () => state)
      const objects = registryAuthObjects(state.proto, store.project)
      const rows: CheckedObject[] = []
      for (const object of objects) {
        const decisions: Partial<Record<AuthzAction, PermissionDecision>> = {}
        for (const action of actions) decisions[action] = await authorizer.decide(principal, action, object)
        rows.push({ object, decisions })
      }
      const defined = projectPermissions(state.proto, store.project).rules.length
      const enforced = store.config.auth.type !== 'no_auth'
      if (opts.json) {
        ctx.output.out(JSON.stringify(checkJson(store.project, principal, defined, enforced, rows), null, 2))
        return
      }
      printCheck(ctx.output, store.project, principal, defined, actions, rows)
      if (!enforced) {
        ctx.output.err(
          'note: auth type is no_auth, so the servers of this repo enforce no permission; this is what they would decide with oidc or static',
        )
      }
    })
}

interface CheckOptions {
  user: string
  roles?: string[]
  groups?: string[]
  namespaces?: string[]
  actions?: string[]
  json?: boolean
}

interface CheckedObject {
  readonly object: AuthObject
  readonly decisions: Partial<Record<AuthzAction, PermissionDecision>>
}

/** Commander's collector: values given comma-separated, the option repeated, or both. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [
    ...(previous ?? []),
    ...value
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== ''),
  ]
}

function checkActions(given: readonly string[]): readonly AuthzAction[] {
  if (given.length === 0) return AUTHZ_ACTIONS
  for (const a of given) {
    if (!(AUTHZ_ACTIONS as readonly string[]).includes(a)) {
      throw new LarderError('INVALID_ARGUMENT', `--actions: "${a}" is not an action`, {
        hint: `known actions: ${knownNames(AUTHZ_ACTIONS)}`,
      })
    }
  }
  return AUTHZ_ACTIONS.filter((a) => given.includes(a))
}

function permissionJson(p: Permission): Record<string, unknown> {
  return {
    name: p.name,
    types: p.types,
    namePatterns: p.namePatterns,
    requiredTags: p.requiredTags,
    actions: p.actions,
    policy: { ...p.policy },
    tags: p.tags,
  }
}

function permissionRow(p: Permission): Record<string, unknown> {
  return {
    name: p.name,
    types: p.types.length === ALL_RESOURCE_TYPES.length ? 'all types' : p.types,
    namePatterns: p.namePatterns.length === 0 ? 'any name' : p.namePatterns,
    requiredTags: p.requiredTags,
    actions: p.actions.length === ALL_ACTIONS.length ? 'ALL_ACTIONS' : p.actions,
    policy: p.policy.describe(),
  }
}

function decisionJson(d: PermissionDecision): Record<string, unknown> {
  return {
    allowed: d.allowed,
    outcome: d.outcome,
    ...(d.grantedBy !== undefined ? { grantedBy: d.grantedBy } : {}),
    ...(d.reasons.length > 0 ? { reasons: d.reasons } : {}),
  }
}

function checkJson(
  project: string,
  principal: Principal,
  permissions: number,
  enforced: boolean,
  rows: readonly CheckedObject[],
): Record<string, unknown> {
  return {
    project,
    principal: {
      name: principal.name,
      roles: principal.roles,
      groups: principal.groups,
      namespaces: principal.namespaces,
    },
    permissions,
    enforced,
    objects: rows.map((r) => ({
      type: r.object.type,
      name: r.object.name,
      actions: Object.fromEntries(Object.entries(r.decisions).map(([a, d]) => [a, decisionJson(d)])),
    })),
  }
}

/** One table cell: `allow`, `deny`, or `deny*` when no permission covers the pair. */
function cell(output: Output, d: PermissionDecision): string {
  if (d.allowed) return paint(output, 'green', 'allow')
  return paint(output, 'red', d.outcome === 'not_covered' ? 'deny*' : 'deny')
}

function printCheck(
  output: Output,
  project: string,
  principal: Principal,
  defined: number,
  actions: readonly AuthzAction[],
  rows: readonly CheckedObject[],
): void {
  const who = [
    principal.roles.length > 0 ? `roles ${principal.roles.join(', ')}` : '',
    principal.groups.length > 0 ? `groups ${principal.groups.join(', ')}` : '',
    principal.namespaces.length > 0 ? `namespaces ${principal.namespaces.join(', ')}` : '',
  ].filter((s) => s !== '')
  output.out(
    `What "${principal.name}"${who.length > 0 ? ` (${who.join('; ')})` : ''} may do in project "${project}", under ${defined === 1 ? '1 permission' : `${defined} permissions`}:`,
  )
  printRows(
    output,
    rows.map((r) => ({
      type: r.object.type,
      name: r.object.name,
      ...Object.fromEntries(actions.map((a) => [a, cell(output, r.decisions[a]!)])),
    })),
    false,
    `No objects in project "${project}" (run larder apply)`,
  )
  const all = rows.flatMap((r) => Object.values(r.decisions))
  const allowed = all.filter((d) => d.allowed).length
  const uncovered = all.filter((d) => d.outcome === 'not_covered').length
  if (defined === 0) {
    output.out('No permission is defined: every authenticated principal may do everything.')
    return
  }
  output.out(
    `${allowed} of ${all.length} allowed; ${uncovered} denied because no permission covers them (deny*).`,
  )
}
