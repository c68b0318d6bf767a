import { setTimeout as sleep } from 'node:timers/promises'
import type { ChainableCommander } from 'ioredis'
import {
  type Abortable,
  isLarderError,
  LarderError,
  type Micros,
  nowMicros,
  throwIfAborted,
} from '../../core/index.js'
import {
  applyCancelRequest,
  applyJobPatch,
  checkJob,
  checkLogLine,
  compareJobsNewestFirst,
  isFinal,
  JOB_LOG_LINES_KEPT,
  JOBS_KEPT,
  JOBS_NAMED_WHEN_MISSING,
  type JobLogLine,
  type JobPatch,
  type JobProgress,
  type JobRecord,
  type JobStore,
  jobLogsLimit,
  jobNotFound,
  jobsLimit,
  type ListJobsOptions,
  type ViewProgress,
} from '../../registry/index.js'
import type { RedisConnection } from './bullmq-driver.js'

/** What a task of a distributed job reports as it goes; see {@link RedisJobStore.reportTask}. */
export interface TaskReport {
  /** The feature view the task loads. */
  readonly view: string
  /** The task's number within its view, the same on every attempt. */
  readonly task: number
  /** Rows the task handed to the online store so far in this attempt. */
  readonly rows: number
  /** Rows the task's piece holds, once counted. */
  readonly rowsTotal?: number
  /** The task finished (its rows are all written). */
  readonly done: boolean
}

/** Read-modify-write attempts before a transaction gives up to its concurrent writers. */
const TRANSACTION_TRIES = 50

/** One step of a transaction: what it returns, and what it writes (nothing when absent). */
interface Step<T> {
  readonly result: T
  readonly write?: (multi: ChainableCommander) => void
}

/**
 * Jobs kept in Redis, for the `bullmq` engine, under the engine's key prefix:
 * `<prefix>:job:<project>:<id>` (the record as JSON) with `:logs` (a list capped at
 * {@link JOB_LOG_LINES_KEPT} lines), the per-task progress hashes of a distributed job (`:task-rows`,
 * `:task-done`, `:task-counts`) and its views that began recording their interval (`:recording`), and `<prefix>:jobs:<project>`, a sorted set of the project's ids by
 * creation time. Project and id are URI-encoded in keys. Every change is a read-modify-write under
 * WATCH/MULTI on the job's key, retried when another process wrote it first, so a runner's progress and
 * a user's cancel never lose each other's fields. Transactions span keys of one job and one project,
 * so on a Redis Cluster the prefix holds a `{hash tag}` and they share a slot.
 *
 * Transactions of one store run one at a time (WATCH belongs to the connection); reads do not wait
 * for them. A lost connection is waited out by the commands; a transaction whose connection was
 * replaced meanwhile starts again.
 */
export class RedisJobStore implements JobStore {
  readonly #redis: RedisConnection
  readonly #prefix: string
  readonly #where: string
  #serial: Promise<unknown> = Promise.resolve()
  #epoch = 0

  /**
   * Jobs on `redis` (a connected client this store uses but does not close) under `prefix`; `where`
   * names the server in messages.
   */
  constructor(redis: RedisConnection, prefix: string, where: string) {
    this.#redis = redis
    this.#prefix = prefix
    this.#where = where
    redis.on('ready', () => {
      this.#epoch++
    })
  }

  async create(job: JobRecord, options: Abortable = {}): Promise<void> {
    const stored = checkJob(job)
    const key = this.#jobKey(stored.project, stored.id)
    const index = this.#indexKey(stored.project)
    await this.#transaction(
      [key, index],
      async () => {
        if ((await this.#redis.exists(key)) === 1) {
          throw new LarderError(
            'CONFLICT',
            `job "${stored.id}" already exists in project "${stored.project}" (Redis at ${this.#where})`,
            { hint: 'give each new job a fresh id (a UUID)', details: { job: stored.id } },
          )
        }
        const finished = [stored, ...(await this.#jobsOf(stored.project))]
          .filter((j) => isFinal(j.status))
          .sort(compareJobsNewestFirst)
        const dropped = finished.slice(JOBS_KEPT)
        return {
          result: undefined,
          write: (multi) => {
            multi.set(key, JSON.stringify(stored))
            multi.zadd(index, stored.createdAt, stored.id)
            for (const old of dropped) {
              multi.del(...this.#keysOf(old.project, old.id))
              multi.zrem(index, old.id)
            }
          },
        }
      },
      options,
    )
  }

  update(project: string, id: string, patch: JobPatch, options: Abortable = {}): Promise<JobRecord> {
    return this.#change(project, id, (job) => applyJobPatch(job, patch), options)
  }

  requestCancel(project: string, id: string, options: Abortable = {}): Promise<JobRecord> {
    return this.#change(project, id, (job) => applyCancelRequest(job, nowMicros()), options)
  }

  /**
   * Marks a queued job running, started at `now`, and returns it as stored after; a job already
   * running or finished is returned unchanged. NOT_FOUND for an unknown id.
   */
  start(project: string, id: string, now: Micros, options: Abortable = {}): Promise<JobRecord> {
    return this.#change(
      project,
      id,
      (job) =>
        job.status === 'queued'
          ? applyJobPatch(job, { status: 'running', startedAt: now, heartbeatAt: now })
          : job,
      options,
    )
  }

  /**
   * Records a task's progress and recomputes the job's from every task's, in one transaction, and
   * returns the job as stored after (beating its heartbeat). A task keeps the most rows it reported, so
   * a retried task, which starts again from 0, counts its rows once; a task counts as done once. The
   * job's `progress.views` must name the views with their `tasksTotal` (as the engine stores them when
   * it submits the job). A finished job is returned unchanged.
   */
  reportTask(project: string, id: string, report: TaskReport, options: Abortable = {}): Promise<JobRecord> {
    const key = this.#jobKey(project, id)
    const [rowsKey, doneKey, countsKey] = taskKeys(key)
    const field = taskField(report.view, report.task)
    return this.#transaction(
      [key, rowsKey, doneKey, countsKey],
      async () => {
        const job = await this.#read(project, id)
        if (isFinal(job.status)) return { result: job }
        const [rows, done, counts] = await Promise.all([
          this.#redis.hgetall(rowsKey),
          this.#redis.hgetall(doneKey),
          this.#redis.hgetall(countsKey),
        ])
        const taskRows = Math.max(Number(rows[field] ?? 0), report.rows)
        rows[field] = String(taskRows)
        if (report.done) done[field] = '1'
        if (report.rowsTotal !== undefined) counts[field] = String(report.rowsTotal)
        const after = applyJobPatch(job, {
          progress: aggregateProgress(job.progress, rows, done, counts),
          heartbeatAt: nowMicros(),
        })
        return {
          result: after,
          write: (multi) => {
            multi.hset(rowsKey, field, taskRows)
            if (report.done) multi.hset(doneKey, field, 1)
            if (report.rowsTotal !== undefined) multi.hset(countsKey, field, report.rowsTotal)
            multi.set(key, JSON.stringify(after))
          },
        }
      },
      options,
    )
  }

  /**
   * Lets the `view` job of `view` record its interval unless a cancel came first, and returns the job
   * as read: `recording` true when the view may record (from then on a cancel no longer stops it, and
   * {@link recordingViews} names it), false when the job was cancelled or had finished before. Atomic
   * with {@link requestCancel} (both are transactions on the job's key), so exactly one of the two
   * comes first. A view that began recording may again (a retried `view` job). NOT_FOUND for an
   * unknown id.
   */
  beginRecording(
    project: string,
    id: string,
    view: string,
    options: Abortable = {},
  ): Promise<{ readonly recording: boolean; readonly job: JobRecord }> {
    const key = this.#jobKey(project, id)
    const recording = recordingKey(key)
    return this.#transaction<{ readonly recording: boolean; readonly job: JobRecord }>(
      [key, recording],
      async () => {
        const job = await this.#read(project, id)
        if ((await this.#redis.sismember(recording, view)) === 1) return { result: { recording: true, job } }
        if (job.cancelRequestedAt !== undefined || isFinal(job.status)) {
          return { result: { recording: false, job } }
        }
        return { result: { recording: true, job }, write: (multi) => multi.sadd(recording, view) }
      },
      options,
    )
  }

  /** The views of a job that began recording their interval ({@link beginRecording}), in no order. */
  async recordingViews(project: string, id: string, options: Abortable = {}): Promise<string[]> {
    throwIfAborted(options.signal)
    return this.#guard(() => this.#redis.smembers(recordingKey(this.#jobKey(project, id))))
  }

  async get(project: string, id: string, options: Abortable = {}): Promise<JobRecord> {
    throwIfAborted(options.signal)
    return this.#guard(() => this.#read(project, id))
  }

  async list(project: string, options: ListJobsOptions = {}): Promise<JobRecord[]> {
    const limit = jobsLimit(options)
    throwIfAborted(options.signal)
    const jobs = await this.#guard(() => this.#jobsOf(project))
    return jobs
      .filter((j) => !options.status || options.status.includes(j.status))
      .sort(compareJobsNewestFirst)
      .slice(0, limit)
  }

  async appendLogs(
    project: string,
    id: string,
    lines: readonly JobLogLine[],
    options: Abortable = {},
  ): Promise<void> {
    const checked = lines.map(checkLogLine)
    const key = this.#jobKey(project, id)
    await this.#transaction(
      [key],
      async () => {
        await this.#read(project, id)
        if (checked.length === 0) return { result: undefined }
        const logs = `${key}:logs`
        return {
          result: undefined,
          write: (multi) => {
            multi.rpush(logs, ...checked.map((l) => JSON.stringify(l)))
            multi.ltrim(logs, -JOB_LOG_LINES_KEPT, -1)
          },
        }
      },
      options,
    )
  }

  async logs(
    project: string,
    id: string,
    options: Abortable & { limit?: number } = {},
  ): Promise<JobLogLine[]> {
    const limit = jobLogsLimit(options)
    await this.get(project, id, options)
    const lines = await this.#guard(() => this.#redis.lrange(`${this.#jobKey(project, id)}:logs`, -limit, -1))
    return lines.map((l) => JSON.parse(l) as JobLogLine)
  }

  #jobKey(project: string, id: string): string {
    return `${this.#prefix}:job:${encodeURIComponent(project)}:${encodeURIComponent(id)}`
  }

  #indexKey(project: string): string {
    return `${this.#prefix}:jobs:${encodeURIComponent(project)}`
  }

  /** Every key of one job. */
  #keysOf(project: string, id: string): string[] {
    const key = this.#jobKey(project, id)
    return [key, `${key}:logs`, ...taskKeys(key), recordingKey(key)]
  }

  async #read(project: string, id: string): Promise<JobRecord> {
    const text = await this.#redis.get(this.#jobKey(project, id))
    if (text === null) {
      const newest = await this.#redis.zrevrange(this.#indexKey(project), 0, JOBS_NAMED_WHEN_MISSING - 1)
      throw jobNotFound(project, id, newest)
    }
    return decodeJob(text)
  }

  async #jobsOf(project: string): Promise<JobRecord[]> {
    const ids = await this.#redis.zrange(this.#indexKey(project), 0, -1)
    if (ids.length === 0) return []
    const texts = await this.#redis.mget(...ids.map((id) => this.#jobKey(project, id)))
    return texts.flatMap((t) => (t === null ? [] : [decodeJob(t)]))
  }

  /** Replaces the job with `change(job)` in a transaction (no write when it returns the job itself). */
  #change(
    project: string,
    id: string,
    change: (job: JobRecord) => JobRecord,
    options: Abortable,
  ): Promise<JobRecord> {
    const key = this.#jobKey(project, id)
    return this.#transaction(
      [key],
      async () => {
        const job = await this.#read(project, id)
        const after = change(job)
        return after === job
          ? { result: job }
          : { result: after, write: (m) => m.set(key, JSON.stringify(after)) }
      },
      options,
    )
  }

  /**
   * Runs `body` with `keys` watched and applies its writes atomically, again from the start when a
   * watched key changed (or the connection was replaced) before they landed.
   */
  #transaction<T>(keys: readonly string[], body: () => Promise<Step<T>>, options: Abortable): Promise<T> {
    const run = async (): Promise<T> => {
      for (let attempt = 1; ; attempt++) {
        throwIfAborted(options.signal)
        const epoch = this.#epoch
        await this.#redis.watch(...keys)
        let step: Step<T>
        try {
          step = await body()
        } catch (e) {
          await this.#redis.unwatch()
          throw e
        }
        if (!step.write) {
          await this.#redis.unwatch()
          return step.result
        }
        if (epoch === this.#epoch && this.#redis.status === 'ready') {
          const multi = this.#redis.multi()
          step.write(multi)
          const replies = await multi.exec()
          if (replies !== null) {
            const failed = replies.find(([error]) => error)
            if (failed) throw failed[0]
            return step.result
          }
        } else {
          await this.#redis.unwatch()
        }
        if (attempt === TRANSACTION_TRIES) {
          throw new LarderError(
            'CONFLICT',
            `a job in Redis at ${this.#where} changed under ${TRANSACTION_TRIES} attempts to update it`,
            { hint: 'try again; many writers update this job at once' },
          )
        }
        await sleep(Math.random() * 5 * attempt)
      }
    }
    const next = this.#serial.then(
      () => this.#guard(run),
      () => this.#guard(run),
    )
    this.#serial = next.catch(() => undefined)
    return next
  }

  /** Runs `work`, turning a driver error into BACKEND_UNAVAILABLE naming the server. */
  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (e) {
      if (isLarderError(e)) throw e
      throw new LarderError(
        'BACKEND_UNAVAILABLE',
        `the job store in Redis at ${this.#where} failed: ${(e as Error)?.message ?? String(e)}`,
        { cause: e, hint: 'check that Redis is up and reachable (batch_engine.connection_string)' },
      )
    }
  }
}

/** The per-task hashes of a job: rows per task, tasks done, rows counted per task. */
function taskKeys(jobKey: string): [string, string, string] {
  return [`${jobKey}:task-rows`, `${jobKey}:task-done`, `${jobKey}:task-counts`]
}

/** The set of a job's views that began recording their interval. */
function recordingKey(jobKey: string): string {
  return `${jobKey}:recording`
}

function taskField(view: string, task: number): string {
  return JSON.stringify([view, task])
}

/**
 * A job's progress from its tasks' hashes (fields `[view, task]` as JSON): rows and tasks done per view
 * and in all; a view's `rowsTotal` is the sum of its tasks' counts once every task was counted, else its
 * rows once every task is done. The views and their `tasksTotal` come from `before`.
 */
export function aggregateProgress(
  before: JobProgress,
  rows: Readonly<Record<string, string>>,
  done: Readonly<Record<string, string>>,
  counts: Readonly<Record<string, string>>,
): JobProgress {
  const perView = new Map<string, { rows: number; done: number; counted: number; total: number }>()
  const of = (field: string) => {
    const view = (JSON.parse(field) as [string, number])[0]
    const entry = perView.get(view) ?? { rows: 0, done: 0, counted: 0, total: 0 }
    perView.set(view, entry)
    return entry
  }
  for (const [field, n] of Object.entries(rows)) of(field).rows += Number(n)
  for (const field of Object.keys(done)) of(field).done += 1
  for (const [field, n] of Object.entries(counts)) {
    const entry = of(field)
    entry.counted += 1
    entry.total += Number(n)
  }
  const views: Record<string, ViewProgress> = {}
  for (const [view, seen] of Object.entries(before.views ?? {})) {
    const got = perView.get(view) ?? { rows: 0, done: 0, counted: 0, total: 0 }
    views[view] = {
      rowsDone: got.rows,
      rowsTotal:
        got.counted >= seen.tasksTotal ? got.total : got.done >= seen.tasksTotal ? got.rows : undefined,
      tasksDone: got.done,
      tasksTotal: seen.tasksTotal,
    }
  }
  const all = Object.values(views)
  return {
    rowsDone: all.reduce((n, v) => n + v.rowsDone, 0),
    rowsTotal: all.every((v) => v.rowsTotal !== undefined)
      ? all.reduce((n, v) => n + (v.rowsTotal ?? 0), 0)
      : undefined,
    tasksDone: all.reduce((n, v) => n + v.tasksDone, 0),
    tasksTotal: before.tasksTotal,
    views,
  }
}

/** A stored record: JSON leaves out undefined fields, which are put back. */
function decodeJob(text: string): JobRecord {
  const j = JSON.parse(text) as JobRecord
  return {
    ...j,
    runner: j.runner,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    cancelRequestedAt: j.cancelRequestedAt,
    error: j.error,
    result: j.result,
    progress: { ...j.progress, rowsTotal: j.progress.rowsTotal },
  }
}
