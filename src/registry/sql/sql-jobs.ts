import { type Abortable, LarderError, nowMicros, throwIfAborted } from '../../core/index.js'
import {
  applyCancelRequest,
  applyJobPatch,
  checkJob,
  checkLogLine,
  isFinal,
  JOB_LOG_LINES_KEPT,
  JOB_STATUSES,
  JOBS_KEPT,
  JOBS_NAMED_WHEN_MISSING,
  type JobKind,
  type JobLogLine,
  type JobPatch,
  type JobRecord,
  type JobStatus,
  type JobStore,
  jobLogsLimit,
  jobNotFound,
  jobsLimit,
  type ListJobsOptions,
} from '../jobs.js'
import { retrying, type SqlConnection, type SqlDialect, type SqlExecutor } from './sql-dialect.js'
import { jobColumns, LARDER_TABLES } from './sql-schema.js'

const JOBS = LARDER_TABLES.jobs
const LOGS = LARDER_TABLES.jobLogs
/** The states `create` may drop a job in, as a SQL list of literals (the statuses are fixed words). */
const FINAL_STATES = `(${JOB_STATUSES.filter(isFinal)
  .map((s) => `'${s}'`)
  .join(', ')})`
/** Log lines per INSERT statement, well under every database's limit on parameters. */
const LOG_ROWS_PER_INSERT = 100
/** The columns `update` and `requestCancel` write; the rest never change after `create`. */
const MUTABLE = [
  'status',
  'progress',
  'started_at_micros',
  'finished_at_micros',
  'heartbeat_at_micros',
  'cancel_requested_at_micros',
  'error_code',
  'error_message',
  'result',
] as const

/**
 * The SQL registry's jobs, in Larder's side tables `larder_jobs` (one row per job, keyed by project and
 * id) and `larder_job_logs` (one row per log line), beside Feast's tables and outside the registry's
 * version. A change to a job is one transaction that locks its row (the dialect's locking read; SQLite
 * locks the database), applies `applyJobPatch` or `applyCancelRequest` to what it read and writes the
 * result, so writers in any number of processes take turns per job and none loses another's fields.
 */
export class SqlJobStore implements JobStore {
  readonly #db: SqlConnection
  readonly #dialect: SqlDialect
  readonly #displayUrl: string
  readonly #columns: string[]

  /** Jobs in the tables of the open registry database `db` (created by `SqlRegistry.open`). */
  constructor(db: SqlConnection, dialect: SqlDialect, displayUrl: string) {
    this.#db = db
    this.#dialect = dialect
    this.#displayUrl = displayUrl
    this.#columns = jobColumns(dialect).map(([c]) => c)
  }

  /**
   * Inserts the job's row (an existing key is CONFLICT and changes nothing), then deletes the project's
   * finished jobs beyond the newest {@link JOBS_KEPT} and their log lines, in one transaction.
   */
  async create(job: JobRecord, options: Abortable = {}): Promise<void> {
    const stored = checkJob(job)
    throwIfAborted(options.signal)
    const row = jobToRow(stored)
    await retrying(this.#dialect, () =>
      this.#db.transaction('write', async (tx) => {
        const inserted = await tx.run(
          this.#dialect.insertIgnore(JOBS, this.#columns),
          this.#columns.map((c) => row[c]),
        )
        if (inserted.affected !== 1) {
          throw new LarderError(
            'CONFLICT',
            `job "${stored.id}" already exists in project "${stored.project}" (the SQL registry ${this.#displayUrl})`,
            { hint: 'give each new job a fresh id (a UUID)', details: { job: stored.id } },
          )
        }
        await this.#dropOldFinished(tx, stored.project)
      }),
    )
  }

  async #dropOldFinished(tx: SqlExecutor, project: string): Promise<void> {
    // The newest finished job beyond the kept ones: it and every finished job older go.
    const { rows } = await tx.run(
      `SELECT created_at_micros, job_id FROM ${JOBS} WHERE project_id = ? AND status IN ${FINAL_STATES} ORDER BY created_at_micros DESC, job_id DESC LIMIT 1 OFFSET ${JOBS_KEPT}`,
      [project],
    )
    const cutoff = rows[0]
    if (!cutoff) return
    const created = Number(cutoff.created_at_micros)
    const older = `project_id = ? AND status IN ${FINAL_STATES} AND (created_at_micros < ? OR (created_at_micros = ? AND job_id <= ?))`
    const params = [project, created, created, String(cutoff.job_id)]
    await tx.run(
      `DELETE FROM ${LOGS} WHERE project_id = ? AND job_id IN (SELECT job_id FROM ${JOBS} WHERE ${older})`,
      [project, ...params],
    )
    await tx.run(`DELETE FROM ${JOBS} WHERE ${older}`, params)
  }

  async update(project: string, id: string, patch: JobPatch, options: Abortable = {}): Promise<JobRecord> {
    return this.#change(project, id, (job) => applyJobPatch(job, patch), options)
  }

  async requestCancel(project: string, id: string, options: Abortable = {}): Promise<JobRecord> {
    return this.#change(project, id, (job) => applyCancelRequest(job, nowMicros()), options)
  }

  /** Locks the job's row, writes `change(job)` unless it is the job itself, and returns it. */
  async #change(
    project: string,
    id: string,
    change: (job: JobRecord) => JobRecord,
    options: Abortable,
  ): Promise<JobRecord> {
    throwIfAborted(options.signal)
    return retrying(this.#dialect, () =>
      this.#db.transaction('write', async (tx) => {
        const job = await this.#read(tx, project, id, this.#dialect.lockRows)
        if (!job) throw await this.#notFound(tx, project, id)
        const after = change(job)
        if (after === job) return job
        const row = jobToRow(after)
        await tx.run(
          `UPDATE ${JOBS} SET ${MUTABLE.map((c) => `${c} = ?`).join(', ')} WHERE project_id = ? AND job_id = ?`,
          [...MUTABLE.map((c) => row[c]), project, id],
        )
        return after
      }),
    )
  }

  async get(project: string, id: string, options: Abortable = {}): Promise<JobRecord> {
    throwIfAborted(options.signal)
    const job = await this.#read(this.#db, project, id)
    if (!job) throw await this.#notFound(this.#db, project, id)
    return job
  }

  async list(project: string, options: ListJobsOptions = {}): Promise<JobRecord[]> {
    const limit = jobsLimit(options)
    throwIfAborted(options.signal)
    const states = options.status
    if (states?.length === 0) return []
    const byStatus = states ? ` AND status IN (${states.map(() => '?').join(', ')})` : ''
    const { rows } = await this.#db.run(
      `SELECT ${this.#columns.join(', ')} FROM ${JOBS} WHERE project_id = ?${byStatus} ORDER BY created_at_micros DESC, job_id DESC LIMIT ${limit}`,
      [project, ...(states ?? [])],
    )
    return rows.map((r) => this.#fromRow(r))
  }

  /**
   * Appends the lines numbered after the job's last one, in one transaction holding the job's row lock
   * (so appenders take turns and numbers never collide), then deletes the lines beyond the newest
   * {@link JOB_LOG_LINES_KEPT}.
   */
  async appendLogs(
    project: string,
    id: string,
    lines: readonly JobLogLine[],
    options: Abortable = {},
  ): Promise<void> {
    const checked = lines.map(checkLogLine).slice(-JOB_LOG_LINES_KEPT)
    throwIfAborted(options.signal)
    await retrying(this.#dialect, () =>
      this.#db.transaction('write', async (tx) => {
        const { rows } = await tx.run(
          `SELECT job_id FROM ${JOBS} WHERE project_id = ? AND job_id = ?${this.#dialect.lockRows}`,
          [project, id],
        )
        if (rows.length === 0) throw await this.#notFound(tx, project, id)
        if (checked.length === 0) return
        const last = await tx.run(
          `SELECT seq FROM ${LOGS} WHERE project_id = ? AND job_id = ? ORDER BY seq DESC LIMIT 1`,
          [project, id],
        )
        const first = Number(last.rows[0]?.seq ?? 0) + 1
        for (let i = 0; i < checked.length; i += LOG_ROWS_PER_INSERT) {
          const batch = checked.slice(i, i + LOG_ROWS_PER_INSERT)
          await tx.run(
            `INSERT INTO ${LOGS} (project_id, job_id, seq, at_micros, level, message) VALUES ${batch.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}`,
            batch.flatMap((l, j) => [project, id, first + i + j, l.at, l.level, l.message]),
          )
        }
        const newest = first + checked.length - 1
        if (newest > JOB_LOG_LINES_KEPT) {
          await tx.run(`DELETE FROM ${LOGS} WHERE project_id = ? AND job_id = ? AND seq <= ?`, [
            project,
            id,
            newest - JOB_LOG_LINES_KEPT,
          ])
        }
      }),
    )
  }

  async logs(
    project: string,
    id: string,
    options: Abortable & { limit?: number } = {},
  ): Promise<JobLogLine[]> {
    const limit = jobLogsLimit(options)
    throwIfAborted(options.signal)
    return this.#db.transaction('read', async (tx) => {
      if (!(await this.#read(tx, project, id))) throw await this.#notFound(tx, project, id)
      const { rows } = await tx.run(
        `SELECT at_micros, level, message FROM ${LOGS} WHERE project_id = ? AND job_id = ? ORDER BY seq DESC LIMIT ${limit}`,
        [project, id],
      )
      return rows
        .map((r) => ({
          at: Number(r.at_micros),
          level: String(r.level) as JobLogLine['level'],
          message: String(r.message),
        }))
        .reverse()
    })
  }

  async #read(tx: SqlExecutor, project: string, id: string, lock = ''): Promise<JobRecord | undefined> {
    const { rows } = await tx.run(
      `SELECT ${this.#columns.join(', ')} FROM ${JOBS} WHERE project_id = ? AND job_id = ?${lock}`,
      [project, id],
    )
    return rows[0] ? this.#fromRow(rows[0]) : undefined
  }

  async #notFound(tx: SqlExecutor, project: string, id: string): Promise<LarderError> {
    const { rows } = await tx.run(
      `SELECT job_id FROM ${JOBS} WHERE project_id = ? ORDER BY created_at_micros DESC, job_id DESC LIMIT ${JOBS_NAMED_WHEN_MISSING}`,
      [project],
    )
    return jobNotFound(
      project,
      id,
      rows.map((r) => String(r.job_id)),
    )
  }

  /** The job a row holds; REGISTRY_CORRUPT naming the job when a JSON column does not parse. */
  #fromRow(row: Record<string, unknown>): JobRecord {
    const id = String(row.job_id)
    const project = String(row.project_id)
    const json = (column: string): unknown => {
      const text = row[column]
      if (text === null || text === undefined) return undefined
      try {
        return JSON.parse(String(text))
      } catch (cause) {
        throw new LarderError(
          'REGISTRY_CORRUPT',
          `job "${id}" in project "${project}" has unreadable JSON in ${JOBS}.${column} (the SQL registry ${this.#displayUrl})`,
          { cause, hint: `delete that row of ${JOBS}; other jobs and the registry are untouched` },
        )
      }
    }
    const micros = (column: string) =>
      row[column] === null || row[column] === undefined ? undefined : Number(row[column])
    const errorCode = row.error_code
    return {
      id,
      project,
      kind: String(row.kind) as JobKind,
      engine: String(row.engine),
      status: String(row.status) as JobStatus,
      featureViews: (json('feature_views') as string[] | undefined) ?? null,
      request: json('request') as Record<string, unknown>,
      progress: json('progress') as JobRecord['progress'],
      createdBy: String(row.created_by),
      runner: row.runner === null || row.runner === undefined ? undefined : String(row.runner),
      createdAt: Number(row.created_at_micros),
      startedAt: micros('started_at_micros'),
      finishedAt: micros('finished_at_micros'),
      heartbeatAt: Number(row.heartbeat_at_micros),
      cancelRequestedAt: micros('cancel_requested_at_micros'),
      error:
        errorCode === null || errorCode === undefined
          ? undefined
          : { code: String(errorCode), message: String(row.error_message ?? '') },
      result: json('result'),
    }
  }
}

/** A job's column values (SQL NULL for what is undefined; JSON documents as text). */
function jobToRow(job: JobRecord): Record<string, unknown> {
  return {
    project_id: job.project,
    job_id: job.id,
    kind: job.kind,
    engine: job.engine,
    status: job.status,
    feature_views: job.featureViews === null ? null : JSON.stringify(job.featureViews),
    request: JSON.stringify(job.request),
    progress: JSON.stringify(job.progress),
    created_by: job.createdBy,
    runner: job.runner ?? null,
    created_at_micros: job.createdAt,
    started_at_micros: job.startedAt ?? null,
    finished_at_micros: job.finishedAt ?? null,
    heartbeat_at_micros: job.heartbeatAt,
    cancel_requested_at_micros: job.cancelRequestedAt ?? null,
    error_code: job.error?.code ?? null,
    error_message: job.error?.message ?? null,
    result: job.result === undefined ? null : JSON.stringify(job.result),
  }
}
