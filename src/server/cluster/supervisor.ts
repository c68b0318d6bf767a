import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'
import { AggregatorRegistry } from 'prom-client'
import { countOf, LarderError, type LarderErrorCode } from '../../core/index.js'
import type { Registry } from '../../registry/index.js'
import { isLarderMessage, type PrimaryMessage, type WorkerListening, type WorkerMessage } from './messages.js'

export interface SupervisorOptions {
  /** How many workers to run (>= 1). */
  readonly workers: number
  /** Where the primary's JSON log lines go (worker starts, exits, replacements, registry changes). */
  readonly logger: Logger
  /**
   * The registry the workers serve: the primary alone checks it for a new version every
   * `registryRefreshSeconds` and tells every worker to reload when it changed.
   */
  readonly registry: Registry
  readonly registryRefreshSeconds: number
  /** How long `stop()` waits for workers to finish in-flight requests before killing them (default 15 s). */
  readonly stopTimeoutMs?: number
}

/** A worker that listens. */
export interface RunningWorker {
  readonly id: number
  readonly pid: number
}

/** The primary of a cluster of feature servers. */
export interface Supervisor {
  /**
   * Resolves once every worker listens, with what the first one said about itself; rejects with the
   * error of the first worker that could not start (then every worker has been stopped).
   */
  readonly ready: Promise<{ listening: WorkerListening; workers: RunningWorker[] }>
  /** Asks every worker to drain and stop, and waits for each to exit (SIGKILL after the timeout). */
  stop(): Promise<void>
}

/** A worker that exits within this time of its start counts toward a crash loop. */
const STABLE_MS = 10_000
const FIRST_BACKOFF_MS = 500
const MAX_BACKOFF_MS = 30_000

/**
 * Forks `workers` processes of the running script with its arguments (each runs the feature server
 * and listens on ports the primary shares among them), and keeps that many alive: a worker that
 * exits is replaced at once, or after a backoff (0.5 s doubling to 30 s) while workers keep exiting
 * within 10 s of their start. A worker that fails before every worker first listened ends the
 * cluster instead (a port in use would fail every worker alike). The primary also answers the
 * workers' requests for the metrics of the whole cluster (prom-client's `AggregatorRegistry`), and is
 * the one process that polls the registry for a new version. Call only in the cluster's primary.
 *
 * @example
 * const cluster = superviseWorkers({ workers: 2, logger, registry: store.registry, registryRefreshSeconds: 60 })
 * await cluster.ready
 * process.once('SIGTERM', () => cluster.stop())
 */
export function superviseWorkers(options: SupervisorOptions): Supervisor {
  const { logger } = options
  const asking = new Map<number, Asking>()
  let nextAsk = 0
  const started = new Map<Worker, number>()
  const listening = new Map<Worker, WorkerListening>()
  const restarts = new Set<NodeJS.Timeout>()
  let streak = 0
  let stopping = false
  let allReady = false
  let settleReady: { resolve(v: Awaited<Supervisor['ready']>): void; reject(e: unknown): void }
  const ready = new Promise<Awaited<Supervisor['ready']>>((resolve, reject) => {
    settleReady = { resolve, reject }
  })
  // a rejection nobody awaits yet must not end the process; `ready`'s reader sees it
  ready.catch(() => undefined)

  const running = (): RunningWorker[] =>
    [...listening.keys()].map((w) => ({ id: w.id, pid: w.process.pid ?? 0 }))

  const failStartup = (error: LarderError) => {
    if (allReady || stopping) return
    settleReady.reject(error)
    void supervisor.stop()
  }

  const fork = () => {
    const worker = cluster.fork()
    started.set(worker, Date.now())
    logger.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker started')
    worker.on('message', (message: unknown) => {
      if (!isLarderMessage<WorkerMessage>(message)) return
      if (message.larder === 'ready') {
        listening.set(worker, message.listening)
        if (!allReady && listening.size === options.workers) {
          allReady = true
          settleReady.resolve({ listening: message.listening, workers: running() })
        } else if (allReady) {
          logger.info({ worker: worker.id, workerPid: worker.process.pid }, 'replacement worker listening')
        }
      } else if (message.larder === 'failed') {
        logger.error(
          { worker: worker.id, workerPid: worker.process.pid, err: message.error },
          'worker could not start',
        )
        const { code, message: text, hint } = message.error
        failStartup(new LarderError((code as LarderErrorCode | undefined) ?? 'INTERNAL', text, { hint }))
      } else if (message.larder === 'metrics' || message.larder === 'refresh') {
        const { id } = message
        const answer = message.larder === 'metrics' ? gather() : poll().then(() => undefined)
        answer.then(
          (text) => send(worker, { larder: 'answer', id, text }),
          (err: Error) => send(worker, { larder: 'answer', id, error: err.message }),
        )
      } else if (message.larder === 'reply') {
        asking.get(message.id)?.reply(worker, message.value)
      }
    })
    worker.on('exit', (code, signal) => {
      const lived = Date.now() - (started.get(worker) ?? 0)
      started.delete(worker)
      listening.delete(worker)
      for (const a of asking.values()) a.reply(worker, undefined)
      const exit = { worker: worker.id, workerPid: worker.process.pid, code, signal }
      if (stopping) {
        logger.info(exit, 'worker stopped')
        return
      }
      if (!allReady) {
        logger.error(exit, 'worker exited before it listened')
        failStartup(
          new LarderError(
            'INTERNAL',
            `worker ${worker.id} of larder serve exited (${signal ?? `code ${code}`}) before it listened`,
            { hint: 'run larder serve --workers 1 to see the error of a single process' },
          ),
        )
        return
      }
      streak = lived < STABLE_MS ? streak + 1 : 0
      const delayMs = streak === 0 ? 0 : Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (streak - 1))
      logger.warn({ ...exit, restartInMs: delayMs }, 'worker exited; replacing it')
      const timer = setTimeout(() => {
        restarts.delete(timer)
        if (!stopping) fork()
      }, delayMs)
      restarts.add(timer)
    })
  }

  /**
   * Sends `message(id)` to every listening worker and resolves with their replies (a worker that exits
   * meanwhile is left out); rejects when one does not reply within 5 s.
   */
  const askWorkers = (message: (id: number) => PrimaryMessage, what: string): Promise<unknown[]> => {
    const id = nextAsk++
    const asked = new Set(listening.keys())
    const replies: unknown[] = []
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        asking.delete(id)
        reject(new Error(`${countOf(asked.size, 'worker')} did not ${what} within 5 s`))
      }, 5000)
      const finish = () => {
        if (asked.size > 0) return
        clearTimeout(timer)
        asking.delete(id)
        resolve(replies)
      }
      asking.set(id, {
        reply(worker, value) {
          if (!asked.delete(worker)) return
          if (value !== undefined) replies.push(value)
          finish()
        },
      })
      for (const w of asked) send(w, message(id))
      finish()
    })
  }

  /**
   * The Prometheus text of every listening worker's metrics, aggregated as prom-client does for a
   * cluster (counters and histograms summed, each metric by its `aggregator`).
   */
  const gather = async (): Promise<string> => {
    const metrics = await askWorkers((id) => ({ larder: 'collect', id }), 'send their metrics')
    return AggregatorRegistry.aggregate(
      metrics as Parameters<typeof AggregatorRegistry.aggregate>[0],
    ).metrics()
  }

  let version: string | undefined
  /** The check running now, and the one asked for meanwhile (the running one may miss a newer commit). */
  let checking: Promise<void> | undefined
  let queued: Promise<void> | undefined
  /** Checks the registry; when it changed, resolves once every listening worker reloaded it. */
  const check = async () => {
    try {
      const state = await options.registry.load({ revalidate: true })
      if (version !== undefined && state.version !== version) {
        version = state.version
        logger.info({ version }, 'registry changed; workers reload it')
        await askWorkers((id) => ({ larder: 'reload', id, version: state.version }), 'reload the registry')
      }
      version = state.version
    } catch (err) {
      logger.warn({ err }, 'registry check failed; workers keep serving the registry they have')
    }
  }
  const poll = (): Promise<void> => {
    if (!checking) {
      checking = check().finally(() => {
        checking = undefined
      })
      return checking
    }
    queued ??= checking.then(() => {
      queued = undefined
      return poll()
    })
    return queued
  }
  void poll()
  const pollTimer = setInterval(() => void poll(), Math.max(1, options.registryRefreshSeconds) * 1000)
  pollTimer.unref()

  let stopped: Promise<void> | undefined
  const supervisor: Supervisor = {
    ready,
    stop() {
      stopped ??= (async () => {
        stopping = true
        clearInterval(pollTimer)
        for (const timer of restarts) clearTimeout(timer)
        const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined)
        await Promise.all(
          workers.map((w) => stopWorker(w, listening.has(w), options.stopTimeoutMs ?? 15_000)),
        )
      })()
      return stopped
    },
  }
  for (let i = 0; i < options.workers; i++) fork()
  return supervisor
}

/** A question to the workers awaiting replies; `value` undefined when the worker exited or replied without one. */
interface Asking {
  reply(worker: Worker, value: unknown): void
}

function send(worker: Worker, message: PrimaryMessage): void {
  if (worker.isConnected()) worker.send(message)
}

/**
 * Asks a listening worker to drain and stop (by IPC: it may have had SIGINT from the terminal already,
 * and a second signal ends a process at once), or sends SIGTERM to one still starting; then SIGKILL
 * after `timeoutMs`. Settles once the worker exited.
 */
function stopWorker(worker: Worker, isListening: boolean, timeoutMs: number): Promise<void> {
  if (worker.isDead()) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => worker.process.kill('SIGKILL'), timeoutMs)
    worker.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    if (isListening) send(worker, { larder: 'stop' })
    else worker.process.kill('SIGTERM')
  })
}
