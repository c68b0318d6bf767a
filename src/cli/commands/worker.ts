import { type Command, InvalidArgumentError } from 'commander'
import { pino } from 'pino'
import type { CommandContext } from '../context.js'

interface Options {
  concurrency?: number
}

/**
 * `larder worker`: runs the materialization tasks of the `bullmq` batch engine named in the repo's
 * `batch_engine`, with the repo's registry and stores. Logs are JSON lines on stdout, the first one
 * `worker ready`. On SIGTERM or SIGINT it stops taking tasks and lets the running ones finish; a second
 * signal ends it at once (its running tasks are retried elsewhere once their locks expire).
 */
export function registerWorker(program: Command, ctx: CommandContext): void {
  program
    .command('worker')
    .description(
      'run materialization tasks from the BullMQ queue of batch_engine (type bullmq) until stopped',
    )
    .option(
      '--concurrency <n>',
      'tasks this process runs at once (default: batch_engine.concurrency, else 1)',
      positive,
    )
    .action(async (opts: Options) => {
      const store = await ctx.openStore()
      const logger = pino(
        { base: { service: 'larder-worker' } },
        { write: (line: string) => ctx.output.out(line) },
      )
      const { runWorker } = await import('../../materialize/bullmq/index.js')
      const stop = new AbortController()
      const onSignal = (signal: NodeJS.Signals) => {
        if (!stop.signal.aborted) {
          logger.info({ signal }, 'stopping after the running tasks')
          stop.abort()
          return
        }
        logger.warn({ signal }, 'stopping now; running tasks are retried once their locks expire')
        process.exit(130)
      }
      process.on('SIGTERM', onSignal).on('SIGINT', onSignal)
      try {
        await runWorker(store, {
          ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
          signal: stop.signal,
          onLog: ({ level, msg, ...fields }) => logger[level](fields, msg),
        })
      } finally {
        process.off('SIGTERM', onSignal).off('SIGINT', onSignal)
      }
    })
}

function positive(text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('give a positive integer')
  return n
}
