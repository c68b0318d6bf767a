import type { Command } from 'commander'
import type { CommandContext } from '../context.js'
import { paint } from '../output.js'
import { printPlan } from './plan.js'

export function registerApply(program: Command, ctx: CommandContext): void {
  program
    .command('apply')
    .description("register the repo's definitions, delete objects removed from it, and create online tables")
    .option('--json', 'print the applied plan as JSON')
    .action(async (opts: { json?: boolean }) => {
      const store = await ctx.openStore()
      const plan = await store.plan()
      printPlan(ctx.output, store.project, plan.changes, Boolean(opts.json))
      await store.apply(plan)
      if (!opts.json) ctx.output.out(paint(ctx.output, 'green', `Applied to ${store.config.registry.path}`))
    })
}
