import { type Abortable, clockNow, formatMicros, throwIfAborted } from '../core/index.js'
import type { JobRecord, JobStore, ViewProgress } from '../registry/index.js'
import type { BatchEngine, EngineRunOptions, ViewWindow } from './engine.js'
import { cancelStoredJob, JobTracker } from './job-tracker.js'
import { loadPiece, newTally, writersFor } from './load-window.js'
import {
  type MaterializeOptions,
  type MaterializeProgress,
  type MaterializeResult,
  type MaterializeTarget,
  materializeBatchSize,
  type ViewMaterialization,
} from './materialize.js'
import { recordInterval } from './record-interval.js'
import { type RunTally, recordRun } from './record-run.js'

/** The engine that runs a job in this process, view after view (Feast's `local`). */
export class LocalEngine implements BatchEngine {
  readonly type = 'local'
  readonly remote = false
  readonly jobs: JobStore

  /** Jobs are kept in `jobs`: the registry's store. */
  constructor(jobs: JobStore) {
    this.jobs = jobs
  }

  async run(
    target: MaterializeTarget,
    job: JobRecord,
    windows: readonly ViewWindow[],
    options: EngineRunOptions,
  ): Promise<MaterializeResult | undefined> {
    const done = this.#run(target, job, windows, options)
    if (!options.detach) return done
    done.catch(() => undefined)
    return undefined
  }

  cancel(project: string, id: string, options?: Abortable): Promise<JobRecord> {
    return cancelStoredJob(this.jobs, project, id, options)
  }

  async close(): Promise<void> {}

  async #run(
    target: MaterializeTarget,
    job: JobRecord,
    windows: readonly ViewWindow[],
    options: MaterializeOptions,
  ): Promise<MaterializeResult> {
    const tracker = await JobTracker.start(this.jobs, job, options.signal)
    try {
      const views = await loadWindows(target, windows, { ...options, signal: tracker.signal }, tracker)
      await tracker.finish({ result: { views: views.map(viewOutcomeJson) } })
      return { job: job.id, views }
    } catch (e) {
      await tracker.finish({ error: e })
      throw e
    }
  }
}

/** A view's outcome as a job's stored result: times as RFC 3339 text. */
export function viewOutcomeJson(v: ViewMaterialization): Record<string, unknown> {
  return { ...v, start: formatMicros(v.start), end: formatMicros(v.end) }
}

/**
 * Loads each window in turn, recording each view's interval and run once its rows are in; reports
 * per-view progress to the caller and to the job.
 */
async function loadWindows(
  target: MaterializeTarget,
  windows: readonly ViewWindow[],
  options: MaterializeOptions,
  tracker: JobTracker,
): Promise<ViewMaterialization[]> {
  const batchSize = materializeBatchSize(target, options)
  const progress = new Map<string, ViewProgress>(
    windows.map((w) => [w.view.name, { rowsDone: 0, rowsTotal: undefined, tasksDone: 0, tasksTotal: 1 }]),
  )
  const publish = () => {
    const all = [...progress.values()]
    const totals = all.map((p) => p.rowsTotal)
    tracker.progress({
      rowsDone: all.reduce((n, p) => n + p.rowsDone, 0),
      rowsTotal: totals.every((t) => t !== undefined) ? totals.reduce((n, t) => n + t, 0) : undefined,
      tasksDone: all.reduce((n, p) => n + p.tasksDone, 0),
      tasksTotal: windows.length,
      views: Object.fromEntries(progress),
    })
  }
  publish()
  if (windows.length === 0) return []
  const offline = await target.offline()
  const online = await target.online(options)
  const views: ViewMaterialization[] = []
  for (const w of windows) {
    throwIfAborted(options.signal)
    tracker.log('info', `feature view "${w.view.name}": ${formatMicros(w.start)} to ${formatMicros(w.end)}`)
    const writers = await writersFor(target, w.view)
    const tally = newTally(clockNow(target.clock))
    let rowsTotal: number | undefined
    const report = (phase: MaterializeProgress['phase']) => {
      const seen = progress.get(w.view.name)!
      progress.set(w.view.name, {
        ...seen,
        rowsDone: tally.rows,
        rowsTotal: phase === 'done' ? tally.rows : rowsTotal,
        tasksDone: phase === 'done' ? 1 : 0,
      })
      publish()
      options.onProgress?.(progressEvent(w, tally, phase, phase === 'done' ? tally.rows : rowsTotal))
    }
    report('start')
    try {
      await loadPiece(target, offline, online, w, writers, tally, {
        signal: options.signal,
        batchSize,
        onBatch: () => report('rows'),
        // a total gives progress bars their ETA; nobody watching, no extra scan
        ...(options.onProgress
          ? {
              onRowCount: (n: number) => {
                rowsTotal = n
                report('rows')
              },
            }
          : {}),
      })
      await recordInterval(target.registry, target.config.project, w.view.name, w, {
        signal: options.signal,
        now: clockNow(target.clock),
      })
    } catch (e) {
      await recordRun(target, w, tally, e, options)
      throw e
    }
    await recordRun(target, w, tally, undefined, options)
    report('done')
    tracker.log(
      'info',
      `feature view "${w.view.name}": ${tally.rows} rows, ${tally.written} written, ${tally.skipped} skipped as older`,
    )
    views.push(viewOutcome(w, tally))
  }
  return views
}

/** A progress event for one view from its tally. */
export function progressEvent(
  w: ViewWindow,
  tally: RunTally,
  phase: MaterializeProgress['phase'],
  rowsTotal: number | undefined,
): MaterializeProgress {
  const elapsedSeconds = (performance.now() - tally.started) / 1000
  return {
    view: w.view.name,
    phase,
    start: w.start,
    end: w.end,
    rows: tally.rows,
    rowsTotal,
    rowsPerSecond: elapsedSeconds > 0 ? tally.rows / elapsedSeconds : 0,
    elapsedSeconds,
  }
}

/** A view's outcome from its tally. */
export function viewOutcome(w: ViewWindow, tally: RunTally): ViewMaterialization {
  return {
    view: w.view.name,
    start: w.start,
    end: w.end,
    rows: tally.rows,
    written: tally.written,
    skipped: tally.skipped,
    seconds: (performance.now() - tally.started) / 1000,
  }
}
