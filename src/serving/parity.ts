import type { Vector } from 'apache-arrow'
import {
  type Abortable,
  type EntityKeyValue,
  type FeastType,
  type FeastValue,
  type FeatureView,
  formatMicros,
  isLarderError,
  knownNames,
  LarderError,
  type Micros,
  murmur3x86_32,
  type OnDemandFeatureView,
  type TimestampInput,
  toMicros,
} from '../core/index.js'
import { entityKeyEncoder, viewRef } from '../online/online-store.js'
import type { ProjectCatalog } from '../registry/index.js'
import { type ExplainCause, type ExplainTarget, explain } from './explain.js'
import { type JsonValue, jsonValue } from './json-response.js'
import { historicalOnDemandPlan, onDemandResultTransform } from './on-demand-offline.js'
import { type FieldStatus, getOnlineFeatures } from './online-features.js'
import { sameStoredValue, storedForm } from './source-probe.js'

/** Which views {@link checkParity} checks, how many keys, and when. */
export interface ParityRequest {
  /**
   * Feature views, stream feature views and on-demand views to check (default: every online view
   * with a recorded materialization, and every on-demand view over such views).
   */
  readonly views?: readonly string[]
  /** Entity keys sampled per view (default 100). */
  readonly sample?: number
  /**
   * The instant compared (default: each view's last materialized end, so the check asks whether
   * materialization loaded what the offline store holds). A later instant also finds source rows
   * after the last materialized end (a stale window).
   */
  readonly at?: TimestampInput
  /** Seed of the key sample (default 0): the same seed and data sample the same keys. */
  readonly seed?: number
  /** Mismatches per view explained and returned as examples (default 5). */
  readonly examples?: number
}

/** One value that differs between the offline point-in-time join and the online read. */
export interface ParityMismatch {
  /** The entity key, join keys by name. */
  readonly key: Readonly<Record<string, EntityKeyValue>>
  /** `view:feature`. */
  readonly feature: string
  readonly valueType: number
  /** The point-in-time value at `at`, as the online store would hold it; null when the join found none. */
  readonly offline: FeastValue
  /** The online value; null when NOT_FOUND or older than the view's ttl (see {@link checkParity}). */
  readonly online: FeastValue
  readonly onlineStatus: FieldStatus
  /** The likely cause, from {@link explain} of that key and feature at `at`. */
  readonly cause: ExplainCause
}

/** The comparison of one view. */
export interface ViewParity {
  readonly view: string
  readonly kind: 'feature view' | 'stream feature view' | 'on demand feature view'
  /** The instant compared. */
  readonly at: Micros | undefined
  /** Entity keys sampled. */
  readonly keys: number
  readonly features: readonly string[]
  /** Values compared (keys times features). */
  readonly compared: number
  readonly mismatches: number
  /** `mismatches / compared`, 0 when nothing was compared. */
  readonly mismatchRate: number
  /** The first mismatches, each with its likely cause. */
  readonly examples: readonly ParityMismatch[]
  /** Why the view was not compared (never materialized, request fields needed, ...). */
  readonly skipped?: string
  /** Why the comparison failed (the source cannot be read, a transformation throws, ...). */
  readonly error?: string
}

/** What {@link checkParity} found. */
export interface ParityReport {
  readonly project: string
  readonly sample: number
  readonly seed: number
  readonly views: readonly ViewParity[]
  readonly compared: number
  readonly mismatches: number
  /** Views whose comparison failed (see {@link ViewParity.error}). */
  readonly errors: number
}

const DEFAULT_SAMPLE = 100
const DEFAULT_EXAMPLES = 5

/** A view to compare: the references read and where its keys are sampled from. */
interface Check {
  readonly name: string
  readonly kind: ViewParity['kind']
  /** `view:feature` of every feature compared. */
  readonly refs: readonly string[]
  readonly types: readonly FeastType[]
  /** The feature view whose source the keys are sampled from. */
  readonly keysFrom: FeatureView
  /** Per feature, the ttl of the view it comes from (seconds): online rows older count as missing. */
  readonly ttls: readonly number[]
  /** The views whose intervals bound the check (the view, or an on-demand view's sources). */
  readonly loadedBy: readonly string[]
}

/**
 * Checks that serving and training agree: for each view, samples entity keys from its offline source
 * (the same keys for the same seed and data), computes their point-in-time values at the view's last
 * materialized end (or `at`) through the offline engine's historical retrieval, reads the same keys
 * online with ages measured at that instant, and compares every value. On-demand views are compared
 * through their transformation on both sides; one that needs request fields is skipped (its inputs
 * are compared with its source views).
 *
 * The rule: an online value counts as missing (null) when its status is NOT_FOUND or when its event is
 * older than the view's ttl at that instant (the join finds no row there; with maxAge left at ttl,
 * these are the OUTSIDE_MAX_AGE values); two values are equal when the online
 * store would hold the same bytes for them: both are encoded as Feast `Value`s by the feature's
 * declared type, so a Float32 feature compares after narrowing to 32 bits, and an Int64 exactly.
 * The first mismatches of each view are explained ({@link explain}) to give their likely cause.
 *
 * Throws NOT_FOUND for an unknown view name, INVALID_ARGUMENT for a bad sample size.
 *
 * @example
 * const report = await checkParity(store, { sample: 50 })
 * if (report.mismatches > 0) process.exitCode = 1
 */
export async function checkParity(
  target: ExplainTarget,
  request: ParityRequest = {},
  options: Abortable = {},
): Promise<ParityReport> {
  const sample = request.sample ?? DEFAULT_SAMPLE
  if (!Number.isSafeInteger(sample) || sample < 1) {
    throw new LarderError('INVALID_ARGUMENT', `the sample size must be a positive integer, got ${sample}`, {
      hint: 'e.g. --sample 100',
    })
  }
  const seed = request.seed ?? 0
  const at = request.at === undefined ? undefined : toMicros(request.at, 'at')
  const state = await target.registry.load({ allowCache: false, signal: options.signal })
  const catalog = state.catalog(target.config.project)
  const views: ViewParity[] = []
  for (const item of plannedChecks(catalog, request.views)) {
    const empty = { view: item.name, kind: item.kind, at: undefined, keys: 0, features: [] }
    const none = { compared: 0, mismatches: 0, mismatchRate: 0, examples: [] }
    if ('skipped' in item) {
      views.push({ ...empty, ...none, skipped: item.skipped })
      continue
    }
    try {
      views.push(
        await checkView(target, catalog, item, { sample, seed, at, examples: request.examples }, options),
      )
    } catch (e) {
      if (!isLarderError(e) || e.code === 'ABORTED') throw e
      views.push({
        ...empty,
        features: item.refs,
        ...none,
        error: e.hint ? `${e.message} (${e.hint})` : e.message,
      })
    }
  }
  const compared = views.reduce((n, v) => n + v.compared, 0)
  const mismatches = views.reduce((n, v) => n + v.mismatches, 0)
  const errors = views.filter((v) => v.error !== undefined).length
  return { project: target.config.project, sample, seed, views, compared, mismatches, errors }
}

type Planned = Check | { readonly name: string; readonly kind: ViewParity['kind']; readonly skipped: string }

/** The checks of the named views, else of every online view and on-demand view. */
function plannedChecks(catalog: ProjectCatalog, names: readonly string[] | undefined): Planned[] {
  const chosen =
    names !== undefined && names.length > 0
      ? [...new Set(names)]
      : [
          ...[...catalog.featureViews.values()].filter((v) => v.online).map((v) => v.name),
          ...[...catalog.streamFeatureViews.values()].filter((v) => v.online).map((v) => v.name),
          ...catalog.onDemandFeatureViews.keys(),
        ]
  return chosen.map((name): Planned => {
    const fv = catalog.featureViews.get(name)
    const sfv = catalog.streamFeatureViews.get(name)
    if (fv || sfv) {
      const kind = fv ? 'feature view' : 'stream feature view'
      const view = fv ?? sfv!.storageView
      const skipped = viewSkipReason(catalog, view, name, kind)
      if (skipped) return { name, kind, skipped }
      return {
        name,
        kind,
        refs: view.features.map((f) => `${name}:${f.name}`),
        types: view.features.map((f) => f.dtype),
        ttls: view.features.map(() => view.ttl),
        keysFrom: view,
        loadedBy: [name],
      }
    }
    const odfv = catalog.onDemandFeatureViews.get(name)
    if (odfv === undefined) {
      const known = [
        ...catalog.featureViews.keys(),
        ...catalog.streamFeatureViews.keys(),
        ...catalog.onDemandFeatureViews.keys(),
      ]
      throw new LarderError('NOT_FOUND', `view "${name}" not found in project "${catalog.project}"`, {
        hint: `known views: ${knownNames(known)}`,
      })
    }
    return onDemandCheck(catalog, odfv)
  })
}

function viewSkipReason(
  catalog: ProjectCatalog,
  view: FeatureView,
  name: string,
  kind: string,
): string | undefined {
  if (!view.online) return `${kind} "${name}" is not served online`
  if (view.batchSource === undefined) return `${kind} "${name}" has no batch source to compare with`
  if (catalog.materializationIntervals(name).length === 0) {
    return `${kind} "${name}" was never materialized (run larder materialize-incremental)`
  }
  return undefined
}

function onDemandCheck(catalog: ProjectCatalog, odfv: OnDemandFeatureView): Planned {
  const name = odfv.name
  const kind = 'on demand feature view'
  const fields = odfv.requestFields.map((f) => f.name)
  if (fields.length > 0) {
    return {
      name,
      kind,
      skipped: `on-demand feature view "${name}" needs the request fields ${fields.join(', ')}, which sampled keys do not have`,
    }
  }
  const found = odfv.sourceProjections.map(
    (p) => catalog.featureViews.get(p.view.name) ?? catalog.streamFeatureViews.get(p.view.name)?.storageView,
  )
  if (found.some((v) => v === undefined)) {
    return { name, kind, skipped: `a source view of on-demand feature view "${name}" is not registered` }
  }
  const sources = found as FeatureView[]
  const keys = (v: FeatureView) => [...v.joinKeys].sort().join(',')
  if (sources.some((s) => keys(s) !== keys(sources[0]!))) {
    return {
      name,
      kind,
      skipped: `the source views of on-demand feature view "${name}" have different join keys`,
    }
  }
  for (const source of sources) {
    const skipped = viewSkipReason(catalog, source, source.name, 'its source view')
    if (skipped) return { name, kind, skipped }
  }
  return {
    name,
    kind,
    refs: odfv.schema.map((f) => `${name}:${f.name}`),
    types: odfv.schema.map((f) => f.dtype),
    // an output is as old as its inputs, which the join looks up within their views' ttl
    ttls: odfv.schema.map(() => 0),
    keysFrom: sources[0]!,
    loadedBy: sources.map((s) => s.name),
  }
}

async function checkView(
  target: ExplainTarget,
  catalog: ProjectCatalog,
  check: Check,
  settings: { sample: number; seed: number; at: Micros | undefined; examples: number | undefined },
  options: Abortable,
): Promise<ViewParity> {
  const { signal } = options
  const ends = check.loadedBy.map((v) => Math.max(...catalog.materializationIntervals(v).map((i) => i.end)))
  const starts = check.loadedBy.map((v) =>
    Math.min(...catalog.materializationIntervals(v).map((i) => i.start)),
  )
  const lastEnd = Math.min(...ends)
  const at = settings.at ?? lastEnd
  const keys = await sampleKeys(
    target,
    check.keysFrom,
    { start: Math.min(...starts), end: Math.max(at, lastEnd) },
    settings.sample,
    settings.seed,
    options,
  )
  const base = { view: check.name, kind: check.kind, at, keys: keys.length, features: check.refs }
  if (keys.length === 0) return { ...base, compared: 0, mismatches: 0, mismatchRate: 0, examples: [] }
  const offlineRows = await historicalRows(target, catalog, check.refs, keys, at, options)
  const online = await getOnlineFeatures(
    target,
    { entities: keys, features: check.refs, fullFeatureNames: true },
    { now: formatMicros(at), signal },
  )
  const mismatches: Omit<ParityMismatch, 'cause'>[] = []
  check.refs.forEach((ref, j) => {
    const column = ref.replace(':', '__')
    const vector = online.results[online.metadata.featureNames.indexOf(column)]!
    const dtype = check.types[j]!
    const ttl = check.ttls[j]! * 1_000_000
    keys.forEach((key, r) => {
      const offline = storedForm(dtype, offlineRows[r]?.[column] as FeastValue | undefined)
      const status = vector.statuses[r]!
      const expired = ttl > 0 && at - vector.eventTimestamps[r]! > ttl
      const value = status === 'NOT_FOUND' || expired ? null : vector.values[r]!
      if (sameStoredValue(dtype, offline, value)) return
      mismatches.push({
        key,
        feature: ref,
        valueType: dtype.valueType,
        offline,
        online: value,
        onlineStatus: status,
      })
    })
  })
  const examples: ParityMismatch[] = []
  for (const m of mismatches.slice(0, settings.examples ?? DEFAULT_EXAMPLES)) {
    const report = await explain(
      target,
      { entityRow: m.key, features: [m.feature], at: formatMicros(at) },
      options,
    )
    examples.push({ ...m, cause: report.features[0]!.cause })
  }
  const compared = keys.length * check.refs.length
  return {
    ...base,
    compared,
    mismatches: mismatches.length,
    mismatchRate: mismatches.length / compared,
    examples,
  }
}

/**
 * Up to `n` entity keys of the view with a source row in `range`, chosen by a seeded hash of each
 * key's serialized bytes (the `n` smallest): the same data and seed give the same keys whatever order
 * the engine yields them in. Memory holds at most `2n` keys.
 */
export async function sampleKeys(
  target: ExplainTarget,
  view: FeatureView,
  range: { start: Micros; end: Micros },
  n: number,
  seed: number,
  options: Abortable,
): Promise<Record<string, EntityKeyValue>[]> {
  const offline = await target.offline()
  const ref = viewRef(target.config.project, view)
  const encode = entityKeyEncoder(ref, target.config.entityKeySerializationVersion)
  let kept: { score: number; id: string; key: Record<string, EntityKeyValue> }[] = []
  const trim = () => {
    kept.sort((a, b) => a.score - b.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    kept = kept.slice(0, n)
  }
  for await (const batch of offline.pullLatest(
    view,
    { start: formatMicros(range.start), end: formatMicros(range.end) },
    { signal: options.signal },
  )) {
    const columns = view.joinKeys.map((k) => batch.getChild(k) as Vector)
    for (let r = 0; r < batch.numRows; r++) {
      const values = columns.map((c) => keyValue(c.get(r)))
      if (values.some((v) => v === null)) continue
      const bytes = encode(values as EntityKeyValue[])
      const key: Record<string, EntityKeyValue> = {}
      view.joinKeys.forEach((k, j) => {
        key[k] = values[j]!
      })
      kept.push({ score: murmur3x86_32(bytes, seed), id: Buffer.from(bytes).toString('hex'), key })
      if (kept.length >= 2 * n) trim()
    }
  }
  trim()
  return kept.map((k) => k.key)
}

/** A join-key cell from Arrow in the form entity keys take: int64 as a number while exact. */
function keyValue(v: unknown): EntityKeyValue | null {
  if (v === null || v === undefined) return null
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
  }
  return v as EntityKeyValue
}

/** The point-in-time rows of the keys at `at`, in key order, on-demand views computed as historical retrieval computes them. */
async function historicalRows(
  target: ExplainTarget,
  catalog: ProjectCatalog,
  refs: readonly string[],
  keys: readonly Record<string, EntityKeyValue>[],
  at: Micros,
  options: Abortable,
): Promise<Record<string, unknown>[]> {
  const plan = historicalOnDemandPlan(catalog, refs, true)
  const transform =
    plan.wanted.length > 0
      ? onDemandResultTransform(plan, await target.onDemandViews?.(options), true)
      : undefined
  const offline = await target.offline()
  const when = formatMicros(at)
  const job = await offline.getHistoricalFeatures(
    {
      entities: keys.map((k) => ({ ...k, event_timestamp: when })),
      features: plan.selections,
      fullFeatureNames: true,
      transform,
    },
    options,
  )
  return job.toRows(undefined, options)
}

/**
 * The report as JSON (`larder parity --json`): snake-case fields, RFC 3339 instants, values as
 * Feast's JSON writes them.
 */
export function parityJson(report: ParityReport): JsonValue {
  return {
    project: report.project,
    sample: report.sample,
    seed: report.seed,
    compared: report.compared,
    mismatches: report.mismatches,
    errors: report.errors,
    views: report.views.map((v) => ({
      view: v.view,
      kind: v.kind,
      at: v.at === undefined ? null : formatMicros(v.at),
      keys: v.keys,
      features: [...v.features],
      compared: v.compared,
      mismatches: v.mismatches,
      mismatch_rate: v.mismatchRate,
      examples: v.examples.map((m) => ({
        key: Object.fromEntries(Object.entries(m.key).map(([k, x]) => [k, jsonValue(x as FeastValue)])),
        feature: m.feature,
        offline: jsonValue(m.offline, m.valueType),
        online: jsonValue(m.online, m.valueType),
        online_status: m.onlineStatus,
        cause: { ...m.cause },
      })),
      ...(v.skipped === undefined ? {} : { skipped: v.skipped }),
      ...(v.error === undefined ? {} : { error: v.error }),
    })),
  }
}
