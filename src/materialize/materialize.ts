import type { RepoConfig } from '../config/index.js'
import {
  type Abortable,
  type DeployedOnDemandViews,
  type FeatureView,
  formatMicros,
  knownNames,
  LarderError,
  type Micros,
  nowMicros,
  type TimestampInput,
  throwIfAborted,
  toMicros,
} from '../core/index.js'
import { type OfflineStore, type PullColumns, pullColumns } from '../offline/index.js'
import { type OnlineStore, viewRef } from '../online/online-store.js'
import type { ProjectCatalog, Registry } from '../registry/index.js'
import { type OnDemandWriter, onDemandWriters } from './on-demand-writes.js'
import { recordInterval } from './record-interval.js'
import { type RunTally, recordRun } from './record-run.js'
import { writeRowEncoder } from './row-encoder.js'

/** What materialization needs from a feature store; `FeatureStore` is one. */
export interface MaterializeTarget {
  readonly config: RepoConfig
  readonly registry: Registry
  offline(): Promise<OfflineStore>
  online(options?: Abortable): Promise<OnlineStore>
  /** The deployed on-demand views, for views computed at write time (`writeToOnlineStore`). */
  onDemandViews?(): Promise<DeployedOnDemandViews>
}

export interface MaterializeRequest {
  /** Start of the window, inclusive (ISO-8601 string without offset = UTC, `Date`, or epoch ms). */
  readonly start: TimestampInput
  /** End of the window, inclusive. */
  readonly end: TimestampInput
  /** Feature views to load; default: every view with `online: true` that has a batch source. */
  readonly views?: readonly string[]
}

export interface MaterializeIncrementalRequest {
  /** End of the window, inclusive; each view starts where its last materialization ended. */
  readonly end: TimestampInput
  /** Feature views to load; default: every view with `online: true` that has a batch source. */
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
  readonly views: readonly ViewMaterialization[]
}

const DEFAULT_BATCH_ROWS = 10_000
const WEEK_MICROS = 7 * 86_400 * 1_000_000
/** Feast's incremental start for a view with no ttl and no interval: 52 weeks before the end. */
const DEFAULT_LOOKBACK_MICROS = 52 * WEEK_MICROS

interface Window {
  readonly view: FeatureView
  readonly columns: PullColumns
  readonly start: Micros
  readonly end: Micros
}

/**
 * Loads the latest row per entity key with `start <= event timestamp <= end` of each selected view
 * from the offline store into the online store, as `feast materialize`. Rows stream through in batches
 * (memory does not grow with the window); a view's interval is recorded in the registry only after all
 * its rows were written, so an interrupted run leaves the registry as it was and a rerun converges to
 * the same online state (stores keep the newer value). Views run one after another.
 *
 * Throws INVALID_ARGUMENT when `end` is before `start` or a named view is not served online, NOT_FOUND
 * for an unknown view (listing the known ones), and ABORTED when the signal fires.
 *
 * @example await materialize(store, { start: '2026-11-21T00:00:00Z', end: '2026-11-22T00:00:00Z' })
 */
export async function materialize(
  target: MaterializeTarget,
  request: MaterializeRequest,
  options: MaterializeOptions = {},
): Promise<MaterializeResult> {
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
  const windows = selectViews(catalog, request.views).map((view) => ({
    view,
    columns: pullColumns(view),
    start,
    end,
  }))
  return run(target, windows, options)
}

/**
 * Materializes each selected view from where it stopped to `end`, as `feast materialize-incremental`.
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
  const end = toMicros(request.end, 'end')
  const catalog = await freshCatalog(target, options)
  const windows = selectViews(catalog, request.views).map((view) => ({
    view,
    columns: pullColumns(view),
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
  return run(target, windows, options)
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
 * The views to materialize: the named ones (each once, in the order given), or every online view with
 * a batch source, by name.
 */
function selectViews(catalog: ProjectCatalog, names: readonly string[] | undefined): FeatureView[] {
  const loadable = [...catalog.featureViews.values()]
    .filter((v) => v.online && v.batchSource !== undefined)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  if (names === undefined || names.length === 0) return loadable
  const known = () => `feature views that can be materialized: ${knownNames(loadable.map((v) => v.name))}`
  return [...new Set(names)].map((name) => {
    const view = catalog.featureViews.get(name)
    if (view === undefined) {
      if (catalog.skipped.some((s) => s.kind === 'feature view' && s.name === name)) catalog.featureView(name)
      throw new LarderError('NOT_FOUND', `feature view "${name}" not found in project "${catalog.project}"`, {
        hint: known(),
        details: { view: name },
      })
    }
    if (!view.online) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `feature view "${name}" is not served online (online: false), so it cannot be materialized`,
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

async function run(
  target: MaterializeTarget,
  windows: readonly Window[],
  options: MaterializeOptions,
): Promise<MaterializeResult> {
  const batchSize = options.batchSize ?? target.config.onlineWriteBatchSize ?? DEFAULT_BATCH_ROWS
  if (!Number.isSafeInteger(batchSize) || batchSize <= 0) {
    throw new LarderError('INVALID_ARGUMENT', `batchSize must be a positive integer, got ${batchSize}`)
  }
  if (windows.length === 0) return { views: [] }
  const offline = await target.offline()
  const online = await target.online(options)
  const catalog = await freshCatalog(target, options)
  const stored = [...catalog.onDemandFeatureViews.values()].some((o) => o.writeToOnlineStore)
  const deployed = stored ? await target.onDemandViews?.() : undefined
  const views: ViewMaterialization[] = []
  for (const w of windows) {
    throwIfAborted(options.signal)
    const writers = onDemandWriters(catalog, w.view, deployed)
    views.push(await materializeView(target, offline, online, w, batchSize, options, writers))
  }
  return { views }
}

async function materializeView(
  target: MaterializeTarget,
  offline: OfflineStore,
  online: OnlineStore,
  w: Window,
  batchSize: number,
  options: MaterializeOptions,
  writers: readonly OnDemandWriter[],
): Promise<ViewMaterialization> {
  const tally: RunTally = {
    startedAt: nowMicros(),
    started: performance.now(),
    rows: 0,
    written: 0,
    skipped: 0,
    newestEvent: undefined,
  }
  let result: Awaited<ReturnType<typeof loadView>>
  try {
    result = await loadView(target, offline, online, w, batchSize, options, writers, tally)
  } catch (e) {
    await recordRun(target, w, tally, e, options)
    throw e
  }
  await recordRun(target, w, tally, undefined, options)
  result.report('done')
  return result.outcome
}

/**
 * Streams one view's window into the online store and records its interval, counting into `tally` as
 * batches are written. Returns the outcome and the progress reporter, for the `done` event.
 */
async function loadView(
  target: MaterializeTarget,
  offline: OfflineStore,
  online: OnlineStore,
  w: Window,
  batchSize: number,
  options: MaterializeOptions,
  writers: readonly OnDemandWriter[],
  tally: RunTally,
): Promise<{ outcome: ViewMaterialization; report: (phase: MaterializeProgress['phase']) => void }> {
  const { project, entityKeySerializationVersion } = target.config
  const ref = viewRef(project, w.view)
  const encode = writeRowEncoder(ref, w.columns, entityKeySerializationVersion)
  const started = tally.started
  let rowsTotal: number | undefined
  const report = (phase: MaterializeProgress['phase']) => {
    if (!options.onProgress) return
    const elapsedSeconds = (performance.now() - started) / 1000
    options.onProgress({
      view: w.view.name,
      phase,
      start: w.start,
      end: w.end,
      rows: tally.rows,
      rowsTotal: phase === 'done' ? tally.rows : rowsTotal,
      rowsPerSecond: elapsedSeconds > 0 ? tally.rows / elapsedSeconds : 0,
      elapsedSeconds,
    })
  }
  report('start')
  const batches = offline
    .pullLatest(
      w.view,
      // A number would be read as epoch milliseconds; RFC 3339 text keeps the microseconds.
      { start: formatMicros(w.start), end: formatMicros(w.end) },
      {
        signal: options.signal,
        batchSize,
        // a total gives progress bars their ETA; nobody watching, no extra scan
        ...(options.onProgress
          ? {
              onRowCount: (n: number) => {
                rowsTotal = n
                report('rows')
              },
            }
          : {}),
      },
    )
    [Symbol.asyncIterator]()
  try {
    // The next batch is read while this one is encoded and written.
    let next = batches.next()
    for (;;) {
      const { done, value: batch } = await next
      if (done) break
      next = batches.next()
      next.catch(() => undefined)
      throwIfAborted(options.signal)
      const encoded = encode(batch)
      tally.rows += batch.numRows
      const stats = await online.write(ref, encoded, { signal: options.signal })
      for (const writer of writers) {
        await online.write(writer.ref, writer.rows(encoded), { signal: options.signal })
      }
      tally.written += stats.written
      tally.skipped += stats.skipped
      let newest = tally.newestEvent ?? Number.NEGATIVE_INFINITY
      for (const row of encoded) if (row.eventTs > newest) newest = row.eventTs
      if (encoded.length > 0) tally.newestEvent = newest
      report('rows')
    }
  } finally {
    await batches.return?.()
  }
  throwIfAborted(options.signal)
  await recordInterval(target.registry, project, w.view.name, w, { signal: options.signal })
  return {
    report,
    outcome: {
      view: w.view.name,
      start: w.start,
      end: w.end,
      rows: tally.rows,
      written: tally.written,
      skipped: tally.skipped,
      seconds: (performance.now() - started) / 1000,
    },
  }
}
