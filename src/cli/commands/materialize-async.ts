import type { Command } from 'commander'
import { LarderError } from '../../core/index.js'
import type { FeatureStore } from '../../feature-store.js'
import type { JobRecord } from '../../registry/index.js'
import type { CommandContext } from '../context.js'

/** The `--async` flag of `materialize` and `materialize-incremental`. */
export interface AsyncOption {
  async?: boolean
  json?: boolean
}

/** Adds `--async` to a materialize command. */
export function asyncOption(command: Command): Command {
  return command.option(
    '--async',
    'hand the job to the workers of batch_engine bullmq, print its id and return without waiting',
  )
}

/**
 * Submits a materialization as a job of the repo's engine and prints its id on stdout (`--json`:
 * `{ job, status, engine }`), with how to follow it on stderr. INVALID_ARGUMENT with an engine that
 * runs jobs in this process (`local`), since the job would end with the command.
 */
export async function submitAsync(
  ctx: CommandContext,
  opts: AsyncOption,
  submit: (store: FeatureStore) => Promise<JobRecord>,
): Promise<void> {
  const store = await ctx.openStore()
  const engine = await store.engine()
  if (!engine.remote) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `--async needs an engine whose jobs outlive this command; project "${store.project}" uses the ${engine.type} engine, which runs the job in this process`,
      {
        hint: 'set batch_engine: { type: bullmq, connection_string: redis://host:6379 } in feature_store.yaml and start larder worker, or drop --async',
      },
    )
  }
  const job = await submit(store)
  if (opts.json) {
    ctx.output.out(JSON.stringify({ job: job.id, status: job.status, engine: job.engine }))
    return
  }
  ctx.output.out(job.id)
  ctx.output.err(
    `submitted job ${job.id} to the ${job.engine} engine; follow it with: larder jobs get ${job.id}`,
  )
}
