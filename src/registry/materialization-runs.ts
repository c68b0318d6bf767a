import { type Abortable, formatMicros, LarderError, type Micros } from '../core/index.js'
import type { ProjectCatalog } from './catalog.js'
import type { Registry } from './registry.js'

/**
 * One materialization of one feature view: what it loaded, how long it took, who ran it and how it
 * ended. The registry keeps these beside Feast's objects (never inside Feast's `Registry` message),
 * so recording one cannot conflict with an apply or an interval.
 */
export interface MaterializationRun {
  /** A unique id (a UUID). */
  readonly id: string
  readonly project: string
  /** The feature view materialized. */
  readonly view: string
  /** What ran it: `local` (in-process). */
  readonly engine: string
  /** `succeeded` once the rows and the interval are committed; `failed` otherwise (no interval recorded). */
  readonly status: MaterializationRunStatus
  /** Why a failed run failed (the error's message); undefined for a run that succeeded. */
  readonly error?: string
  /** Start of the window, inclusive. */
  readonly start: Micros
  /** End of the window, inclusive. */
  readonly end: Micros
  /** Entity rows read from the offline store. */
  readonly rowsRead: number
  /** Rows the online store applied. */
  readonly rowsWritten: number
  /** Rows the online store left out because it already held a newer value for that entity. */
  readonly rowsSkipped: number
  /**
   * The newest event timestamp among the rows handed to the online store; undefined when the run
   * wrote no row. A row skipped as older means the store holds a newer value still, so the online
   * store holds data at least this new once the run succeeded.
   */
  readonly newestEvent: Micros | undefined
  /** Who ran it: `LARDER_ACTOR`, else user@host (as the registry's change notes). */
  readonly runBy: string
  readonly startedAt: Micros
  readonly finishedAt: Micros
  readonly durationMs: number
}

export type MaterializationRunStatus = 'succeeded' | 'failed'

/** Which runs `listMaterializationRuns` returns. */
export interface ListMaterializationRunsOptions extends Abortable {
  /** Only this feature view's runs. */
  readonly view?: string
  /** At most this many runs, newest first (default {@link DEFAULT_RUNS_LISTED}). */
  readonly limit?: number
}

/** How `recordMaterializationRun` bounds the history. */
export interface RecordMaterializationRunOptions extends Abortable {
  /** Runs kept per feature view after this one is recorded, newest first (default {@link MATERIALIZATION_RUNS_KEPT}). */
  readonly keep?: number
}

/** Runs a registry keeps per feature view unless told otherwise; older ones are dropped as new ones are recorded. */
export const MATERIALIZATION_RUNS_KEPT = 100
/** Runs a listing returns when no limit is given. */
export const DEFAULT_RUNS_LISTED = 100
/** Longest error message stored with a failed run; a longer one is cut. */
export const RUN_ERROR_MAX_CHARS = 2000

const STATUSES: readonly MaterializationRunStatus[] = ['succeeded', 'failed']

/** Newest first: by start time, then by id, so every backend lists ties in the same order. */
export function compareRunsNewestFirst(a: MaterializationRun, b: MaterializationRun): number {
  if (a.startedAt !== b.startedAt) return b.startedAt - a.startedAt
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

/** The `limit` of a listing, checked: a positive integer, default {@link DEFAULT_RUNS_LISTED}. */
export function runsLimit(options: ListMaterializationRunsOptions): number {
  const limit = options.limit ?? DEFAULT_RUNS_LISTED
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new LarderError('INVALID_ARGUMENT', `the run limit must be a positive integer, got ${limit}`, {
      hint: 'give a limit of 1 or more, e.g. --limit 20',
    })
  }
  return limit
}

/** The `keep` of a recording, checked: a positive integer, default {@link MATERIALIZATION_RUNS_KEPT}. */
export function runsKept(options: RecordMaterializationRunOptions): number {
  const keep = options.keep ?? MATERIALIZATION_RUNS_KEPT
  if (!Number.isSafeInteger(keep) || keep < 1) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `the number of materialization runs kept per view must be a positive integer, got ${keep}`,
      { hint: `leave it out to keep ${MATERIALIZATION_RUNS_KEPT}` },
    )
  }
  return keep
}

/**
 * Checks a run before it is stored and returns it with its error message cut to
 * {@link RUN_ERROR_MAX_CHARS}. INVALID_ARGUMENT names the field at fault.
 */
export function checkRun(run: MaterializationRun): MaterializationRun {
  const bad = (field: string, value: unknown, hint: string) =>
    new LarderError(
      'INVALID_ARGUMENT',
      `materialization run ${JSON.stringify(run.id)} of feature view "${run.view}" has an invalid ${field}: ${JSON.stringify(value)}`,
      { hint, details: { field } },
    )
  for (const field of ['id', 'project', 'view', 'engine', 'runBy'] as const) {
    if (typeof run[field] !== 'string' || run[field] === '' || run[field].length > 255)
      throw bad(field, run[field], 'give a non-empty string of at most 255 characters')
  }
  if (!STATUSES.includes(run.status)) throw bad('status', run.status, 'use succeeded or failed')
  for (const field of [
    'start',
    'end',
    'rowsRead',
    'rowsWritten',
    'rowsSkipped',
    'startedAt',
    'finishedAt',
    'durationMs',
  ] as const) {
    if (!Number.isSafeInteger(run[field])) throw bad(field, run[field], 'give an integer')
  }
  if (run.newestEvent !== undefined && !Number.isSafeInteger(run.newestEvent))
    throw bad('newestEvent', run.newestEvent, 'give an integer (microseconds) or leave it out')
  const { error, ...rest } = run
  return error === undefined || error === null
    ? rest
    : { ...rest, error: String(error).slice(0, RUN_ERROR_MAX_CHARS) }
}

/** A view's freshness: the age of the newest event materialized, and where that instant came from. */
export interface ViewFreshness {
  /** Seconds from the instant to `now`. */
  readonly ageSeconds: number
  /** The instant: the newest event written by a successful run, else the end of the last interval. */
  readonly at: Micros
  /** `newestEvent` from the run history; `windowEnd` when no successful run wrote a row. */
  readonly basis: 'newestEvent' | 'windowEnd'
}

/**
 * Each materialized view's freshness: the age of the newest event its successful runs wrote (the
 * newest over the runs given, so a backfill of an older window or a run with no new rows does not make
 * a view look staler), falling back to the end of its last materialization interval when no run with
 * rows is recorded (a registry written by Feast, or before runs were recorded). Views with neither are
 * left out.
 */
export function viewFreshness(
  catalog: ProjectCatalog,
  runs: readonly MaterializationRun[],
  now: Micros,
): Map<string, ViewFreshness> {
  const newest = new Map<string, Micros>()
  for (const r of runs) {
    if (r.status !== 'succeeded' || r.newestEvent === undefined || r.project !== catalog.project) continue
    newest.set(r.view, Math.max(newest.get(r.view) ?? r.newestEvent, r.newestEvent))
  }
  const out = new Map<string, ViewFreshness>()
  for (const name of catalog.featureViews.keys()) {
    const event = newest.get(name)
    if (event !== undefined) {
      out.set(name, { ageSeconds: (now - event) / 1_000_000, at: event, basis: 'newestEvent' })
      continue
    }
    const intervals = catalog.materializationIntervals(name)
    if (intervals.length === 0) continue
    const end = Math.max(...intervals.map((i) => i.end))
    out.set(name, { ageSeconds: (now - end) / 1_000_000, at: end, basis: 'windowEnd' })
  }
  return out
}

/**
 * A run as JSON for people and the REST API: camelCase, instants as RFC 3339 UTC text, `error` only on
 * a failed run, `newestEventTimestamp` null when the run wrote no row.
 */
export function materializationRunJson(run: MaterializationRun): Record<string, unknown> {
  return {
    id: run.id,
    project: run.project,
    featureView: run.view,
    engine: run.engine,
    status: run.status,
    ...(run.error === undefined ? {} : { error: run.error }),
    windowStart: formatMicros(run.start),
    windowEnd: formatMicros(run.end),
    rowsRead: run.rowsRead,
    rowsWritten: run.rowsWritten,
    rowsSkipped: run.rowsSkipped,
    newestEventTimestamp: run.newestEvent === undefined ? null : formatMicros(run.newestEvent),
    runBy: run.runBy,
    startedAt: formatMicros(run.startedAt),
    finishedAt: formatMicros(run.finishedAt),
    durationMs: run.durationMs,
  }
}

/**
 * {@link viewFreshness} of a project's views from the registry's whole run history of the project.
 * When the history cannot be read (a registry that keeps none, a database down), `onError` hears why
 * and the freshness falls back to the materialization intervals alone; it never throws for that.
 */
export async function projectFreshness(
  registry: Pick<Registry, 'listMaterializationRuns'>,
  catalog: ProjectCatalog,
  now: Micros,
  options: Abortable & { onError?: (error: unknown) => void } = {},
): Promise<Map<string, ViewFreshness>> {
  let runs: MaterializationRun[] = []
  try {
    runs = await registry.listMaterializationRuns(catalog.project, {
      limit: Math.max(1, catalog.featureViews.size) * MATERIALIZATION_RUNS_KEPT,
      signal: options.signal,
    })
  } catch (e) {
    options.onError?.(e)
  }
  return viewFreshness(catalog, runs, now)
}

/** A view's freshness as JSON: `{ageSeconds, timestamp, basis}`, the instant as RFC 3339 UTC text. */
export function viewFreshnessJson(f: ViewFreshness): Record<string, unknown> {
  return { ageSeconds: f.ageSeconds, timestamp: formatMicros(f.at), basis: f.basis }
}
