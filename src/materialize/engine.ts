import type { Abortable, FeatureView, Micros } from '../core/index.js'
import type { JobRecord, JobStore } from '../registry/index.js'
import type { MaterializeOptions, MaterializeResult, MaterializeTarget } from './materialize.js'

/** One view's window to load, as `materialize` hands it to an engine. */
export interface ViewWindow {
  readonly view: FeatureView
  /** Inclusive. */
  readonly start: Micros
  /** Inclusive. */
  readonly end: Micros
}

export interface EngineRunOptions extends MaterializeOptions {
  /**
   * Return once the work is handed over instead of when it finishes; the job then finishes without
   * the caller (in this process for `local`, on the workers for `bullmq`).
   */
  readonly detach?: boolean
}

/**
 * Runs materialization jobs. `local` runs them in this process, view after view; `bullmq` splits each
 * view's window into tasks (time slices x entity-key parts) that workers on a queue run. Whatever the
 * engine, a view's interval is recorded in the registry only after every row of its window was
 * written, and the job's record in `jobs` tells how it stands.
 */
export interface BatchEngine {
  readonly type: string
  /**
   * True when jobs run outside this process (on workers), so a job handed over with `detach` outlives
   * it; false when they run in this process and end with it.
   */
  readonly remote: boolean
  /** Where this engine keeps its jobs: Redis for `bullmq`, the registry for `local`. */
  readonly jobs: JobStore
  /**
   * Loads `windows` as `job` (already stored in `jobs`, status queued) and stores its outcome. Without
   * `detach`, resolves with the per-view outcomes once the job succeeded and rejects with its error when
   * it failed (ABORTED when cancelled, or when `options.signal` fired, which cancels the job); with
   * `detach`, resolves with undefined once the job is handed over. Progress events come through
   * `options.onProgress` while the caller waits.
   */
  run(
    target: MaterializeTarget,
    job: JobRecord,
    windows: readonly ViewWindow[],
    options: EngineRunOptions,
  ): Promise<MaterializeResult | undefined>
  /**
   * Asks a job to stop and returns it as stored after: its runner stops at the next batch boundary,
   * tasks not started never run, and no interval is recorded for a view not finished. A job nobody
   * runs any more (a `lost` local job) is marked cancelled at once; a finished job is returned as is.
   */
  cancel(project: string, id: string, options?: Abortable): Promise<JobRecord>
  close(): Promise<void>
}
