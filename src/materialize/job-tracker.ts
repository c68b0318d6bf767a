import { hostname } from 'node:os'
import { type Abortable, isLarderError, LarderError, nowMicros } from '../core/index.js'
import {
  cutLogLine,
  effectiveStatus,
  isFinal,
  JOB_HEARTBEAT_MS,
  type JobError,
  type JobLogLine,
  type JobProgress,
  type JobRecord,
  type JobStore,
} from '../registry/index.js'

/** `host:pid` of this process, as a job run here names its runner. */
export const THIS_RUNNER = `${hostname()}:${process.pid}`

/**
 * Stamps a cancel request on a stored job; a job whose runner is gone (`lost`) or that no runner took
 * yet and never will (`orphaned`: a queued local job) is marked cancelled at once, since nobody else
 * would. Returns the job as stored after.
 */
export async function cancelStoredJob(
  store: JobStore,
  project: string,
  id: string,
  options: Abortable & { readonly unattended?: (job: JobRecord) => boolean } = {},
): Promise<JobRecord> {
  const job = await store.requestCancel(project, id, options)
  const unattended = effectiveStatus(job, nowMicros()) === 'lost' || (options.unattended?.(job) ?? false)
  if (isFinal(job.status) || !unattended) return job
  const now = nowMicros()
  return store.update(project, id, {
    status: 'cancelled',
    finishedAt: now,
    heartbeatAt: now,
    error: { code: 'ABORTED', message: `job ${id} was cancelled` },
  })
}

/** A job's error as stored: the LarderError code (else INTERNAL) and the message. */
export function jobError(error: unknown): JobError {
  if (isLarderError(error)) return { code: error.code, message: error.message }
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) }
}

/**
 * Runs the bookkeeping of a job executed in this process: marks it running, beats every
 * `JOB_HEARTBEAT_MS` with the latest progress and the buffered log lines, watches for a cancel request
 * (from any process, through the store) and then fires `signal`, and stores the outcome once. A store
 * that fails a beat is retried at the next one; the work goes on meanwhile.
 *
 * @example
 * const tracker = await JobTracker.start(store, job, options.signal)
 * try { tracker.finish({ result: await work(tracker.signal) }) } catch (e) { await tracker.finish({ error: e }) }
 */
export class JobTracker {
  readonly job: JobRecord
  readonly #store: JobStore
  readonly #cancel = new AbortController()
  readonly #signal: AbortSignal
  readonly #timer: NodeJS.Timeout
  #progress: JobProgress | undefined
  #logs: JobLogLine[] = []
  #beating: Promise<void> = Promise.resolve()
  #finished = false

  private constructor(store: JobStore, job: JobRecord, outer: AbortSignal | undefined) {
    this.#store = store
    this.job = job
    this.#signal = outer ? AbortSignal.any([outer, this.#cancel.signal]) : this.#cancel.signal
    this.#timer = setInterval(() => {
      this.#beating = this.#beating.then(() => this.#beat())
    }, JOB_HEARTBEAT_MS)
    this.#timer.unref()
  }

  /** Marks the stored job running (started now, beating) and starts beating. */
  static async start(store: JobStore, job: JobRecord, signal?: AbortSignal): Promise<JobTracker> {
    const now = nowMicros()
    const running = await store.update(job.project, job.id, {
      status: 'running',
      startedAt: now,
      heartbeatAt: now,
    })
    const tracker = new JobTracker(store, running, signal)
    if (running.cancelRequestedAt !== undefined || isFinal(running.status)) tracker.#cancelled()
    return tracker
  }

  /** Fires when the job is cancelled (from any process) or the caller's signal fires. */
  get signal(): AbortSignal {
    return this.#signal
  }

  /** The latest progress; stored at the next beat. */
  progress(progress: JobProgress): void {
    this.#progress = progress
  }

  /** A line for `larder jobs logs`; stored at the next beat. */
  log(level: JobLogLine['level'], message: string): void {
    this.#logs.push(cutLogLine({ at: nowMicros(), level, message }))
  }

  /**
   * Stores the outcome: succeeded with `result`, else cancelled (when a cancel was requested, or the
   * error is ABORTED) or failed, with the error. Stops beating. Returns the stored job.
   */
  async finish(outcome: { readonly result: unknown } | { readonly error: unknown }): Promise<JobRecord> {
    this.#finished = true
    clearInterval(this.#timer)
    await this.#beating
    if ('error' in outcome) {
      const { code, message } = jobError(outcome.error)
      this.log('error', `${code}: ${message}`)
    } else this.log('info', 'succeeded')
    await this.#flushLogs().catch(() => undefined)
    const now = nowMicros()
    if ('result' in outcome) {
      return this.#store.update(this.job.project, this.job.id, {
        status: 'succeeded',
        finishedAt: now,
        heartbeatAt: now,
        result: outcome.result,
        ...(this.#progress ? { progress: this.#progress } : {}),
      })
    }
    const cancelled =
      this.#cancel.signal.aborted || (isLarderError(outcome.error) && outcome.error.code === 'ABORTED')
    return this.#store.update(this.job.project, this.job.id, {
      status: cancelled ? 'cancelled' : 'failed',
      finishedAt: now,
      heartbeatAt: now,
      error: jobError(outcome.error),
      ...(this.#progress ? { progress: this.#progress } : {}),
    })
  }

  async #beat(): Promise<void> {
    if (this.#finished) return
    try {
      await this.#flushLogs()
      const stored = await this.#store.update(this.job.project, this.job.id, {
        heartbeatAt: nowMicros(),
        ...(this.#progress ? { progress: this.#progress } : {}),
      })
      if (stored.cancelRequestedAt !== undefined || isFinal(stored.status)) this.#cancelled()
    } catch {
      // the next beat retries; the job's own work is not held up by its bookkeeping
    }
  }

  async #flushLogs(): Promise<void> {
    if (this.#logs.length === 0) return
    const lines = this.#logs
    this.#logs = []
    try {
      await this.#store.appendLogs(this.job.project, this.job.id, lines)
    } catch (e) {
      this.#logs = [...lines, ...this.#logs]
      throw e
    }
  }

  #cancelled(): void {
    if (!this.#cancel.signal.aborted) {
      this.#cancel.abort(new LarderError('ABORTED', `job ${this.job.id} was cancelled`))
    }
  }
}
