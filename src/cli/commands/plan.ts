import type { Command } from 'commander'
import type { ObjectChange } from '../../registry/index.js'
import type { CommandContext } from '../context.js'
import { type Output, paint } from '../output.js'

const SYMBOL = { create: '+', update: '~', delete: '-', unchanged: '=' } as const
const STYLE = { create: 'green', update: 'yellow', delete: 'red', unchanged: 'gray' } as const

/** Prints a plan as Terraform-style lines, or as JSON. Unchanged objects are summarised in one line. */
export function printPlan(
  output: Output,
  project: string,
  changes: readonly ObjectChange[],
  json: boolean,
): void {
  if (json) {
    output.out(JSON.stringify({ project, changes }, null, 2))
    return
  }
  const changed = changes.filter((c) => c.action !== 'unchanged')
  output.out(`Plan for project "${project}":`)
  if (changed.length === 0) output.out('  no changes')
  for (const c of changed) {
    const fields = c.action === 'update' ? ` (${c.changedFields.join(', ')})` : ''
    output.out(
      paint(output, STYLE[c.action], `  ${SYMBOL[c.action]} ${c.action} ${c.kind} ${c.name}${fields}`),
    )
  }
  const unchanged = changes.length - changed.length
  if (unchanged > 0) output.out(paint(output, 'gray', `  = ${unchanged} unchanged`))
}

export function registerPlan(program: Command, ctx: CommandContext): void {
  program
    .command('plan')
    .description('show what apply would create, update and delete, without writing anything')
    .option('--json', 'print the plan as JSON')
    .action(async (opts: { json?: boolean }) => {
      const store = await ctx.openStore()
      const plan = await store.plan()
      printPlan(ctx.output, store.project, plan.changes, Boolean(opts.json))
    })
}
