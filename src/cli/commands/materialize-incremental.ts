import type { Command } from 'commander'
import { unloadedViews } from '../../materialize/index.js'
import { instant } from '../arguments.js'
import type { CommandContext } from '../context.js'
import { type AsyncOption, asyncOption, submitAsync } from './materialize-async.js'
import { type MaterializeCommandOptions, materializeOptions, runMaterialize } from './materialize-progress.js'

export function registerMaterializeIncremental(program: Command, ctx: CommandContext): void {
  materializeOptions(
    asyncOption(program.command('materialize-incremental'))
      .description(
        'load each online view from where its last materialization ended (else END - ttl) up to END',
      )
      .argument('<end>', 'end of the window, inclusive (ISO-8601; no offset means UTC)', instant('END')),
  ).action(async (end: string, opts: MaterializeCommandOptions & AsyncOption) => {
    // checked before loading: once the new tail is written, the store is no longer empty
    const unloaded = await unloadedViews(await ctx.openStore(), opts.views)
    for (const u of unloaded) ctx.output.err(`warning: ${u.message}`)
    if (opts.async) {
      return submitAsync(ctx, opts, (store) =>
        store.submitMaterializeIncremental(
          { end, views: opts.views },
          { onWarning: (m) => ctx.output.err(`warning: ${m}`) },
        ),
      )
    }
    await runMaterialize(ctx, opts, (store, onProgress) =>
      store.materializeIncremental(
        { end, views: opts.views },
        { onProgress, onWarning: (m) => ctx.output.err(`warning: ${m}`) },
      ),
    )
  })
}
