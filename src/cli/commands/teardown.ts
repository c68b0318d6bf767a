import type { Command } from 'commander'
import type { CommandContext } from '../context.js'

export function registerTeardown(program: Command, ctx: CommandContext): void {
  program
    .command('teardown')
    .description("remove the project's online tables and its objects from the registry")
    .action(async () => {
      const store = await ctx.openStore()
      await store.teardown()
      ctx.output.out(`Tore down project "${store.project}"`)
    })
}
