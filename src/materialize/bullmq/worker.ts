import { once } from 'node:events'
import type { Job, Queue } from 'bullmq'
import { type Abortable, isLarderError, LarderError, type Micros, nowMicros } from '../../core/index.js'
import type { OfflineStore } from '../../offline/index.js'
import type { OnlineStore } from '../../online/online-store.js'
import { isFinal, type JobRecord } from '../../registry/index.js'
import { jobError } from '../job-tracker.js'
import { loadPiece, newTally, writersFor } from '../load-window.js'
import { viewOutcomeJson } from '../local-engine.js'
import { loadedView, type MaterializeTarget, type ViewMaterialization } from '../materialize.js'
import { recordInterval } from '../record-interval.js'
import { type RunTally, recordRun } from '../record-run.js'
import { bullmqOptions, redactedUrl } from './bullmq-config.js'
import { type BullmqDriver, connect, loadDriver } from './bullmq-driver.js'
import {
  errorOfReason,
  type FinishData,
  reasonOf,
  stopFlow,
  type TaskData,
  type TaskTally,
  type ViewData,
} from './flow.js'
import { RedisJobStore } from './redis-job-store.js'

/** The engine name runs of this engine are recorded under. */
export const BULLMQ_ENGINE = 'bullmq'

/** A structured log line of a worker: a level, a message and its fields. */
export interface WorkerLogEntry {
  readonly level: 'info' | 'warn' | 'error'
  readonly msg: string
  readonly [field: string]: unknown
}

export interface WorkerOptions extends Abortable {
  /** Tasks this process runs at once; default `batch_engine.concurrency`. */
  readonly concurrency?: number
  /** Where log lines go (`larder worker` prints them as JSON lines); default nowhere. */
  readonly onLog?: (entry: WorkerLogEntry) => void
}

/** A view's outcome as its flow job returns it: with its place in the job. */
interface ViewOutcome extends ViewMaterialization {
  readonly index: number
}

/** Errors a retry cannot fix: the task fails at once. */
const UNRETRIED: ReadonlySet<string> = new Set([
  'ABORTED',
  'INVALID_ARGUMENT',
  'INVALID_CONFIG',
  'INVALID_DEFINITION',
  'NOT_FOUND',
  'UNSUPPORTED',
])

/** How often a task stores its progress (it checks for a cancel at every batch). */
const REPORT_MS = 500

/** What the processors share. */
interface WorkerContext {
  readonly target: MaterializeTarget
  readonly driver: BullmqDriver
  readonly jobs: RedisJobStore
  readonly queue: Queue
  readonly offline: OfflineStore
  readonly online: OnlineStore
  readonly log: (level: WorkerLogEntry['level'], msg: string, fields?: Record<string, unknown>) => void
}

/**
 * Runs the tasks of the `bullmq` engine's queue (see `batch_engine` in the repo's config) until
 * `options.signal` fires, then stops taking tasks, lets the running ones finish, and resolves. Tasks
 * read the view from the registry and load their piece from `target`'s offline store into its online
 * store (newer-wins writes, so a retried or duplicated task is harmless); a view's job records the
 * interval and the run once every task of the view succeeded; the root job stores the job succeeded.
 * A task that fails for good fails the job with its error and removes the flow's waiting tasks; a
 * worker killed mid-task loses nothing, since the task is retried once its lock expires
 * (`lock_duration_ms`).
 *
 * INVALID_CONFIG when the repo's engine is not bullmq; BACKEND_UNAVAILABLE when Redis does not answer.
 *
 * @example await runWorker(await FeatureStore.open('.'), { concurrency: 2, signal })
 */
export async function runWorker(target: MaterializeTarget, options: WorkerOptions = {}): Promise<void> {
  const settings = bullmqOptions(target.config)
  const concurrency = options.concurrency ?? settings.concurrency
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    const hint = 'give --concurrency 1 or more'
    throw new LarderError(
      'INVALID_ARGUMENT',
      `worker concurrency must be a positive integer, got ${concurrency}`,
      {
        hint,
      },
    )
  }
  const log: WorkerContext['log'] = (level, msg, fields = {}) => options.onLog?.({ level, msg, ...fields })
  const driver = await loadDriver()
  const jobsRedis = await connect(driver, settings, 'larder-worker-jobs')
  const queueRedis = await connect(driver, settings, 'larder-worker-queue').catch((e) => {
    jobsRedis.disconnect()
    throw e
  })
  const queue = new driver.bullmq.Queue(settings.queue, { connection: queueRedis, prefix: settings.prefix })
  queue.on('error', () => {})
  try {
    const ctx: WorkerContext = {
      target,
      driver,
      jobs: new RedisJobStore(jobsRedis, settings.prefix, redactedUrl(settings.connection_string)),
      queue,
      offline: await target.offline(),
      online: await target.online(options),
      log,
    }
    const worker = new driver.bullmq.Worker(settings.queue, (job: Job) => dispatch(ctx, job), {
      connection: queueRedis,
      prefix: settings.prefix,
      concurrency,
      lockDuration: settings.lock_duration_ms,
      stalledInterval: settings.lock_duration_ms,
      maxStalledCount: settings.max_attempts,
      autorun: false,
    })
    worker.on('error', (e) => log('warn', 'queue error; retrying', { error: e.message }))
    worker.on('stalled', (id) =>
      log('warn', 'a task stalled (its worker stopped renewing its lock); it runs again', { bullmqJob: id }),
    )
    worker.on('failed', (job, e) =>
      log('warn', `${job?.name ?? 'job'} failed`, {
        job: (job?.data as { job?: string } | undefined)?.job,
        bullmqJob: job?.id,
        attempt: job?.attemptsMade,
        error: e.message,
      }),
    )
    let running: Promise<void> = Promise.resolve()
    try {
      // Ready is said before the first task is taken, so it is the worker's first log line.
      await worker.waitUntilReady()
      log('info', 'worker ready', {
        project: target.config.project,
        queue: settings.queue,
        redis: redactedUrl(settings.connection_string),
        concurrency,
      })
      running = worker.run()
      running.catch(() => undefined)
      if (options.signal && !options.signal.aborted) await once(options.signal, 'abort')
      log('info', 'worker stopping: running tasks finish first')
    } finally {
      await worker.close()
    }
    await running
    log('info', 'worker stopped')
  } finally {
    await queue.close().catch(() => undefined)
    await Promise.allSettled([jobsRedis.quit(), queueRedis.quit()])
  }
}

/** Runs a job of the flow by its name; one of another project, or unknown, fails without retry. */
function dispatch(ctx: WorkerContext, job: Job): Promise<unknown> {
  const data = job.data as { project?: string; job?: string }
  const project = ctx.target.config.project
  const process = PROCESSORS[job.name]
  if (data.project !== project) {
    const error = new LarderError(
      'INVALID_CONFIG',
      `a ${job.name} of job ${data.job} of project "${data.project}" reached a worker of project "${project}"`,
      { hint: 'give each project its own queue (batch_engine.queue)' },
    )
    return Promise.reject(unretried(ctx, error))
  }
  if (!process) {
    const error = new LarderError(
      'INVALID_ARGUMENT',
      `BullMQ job "${job.name}" is not a job of this Larder version`,
    )
    return Promise.reject(unretried(ctx, error))
  }
  return process(ctx, job)
}

/** What runs each job of a flow, by its BullMQ name. */
const PROCESSORS: Readonly<Record<string, (ctx: WorkerContext, job: Job) => Promise<unknown>>> = {
  task: (ctx, job) => runTask(ctx, job),
  view: (ctx, job) => finishView(ctx, job),
  finish: (ctx, job) => finishJob(ctx, job),
}

/** Loads one task's piece, watching for a cancel at every batch; returns its tally. */
async function runTask(ctx: WorkerContext, job: Job): Promise<TaskTally> {
  const d = job.data as TaskData
  const tally = newTally()
  const watch = new TaskWatch(ctx.jobs, d)
  try {
    const stored = await ctx.jobs.start(d.project, d.job, nowMicros())
    if (stopped(stored)) throw stoppedError(stored)
    ctx.log('info', 'task started', { job: d.job, view: d.view, task: d.task, attempt: job.attemptsMade + 1 })
    const catalog = (await ctx.target.registry.load({ allowCache: false })).catalog(d.project)
    const view = loadedView(catalog, d.view) ?? catalog.featureView(d.view)
    await loadPiece(
      ctx.target,
      ctx.offline,
      ctx.online,
      { view, start: d.start, end: d.end, ...(d.part ? { part: d.part } : {}) },
      await writersFor(ctx.target, view),
      tally,
      {
        batchSize: d.batchSize,
        signal: watch.signal,
        onBatch: (t) => watch.batch(t.rows),
        // every task counts its piece, so a detached job shows rows done/total too
        onRowCount: (n: number) => watch.counted(n),
      },
    )
    await watch.done(tally.rows)
  } catch (e) {
    const error = watch.stoppedBy ?? e
    throw isLarderError(error) && UNRETRIED.has(error.code)
      ? unretried(ctx, error)
      : new Error(reasonOf(error))
  } finally {
    watch.close()
  }
  ctx.log('info', 'task done', { job: d.job, view: d.view, task: d.task, rows: tally.rows })
  return {
    rows: tally.rows,
    written: tally.written,
    skipped: tally.skipped,
    newestEvent: tally.newestEvent ?? null,
    startedAt: tally.startedAt,
    finishedAt: nowMicros(),
  }
}

/**
 * Runs once every task of a view succeeded, or as soon as one failed for good: records the view's
 * interval and run, or fails the job (with the task's error, or as cancelled) and records a failed run.
 * The interval is recorded only when the view began recording before any cancel request
 * (`beginRecording`, atomic with the request): a cancel that comes first records nothing; one that
 * comes after no longer stops this view, whose job then ends succeeded if every view recorded.
 */
async function finishView(ctx: WorkerContext, job: Job): Promise<ViewOutcome> {
  const d = job.data as ViewData
  const window = { view: { name: d.view }, start: d.start, end: d.end }
  const tallies = Object.values((await job.getChildrenValues<TaskTally>()) ?? {})
  const tally = sumTallies(tallies)
  const failures = Object.values(await job.getIgnoredChildrenFailures())
  const stored = await ctx.jobs.get(d.project, d.job)
  const problem =
    failures.length > 0
      ? errorOfReason(failures[0]!)
      : stopped(stored)
        ? stoppedError(stored)
        : tallies.length < d.tasks
          ? new LarderError(
              'INTERNAL',
              `feature view "${d.view}" of job ${d.job}: ${tallies.length} of ${d.tasks} tasks finished`,
            )
          : undefined
  if (problem) return giveUp(ctx, job, problem, () => recordViewRun(ctx, window, tally, problem))
  // a cancel that got in since the read above wins; once recording began, a cancel no longer stops it
  let refusedBy: JobRecord | undefined
  try {
    const begun = await ctx.jobs.beginRecording(d.project, d.job, d.view)
    if (begun.recording) await recordInterval(ctx.target.registry, d.project, d.view, d)
    else refusedBy = begun.job
  } catch (e) {
    if (!lastAttempt(job, e)) throw new Error(reasonOf(e))
    return giveUp(ctx, job, e, () => recordViewRun(ctx, window, tally, e))
  }
  if (refusedBy) {
    const error = stoppedError(refusedBy)
    return giveUp(ctx, job, error, () => recordViewRun(ctx, window, tally, error))
  }
  // the interval is in: nothing after it may fail the view, whose retry would record it again
  await recordViewRun(ctx, window, tally, undefined)
  const message = `feature view "${d.view}": ${tally.rows} rows from ${d.tasks} tasks, ${tally.written} written, ${tally.skipped} skipped as older`
  await ctx.jobs
    .appendLogs(d.project, d.job, [{ at: nowMicros(), level: 'info', message }])
    .catch((e: unknown) => ctx.log('warn', 'a job log line was not stored', { job: d.job, error: String(e) }))
  ctx.log('info', 'view recorded', { job: d.job, view: d.view, rows: tally.rows })
  return {
    index: d.index,
    view: d.view,
    start: d.start,
    end: d.end,
    rows: tally.rows,
    written: tally.written,
    skipped: tally.skipped,
    seconds: (nowMicros() - tally.startedAt) / 1_000_000,
  }
}

/** Runs once every view recorded its interval: stores the job succeeded with the views' outcomes. */
async function finishJob(ctx: WorkerContext, job: Job): Promise<void> {
  const d = job.data as FinishData
  const outcomes = Object.values((await job.getChildrenValues<ViewOutcome>()) ?? {}).sort(
    (a, b) => a.index - b.index,
  )
  if (outcomes.length < d.views.length) {
    const problem = new LarderError(
      'INTERNAL',
      `job ${d.job}: ${outcomes.length} of ${d.views.length} feature views finished`,
    )
    return giveUp(ctx, job, problem, async () => {})
  }
  try {
    const now = nowMicros()
    await ctx.jobs.appendLogs(d.project, d.job, [{ at: now, level: 'info', message: 'succeeded' }])
    await ctx.jobs.update(d.project, d.job, {
      status: 'succeeded',
      finishedAt: now,
      heartbeatAt: now,
      result: { views: outcomes.map(({ index: _, ...v }) => viewOutcomeJson(v)) },
    })
  } catch (e) {
    if (!lastAttempt(job, e)) throw new Error(reasonOf(e))
    return giveUp(ctx, job, e, async () => {})
  }
  ctx.log('info', 'job succeeded', { job: d.job, views: outcomes.length })
}

/**
 * Stores the job failed (cancelled when a cancel was asked for, or the error is ABORTED) with
 * `error`, after `record`; removes the flow's waiting tasks; and throws, without a retry.
 */
async function giveUp(
  ctx: WorkerContext,
  job: Job,
  error: unknown,
  record: () => Promise<unknown>,
): Promise<never> {
  const d = job.data as { project: string; job: string }
  const { code, message } = jobError(error)
  await record()
  const stored = await ctx.jobs.get(d.project, d.job)
  if (!isFinal(stored.status)) {
    const now = nowMicros()
    await ctx.jobs.appendLogs(d.project, d.job, [{ at: now, level: 'error', message: `${code}: ${message}` }])
    const cancelled = stored.cancelRequestedAt !== undefined || code === 'ABORTED'
    await ctx.jobs.update(d.project, d.job, {
      status: cancelled ? 'cancelled' : 'failed',
      finishedAt: now,
      heartbeatAt: now,
      error: { code, message },
    })
    ctx.log('error', cancelled ? 'job cancelled' : 'job failed', { job: d.job, error: `${code}: ${message}` })
  }
  await stopFlow(ctx.driver.bullmq, ctx.queue, d.job)
  throw new ctx.driver.bullmq.UnrecoverableError(`${code}: ${message}`)
}

/** Whether the job will not be tried again after this attempt fails with `error`. */
function lastAttempt(job: Job, error: unknown): boolean {
  return (
    (isLarderError(error) && UNRETRIED.has(error.code)) || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)
  )
}

/** BullMQ's error for a task that must not be retried, carrying `CODE: message`. */
function unretried(ctx: WorkerContext, error: LarderError): Error {
  return new ctx.driver.bullmq.UnrecoverableError(reasonOf(error))
}

function stopped(job: JobRecord): boolean {
  return job.cancelRequestedAt !== undefined || isFinal(job.status)
}

/** Why a job's remaining work stops: it was cancelled, or it finished (failed) meanwhile. */
function stoppedError(job: JobRecord): LarderError {
  return job.cancelRequestedAt !== undefined
    ? new LarderError('ABORTED', `job ${job.id} was cancelled`)
    : new LarderError('ABORTED', `job ${job.id} stopped: it ${job.status}`, {
        details: { cause: job.error },
      })
}

/** The tasks' tallies of one view, summed as one run (started when its first task started). */
function sumTallies(tallies: readonly TaskTally[]): RunTally {
  const now = nowMicros()
  const startedAt = tallies.reduce((t, x) => Math.min(t, x.startedAt), now)
  const newest = tallies.flatMap((x) => (x.newestEvent === null ? [] : [x.newestEvent]))
  return {
    startedAt,
    started: performance.now() - (now - startedAt) / 1000,
    rows: tallies.reduce((n, x) => n + x.rows, 0),
    written: tallies.reduce((n, x) => n + x.written, 0),
    skipped: tallies.reduce((n, x) => n + x.skipped, 0),
    newestEvent: newest.length > 0 ? Math.max(...newest) : undefined,
  }
}

function recordViewRun(
  ctx: WorkerContext,
  window: { readonly view: { readonly name: string }; readonly start: Micros; readonly end: Micros },
  tally: RunTally,
  error: unknown,
): Promise<unknown> {
  return recordRun(
    ctx.target,
    window,
    tally,
    error,
    { onWarning: (message) => ctx.log('warn', message) },
    BULLMQ_ENGINE,
  )
}

/**
 * A running task's bookkeeping: stores its progress (with its piece's row count) at its first batch
 * and every {@link REPORT_MS} after (beating the job's heartbeat), reads the job at the batches in
 * between, and fires `signal` once the job was cancelled or finished, so the task stops at its next
 * batch boundary. A failed read or write is retried at a later batch.
 */
class TaskWatch {
  readonly #jobs: RedisJobStore
  readonly #task: TaskData
  readonly #abort = new AbortController()
  #reading: Promise<void> | undefined
  #closed = false
  #reportedAt = 0
  #rows = 0
  #rowsTotal: number | undefined
  #stoppedBy: LarderError | undefined

  constructor(jobs: RedisJobStore, task: TaskData) {
    this.#jobs = jobs
    this.#task = task
  }

  /** Fires when the job was cancelled or finished. */
  get signal(): AbortSignal {
    return this.#abort.signal
  }

  /** Why the task was stopped, once it was. */
  get stoppedBy(): LarderError | undefined {
    return this.#stoppedBy
  }

  /**
   * After a batch written: `rows` so far. Every {@link REPORT_MS} stores the progress and waits for
   * it, which also gives a task whose writes never wait on I/O (SQLite) a turn of the event loop for
   * its lock renewals and reads; in between, reads the job without waiting (one read at a time).
   */
  async batch(rows: number): Promise<void> {
    this.#rows = rows
    if (this.#closed || this.#stoppedBy) return
    if (performance.now() - this.#reportedAt >= REPORT_MS) {
      this.#reportedAt = performance.now()
      await this.#reading
      await this.#report(false).then(
        (job) => this.#check(job),
        () => undefined,
      )
    } else if (this.#reading === undefined) {
      this.#reading = this.#jobs
        .get(this.#task.project, this.#task.job)
        .then(
          (job) => this.#check(job),
          () => undefined,
        )
        .finally(() => {
          this.#reading = undefined
        })
    }
  }

  /** The piece's row count, sent with the next report. */
  counted(rows: number): void {
    this.#rowsTotal = rows
  }

  /** Reports the task done with its `rows`. */
  async done(rows: number): Promise<void> {
    this.#rows = rows
    await this.#report(true)
  }

  close(): void {
    this.#closed = true
  }

  #report(done: boolean): Promise<JobRecord> {
    const { project, job, view, task } = this.#task
    return this.#jobs.reportTask(project, job, {
      view,
      task,
      rows: this.#rows,
      done,
      ...(this.#rowsTotal === undefined ? {} : { rowsTotal: this.#rowsTotal }),
    })
  }

  #check(job: JobRecord): void {
    if (!stopped(job) || this.#stoppedBy) return
    this.#stoppedBy = stoppedError(job)
    this.#abort.abort(this.#stoppedBy)
  }
}
