import type { RepoConfig } from '../config/index.js'
import {
  type Abortable,
  type Clock,
  clockNow,
  type DeployedOnDemandViews,
  type FeatureView,
  formatMicros,
  knownNames,
  LarderError,
  type Micros,
  type TimestampInput,
  toMicros,
} from '../core/index.js'
import type { OfflineStore } from '../offline/index.js'
import type { OnlineStore } from '../online/online-store.js'
import {
  type JobKind,
  type JobRecord,
  newJob,
  type ObjectKind,
  type ProjectCatalog,
  type Registry,
} from '../registry/index.js'
import type { BatchEngine, ViewWindow } from './engine.js'
import { THIS_RUNNER } from './job-tracker.js'
import { LocalEngine } from './local-engine.js'

/** What materialization needs from a feature store; `FeatureStore` is one. */
export interface MaterializeTarget {
  readonly config: RepoConfig
  readonly registry: Registry
  offline(): Promise<OfflineStore>
  online(options?: Abortable): Promise<OnlineStore>
  /** The deployed on-demand views, for views computed at write time (`writeToOnlineStore`). */
  onDemandViews?(): Promise<DeployedOnDemandViews>
  /** The engine that runs materialization jobs; default: in this process, jobs kept in the registry. */
  engine?(): Promise<BatchEngine>
  /**
   * Where "now" is read: the default end of incremental materialization and the times recorded by the
   * in-process engine (default: the system clock).
   */
  readonly clock?: Clock
}

export interface MaterializeRequest {
  /** Start of the window, inclusive (ISO-8601 string without offset = UTC, `Date`, or epoch ms). */
  readonly start: TimestampInput
  /** End of the window, inclusive. */
  readonly end: TimestampInput
  /**
   * Feature views and stream feature views to load; default: every view with `online: true` that has a
   * batch source. A stream view loads its non-aggregated features from its batch source.
   */
  readonly views?: readonly string[]
}

export interface MaterializeIncrementalRequest {
  /**
   * End of the window, inclusive (default: now, as the target's clock reads it); each view starts
   * where its last materialization ended.
   */
  readonly end?: TimestampInput
  /**
   * Feature views and stream feature views to load; default: every view with `online: true` that has a
   * batch source. A stream view loads its non-aggregated features from its batch source.
   */
  readonly views?: readonly string[]
}

export interface MaterializeOptions extends Abortable {
  /** Called when a view starts, after each batch written, and when the view's interval is recorded. */
  readonly onProgress?: (event: MaterializeProgress) => void
  /**
   * Rows per offline batch and per online write. Default: `materialization.online_write_batch_size`
   * of `feature_store.yaml`, else 10,000. Memory use grows with it, never with the window.
   */
  readonly batchSize?: number
  /**
   * Called with a problem that does not fail the materialization: a run that could not be recorded
   * in the registry's run history. Default: `process.emitWarning`.
   */
  readonly onWarning?: (message: string) => void
  /** Called once the job is stored, before any row is loaded: its id is what `larder jobs cancel` takes. */
  readonly onJob?: (job: JobRecord) => void
}

/** Where one view's materialization stands. */
export interface MaterializeProgress {
  readonly view: string
  /** `start` before the first row, `rows` after each batch, `done` once the interval is recorded. */
  readonly phase: 'start' | 'rows' | 'done'
  readonly start: Micros
  readonly end: Micros
  /** Entity rows written so far (one per entity key: the latest row of the window). */
  readonly rows: number
  /** Entity rows the window holds, when the offline store tells; undefined while unknown. */
  readonly rowsTotal: number | undefined
  readonly rowsPerSecond: number
  readonly elapsedSeconds: number
}

/** The outcome for one view. */
export interface ViewMaterialization {
  readonly view: string
  readonly start: Micros
  readonly end: Micros
  /** Entity rows read from the offline store and handed to the online store. */
  readonly rows: number
  /** Rows the online store applied. */
  readonly written: number
  /** Rows the online store left out because it already held a newer value for that entity. */
  readonly skipped: number
  readonly seconds: number
}

export interface MaterializeResult {
  /** The job's id (see `larder jobs get`). */
  readonly job: string
  readonly views: readonly ViewMaterialization[]
}

const DEFAULT_BATCH_ROWS = 10_000
const WEEK_MICROS = 7 * 86_400 * 1_000_000
/** Feast's incremental start for a view with no ttl and no interval: 52 weeks before the end. */
const DEFAULT_LOOKBACK_MICROS = 52 * WEEK_MICROS

/**
 * Loads the latest row per entity key with `start <= event timestamp <= end` of each selected view
 * from the offline store into the online store, as `feast materialize`, as one job of the configured
 * engine (in this process by default). Rows stream through in batches (memory does not grow with the
 * window); a view's interval is recorded in the registry only after all its rows were written, so an
 * interrupted run leaves the registry as it was and a rerun converges to the same online state (stores
 * keep the newer value). A stream feature view loads its non-aggregated features from its batch source
 * (its windowed aggregations come from the stream processor) and records its interval on its own meta.
 *
 * Throws INVALID_ARGUMENT when `end` is before `start` or a named view is not served online, NOT_FOUND
 * for an unknown view (listing the known ones), and ABORTED when the job is cancelled or the signal
 * fires before it succeeded.
 *
 * @example await materialize(store, { start: '2026-11-21T00:00:00Z', end: '2026-11-22T00:00:00Z' })
 */
export async function materialize(
  target: MaterializeTarget,
  request: MaterializeRequest,
  options: MaterializeOptions = {},
): Promise<MaterializeResult> {
  const windows = await windowsOf(target, request, options)
  return (await runAsJob(target, 'materialize', request, windows, options, false))!
}

/**
 * Materializes each selected view from where it stopped to `end` (default: now, by the target's
 * clock), as `feast materialize-incremental`.
 * A view starts at the latest end recorded in its materialization intervals; a view never materialized
 * starts at `end - ttl`, or 52 weeks before `end` when its ttl is 0. Otherwise as {@link materialize};
 * an `end` before a view's start is an error naming the view, and nothing is written then.
 *
 * @example await materializeIncremental(store, { end: new Date() })
 */
export async function materializeIncremental(
  target: MaterializeTarget,
  request: MaterializeIncrementalRequest,
  options: MaterializeOptions = {},
): Promise<MaterializeResult> {
  const resolved = withEnd(target, request)
  const windows = await incrementalWindowsOf(target, resolved, options)
  return (await runAsJob(target, 'materialize-incremental', resolved, windows, options, false))!
}

/**
 * Starts {@link materialize} as a job and returns it once it is handed over, without waiting: in this
 * process for the local engine (it dies with the process), on the workers for `bullmq`. Follow it with
 * the job store (`larder jobs get ID`).
 */
export async function submitMaterialize(
  target: MaterializeTarget,
  request: MaterializeRequest,
  options: MaterializeOptions = {},
): Promise<JobRecord> {
  const windows = await windowsOf(target, request, options)
  return submitted(target, 'materialize', request, windows, options)
}

/** Starts {@link materializeIncremental} as a job, as {@link submitMaterialize}. */
export async function submitMaterializeIncremental(
  target: MaterializeTarget,
  request: MaterializeIncrementalRequest,
  options: MaterializeOptions = {},
): Promise<JobRecord> {
  const resolved = withEnd(target, request)
  const windows = await incrementalWindowsOf(target, resolved, options)
  return submitted(target, 'materialize-incremental', resolved, windows, options)
}

/** The engine of `target`: its own, else the local one keeping jobs in the registry. */
export async function engineOf(target: MaterializeTarget): Promise<BatchEngine> {
  return (await target.engine?.()) ?? new LocalEngine(target.registry.jobs)
}

/** Rows per batch: the option, else the config's `online_write_batch_size`, else 10,000. */
export function materializeBatchSize(target: MaterializeTarget, options: MaterializeOptions): number {
  const batchSize = options.batchSize ?? target.config.onlineWriteBatchSize ?? DEFAULT_BATCH_ROWS
  if (!Number.isSafeInteger(batchSize) || batchSize <= 0) {
    throw new LarderError('INVALID_ARGUMENT', `batchSize must be a positive integer, got ${batchSize}`)
  }
  return batchSize
}

async function submitted(
  target: MaterializeTarget,
  kind: JobKind,
  request: MaterializeRequest | ResolvedIncrementalRequest,
  windows: readonly ViewWindow[],
  options: MaterializeOptions,
): Promise<JobRecord> {
  let job: JobRecord | undefined
  await runAsJob(
    target,
    kind,
    request,
    windows,
    {
      ...options,
      onJob: (j) => {
        job = j
        options.onJob?.(j)
      },
    },
    true,
  )
  return job!
}

/** Stores a queued job for the windows and hands it to the engine (waiting for it unless `detach`). */
async function runAsJob(
  target: MaterializeTarget,
  kind: JobKind,
  request: MaterializeRequest | ResolvedIncrementalRequest,
  windows: readonly ViewWindow[],
  options: MaterializeOptions,
  detach: boolean,
): Promise<MaterializeResult | undefined> {
  materializeBatchSize(target, options)
  const engine = await engineOf(target)
  const job = newJob({
    project: target.config.project,
    kind,
    engine: engine.type,
    featureViews: request.views && request.views.length > 0 ? [...new Set(request.views)] : null,
    request: {
      ...('start' in request ? { start: formatMicros(toMicros(request.start, 'start')) } : {}),
      end: formatMicros(toMicros(request.end, 'end')),
      views: windows.map((w) => w.view.name),
    },
    tasksTotal: 0,
    runner: engine.remote ? undefined : THIS_RUNNER,
  })
  await engine.jobs.create(job, { signal: options.signal })
  options.onJob?.(job)
  return engine.run(target, job, windows, { ...options, detach })
}

async function windowsOf(
  target: MaterializeTarget,
  request: MaterializeRequest,
  options: Abortable,
): Promise<ViewWindow[]> {
  const start = toMicros(request.start, 'start')
  const end = toMicros(request.end, 'end')
  if (end < start) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `end ${formatMicros(end)} is before start ${formatMicros(start)}`,
      { hint: 'give the start first: materialize START END' },
    )
  }
  const catalog = await freshCatalog(target, options)
  return selectViews(catalog, request.views).map((view) => ({ view, start, end }))
}

/** An incremental request whose end is known. */
type ResolvedIncrementalRequest = MaterializeIncrementalRequest & { readonly end: TimestampInput }

/** The request with its end, or now by the target's clock when it gives none. */
function withEnd(
  target: MaterializeTarget,
  request: MaterializeIncrementalRequest,
): ResolvedIncrementalRequest {
  return { ...request, end: request.end ?? formatMicros(clockNow(target.clock)) }
}

async function incrementalWindowsOf(
  target: MaterializeTarget,
  request: ResolvedIncrementalRequest,
  options: Abortable,
): Promise<ViewWindow[]> {
  const end = toMicros(request.end, 'end')
  const catalog = await freshCatalog(target, options)
  const windows = selectViews(catalog, request.views).map((view) => ({
    view,
    start: incrementalStart(catalog, view, end),
    end,
  }))
  const behind = windows.filter((w) => w.end < w.start)
  if (behind.length > 0) {
    const first = behind[0]!
    throw new LarderError(
      'INVALID_ARGUMENT',
      `end ${formatMicros(end)} is before the start of feature view "${first.view.name}", ` +
        `which is materialized up to ${formatMicros(first.start)}` +
        (behind.length > 1
          ? ` (also: ${behind
              .slice(1)
              .map((w) => w.view.name)
              .join(', ')})`
          : ''),
      {
        hint: `give an end at or after ${formatMicros(first.start)}, or use materialize START END for an older window`,
      },
    )
  }
  return windows
}

function incrementalStart(catalog: ProjectCatalog, view: FeatureView, end: Micros): Micros {
  const intervals = catalog.materializationIntervals(view.name)
  if (intervals.length > 0) return Math.max(...intervals.map((i) => i.end))
  if (view.ttl > 0) return end - Math.round(view.ttl * 1_000_000)
  return end - DEFAULT_LOOKBACK_MICROS
}

async function freshCatalog(target: MaterializeTarget, options: Abortable): Promise<ProjectCatalog> {
  const state = await target.registry.load({ allowCache: false, signal: options.signal })
  return state.catalog(target.config.project)
}

/**
 * The feature view the rows of the view named `name` are loaded into: the feature view of that name,
 * or the `storageView` of the stream feature view (its non-aggregated features over its batch source;
 * its aggregations come from the stream processor). Undefined when neither exists (or was skipped).
 */
export function loadedView(catalog: ProjectCatalog, name: string): FeatureView | undefined {
  return catalog.featureViews.get(name) ?? catalog.streamFeatureViews.get(name)?.storageView
}

/**
 * The views to materialize, as the feature views their rows are loaded into (see {@link loadedView}):
 * the named ones (each once, in the order given), or every online feature view with a batch source and
 * every online stream feature view, by name.
 */
function selectViews(catalog: ProjectCatalog, names: readonly string[] | undefined): FeatureView[] {
  const streamViews = [...catalog.streamFeatureViews.values()].map((v) => v.storageView)
  const loadable = [...catalog.featureViews.values(), ...streamViews]
    .filter((v) => v.online && v.batchSource !== undefined)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  if (names === undefined || names.length === 0) return loadable
  const known = () => `feature views that can be materialized: ${knownNames(loadable.map((v) => v.name))}`
  return [...new Set(names)].map((name) => {
    const view = loadedView(catalog, name)
    if (view === undefined) {
      const skipped = (kind: ObjectKind) => catalog.skipped.some((s) => s.kind === kind && s.name === name)
      if (skipped('feature view')) catalog.featureView(name)
      if (skipped('stream feature view')) catalog.streamFeatureView(name)
      throw new LarderError('NOT_FOUND', `feature view "${name}" not found in project "${catalog.project}"`, {
        hint: known(),
        details: { view: name },
      })
    }
    if (!view.online) {
      const kind = catalog.featureViews.has(name) ? 'feature view' : 'stream feature view'
      throw new LarderError(
        'INVALID_ARGUMENT',
        `${kind} "${name}" is not served online (online: false), so it cannot be materialized`,
        { hint: `set online: true and apply, or pick another view; ${known()}`, details: { view: name } },
      )
    }
    if (view.batchSource === undefined) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `feature view "${name}" has no batch source to materialize from (its push source has none)`,
        { hint: `give its PushSource a batchSource; ${known()}`, details: { view: name } },
      )
    }
    return view
  })
}
