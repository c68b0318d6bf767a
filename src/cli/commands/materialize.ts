import type { Command } from 'commander'
import { instant } from '../arguments.js'
import type { CommandContext } from '../context.js'
import { type AsyncOption, asyncOption, submitAsync } from './materialize-async.js'
import { type MaterializeCommandOptions, materializeOptions, runMaterialize } from './materialize-progress.js'

export function registerMaterialize(program: Command, ctx: CommandContext): void {
  materializeOptions(
    asyncOption(program.command('materialize'))
      .description(
        'load the latest feature values in [START, END] from the offline store into the online store',
      )
      .argument('<start>', 'start of the window, inclusive (ISO-8601; no offset means UTC)', instant('START'))
      .argument('<end>', 'end of the window, inclusive (ISO-8601; no offset means UTC)', instant('END')),
  ).action(async (start: string, end: string, opts: MaterializeCommandOptions & AsyncOption) => {
    if (opts.async) {
      return submitAsync(ctx, opts, (store) =>
        store.submitMaterialize(
          { start, end, views: opts.views },
          { onWarning: (m) => ctx.output.err(`warning: ${m}`) },
        ),
      )
    }
    await runMaterialize(ctx, opts, (store, onProgress) =>
      store.materialize(
        { start, end, views: opts.views },
        { onProgress, onWarning: (m) => ctx.output.err(`warning: ${m}`) },
      ),
    )
  })
}
