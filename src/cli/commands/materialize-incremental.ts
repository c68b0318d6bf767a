import type { Command } from 'commander'
import type { CommandContext } from '../context.js'
import { type MaterializeCommandOptions, materializeOptions, runMaterialize } from './materialize-progress.js'

export function registerMaterializeIncremental(program: Command, ctx: CommandContext): void {
  materializeOptions(
    program
      .command('materialize-incremental')
      .description(
        'load each online view from where its last materialization ended (else END - ttl) up to END',
      )
      .argument('<end>', 'end of the window, inclusive (ISO-8601; no offset means UTC)'),
  ).action(async (end: string, opts: MaterializeCommandOptions) => {
    await runMaterialize(ctx, opts, (store, onProgress) =>
      store.materializeIncremental({ end, views: opts.views }, { onProgress }),
    )
  })
}
