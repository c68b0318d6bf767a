import { randomUUID } from 'node:crypto'
import {
  type Abortable,
  formatMicros,
  knownNames,
  LarderError,
  type Micros,
  nowMicros,
} from '../core/index.js'
import { currentActor } from './registry-objects.js'

/**
 * Long work Larder runs on a user's behalf: a materialization (local or on a distributed engine), a
 * historical retrieval to a file or table, a stream processor. One model whatever runs it, kept where
 * the engine or the registry keeps state (Redis for the BullMQ engine, the registry's store otherwise),
 * never only in a process's memory, so a job outlives the process that started it.
 */
export interface JobRecord {
  /** A unique id (a UUID). */
  readonly id: string
  readonly project: string
  readonly kind: JobKind
  /** What runs it: `local` (the process that started it) or `bullmq` (workers on a queue). */
  readonly engine: string
  readonly status: JobStatus
  /** The feature views it works on, in the order asked; null means every view it could take. */
  readonly featureViews: readonly string[] | null
  /**
   * What was asked, as JSON: for a materialization `{ start, end }` (RFC 3339 text; `start` absent for
   * an incremental one), for a retrieval `{ output }` and the entity source.
   */
  readonly request: Readonly<Record<string, unknown>>
  readonly progress: JobProgress
  /** Who started it: `LARDER_ACTOR`, else user@host. */
  readonly createdBy: string
  /** The process that runs it (`host:pid`), for a job run in one process; undefined on a queue. */
  readonly runner: string | undefined
  readonly createdAt: Micros
  readonly startedAt: Micros | undefined
  readonly finishedAt: Micros | undefined
  /** The last sign of life of whoever runs it; a local job whose runner stopped beating is `lost`. */
  readonly heartbeatAt: Micros
  /** When someone asked to cancel it; the runner stops at its next batch boundary. */
  readonly cancelRequestedAt: Micros | undefined
  /** Why it failed, for a failed (or cancelled) job. */
  readonly error: JobError | undefined
  /** What it produced, as JSON, for a job that succeeded (per-view outcomes, rows written to a file). */
  readonly result: unknown
}

export type JobKind = 'materialize' | 'materialize-incremental' | 'historical' | 'stream'

/**
 * `queued` until a runner takes it; `running`; then one of the final states. `lost` is never stored: a
 * reader sees it for a running local job whose runner stopped beating (see {@link effectiveStatus}).
 */
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'

export interface JobError {
  /** A `LarderErrorCode`, or `INTERNAL`. */
  readonly code: string
  readonly message: string
}

/** Where a job stands. Rows and tasks done only grow; a retried task's rows are counted once. */
export interface JobProgress {
  readonly rowsDone: number
  /** Rows the job will handle, once known. */
  readonly rowsTotal: number | undefined
  readonly tasksDone: number
  readonly tasksTotal: number
  /** The same per feature view, for a materialization. */
  readonly views?: Readonly<Record<string, ViewProgress>>
}

export interface ViewProgress {
  readonly rowsDone: number
  readonly rowsTotal: number | undefined
  readonly tasksDone: number
  readonly tasksTotal: number
}

/** The fields `update` may change; absent ones stay as stored. */
export interface JobPatch {
  readonly status?: JobStatus
  readonly startedAt?: Micros
  readonly finishedAt?: Micros
  readonly heartbeatAt?: Micros
  readonly progress?: JobProgress
  readonly error?: JobError
  readonly result?: unknown
}

export interface JobLogLine {
  readonly at: Micros
  readonly level: 'info' | 'warn' | 'error'
  readonly message: string
}

/** Which jobs `list` returns. */
export interface ListJobsOptions extends Abortable {
  /** Only jobs in these stored states. */
  readonly status?: readonly JobStatus[]
  /** At most this many, newest first (by creation time, then id); default {@link DEFAULT_JOBS_LISTED}. */
  readonly limit?: number
}

/**
 * Where jobs are kept. Every backend (the registry's file, SQL and remote stores; Redis for the BullMQ
 * engine) passes `src/testing/job-store-conformance.ts`. Jobs of one project never show in another's
 * listing. Writers in several processes may work on one job at once (a runner updating progress, a
 * user cancelling): `update` changes only the fields it is given, and `requestCancel` only the cancel
 * stamp, so neither loses the other's write.
 */
export interface JobStore {
  /**
   * Stores a new job, then drops the project's finished jobs beyond the newest {@link JOBS_KEPT}.
   * CONFLICT when the id exists; INVALID_ARGUMENT for a malformed record.
   */
  create(job: JobRecord, options?: Abortable): Promise<void>
  /**
   * Changes the given fields and returns the job as stored after. A finished job (succeeded, failed,
   * cancelled) is final: a patch to it changes nothing and the stored job is returned, so a late
   * progress report never revives it. NOT_FOUND for an unknown id.
   */
  update(project: string, id: string, patch: JobPatch, options?: Abortable): Promise<JobRecord>
  /**
   * Stamps the job's cancel request (once; a second request keeps the first stamp) and returns it. A
   * finished job is returned unchanged. NOT_FOUND for an unknown id.
   */
  requestCancel(project: string, id: string, options?: Abortable): Promise<JobRecord>
  /** The job, or NOT_FOUND naming the id and the project's newest jobs. */
  get(project: string, id: string, options?: Abortable): Promise<JobRecord>
  /** The project's jobs, newest first. */
  list(project: string, options?: ListJobsOptions): Promise<JobRecord[]>
  /** Appends lines to the job's log, keeping its newest {@link JOB_LOG_LINES_KEPT}. NOT_FOUND for an unknown id. */
  appendLogs(project: string, id: string, lines: readonly JobLogLine[], options?: Abortable): Promise<void>
  /** The job's log, oldest first, at most its newest `limit` lines (default all kept). */
  logs(project: string, id: string, options?: Abortable & { limit?: number }): Promise<JobLogLine[]>
}

/** Finished jobs a store keeps per project; older ones are dropped as new ones are created. */
export const JOBS_KEPT = 200
/** Jobs a listing returns when no limit is given. */
export const DEFAULT_JOBS_LISTED = 50
/** Log lines kept per job. */
export const JOB_LOG_LINES_KEPT = 1000
/** Longest error message or log line stored; a longer one is cut. */
export const JOB_TEXT_MAX_CHARS = 2000
/** How often a local runner beats; a running local job silent for {@link JOB_LOST_AFTER_MS} is lost. */
export const JOB_HEARTBEAT_MS = 2000
export const JOB_LOST_AFTER_MS = 30_000

export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled']
export const JOB_KINDS: readonly JobKind[] = [
  'materialize',
  'materialize-incremental',
  'historical',
  'stream',
]
const FINAL: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled'])

/**
 * A new job, queued now by the current actor (`LARDER_ACTOR`, else user@host), with a fresh id and
 * nothing done yet: what a caller stores with `create` before handing the work over.
 */
export function newJob(fields: {
  readonly project: string
  readonly kind: JobKind
  readonly engine: string
  readonly featureViews: readonly string[] | null
  readonly request: Readonly<Record<string, unknown>>
  readonly tasksTotal: number
  /** `host:pid` of the process that will run it; undefined for a job on a queue. */
  readonly runner: string | undefined
}): JobRecord {
  const now = nowMicros()
  return {
    id: randomUUID(),
    project: fields.project,
    kind: fields.kind,
    engine: fields.engine,
    status: 'queued',
    featureViews: fields.featureViews,
    request: fields.request,
    progress: { rowsDone: 0, rowsTotal: undefined, tasksDone: 0, tasksTotal: fields.tasksTotal },
    createdBy: currentActor(),
    runner: fields.runner,
    createdAt: now,
    startedAt: undefined,
    finishedAt: undefined,
    heartbeatAt: now,
    cancelRequestedAt: undefined,
    error: undefined,
    result: undefined,
  }
}

/** Whether a job in this stored state has finished for good. */
export function isFinal(status: JobStatus): boolean {
  return FINAL.has(status)
}

/**
 * The state a reader should see: the stored one, except `lost` for a job run in one process (`local`)
 * that is still marked queued or running while its runner has not beaten for {@link JOB_LOST_AFTER_MS}
 * (the process was killed; nothing will finish it; `cancel` marks it cancelled).
 */
export function effectiveStatus(job: JobRecord, now: Micros): JobStatus | 'lost' {
  if (isFinal(job.status) || job.runner === undefined) return job.status
  return now - job.heartbeatAt > JOB_LOST_AFTER_MS * 1000 ? 'lost' : job.status
}

/** Newest first: by creation time, then by id, so every backend lists ties in the same order. */
export function compareJobsNewestFirst(a: JobRecord, b: JobRecord): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

/** The patch applied to a stored job, as every backend applies it (final jobs unchanged). */
export function applyJobPatch(job: JobRecord, patch: JobPatch): JobRecord {
  if (isFinal(job.status)) return job
  checkJobPatch(patch)
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined))
  return { ...job, ...defined, ...(patch.error ? { error: cutError(patch.error) } : {}) }
}

/** The job with its cancel stamp, as every backend applies it. */
export function applyCancelRequest(job: JobRecord, now: Micros): JobRecord {
  if (isFinal(job.status) || job.cancelRequestedAt !== undefined) return job
  return { ...job, cancelRequestedAt: now }
}

/** The `limit` of a listing, checked: a positive integer, default {@link DEFAULT_JOBS_LISTED}. */
export function jobsLimit(options: ListJobsOptions): number {
  const limit = options.limit ?? DEFAULT_JOBS_LISTED
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new LarderError('INVALID_ARGUMENT', `the job limit must be a positive integer, got ${limit}`, {
      hint: 'pass a limit of 1 or more',
    })
  }
  return limit
}

/**
 * Checks a record before it is stored and returns it as stored (its error message cut to
 * {@link JOB_TEXT_MAX_CHARS}). INVALID_ARGUMENT naming the first bad field.
 */
export function checkJob(job: JobRecord): JobRecord {
  const bad = (field: string, value: unknown, want: string) =>
    new LarderError('INVALID_ARGUMENT', `job "${job.id}": ${field} ${JSON.stringify(value)} is not ${want}`, {
      details: { job: job.id, field },
    })
  if (typeof job.id !== 'string' || job.id.length === 0 || job.id.length > 64)
    throw bad('id', job.id, 'an id of 1 to 64 characters')
  if (typeof job.project !== 'string' || job.project.length === 0 || job.project.length > 255)
    throw bad('project', job.project, 'a project name of 1 to 255 characters')
  if (!JOB_KINDS.includes(job.kind)) throw bad('kind', job.kind, `one of ${knownNames(JOB_KINDS)}`)
  if (!JOB_STATUSES.includes(job.status))
    throw bad('status', job.status, `one of ${knownNames(JOB_STATUSES)}`)
  if (typeof job.engine !== 'string' || job.engine.length === 0 || job.engine.length > 64)
    throw bad('engine', job.engine, 'an engine name of 1 to 64 characters')
  if (typeof job.createdBy !== 'string' || job.createdBy.length === 0 || job.createdBy.length > 255)
    throw bad('createdBy', job.createdBy, 'a name of 1 to 255 characters')
  if (
    job.runner !== undefined &&
    (typeof job.runner !== 'string' || job.runner.length === 0 || job.runner.length > 255)
  )
    throw bad('runner', job.runner, 'a host:pid of 1 to 255 characters, or undefined')
  if (
    job.featureViews !== null &&
    !(Array.isArray(job.featureViews) && job.featureViews.every((v) => typeof v === 'string' && v !== ''))
  )
    throw bad('featureViews', job.featureViews, 'a list of feature view names, or null')
  if (typeof job.request !== 'object' || job.request === null || Array.isArray(job.request))
    throw bad('request', job.request, 'a JSON object')
  checkJson('request', job.request)
  if (typeof job.progress !== 'object' || job.progress === null)
    throw bad('progress', job.progress, 'a progress record')
  for (const field of ['createdAt', 'heartbeatAt'] as const) {
    if (!Number.isSafeInteger(job[field])) throw bad(field, job[field], 'epoch microseconds')
  }
  if (job.cancelRequestedAt !== undefined && !Number.isSafeInteger(job.cancelRequestedAt))
    throw bad('cancelRequestedAt', job.cancelRequestedAt, 'epoch microseconds or undefined')
  checkJobPatch(job)
  return job.error ? { ...job, error: cutError(job.error) } : job
}

/**
 * Checks the fields a patch (or a record) sets: INVALID_ARGUMENT naming the first bad one. Fields left
 * undefined are not checked.
 */
export function checkJobPatch(patch: JobPatch): void {
  if (patch.status !== undefined && !JOB_STATUSES.includes(patch.status)) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `job status ${JSON.stringify(patch.status)} is not one of ${knownNames(JOB_STATUSES)}`,
    )
  }
  for (const field of ['startedAt', 'finishedAt', 'heartbeatAt'] as const) {
    const value = patch[field]
    if (value !== undefined && !Number.isSafeInteger(value)) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `job ${field} ${JSON.stringify(value)} is not epoch microseconds`,
      )
    }
  }
  const p = patch.progress
  if (p !== undefined) {
    for (const n of [
      p.rowsDone,
      p.tasksDone,
      p.tasksTotal,
      ...(p.rowsTotal === undefined ? [] : [p.rowsTotal]),
      ...Object.values(p.views ?? {}).flatMap((v) => [
        v.rowsDone,
        v.tasksDone,
        v.tasksTotal,
        ...(v.rowsTotal === undefined ? [] : [v.rowsTotal]),
      ]),
    ]) {
      if (!Number.isSafeInteger(n) || n < 0) {
        throw new LarderError(
          'INVALID_ARGUMENT',
          `job progress ${JSON.stringify(p)} has a count that is not a whole number`,
        )
      }
    }
  }
  const e = patch.error
  if (
    e !== undefined &&
    (typeof e?.code !== 'string' || e.code === '' || e.code.length > 64 || typeof e.message !== 'string')
  ) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `job error ${JSON.stringify(e)?.slice(0, 200)} is not { code, message } with a code of 1 to 64 characters`,
    )
  }
  if (patch.result !== undefined) checkJson('result', patch.result)
}

/** INVALID_ARGUMENT when `value` has no JSON text (a BigInt, a cycle): every store keeps it as JSON. */
function checkJson(field: string, value: unknown): void {
  try {
    JSON.stringify(value)
  } catch (cause) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `job ${field} cannot be stored as JSON: ${(cause as Error).message}`,
      {
        cause,
        hint: `give a ${field} of plain JSON values (strings, numbers, booleans, null, arrays, objects)`,
      },
    )
  }
}

function cutError(error: JobError): JobError {
  return error.message.length <= JOB_TEXT_MAX_CHARS
    ? error
    : { code: error.code, message: `${error.message.slice(0, JOB_TEXT_MAX_CHARS - 1)}…` }
}

/** A log line cut to {@link JOB_TEXT_MAX_CHARS}. */
export function cutLogLine(line: JobLogLine): JobLogLine {
  return line.message.length <= JOB_TEXT_MAX_CHARS
    ? line
    : { ...line, message: `${line.message.slice(0, JOB_TEXT_MAX_CHARS - 1)}…` }
}

const LOG_LEVELS: readonly JobLogLine['level'][] = ['info', 'warn', 'error']

/** Checks a log line before it is stored and returns it as stored (cut). INVALID_ARGUMENT naming the bad field. */
export function checkLogLine(line: JobLogLine): JobLogLine {
  if (!Number.isSafeInteger(line?.at))
    throw new LarderError(
      'INVALID_ARGUMENT',
      `job log line at ${JSON.stringify(line?.at)} is not epoch microseconds`,
    )
  if (!LOG_LEVELS.includes(line.level)) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `job log level ${JSON.stringify(line.level)} is not one of ${knownNames(LOG_LEVELS)}`,
    )
  }
  if (typeof line.message !== 'string')
    throw new LarderError('INVALID_ARGUMENT', `job log message ${JSON.stringify(line.message)} is not text`)
  return cutLogLine(line)
}

/** The `limit` of a log read, checked: a positive integer, default {@link JOB_LOG_LINES_KEPT}. */
export function jobLogsLimit(options: { readonly limit?: number }): number {
  const limit = options.limit ?? JOB_LOG_LINES_KEPT
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new LarderError('INVALID_ARGUMENT', `the log line limit must be a positive integer, got ${limit}`, {
      hint: 'pass a limit of 1 or more',
    })
  }
  return limit
}

/** How many of a project's newest job ids a NOT_FOUND names (see {@link jobNotFound}). */
export const JOBS_NAMED_WHEN_MISSING = 5

/** NOT_FOUND for a job id a store does not hold; `newest` are the project's newest job ids. */
export function jobNotFound(project: string, id: string, newest: readonly string[]): LarderError {
  return new LarderError('NOT_FOUND', `job "${id}" not found in project "${project}"`, {
    hint:
      newest.length > 0
        ? `newest jobs: ${knownNames(newest)}; see larder jobs list`
        : 'no job has run yet; see larder jobs list',
    details: { job: id },
  })
}

/** Progress as {@link jobJson} prints it. */
export interface ProgressJson {
  readonly rows_done: number
  /** Null while unknown. */
  readonly rows_total: number | null
  readonly tasks_done: number
  readonly tasks_total: number
}

/**
 * A job as Larder's REST API (`GET /jobs`) and `larder jobs --json` print it: snake_case as Larder's
 * other REST bodies, times as RFC 3339 text (null when that moment has not come), `status` the
 * effective one (so a job whose runner died shows `lost`).
 */
export interface JobJson {
  readonly job_id: string
  readonly project: string
  readonly kind: JobKind
  readonly engine: string
  readonly status: JobStatus | 'lost'
  /** Null means every view it could take. */
  readonly feature_views: readonly string[] | null
  readonly request: Readonly<Record<string, unknown>>
  /** The totals, and per feature view (empty when the job has no per-view breakdown). */
  readonly progress: ProgressJson & { readonly views: Readonly<Record<string, ProgressJson>> }
  readonly created_by: string
  /** `host:pid` of the process that runs it; null for a job on a queue. */
  readonly runner: string | null
  readonly created_at: string
  readonly started_at: string | null
  readonly finished_at: string | null
  readonly heartbeat_at: string
  readonly cancel_requested_at: string | null
  readonly error: JobError | null
  /** What it produced; null until it succeeded. */
  readonly result: unknown
}

/** The JSON of a job, with its effective status as of `now` (see {@link JobJson}). */
export function jobJson(job: JobRecord, now: Micros): JobJson {
  const time = (at: Micros | undefined) => (at === undefined ? null : formatMicros(at))
  return {
    job_id: job.id,
    project: job.project,
    kind: job.kind,
    engine: job.engine,
    status: effectiveStatus(job, now),
    feature_views: job.featureViews,
    request: job.request,
    progress: {
      ...progressJson(job.progress),
      views: Object.fromEntries(
        Object.entries(job.progress.views ?? {}).map(([v, p]) => [v, progressJson(p)]),
      ),
    },
    created_by: job.createdBy,
    runner: job.runner ?? null,
    created_at: formatMicros(job.createdAt),
    started_at: time(job.startedAt),
    finished_at: time(job.finishedAt),
    heartbeat_at: formatMicros(job.heartbeatAt),
    cancel_requested_at: time(job.cancelRequestedAt),
    error: job.error === undefined ? null : { code: job.error.code, message: job.error.message },
    result: job.result ?? null,
  }
}

function progressJson(p: ViewProgress): ProgressJson {
  return {
    rows_done: p.rowsDone,
    rows_total: p.rowsTotal ?? null,
    tasks_done: p.tasksDone,
    tasks_total: p.tasksTotal,
  }
}

/**
 * The stored states named in `texts` (each may list several, comma-separated), in the order given,
 * once each. INVALID_ARGUMENT naming an unknown one; `lost` among them, since it is never stored.
 *
 * @example jobStatusesOf(['queued,running']) // ['queued', 'running']
 */
export function jobStatusesOf(texts: readonly string[]): JobStatus[] {
  const names = texts.flatMap((t) => t.split(',').map((s) => s.trim())).filter((s) => s !== '')
  for (const name of names) {
    if (JOB_STATUSES.includes(name as JobStatus)) continue
    throw new LarderError(
      'INVALID_ARGUMENT',
      `job status "${name}" is not one of ${knownNames(JOB_STATUSES)}`,
      {
        hint:
          name === 'lost'
            ? 'a lost job is stored queued or running (its runner stopped beating): ask for running, and its status reads lost'
            : `give one or more of ${knownNames(JOB_STATUSES)}`,
        details: { status: name },
      },
    )
  }
  return [...new Set(names as JobStatus[])]
}
