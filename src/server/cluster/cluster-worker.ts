import cluster from 'node:cluster'
import type { Logger } from 'pino'
import { isLarderError, LarderError } from '../../core/index.js'
import type { BackgroundRegistry } from '../background-registry.js'
import type { ServerMetrics } from '../metrics.js'
import { isLarderMessage, type PrimaryMessage, type WorkerListening, type WorkerMessage } from './messages.js'

export interface ClusterWorkerOptions {
  readonly metrics: ServerMetrics
  /** The server's registry: reloaded when the primary says the registry changed. */
  readonly registry: BackgroundRegistry
  readonly logger: Logger
}

/** A worker's side of the cluster (see `superviseWorkers`). */
export interface ClusterWorker {
  /** Tells the primary this worker listens. */
  ready(listening: WorkerListening): void
  /** Resolves when the primary asks this worker to drain and stop. */
  readonly stopRequested: Promise<void>
  /** Closes the IPC channel, so the worker's process can end once its work is done. */
  leave(): void
}

/**
 * Joins the cluster of `larder serve --workers N` from a worker: `metrics` render the metrics of
 * every worker (gathered and summed by the primary), this worker answers the primary's requests for
 * its own, and reloads `registry` when the primary found a new version; a `refresh()` of `registry`
 * asked of this worker makes the primary check the registry for every worker. Call only in a cluster
 * worker (`cluster.isWorker`), once.
 */
export function joinCluster(options: ClusterWorkerOptions): ClusterWorker {
  let requestStop: () => void = () => undefined
  const stopRequested = new Promise<void>((resolve) => {
    requestStop = resolve
  })
  const pending = new Map<number, { resolve(text: string | undefined): void; reject(e: unknown): void }>()
  let nextId = 0
  const send = (message: WorkerMessage) => {
    if (!process.connected || !process.send) return false
    process.send(message)
    return true
  }
  /** Sends a request to the primary and resolves with its answer's text. */
  const ask = (larder: 'metrics' | 'refresh', what: string) =>
    new Promise<string | undefined>((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve, reject })
      if (!send({ larder, id })) {
        pending.delete(id)
        reject(clusterError(what, 'the primary is gone'))
      }
    })
  // A refresh asked of this worker (`POST /registry/refresh`) goes through the primary, which checks
  // the registry and has every worker reload a new version before this one answers; reloads the
  // primary asks for are not passed back.
  const registry = options.registry
  const reload = registry.refresh.bind(registry)
  registry.refresh = async (opts) => {
    const state = await reload(opts)
    await ask('refresh', 'the reload of the registry in every worker')
    return state
  }
  process.on('message', (message: unknown) => {
    if (!isLarderMessage<PrimaryMessage>(message)) return
    if (message.larder === 'collect') {
      const { id } = message
      options.metrics.registry.getMetricsAsJSON().then(
        (metrics) => send({ larder: 'reply', id, value: metrics }),
        (err: unknown) => {
          options.logger.warn({ err }, 'metrics of this worker could not be collected')
          send({ larder: 'reply', id, value: [] })
        },
      )
    } else if (message.larder === 'reload') {
      const { id } = message
      reload()
        .catch((err: unknown) =>
          options.logger.warn({ err }, 'registry reload failed; serving the previous registry'),
        )
        .finally(() => send({ larder: 'reply', id }))
    } else if (message.larder === 'answer') {
      const request = pending.get(message.id)
      pending.delete(message.id)
      if (message.error === undefined) request?.resolve(message.text)
      else request?.reject(clusterError('an answer of the primary', message.error))
    } else if (message.larder === 'stop') {
      requestStop()
    }
  })
  options.metrics.aggregateWith(
    async () => (await ask('metrics', "the metrics of the cluster's workers")) ?? '',
  )
  return {
    ready: (listening) => void send({ larder: 'ready', listening }),
    stopRequested,
    leave,
  }
}

/**
 * Tells the primary why this worker could not start (the primary reports it once, for the cluster)
 * and closes the IPC channel once the message is sent, so the worker's process can end.
 */
export function reportWorkerFailure(error: unknown): Promise<void> {
  const message: WorkerMessage = {
    larder: 'failed',
    error: {
      code: isLarderError(error) ? error.code : undefined,
      message: error instanceof Error ? error.message : String(error),
      hint: isLarderError(error) ? error.hint : undefined,
    },
  }
  return new Promise((resolve) => {
    if (!process.connected || !process.send) return resolve()
    process.send(message, undefined, {}, () => {
      leave()
      resolve()
    })
  })
}

/**
 * Disconnects from the primary as a worker that is done: the primary sees it leave on purpose (a
 * worker whose channel closes otherwise exits at once, as Node's cluster does when its primary dies).
 */
function leave(): void {
  if (cluster.worker?.isConnected()) cluster.worker.disconnect()
}

function clusterError(what: string, reason: string): LarderError {
  return new LarderError('BACKEND_UNAVAILABLE', `${what} is unavailable: ${reason}`, {
    hint: 'retry; the primary of larder serve asks every worker, and replaces a worker that died',
    details: { backend: 'the cluster of larder serve' },
  })
}
