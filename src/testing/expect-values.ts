import { inspect, isDeepStrictEqual } from 'node:util'
import {
  decodeValue,
  encodeValue,
  type FeastValue,
  formatMicros,
  LarderError,
  type Micros,
  parseFeatureRef,
  type TimestampInput,
  toMicros,
  ValueType,
} from '../core/index.js'
import type { FeatureStore } from '../feature-store.js'
import type { ExplainReport } from '../serving/explain.js'
import type { FieldStatus } from '../serving/online-features.js'
import type { FeatureSelectionRequest } from '../serving/online-plan.js'

const MATCHER = Symbol.for('larderjs.testing.expectation')
const STATUSES: readonly FieldStatus[] = ['PRESENT', 'NULL_VALUE', 'NOT_FOUND', 'OUTSIDE_MAX_AGE']

/** An expectation made by {@link withStatus} or {@link approx}, in place of a plain expected value. */
export type Expectation =
  | {
      readonly [MATCHER]: 'status'
      readonly status: FieldStatus
      readonly hasValue: boolean
      readonly value: unknown
    }
  | { readonly [MATCHER]: 'approx'; readonly value: number; readonly tolerance: number }

/**
 * Expects an online value with this status, and with `value` when one is given (`withStatus('NOT_FOUND')`
 * checks only the status). A plain expected value means status PRESENT; `null` means NULL_VALUE or
 * NOT_FOUND.
 *
 * @example await expectOnlineValues(store, request, { conv_rate: withStatus('OUTSIDE_MAX_AGE', 0.5) })
 */
export function withStatus(status: FieldStatus, ...value: [] | [unknown]): Expectation {
  if (!STATUSES.includes(status)) {
    throw new Error(
      `withStatus: ${JSON.stringify(status)} is not a status; use one of ${STATUSES.join(', ')}`,
    )
  }
  return { [MATCHER]: 'status', status, hasValue: value.length > 0, value: value[0] }
}

/**
 * Expects a number within `tolerance` (default 1e-6) of `value`, for values computed in floating
 * point, such as an on-demand view's sums.
 *
 * @example await expectOnlineValues(store, request, { conv_rate_plus_val1: approx(1.1) })
 */
export function approx(value: number, tolerance = 1e-6): Expectation {
  if (!Number.isFinite(value) || !Number.isFinite(tolerance) || tolerance < 0) {
    throw new Error(`approx: give a finite value and a tolerance >= 0, got approx(${value}, ${tolerance})`)
  }
  return { [MATCHER]: 'approx', value, tolerance }
}

/** One entity row to read online, the features to read, and (optionally) the instant to read at. */
export interface OnlineValuesRequest extends FeatureSelectionRequest {
  /** Join keys, and the request fields on-demand views need. */
  readonly entityRow: Readonly<Record<string, unknown>>
  /** The instant ages are measured from (default: the store's clock). */
  readonly now?: TimestampInput
}

/**
 * Reads one entity row online and throws a plain `Error` with a line per feature (expected, actual,
 * status, event time, and for a wrong one the cause `store.explain` finds, with its fix) unless every
 * feature column has its expected value. `expected` names every feature column of the response (join
 * keys may be left out); a plain value expects status PRESENT and that value, compared as the online
 * store holds it (so `0.1` matches a Float32 0.1; a timestamp may be a `Date` or ISO-8601 text);
 * `null` expects no value (NULL_VALUE or NOT_FOUND); {@link withStatus} and {@link approx} say more.
 * Needs no test runner.
 *
 * @example
 * await expectOnlineValues(
 *   store,
 *   { entityRow: { driver_id: 1001 }, features: ['driver_hourly_stats:conv_rate'] },
 *   { conv_rate: 0.5 },
 * )
 */
export async function expectOnlineValues(
  store: FeatureStore,
  request: OnlineValuesRequest,
  expected: Readonly<Record<string, unknown>>,
): Promise<void> {
  const { entityRow, now, ...selection } = request
  const at = now === undefined ? store.clock.now() : toMicros(now, 'now')
  const response = await store.getOnlineFeatures(
    { ...selection, entities: [entityRow] },
    { now: formatMicros(at) },
  )
  const names = response.metadata.featureNames
  const lines: Line[] = names.map((name, i) => {
    const vector = response.results[i]!
    const actual: Actual = {
      value: vector.values[0] ?? null,
      status: vector.statuses[0] ?? 'NOT_FOUND',
      eventTs: vector.eventTimestamps[0] ?? 0,
      valueType: response.metadata.valueTypes[i] ?? ValueType.UNKNOWN,
    }
    if (!Object.hasOwn(expected, name)) {
      return Object.hasOwn(entityRow, name)
        ? { name, actual, skip: true }
        : { name, actual, problem: 'not in the expected values' }
    }
    return { name, actual, ...compareOnline(expected[name], actual) }
  })
  for (const name of Object.keys(expected)) {
    if (!names.includes(name)) {
      lines.push({
        name,
        problem: `expected, but the response has no such column (columns: ${names.join(', ')})`,
      })
    }
  }
  const wrong = lines.filter((l) => l.problem !== undefined)
  if (wrong.length === 0) return
  const why = await explainWrong(store, request, at, wrong)
  const checked = lines.filter((l) => !l.skip)
  const out = [
    `expectOnlineValues: ${wrong.length} of ${checked.length} values differ for entity row ${show(entityRow)} at ${formatMicros(at)}`,
  ]
  for (const line of checked) {
    if (line.problem === undefined) {
      out.push(`  ✓ ${line.name}: ${showActual(line.actual!)}`)
      continue
    }
    out.push(`  ✗ ${line.name}: ${line.problem}`)
    const cause = why.get(line.name)
    if (cause) out.push(...cause.map((c) => `      ${c}`))
  }
  const got = checked
    .filter((l) => l.actual !== undefined)
    .map((l) => `${key(l.name)}: ${pasteable(l.actual!)}`)
  out.push(`actual: { ${got.join(', ')} }`)
  if ([...why.values()].flat().some((l) => l.includes('larder materialize'))) {
    out.push(
      "(in a test store, `larder materialize-incremental` is `await store.materialize()` at the clock's time)",
    )
  }
  throw new Error(out.join('\n'))
}

/** One entity at one instant and the features to read point-in-time correct, as training data would. */
export interface PointInTimeRequest {
  /** Join keys, and the request fields on-demand views need. */
  readonly entity: Readonly<Record<string, unknown>>
  /** The instant the features are read as of (the entity row's `event_timestamp`). */
  readonly at: TimestampInput
  /** One feature reference; `expected` is then its value. */
  readonly feature?: string
  /** Several feature references; `expected` then maps each output column to its value. */
  readonly features?: readonly string[]
  /** Name columns `<view>__<feature>` (default false). */
  readonly fullFeatureNames?: boolean
}

/**
 * Runs a point-in-time retrieval for one entity row at `at` (what `getHistoricalFeatures` puts in a
 * training set) and throws a plain `Error` with a line per feature, and for a wrong one what the
 * source holds at or before `at` (from `store.explain`), unless every feature has its expected value.
 * With `feature`, `expected` is its value; with `features`, an object of output columns to values.
 * Values compare as the declared type holds them (`0.1` matches a Float32 0.1; a timestamp may be a
 * `Date` or ISO-8601 text); `null` expects no value (none at or before `at` within the ttl);
 * {@link approx} allows a tolerance. Needs no test runner.
 *
 * @example
 * await expectPointInTime(store, { entity: { driver_id: 1001 }, at: '2026-01-01T00:00:00Z',
 *   feature: 'driver_hourly_stats:conv_rate' }, 0.5)
 */
export async function expectPointInTime(
  store: FeatureStore,
  request: PointInTimeRequest,
  expected: unknown,
): Promise<void> {
  const refs = request.feature !== undefined ? [request.feature] : [...(request.features ?? [])]
  if ((request.feature === undefined) === (request.features === undefined) || refs.length === 0) {
    throw new LarderError('INVALID_ARGUMENT', 'expectPointInTime: give either feature or features', {
      hint: "e.g. feature: 'driver_hourly_stats:conv_rate', or features: ['driver_hourly_stats:conv_rate', ...]",
    })
  }
  const at = toMicros(request.at, 'at')
  const full = request.fullFeatureNames === true
  const job = await store.getHistoricalFeatures({
    entities: [{ ...request.entity, event_timestamp: formatMicros(at) }],
    features: refs,
    fullFeatureNames: full,
  })
  const [row = {}] = await job.toRows()
  const catalog = await store.catalog()
  const columns = refs.map((ref) => {
    const { view, feature } = parseFeatureRef(ref)
    const owner =
      catalog.featureViews.get(view) ??
      catalog.streamFeatureViews.get(view) ??
      catalog.onDemandFeatureViews.get(view)
    const valueType = owner?.features.find((f) => f.name === feature)?.dtype.valueType ?? ValueType.UNKNOWN
    return { ref, name: full ? `${view}__${feature}` : feature, valueType }
  })
  const wanted: Record<string, unknown> =
    request.feature !== undefined ? { [columns[0]!.name]: expected } : { ...(expected as object) }
  const lines: Line[] = columns.map(({ name, valueType }) => {
    const actual: Actual = {
      value: (row[name] ?? null) as FeastValue,
      status: undefined,
      eventTs: 0,
      valueType,
    }
    if (!Object.hasOwn(wanted, name)) return { name, actual, problem: 'not in the expected values' }
    return { name, actual, ...compareOffline(wanted[name], actual) }
  })
  for (const name of Object.keys(wanted)) {
    if (!columns.some((c) => c.name === name)) {
      lines.push({
        name,
        problem: `expected, but no feature requested has this column (columns: ${columns.map((c) => c.name).join(', ')})`,
      })
    }
  }
  const wrong = lines.filter((l) => l.problem !== undefined)
  if (wrong.length === 0) return
  const why = await sourceRows(store, request.entity, refs, columns, at, wrong)
  const out = [
    `expectPointInTime: ${wrong.length} of ${lines.length} values differ for entity ${show(request.entity)} at ${formatMicros(at)}`,
  ]
  for (const line of lines) {
    if (line.problem === undefined) {
      out.push(`  ✓ ${line.name}: ${show(line.actual!.value, line.actual!.valueType)}`)
      continue
    }
    out.push(`  ✗ ${line.name}: ${line.problem}`)
    const found = why.get(line.name)
    if (found) out.push(`      ${found}`)
  }
  throw new Error(out.join('\n'))
}

/** What a read gave for one column. */
interface Actual {
  readonly value: FeastValue
  /** Undefined for point-in-time values, which have no status. */
  readonly status: FieldStatus | undefined
  readonly eventTs: Micros
  readonly valueType: number
}

/** One column's line of the report: its actual value, and what is wrong with it. */
interface Line {
  readonly name: string
  readonly actual?: Actual
  readonly problem?: string
  /** A join key not in the expected values: read, not checked. */
  readonly skip?: boolean
}

function isExpectation(v: unknown): v is Expectation {
  return typeof v === 'object' && v !== null && MATCHER in v
}

/** Whether an online value meets its expectation; `problem` says how it does not. */
function compareOnline(expected: unknown, actual: Actual): { problem?: string } {
  const got = `got ${showActual(actual)}`
  if (isExpectation(expected) && expected[MATCHER] === 'status') {
    if (actual.status !== expected.status) {
      return {
        problem: `expected status ${expected.status}${expected.hasValue ? ` with ${show(expected.value)}` : ''}, ${got}`,
      }
    }
    if (!expected.hasValue) return {}
    const inner = compareValue(expected.value, actual, onlineForm)
    return inner === undefined ? {} : { problem: `expected ${inner} (${expected.status}), ${got}` }
  }
  if (expected === null || expected === undefined) {
    const missing = actual.status === 'NULL_VALUE' || actual.status === 'NOT_FOUND'
    return missing ? {} : { problem: `expected no value (NULL_VALUE or NOT_FOUND), ${got}` }
  }
  const inner = compareValue(expected, actual, onlineForm)
  if (inner === undefined && actual.status === 'PRESENT') return {}
  return { problem: `expected ${inner ?? show(expected)} (PRESENT), ${got}` }
}

/** Whether a point-in-time value meets its expectation. */
function compareOffline(expected: unknown, actual: Actual): { problem?: string } {
  if (isExpectation(expected) && expected[MATCHER] === 'status') {
    return { problem: 'withStatus() applies to online values; a point-in-time value has no status' }
  }
  if (expected === null || expected === undefined) {
    return actual.value === null
      ? {}
      : { problem: `expected no value, got ${show(actual.value, actual.valueType)}` }
  }
  const inner = compareValue(expected, actual, offlineForm)
  return inner === undefined
    ? {}
    : { problem: `expected ${inner}, got ${show(actual.value, actual.valueType)}` }
}

/**
 * Undefined when the actual value equals the expected one in the form `form` gives both (approx: within
 * its tolerance), else the expected value as the message shows it.
 */
function compareValue(
  expected: unknown,
  actual: Actual,
  form: (valueType: number, v: unknown) => unknown,
): string | undefined {
  if (isExpectation(expected) && expected[MATCHER] === 'approx') {
    const near =
      typeof actual.value === 'number' && Math.abs(actual.value - expected.value) <= expected.tolerance
    return near ? undefined : `${expected.value} ± ${expected.tolerance}`
  }
  if (actual.value === null) return show(expected)
  let want: unknown
  try {
    want = form(actual.valueType, expected)
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e)
    return `${show(expected)} (which is not a value of the column's type: ${reason})`
  }
  return isDeepStrictEqual(want, form(actual.valueType, actual.value)) ? undefined : show(expected)
}

/** A value as the online store gives it back: encoded as the column's type and decoded again. */
function onlineForm(valueType: number, v: unknown): unknown {
  if (v === null || v === undefined) return null
  if (valueType === ValueType.UNIX_TIMESTAMP && (v instanceof Date || typeof v === 'string')) {
    return Math.floor(toMicros(v, 'expected timestamp') / 1_000_000)
  }
  return valueType === ValueType.UNKNOWN ? v : decodeValue(encodeValue(valueType, v as FeastValue))
}

/** A value as a point-in-time retrieval gives it: timestamps in microseconds, the rest as online. */
function offlineForm(valueType: number, v: unknown): unknown {
  if (v === null || v === undefined) return null
  if (
    valueType === ValueType.UNIX_TIMESTAMP &&
    (v instanceof Date || typeof v === 'string' || typeof v === 'number')
  ) {
    return toMicros(v, 'expected timestamp')
  }
  return onlineForm(valueType, v)
}

/** For each wrong column, the cause `store.explain` finds and its fix; empty when explain fails. */
async function explainWrong(
  store: FeatureStore,
  request: OnlineValuesRequest,
  at: Micros,
  wrong: readonly Line[],
): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>()
  let report: ExplainReport
  try {
    report = await store.explain({
      entityRow: request.entityRow,
      ...(request.features ? { features: request.features } : {}),
      ...(request.featureService ? { featureService: request.featureService } : {}),
      at: formatMicros(at),
    })
  } catch {
    return found
  }
  for (const f of report.features) {
    const { view, feature } = parseFeatureRef(f.feature)
    const name = request.fullFeatureNames ? `${view}__${feature}` : feature
    if (!wrong.some((l) => l.name === name)) continue
    found.set(name, [`why: ${f.cause.message}`, ...(f.cause.fix === null ? [] : [`fix: ${f.cause.fix}`])])
  }
  return found
}

/** For each wrong column, the newest source row at or before `at` that explain finds. */
async function sourceRows(
  store: FeatureStore,
  entity: Readonly<Record<string, unknown>>,
  refs: readonly string[],
  columns: readonly { ref: string; name: string }[],
  at: Micros,
  wrong: readonly Line[],
): Promise<Map<string, string>> {
  const found = new Map<string, string>()
  let report: ExplainReport
  try {
    report = await store.explain({ entityRow: entity, features: refs, at: formatMicros(at) })
  } catch {
    return found
  }
  for (const f of report.features) {
    const column = columns.find((c) => c.ref === f.feature)
    const source = f.details.source
    if (column === undefined || source === undefined || !wrong.some((l) => l.name === column.name)) continue
    const ttl = f.details.ttlSeconds ? ` (the view's ttl is ${f.details.ttlSeconds} s)` : ''
    found.set(
      column.name,
      source.atOrBefore === null
        ? `source "${source.name}" has no row for this entity at or before ${formatMicros(at)}`
        : `source "${source.name}": the newest row at or before ${formatMicros(at)} is at ${formatMicros(source.atOrBefore.eventTs)}, value ${show(source.atOrBefore.value, f.valueType)}${ttl}`,
    )
  }
  return found
}

function show(v: unknown, valueType: number = ValueType.UNKNOWN): string {
  const shown = valueType === ValueType.FLOAT || valueType === ValueType.FLOAT_LIST ? float32Digits(v) : v
  return inspect(shown, { depth: 6, breakLength: Number.POSITIVE_INFINITY, colors: false, sorted: false })
}

/** A Float32 value (or list) with the fewest digits that still round to it: `0.1`, not `0.10000000149011612`. */
function float32Digits(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(float32Digits)
  if (typeof v !== 'number' || !Number.isFinite(v) || Math.fround(v) !== v) return v
  for (let digits = 1; digits < 17; digits++) {
    const short = Number(v.toPrecision(digits))
    if (Math.fround(short) === v) return short
  }
  return v
}

function showActual(actual: Actual): string {
  const when = actual.eventTs > 0 ? `, event ${formatMicros(actual.eventTs)}` : ''
  return `${show(actual.value, actual.valueType)} (${actual.status ?? 'no status'}${when})`
}

/** An actual value as it would be written in `expected`. */
function pasteable(actual: Actual): string {
  const value = show(actual.value, actual.valueType)
  if (actual.status === 'PRESENT' || actual.status === undefined) return value
  if (actual.status === 'OUTSIDE_MAX_AGE') return `withStatus('OUTSIDE_MAX_AGE', ${value})`
  return 'null'
}

function key(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name)
}
