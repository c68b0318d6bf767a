import { type Abortable, LarderError, nowMicros, throwIfAborted } from '../../core/index.js'
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
  type JobRecord,
  type JobStore,
  jobLogsLimit,
  jobNotFound,
  jobsLimit,
  type ListJobsOptions,
} from '../jobs.js'
import { JsonSideFile } from './side-file.js'

/** One job's log as the log side file holds it. */
interface StoredLog {
  readonly project: string
  readonly id: string
  readonly lines: readonly JobLogLine[]
}

/**
 * The file registry's jobs, in two side files Feast never reads, each rewritten whole by temp file and
 * rename under its own lock (see `JsonSideFile`): `<registry>.jobs.json` (`{"jobs": [...]}`, every
 * project's records) and `<registry>.jobs.logs.json` (`{"logs": [{project, id, lines}]}`). Logs live
 * apart so that a runner's heartbeat every few seconds rewrites only the records, never up to
 * {@link JOB_LOG_LINES_KEPT} lines per job. Every change is a read-modify-write under the lock, so
 * writers in several processes (a runner, a user cancelling) never lose each other's fields.
 */
export class FileJobStore implements JobStore {
  readonly #jobs: JsonSideFile<{ jobs: JobRecord[] }>
  readonly #logs: JsonSideFile<{ logs: StoredLog[] }>

  /** The jobs of the file registry at `registryPath`. */
  constructor(registryPath: string) {
    this.#jobs = new JsonSideFile(`${registryPath}.jobs.json`, {
      what: 'the job history',
      decode: (json) => {
        const jobs = (json as { jobs?: unknown } | null)?.jobs
        if (!Array.isArray(jobs)) throw new Error('no "jobs" list')
        return { jobs: (jobs as JobRecord[]).map(checkJob) }
      },
      empty: () => ({ jobs: [] }),
    })
    this.#logs = new JsonSideFile(`${registryPath}.jobs.logs.json`, {
      what: 'the job logs',
      decode: (json) => {
        const logs = (json as { logs?: unknown } | null)?.logs
        if (!Array.isArray(logs)) throw new Error('no "logs" list')
        return {
          logs: (logs as StoredLog[]).map((l) => {
            if (typeof l?.project !== 'string' || typeof l.id !== 'string' || !Array.isArray(l.lines))
              throw new Error(`a log entry ${JSON.stringify(l)?.slice(0, 100)} is not {project, id, lines}`)
            return { project: l.project, id: l.id, lines: l.lines.map(checkLogLine) }
          }),
        }
      },
      empty: () => ({ logs: [] }),
    })
  }

  /** The side file of job records, `<registry>.jobs.json`. */
  get path(): string {
    return this.#jobs.path
  }

  /** The side file of job logs, `<registry>.jobs.logs.json`. */
  get logsPath(): string {
    return this.#logs.path
  }

  async create(job: JobRecord, options: Abortable = {}): Promise<void> {
    const stored = checkJob(job)
    throwIfAborted(options.signal)
    let dropped = false
    await this.#jobs.update(({ jobs }) => {
      if (jobs.some((j) => same(j, stored.project, stored.id))) throw this.#exists(stored)
      const finished = [stored, ...jobs]
        .filter((j) => j.project === stored.project && isFinal(j.status))
        .sort(compareJobsNewestFirst)
      const drop = new Set(finished.slice(JOBS_KEPT))
      dropped = drop.size > 0
      return { jobs: [...jobs, stored].filter((j) => !drop.has(j)) }
    }, options)
    if (dropped)
      await this.#logs.update(async ({ logs }) => ({ logs: await this.#ofLiveJobs(logs) }), options)
  }

  async update(project: string, id: string, patch: JobPatch, options: Abortable = {}): Promise<JobRecord> {
    return this.#change(project, id, (job) => applyJobPatch(job, patch), options)
  }

  async requestCancel(project: string, id: string, options: Abortable = {}): Promise<JobRecord> {
    return this.#change(project, id, (job) => applyCancelRequest(job, nowMicros()), options)
  }

  /** Replaces the job with `change(job)` under the lock (no write when it returns the job itself). */
  async #change(
    project: string,
    id: string,
    change: (job: JobRecord) => JobRecord,
    options: Abortable,
  ): Promise<JobRecord> {
    throwIfAborted(options.signal)
    let after: JobRecord | undefined
    await this.#jobs.update(({ jobs }) => {
      const i = jobs.findIndex((j) => same(j, project, id))
      const job = jobs[i]
      if (job === undefined) throw notFound(jobs, project, id)
      after = change(job)
      return after === job ? undefined : { jobs: jobs.with(i, after) }
    }, options)
    return after!
  }

  async get(project: string, id: string, options: Abortable = {}): Promise<JobRecord> {
    throwIfAborted(options.signal)
    const { jobs } = await this.#jobs.read()
    const job = jobs.find((j) => same(j, project, id))
    if (!job) throw notFound(jobs, project, id)
    return job
  }

  async list(project: string, options: ListJobsOptions = {}): Promise<JobRecord[]> {
    const limit = jobsLimit(options)
    throwIfAborted(options.signal)
    const { jobs } = await this.#jobs.read()
    return jobs
      .filter((j) => j.project === project && (!options.status || options.status.includes(j.status)))
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
    throwIfAborted(options.signal)
    if (checked.length === 0) {
      await this.get(project, id, options)
      return
    }
    await this.#logs.update(async ({ logs }) => {
      // The records are read under the log lock: a job dropped meanwhile is NOT_FOUND here, and the
      // logs of jobs dropped since the last write (by `create`, or a crash in between) go too.
      const live = await this.#ofLiveJobs(logs, project, id)
      const i = live.findIndex((l) => same(l, project, id))
      const before = live[i]?.lines ?? []
      const log = { project, id, lines: [...before, ...checked].slice(-JOB_LOG_LINES_KEPT) }
      return { logs: i < 0 ? [...live, log] : live.with(i, log) }
    }, options)
  }

  async logs(
    project: string,
    id: string,
    options: Abortable & { limit?: number } = {},
  ): Promise<JobLogLine[]> {
    const limit = jobLogsLimit(options)
    await this.get(project, id, options)
    const { logs } = await this.#logs.read()
    return [...(logs.find((l) => same(l, project, id))?.lines ?? [])].slice(-limit)
  }

  /**
   * The logs whose job is still stored, read from the records file now; NOT_FOUND when `project`/`id`
   * are given and that job is not.
   */
  async #ofLiveJobs(logs: readonly StoredLog[], project?: string, id?: string): Promise<StoredLog[]> {
    const { jobs } = await this.#jobs.read()
    if (project !== undefined && id !== undefined && !jobs.some((j) => same(j, project, id)))
      throw notFound(jobs, project, id)
    const live = new Set(jobs.map((j) => key(j.project, j.id)))
    return logs.filter((l) => live.has(key(l.project, l.id)))
  }

  #exists(job: JobRecord): LarderError {
    return new LarderError(
      'CONFLICT',
      `job "${job.id}" already exists in project "${job.project}" (${this.#jobs.path})`,
      { hint: 'give each new job a fresh id (a UUID)', details: { job: job.id } },
    )
  }
}

function same(j: { project: string; id: string }, project: string, id: string): boolean {
  return j.project === project && j.id === id
}

function key(project: string, id: string): string {
  return JSON.stringify([project, id])
}

function notFound(jobs: readonly JobRecord[], project: string, id: string): LarderError {
  const newest = jobs
    .filter((j) => j.project === project)
    .sort(compareJobsNewestFirst)
    .slice(0, JOBS_NAMED_WHEN_MISSING)
    .map((j) => j.id)
  return jobNotFound(project, id, newest)
}
