import { randomUUID } from 'node:crypto'
import { knownNames, LarderError } from '../core/index.js'

export type JobKind = 'materialize' | 'materialize-incremental'
export type JobStatus = 'running' | 'succeeded' | 'failed'

/** A materialization started by the server, as `GET /jobs/{id}` shows it. */
export interface JobState<R> {
  readonly id: string
  readonly kind: JobKind
  status: JobStatus
  /** The views asked for; null means every materializable view. */
  readonly featureViews: readonly string[] | null
  readonly startedAt: Date
  finishedAt?: Date
  result?: R
  error?: unknown
}

/** Finished jobs kept for `GET /jobs/{id}`; older ones are forgotten first. */
const KEEP_FINISHED = 200

/**
 * The materializations the server is running or ran. Two runs conflict when they share a view (a run
 * over every view conflicts with any other); `start` refuses a conflicting run with CONFLICT (HTTP
 * 409) naming the views, unless forced.
 *
 * @example const job = jobs.start('materialize', ['driver_hourly_stats'], false, () => store.materialize(...))
 */
export class MaterializationJobs<R> {
  readonly #jobs = new Map<string, JobState<R>>()
  readonly #running = new Map<JobState<R>, AbortController>()
  readonly #done = new Map<JobState<R>, Promise<JobState<R>>>()

  /**
   * Starts `run` as a job and returns its state at once; `done` settles when it finishes (it never
   * rejects: the outcome is in the state). Throws CONFLICT when a running job shares a view, unless
   * `force`. With `keep` false (a run whose id no one is given, such as a synchronous request), the
   * job is forgotten once it finishes, so its views and error are not held for `get`.
   */
  start(
    kind: JobKind,
    views: readonly string[] | undefined,
    force: boolean,
    run: (signal: AbortSignal) => Promise<R>,
    keep = true,
  ): { state: JobState<R>; done: Promise<JobState<R>> } {
    const featureViews = views === undefined || views.length === 0 ? null : [...new Set(views)]
    if (!force) this.#checkConflict(featureViews)
    const state: JobState<R> = {
      id: randomUUID(),
      kind,
      status: 'running',
      featureViews,
      startedAt: new Date(),
    }
    const abort = new AbortController()
    if (keep) this.#remember(state)
    this.#running.set(state, abort)
    const done = run(abort.signal).then(
      (result) => {
        state.status = 'succeeded'
        state.result = result
        return state
      },
      (error: unknown) => {
        state.status = 'failed'
        state.error = error
        return state
      },
    )
    const settled = done.finally(() => {
      state.finishedAt = new Date()
      this.#running.delete(state)
      this.#done.delete(state)
    })
    this.#done.set(state, settled)
    return { state, done: settled }
  }

  /** The job with this id, or NOT_FOUND. */
  get(id: string): JobState<R> {
    const job = this.#jobs.get(id)
    if (job) return job
    throw new LarderError('NOT_FOUND', `job "${id}" not found`, {
      hint: `the server keeps its last ${KEEP_FINISHED} finished jobs; running: ${knownNames([...this.#running.keys()].map((j) => j.id))}`,
      details: { job: id },
    })
  }

  /**
   * Aborts every running job and settles when they have stopped. An aborted materialization records
   * no interval for the view it was loading, so a later run loads that window again.
   */
  async abortAll(): Promise<void> {
    const running = [...this.#running]
    for (const [, abort] of running) abort.abort(new LarderError('ABORTED', 'the server is shutting down'))
    await Promise.all(running.map(([job]) => this.#done.get(job)))
  }

  #checkConflict(views: readonly string[] | null): void {
    for (const job of this.#running.keys()) {
      const all = job.featureViews === null || views === null
      const shared = all ? [] : job.featureViews!.filter((v) => views!.includes(v))
      if (!all && shared.length === 0) continue
      const what =
        job.featureViews === null
          ? 'every feature view is'
          : views === null
            ? `feature views ${knownNames(job.featureViews)} are`
            : `feature view${shared.length > 1 ? 's' : ''} ${knownNames(shared)} ${shared.length > 1 ? 'are' : 'is'}`
      throw new LarderError('CONFLICT', `${what} already materializing (job ${job.id})`, {
        hint: 'wait for that job (GET /jobs/{id}), or add ?force=true to run anyway',
        details: { feature_views: all ? (job.featureViews ?? views ?? []) : shared, job: job.id },
      })
    }
  }

  #remember(state: JobState<R>): void {
    this.#jobs.set(state.id, state)
    if (this.#jobs.size <= KEEP_FINISHED) return
    for (const [id, job] of this.#jobs) {
      if (job.status !== 'running') {
        this.#jobs.delete(id)
        return
      }
    }
  }
}
