import { knownNames, LarderError, type Micros, nowMicros } from '../core/index.js'
import { THIS_RUNNER } from '../materialize/index.js'
import {
  effectiveStatus,
  isFinal,
  type JobRecord,
  type JobStatus,
  type ProjectCatalog,
} from '../registry/index.js'

/** The stored states of a materialization still at work, whose views a new one may not share. */
const AT_WORK: readonly JobStatus[] = ['queued', 'running']
/** Jobs read for the conflict check: far more than run at once in any deployment. */
const AT_WORK_READ = 1000
/** How often a detached job run in this process is read back, to learn that it finished. */
const FOLLOW_MS = 1000
/** The same once the server is closing and waits for its jobs to stop. */
const FOLLOW_CLOSING_MS = 100

/** Most unknown names a NOT_FOUND of {@link checkMaterializeViews} lists; the rest are counted. */
const NAMES_SHOWN = 10

/**
 * The feature views a materialization request names, each once in the order given (undefined or
 * empty: every view, returned as given), checked against the project before any other work: throws
 * NOT_FOUND naming the names that are no feature view or stream feature view of the project (the
 * first ten, and how many more), with the views it has. Linear in the names, so a request naming
 * 60,000 views is refused as quickly as one naming two. Whether each view can be materialized
 * (online, with a batch source) is checked by the materialization.
 */
export function checkMaterializeViews(
  catalog: ProjectCatalog,
  views: readonly string[] | undefined,
): readonly string[] | undefined {
  if (views === undefined || views.length === 0) return views
  const distinct = [...new Set(views)]
  const skipped = new Set(
    catalog.skipped
      .filter((s) => s.kind === 'feature view' || s.kind === 'stream feature view')
      .map((s) => s.name),
  )
  const unknown = distinct.filter(
    (name) => !catalog.featureViews.has(name) && !catalog.streamFeatureViews.has(name) && !skipped.has(name),
  )
  if (unknown.length === 0) return distinct
  const shown = unknown.slice(0, NAMES_SHOWN).map((name) => `"${name.slice(0, 200)}"`)
  const more = unknown.length > NAMES_SHOWN ? ` and ${unknown.length - NAMES_SHOWN} more` : ''
  const known = [...catalog.featureViews.keys(), ...catalog.streamFeatureViews.keys()]
  throw new LarderError(
    'NOT_FOUND',
    `${unknown.length === 1 ? 'feature view' : `${unknown.length} feature views`} ${shown.join(', ')}${more} not found in project "${catalog.project}"`,
    {
      hint: `name views of the project (${knownNames(known)}), or leave feature_views out to materialize every view`,
      details: { feature_views: unknown.slice(0, NAMES_SHOWN), unknown: unknown.length },
    },
  )
}

/**
 * CONFLICT when a materialization over `views` (null: every view) would share a feature view with one
 * of `jobs` still at work (a materialization queued or running whose runner is alive; a `lost` one
 * does not count), naming the views and the job; undefined when none does. A job over every view
 * conflicts with any other. Linear in the views requested plus the views of the jobs.
 */
export function materializationConflict(
  jobs: readonly JobRecord[],
  views: readonly string[] | null,
  now: Micros,
): LarderError | undefined {
  const requested = views === null ? null : new Set(views)
  for (const job of jobs) {
    if (job.kind !== 'materialize' && job.kind !== 'materialize-incremental') continue
    const status = effectiveStatus(job, now)
    if (status !== 'queued' && status !== 'running') continue
    const all = job.featureViews === null || requested === null
    const shared = all ? [] : job.featureViews!.filter((v) => requested!.has(v))
    if (!all && shared.length === 0) continue
    const what =
      job.featureViews === null
        ? 'every feature view is'
        : views === null
          ? `feature views ${knownNames(job.featureViews)} are`
          : `feature view${shared.length > 1 ? 's' : ''} ${knownNames(shared)} ${shared.length > 1 ? 'are' : 'is'}`
    return new LarderError('CONFLICT', `${what} already materializing (job ${job.id})`, {
      hint: `wait for that job (GET /jobs/${job.id}), cancel it (DELETE /jobs/${job.id}), or add ?force=true to run anyway`,
      details: { feature_views: all ? (job.featureViews ?? views ?? []) : shared, job: job.id },
    })
  }
  return undefined
}

/** What a materialization started through {@link ServerJobs.start} is given. */
export interface JobStart {
  /** Fires when the server closes, for a job run in this process. */
  readonly signal: AbortSignal
  /** To be called once the job is stored (the `onJob` option of `materialize`). */
  readonly onJob: (job: JobRecord) => void
}

/** Where the server reads jobs: the feature store's engine's job store. */
export interface JobReader {
  listJobs(options: { status: readonly JobStatus[]; limit: number }): Promise<JobRecord[]>
  getJob(id: string): Promise<JobRecord>
}

/** A job this server runs in its own process. */
interface InProcess {
  readonly abort: AbortController
  /** Settles once the job has stopped. */
  done: Promise<unknown>
}

/**
 * The materializations a feature server starts, kept in the engine's job store (never in memory
 * only). A new one is refused with CONFLICT when it shares a view with a stored job at work (see
 * {@link materializationConflict}), unless forced. Requests to one server are admitted one at a time:
 * each checks the stored jobs and stores its own before the next checks, so two never both pass. Two
 * servers (or a server and a CLI) racing can both pass: the job store has no lock spanning the check
 * and the creation. That is harmless, since online writes keep the newer value per entity (two runs
 * over one view converge to the same state) and each run records its own interval; the check only
 * spares the duplicate work.
 *
 * Jobs run in this process (the local engine) are aborted by {@link ServerJobs.abortAll}; jobs on a
 * queue are left to their workers.
 */
export class ServerJobs {
  readonly #reader: JobReader
  readonly #inProcess = new Set<InProcess>()
  readonly #closing = new AbortController()
  #admissions: Promise<unknown> = Promise.resolve()

  constructor(reader: JobReader) {
    this.#reader = reader
  }

  /**
   * Admits a materialization over `views` (undefined or empty: every view) and runs `launch`, which
   * calls `onJob` once its job is stored. `detached` says what `launch` resolves with: the job once it
   * is handed over (`submitMaterialize`), else the outcome once the job finished (`materialize`). A
   * detached job run in this process is then read back from the store until it finished, and
   * `onFinished` hears the stored job. Throws CONFLICT unless `force` (see the class).
   */
  async start<T>(
    views: readonly string[] | undefined,
    options: {
      readonly force: boolean
      readonly detached: boolean
      readonly onFinished?: (job: JobRecord) => void
    },
    launch: (run: JobStart) => Promise<T>,
  ): Promise<T> {
    const featureViews = views === undefined || views.length === 0 ? null : [...new Set(views)]
    let stored!: () => void
    const admitted = new Promise<void>((resolve) => {
      stored = resolve
    })
    const turn = this.#admissions.then(() => (options.force ? undefined : this.#check(featureViews)))
    this.#admissions = turn.then(
      () => admitted,
      () => undefined,
    )
    await turn
    const run: InProcess = { abort: new AbortController(), done: Promise.resolve() }
    let job: JobRecord | undefined
    const work = launch({
      signal: run.abort.signal,
      onJob: (j) => {
        job = j
        stored()
        if (j.runner !== THIS_RUNNER) return
        this.#inProcess.add(run)
        if (this.#closing.signal.aborted) run.abort.abort(shuttingDown())
      },
    })
    work.then(stored, stored)
    run.done = work
      .then(() =>
        options.detached && job?.runner === THIS_RUNNER ? this.#follow(job, options.onFinished) : undefined,
      )
      .catch(() => undefined)
      .finally(() => this.#inProcess.delete(run))
    return work
  }

  /**
   * Aborts every job run in this process (each ends cancelled with "the server is shutting down", and
   * records no interval for the view it was loading) and settles once they have stopped. Jobs on a
   * queue go on, on their workers.
   */
  async abortAll(): Promise<void> {
    this.#closing.abort()
    const running = [...this.#inProcess]
    for (const run of running) run.abort.abort(shuttingDown())
    await Promise.all(running.map((run) => run.done))
  }

  async #check(views: readonly string[] | null): Promise<void> {
    const atWork = await this.#reader.listJobs({ status: AT_WORK, limit: AT_WORK_READ })
    const conflict = materializationConflict(atWork, views, nowMicros())
    if (conflict) throw conflict
  }

  /**
   * Reads a detached job back until it finished (or its runner stopped beating: `lost`), and hands the
   * stored job to `onFinished`. A read that fails is retried, until the server closes.
   */
  async #follow(job: JobRecord, onFinished: ((job: JobRecord) => void) | undefined): Promise<void> {
    for (;;) {
      await pause(this.#closing.signal.aborted ? FOLLOW_CLOSING_MS : FOLLOW_MS, this.#closing.signal)
      const stored = await this.#reader.getJob(job.id).catch(() => undefined)
      if (stored === undefined) {
        if (this.#closing.signal.aborted) return
        continue
      }
      if (isFinal(stored.status) || effectiveStatus(stored, nowMicros()) === 'lost') {
        onFinished?.(stored)
        return
      }
    }
  }
}

function shuttingDown(): LarderError {
  return new LarderError('ABORTED', 'the server is shutting down', {
    hint: 'run the materialization again once the server is back; its interval was not recorded',
  })
}

/** Resolves after `ms`, or at once when `wake` fires. */
function pause(ms: number, wake: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      wake.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    if (!wake.aborted) wake.addEventListener('abort', done, { once: true })
  })
}
