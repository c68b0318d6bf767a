import { hostname } from 'node:os'
import type { Command } from 'commander'
import { pino } from 'pino'
import type { CommandContext } from '../context.js'

interface Options {
  views?: string
  consumer?: string
  host: string
  port: string
}

/**
 * `larder stream`: runs the stream processor for the repo's stream feature views (or `--views`),
 * consuming their Redis streams, NATS subjects and Kafka topics in consumer groups shared with every
 * other `larder stream` process. It runs as a job of kind `stream` (`larder jobs`, `GET /jobs`) with
 * the events written as its progress. Logs are JSON lines on stdout, the first `stream ready` with the
 * status URL (`GET /health`, `GET /metrics`) and the job id. On SIGTERM or SIGINT, or when the job is
 * cancelled (`larder jobs cancel ID`), it finishes and acknowledges the batches in hand, then exits 0;
 * a second signal exits at once (unacknowledged events are redelivered).
 */
export function registerStream(program: Command, ctx: CommandContext): void {
  program
    .command('stream')
    .description('consume the stream sources of stream feature views into the online and offline stores')
    .option(
      '--views <names>',
      'comma-separated stream feature views to run (default: every one over a broker)',
    )
    .option(
      '--consumer <name>',
      'this process in the consumer groups; keep it across restarts to resume its own unacknowledged events (default: host-pid)',
    )
    .option('--host <host>', 'interface of the health and metrics routes', '127.0.0.1')
    .option('--port <port>', 'port of the health and metrics routes (0 picks one)', '6574')
    .action(async (opts: Options) => {
      const store = await ctx.openStore()
      const logger = pino(
        { base: { service: 'larder-stream' } },
        { write: (line: string) => ctx.output.out(line) },
      )
      const { StreamServerMetrics, serveStreamStatus } = await import('../../server/stream-status.js')
      const metrics = new StreamServerMetrics()
      const processor = await store.runStreamProcessor({
        views: opts.views
          ?.split(',')
          .map((v) => v.trim())
          .filter((v) => v !== ''),
        member: opts.consumer ?? `${hostname()}-${process.pid}`,
        metrics,
        onLog: ({ level, msg, ...fields }) => logger[level](fields, msg),
      })
      // without its status server the process would run on unwatched: it stops, and its job fails
      const status = await serveStreamStatus(processor, metrics, {
        host: opts.host,
        port: Number(opts.port),
      }).catch(async (error: unknown) => {
        await processor.stop(error)
        throw error
      })
      logger.info({ url: status.url, job: processor.job.id }, 'stream ready')
      const onSignal = (signal: NodeJS.Signals) => {
        if (stopping) {
          logger.warn({ signal }, 'stopping now; unacknowledged events will be redelivered')
          process.exit(130)
        }
        stopping = true
        logger.info({ signal }, 'stopping after the batches in hand')
        void processor.stop()
      }
      let stopping = false
      process.on('SIGTERM', onSignal).on('SIGINT', onSignal)
      try {
        await processor.done
      } finally {
        process.off('SIGTERM', onSignal).off('SIGINT', onSignal)
        await status.close()
      }
    })
}
