import { setTimeout as sleep } from 'node:timers/promises'
import type { FlowProducer, Queue } from 'bullmq'
import type { RepoConfig } from '../../config/index.js'
import {
  type Abortable,
  isLarderError,
  LarderError,
  type LarderErrorCode,
  nowMicros,
  toMicros,
} from '../../core/index.js'
import { isFinal, type JobProgress, type JobRecord } from '../../registry/index.js'
import type { BatchEngine, EngineRunOptions, ViewWindow } from '../engine.js'
import { cancelStoredJob, jobError } from '../job-tracker.js'
import {
  type MaterializeProgress,
  type MaterializeResult,
  type MaterializeTarget,
  materializeBatchSize,
  type ViewMaterialization,
} from '../materialize.js'
import { type BullmqOptions, bullmqOptions, redactedUrl } from './bullmq-config.js'
import { type BullmqDriver, connect, loadDriver, type RedisConnection, unavailable } from './bullmq-driver.js'
import { flowIds, jobFlow, stopFlow } from './flow.js'
import { RedisJobStore } from './redis-job-store.js'
import { planTasks, type ViewPlan } from './task-plan.js'

/** How often a caller waiting for a job reads it. */
const POLL_MS = 300

/**
 * The engine that runs materialization on a BullMQ queue: each view's window is split into tasks
 * (time slices x entity-key parts, see `planTasks`), enqueued as one flow (see `jobFlow`) that
 * `larder worker` processes run. Jobs are kept in Redis beside the queue ({@link RedisJobStore}), so a
 * job outlives the process that submitted it: it goes on on the workers, and any process with the same
 * `batch_engine` can follow or cancel it.
 */
export class BullmqEngine implements BatchEngine {
  readonly type = 'bullmq'
  readonly remote = true
  readonly jobs: RedisJobStore
  readonly #driver: BullmqDriver
  readonly #options: BullmqOptions
  readonly #connections: readonly RedisConnection[]
  readonly #queue: Queue
  readonly #flows: FlowProducer

  private constructor(
    driver: BullmqDriver,
    options: BullmqOptions,
    jobsRedis: RedisConnection,
    queueRedis: RedisConnection,
  ) {
    this.#driver = driver
    this.#options = options
    this.#connections = [jobsRedis, queueRedis]
    this.jobs = new RedisJobStore(jobsRedis, options.prefix, redactedUrl(options.connection_string))
    const queueOptions = { connection: queueRedis, prefix: options.prefix }
    this.#queue = new driver.bullmq.Queue(options.queue, queueOptions)
    this.#flows = new driver.bullmq.FlowProducer(queueOptions)
    // connection trouble is reported by the calls that meet it
    this.#queue.on('error', () => {})
    this.#flows.on('error', () => {})
  }

  /**
   * The engine of `config`'s `batch_engine` (type bullmq), connected: INVALID_CONFIG for bad options,
   * MISSING_DEPENDENCY without `bullmq`/`ioredis`, BACKEND_UNAVAILABLE when Redis does not answer.
   */
  static async open(config: RepoConfig): Promise<BullmqEngine> {
    const options = bullmqOptions(config)
    const driver = await loadDriver()
    const jobsRedis = await connect(driver, options, 'larder-jobs')
    try {
      const queueRedis = await connect(driver, options, 'larder-queue')
      return new BullmqEngine(driver, options, jobsRedis, queueRedis)
    } catch (e) {
      jobsRedis.disconnect()
      throw e
    }
  }

  async run(
    target: MaterializeTarget,
    job: JobRecord,
    windows: readonly ViewWindow[],
    options: EngineRunOptions,
  ): Promise<MaterializeResult | undefined> {
    const batchSize = materializeBatchSize(target, options)
    const plan = planTasks(windows, {
      partitions: this.#options.partitions,
      sliceSeconds: this.#options.slice,
    })
    try {
      await this.jobs.update(job.project, job.id, { progress: plannedProgress(plan) }, options)
      if (plan.length === 0) {
        const now = nowMicros()
        await this.jobs.update(job.project, job.id, {
          status: 'succeeded',
          finishedAt: now,
          heartbeatAt: now,
          result: { views: [] },
        })
        return options.detach ? undefined : { job: job.id, views: [] }
      }
      await this.#guard(() =>
        this.#flows.add(
          jobFlow(job, plan, {
            queue: this.#options.queue,
            attempts: this.#options.max_attempts,
            batchSize,
          }),
        ),
      )
      const tasks = plan.reduce((n, p) => n + p.tasks.length, 0)
      await this.jobs.appendLogs(job.project, job.id, [
        {
          at: nowMicros(),
          level: 'info',
          message: `queued ${tasks} tasks of ${plan.length} feature views on BullMQ queue "${this.#options.queue}"`,
        },
      ])
    } catch (e) {
      // the flow never reached the queue, so no worker will finish the job
      const now = nowMicros()
      await this.jobs
        .update(job.project, job.id, {
          status: 'failed',
          finishedAt: now,
          heartbeatAt: now,
          error: jobError(e),
        })
        .catch(() => undefined)
      throw e
    }
    if (options.detach) return undefined
    return this.#wait(job, plan, options)
  }

  /**
   * Stamps the cancel request and returns the job as stored after. A job run in one process (a
   * historical retrieval to a file or table, with a `runner`) is cancelled as the local engine does:
   * its runner sees the request at its next beat, stops at a batch boundary and marks it cancelled (a
   * `lost` one is marked at once). For a job on the queue: tasks not started refuse to run, the flow's
   * waiting tasks are removed, and the job is marked cancelled at once when none of its tasks runs and
   * none of its views began recording its interval; otherwise the workers finish it: running tasks stop
   * at their next batch boundary and their view marks the job cancelled. A view that began recording
   * its interval before the request still records it, so a job whose every view did ends succeeded
   * (with the cancel request stamped): a cancelled job never has an interval recorded by a view the
   * cancel stopped.
   */
  async cancel(project: string, id: string, options: Abortable = {}): Promise<JobRecord> {
    const asked = await this.jobs.requestCancel(project, id, options)
    if (isFinal(asked.status)) return asked
    if (asked.runner !== undefined) return cancelStoredJob(this.jobs, project, id, options)
    const live = await this.#guard(() => stopFlow(this.#driver.bullmq, this.#queue, id))
    const recording = live ? [] : await this.jobs.recordingViews(project, id, options)
    return cancelStoredJob(this.jobs, project, id, {
      ...options,
      unattended: () => !live && recording.length === 0,
    })
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#flows.close(), this.#queue.close()])
    await Promise.allSettled(this.#connections.map((c) => c.quit()))
  }

  /**
   * Follows a submitted job until it finishes, with progress events per view from the job's stored
   * progress (which the tasks keep), `done` once the view's interval is recorded. When the caller's
   * signal fires, cancels the job and rejects ABORTED, unless the job had already succeeded: then its
   * result is returned, as its intervals are recorded.
   */
  async #wait(
    job: JobRecord,
    plan: readonly ViewPlan[],
    options: EngineRunOptions,
  ): Promise<MaterializeResult> {
    const started = performance.now()
    const last = new Map<string, string>()
    const finished = new Set<string>()
    const emit = (w: ViewWindow, phase: MaterializeProgress['phase'], rows: number, rowsTotal?: number) => {
      const elapsedSeconds = (performance.now() - started) / 1000
      options.onProgress?.({
        view: w.view.name,
        phase,
        start: w.start,
        end: w.end,
        rows,
        rowsTotal,
        rowsPerSecond: elapsedSeconds > 0 ? rows / elapsedSeconds : 0,
        elapsedSeconds,
      })
    }
    for (const { window } of plan) emit(window, 'start', 0)
    try {
      for (;;) {
        const stored = await this.jobs.get(job.project, job.id, options)
        for (const [i, { window }] of plan.entries()) {
          const name = window.view.name
          if (finished.has(name)) continue
          const p = stored.progress.views?.[name] ?? { rowsDone: 0, rowsTotal: undefined }
          const recorded =
            stored.status === 'succeeded' ||
            (await this.#guard(() => this.#queue.getJobState(flowIds.view(job.id, i)))) === 'completed'
          if (recorded) {
            finished.add(name)
            emit(window, 'done', p.rowsDone, p.rowsDone)
          } else if (last.get(name) !== `${p.rowsDone}/${p.rowsTotal}`) {
            last.set(name, `${p.rowsDone}/${p.rowsTotal}`)
            emit(window, 'rows', p.rowsDone, p.rowsTotal)
          }
        }
        if (isFinal(stored.status)) return outcome(stored)
        await sleep(POLL_MS, undefined, { signal: options.signal })
      }
    } catch (e) {
      if (!options.signal?.aborted) throw e
      const stopped = await this.cancel(job.project, job.id).catch(() => undefined)
      // the cancel came too late: the job had succeeded, and its recorded intervals stand
      if (stopped?.status === 'succeeded') return outcome(stopped)
      throw new LarderError('ABORTED', `job ${job.id} was cancelled: the caller stopped waiting for it`, {
        cause: options.signal.reason,
        details: { job: job.id },
      })
    }
  }

  /** Runs a BullMQ call, turning a driver error into BACKEND_UNAVAILABLE naming the server. */
  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (e) {
      throw isLarderError(e) ? e : unavailable(this.#options.connection_string, e)
    }
  }
}

/** The job's progress before any task ran: every view's task count. */
function plannedProgress(plan: readonly ViewPlan[]): JobProgress {
  return {
    rowsDone: 0,
    rowsTotal: plan.length === 0 ? 0 : undefined,
    tasksDone: 0,
    tasksTotal: plan.reduce((n, p) => n + p.tasks.length, 0),
    views: Object.fromEntries(
      plan.map((p) => [
        p.window.view.name,
        { rowsDone: 0, rowsTotal: undefined, tasksDone: 0, tasksTotal: p.tasks.length },
      ]),
    ),
  }
}

/** The result of a finished job, or its error rebuilt (ABORTED for a cancelled one). */
function outcome(job: JobRecord): MaterializeResult {
  if (job.status === 'succeeded') {
    const views = ((job.result as { views?: Record<string, unknown>[] } | undefined)?.views ?? []).map(
      (v) =>
        ({
          ...v,
          start: toMicros(v.start as string, 'start'),
          end: toMicros(v.end as string, 'end'),
        }) as ViewMaterialization,
    )
    return { job: job.id, views }
  }
  const error = job.error ?? { code: 'INTERNAL', message: `job ${job.id} ${job.status} without an error` }
  throw new LarderError(error.code as LarderErrorCode, error.message, {
    hint: `see larder jobs logs ${job.id}`,
    details: { job: job.id },
  })
}
