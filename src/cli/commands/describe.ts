import type { Command } from 'commander'
import { stringify } from 'yaml'
import { knownNames, LarderError } from '../../core/index.js'
import type { ObjectKind } from '../../registry/index.js'
import type { CommandContext } from '../context.js'

const KINDS: Record<string, ObjectKind> = {
  entity: 'entity',
  'feature-view': 'feature view',
  'stream-feature-view': 'stream feature view',
  'on-demand-feature-view': 'on demand feature view',
  'feature-service': 'feature service',
  'data-source': 'data source',
  project: 'project',
  'saved-dataset': 'saved dataset',
}

export function registerDescribe(program: Command, ctx: CommandContext): void {
  program
    .command('describe')
    .description('print one object as the registry stores it (YAML, or JSON with --json)')
    .argument('<kind>', Object.keys(KINDS).join(' | '))
    .argument('<name>', 'the object name')
    .option('--json', 'print proto3 JSON')
    .action(async (kindName: string, name: string, opts: { json?: boolean }) => {
      const kind = KINDS[kindName.replace(/s$/, '')]
      if (!kind) {
        throw new LarderError('INVALID_ARGUMENT', `unknown kind "${kindName}"`, {
          hint: `known kinds: ${knownNames(Object.keys(KINDS))}`,
        })
      }
      const store = await ctx.openStore()
      const json = await store.describe(kind, name)
      ctx.output.out(opts.json ? JSON.stringify(json, null, 2) : stringify(json))
    })
}
