import type { OnlineLimits } from '../config/index.js'
import {
  type Abortable,
  type Clock,
  clockNow,
  type DeployedOnDemandViews,
  decodeValue,
  type EntityKeyValue,
  type FeastValue,
  firstTileOfWindow,
  knownNames,
  LarderError,
  type Micros,
  type OnDemandColumns,
  requestValue,
  runTransformation,
  type TimestampInput,
  throwIfAborted,
  toMicros,
  transformOf,
} from '../core/index.js'
import type { OnlineReadResult, OnlineStore } from '../online/online-store.js'
import { hasTiles, windowValues } from '../online/tile-store.js'
import { joinKeyValue } from './entity-values.js'
import { checkPlanSize, checkRequestSize, effectiveLimits, entityRowCount, Pace } from './online-limits.js'
import { type FeatureSelectionRequest, type OnlinePlan, onlinePlan, type PlanTarget } from './online-plan.js'
import { expireOnRead } from './storage-expiry.js'

/**
 * Entity rows: columnar (`{ driver_id: [1001, 1002] }`, every column the same length) or an array of
 * row objects with the same keys. Keys are join keys (or the names a projection's join-key map reads
 * them from). Columnar input without columns is one row without keys, for entity-less views.
 */
export type EntityRows =
  | Readonly<Record<string, readonly unknown[]>>
  | readonly Readonly<Record<string, unknown>>[]

export interface OnlineFeaturesRequest extends FeatureSelectionRequest {
  readonly entities: EntityRows
}

/** The header (HTTP and gRPC metadata) that asks for {@link GetOnlineFeaturesOptions.strict}: `larder-strict: true`. */
export const STRICT_HEADER = 'larder-strict'

export interface GetOnlineFeaturesOptions extends Abortable {
  /**
   * The instant value ages are measured from, for OUTSIDE_MAX_AGE and for `storageTtl` on stores
   * without native expiry (default: now, as the target's clock reads it).
   */
  readonly now?: TimestampInput
  /**
   * Refuse entity columns that are neither join keys of the requested views nor request data their
   * on-demand views need. Default false: such columns are ignored, as Feast does, so a caller may send
   * its whole request context.
   */
  readonly strict?: boolean
  /**
   * Limits of this read, each overriding the repo's `feature_server:` block (`max_entity_rows`,
   * `max_features`, `max_feature_values`; defaults 100,000 rows, 1,000 features, 500,000 values).
   * A read over a limit throws RESOURCE_EXHAUSTED before any store is read.
   */
  readonly limits?: Partial<OnlineLimits>
}

/**
 * Feast's `FieldStatus`: `PRESENT`; `NULL_VALUE` when the store holds the entity but a null value;
 * `NOT_FOUND` when it holds nothing for it (or, in a store without native expiry, only a row whose
 * event timestamp is more than the view's `storageTtl` before now); `OUTSIDE_MAX_AGE` when the value's event timestamp is more
 * than the view's `maxAge` before now (the value is still returned).
 */
export type FieldStatus = 'PRESENT' | 'NULL_VALUE' | 'NOT_FOUND' | 'OUTSIDE_MAX_AGE'

/** One column of the response: an entry per entity row. */
export interface FeatureVector {
  /** Values in the Value codec's JS representation; int64 beyond ±2^53 is a bigint. */
  readonly values: FeastValue[]
  readonly statuses: FieldStatus[]
  /** Event timestamps in microseconds; 0 for join-key columns and values not found. */
  readonly eventTimestamps: Micros[]
}

/** Feast's columnar `GetOnlineFeaturesResponse`: `results[i]` is the column named `featureNames[i]`. */
export interface OnlineFeaturesResponse {
  readonly metadata: {
    readonly featureNames: readonly string[]
    /**
     * The ValueType of each column (Larder's addition to Feast's metadata), so that a writer can
     * format values by type, as {@link toJsonResponse} does with float32.
     */
    readonly valueTypes: readonly number[]
  }
  readonly results: readonly FeatureVector[]
}

/** What an online read needs from a feature store (`FeatureStore` is one). */
export interface ServingTarget extends PlanTarget {
  online(options?: Abortable): Promise<OnlineStore>
  /** Where "now" is read (default: the system clock). */
  readonly clock?: Clock
  /**
   * The deployed definitions' on-demand views, which run the transformations the registry only
   * describes. Without it, only on-demand views defined in this process (passed as objects) can run.
   */
  onDemandViews?(options?: Abortable): Promise<DeployedOnDemandViews>
}

interface EntityTable {
  readonly columns: readonly string[]
  readonly values: ReadonlyMap<string, readonly unknown[]>
  readonly rows: number
}

/** Distinct entity keys of one key group and, per entity row, the index of its key. */
interface GroupKeys {
  readonly keys: Uint8Array[]
  readonly rowKey: Int32Array
}

/**
 * Reads the latest feature values of entity rows from the online store, as Feast's
 * `get_online_features`. The response is columnar: the request's join-key columns first (status
 * PRESENT, timestamp 0), then the features grouped by view. Join-key values are checked against the
 * types of the views' entity columns (a number for an INT64 key is an INT64). Each view's distinct
 * keys are read once, all views in one `readMany` call, and fanned out to their rows. The registry is
 * consulted through its cache and the resolved request is reused while the registry is unchanged.
 *
 * Entity columns that no requested view uses are ignored unless `options.strict` is set. Throws
 * INVALID_ARGUMENT for a missing join key (naming it and the view), a join-key value of the wrong
 * type, an unused entity column when strict, or ragged entity columns; NOT_FOUND for unknown views,
 * features or services; RESOURCE_EXHAUSTED, before any store is read, for more entity rows, features
 * or feature values than the limits (`options.limits`, else the repo's `feature_server:` block).
 * Misses and stale values are statuses, never errors.
 *
 * A large read lets the event loop run every few milliseconds of work (encoding keys, decoding and
 * fanning out values; the stores do the same between their batches), and stops with ABORTED at the
 * next such point once `options.signal` fired; the signal also reaches the store's read.
 *
 * @example
 * const res = await getOnlineFeatures(store, {
 *   entities: { driver_id: [1001, 1002] },
 *   features: ['driver_hourly_stats:conv_rate'],
 * })
 * res.results[1].values // conv_rate of 1001 and 1002
 */
export async function getOnlineFeatures(
  target: ServingTarget,
  request: OnlineFeaturesRequest,
  options: GetOnlineFeaturesOptions = {},
): Promise<OnlineFeaturesResponse> {
  const limits = effectiveLimits(target.config, options.limits)
  const rowCount = entityRowCount(request.entities)
  checkRequestSize(rowCount, request.features?.length, limits)
  const state = await target.registry.load({ signal: options.signal })
  const plan = onlinePlan(target, state, request)
  checkPlanSize(plan, rowCount, limits)
  const table = entityTable(request.entities)
  checkColumns(plan, table, options.strict === true)
  const now = options.now === undefined ? clockNow(target.clock) : toMicros(options.now, 'now')
  const pace = new Pace(options.signal)
  const groups: GroupKeys[] = []
  for (const g of plan.keyGroups) {
    groups.push(await groupKeys(plan, g.columns, g.valueTypes, g.view, g.encode, table, pace))
  }
  throwIfAborted(options.signal)
  const online = await target.online(options)
  const read = expireOnRead(
    online.capabilities,
    plan.reads.map((r) => r.ref),
    await online.readMany(
      plan.reads.map((r) => ({ view: r.ref, keys: groups[r.keyGroup]!.keys, features: r.features })),
      { signal: options.signal },
    ),
    now,
  )
  const tileResults = await readTileWindows(online, plan, groups, now, options)
  const keyColumns = table.columns.filter((c) => plan.joinKeys.has(c))
  const results: FeatureVector[] = []
  for (const column of keyColumns) results.push(await joinKeyColumn(plan, table, column, pace))
  const features: FeatureVector[] = new Array(plan.featureColumns.length)
  const readVectors: FeatureVector[][] = []
  for (let i = 0; i < plan.reads.length; i++) {
    const r = plan.reads[i]!
    const rowKey = groups[r.keyGroup]!.rowKey
    const vectors: FeatureVector[] = []
    for (let f = 0; f < r.features.length; f++) {
      const column = featureColumn(read[i]!, f, rowKey, r.maxAgeMicros, now, pace)
      const vector = column instanceof Promise ? await column : column
      if (r.outputs[f]! >= 0) features[r.outputs[f]!] = vector
      vectors.push(vector)
    }
    readVectors.push(vectors)
  }
  for (let i = 0; i < plan.tileReads.length; i++) {
    const t = plan.tileReads[i]!
    const rowKey = groups[t.keyGroup]!.rowKey
    for (let f = 0; f < t.outputs.length; f++) {
      const column = featureColumn(tileResults[i]!, f, rowKey, t.maxAgeMicros, now, pace)
      features[t.outputs[f]!] = column instanceof Promise ? await column : column
    }
  }
  if (plan.onDemand.length > 0) {
    const deployed = await target.onDemandViews?.(options)
    const rowLabel = (r: number) =>
      keyColumns.length === 0
        ? `entity row ${r}`
        : `entity row ${r} (${keyColumns.map((c) => `${c}=${String(table.values.get(c)![r])}`).join(', ')})`
    const requests = new Map<string, FeastValue[]>()
    for (const [field, { dtype }] of plan.requestFields) {
      const raw = table.values.get(field)!
      requests.set(
        field,
        Array.from({ length: table.rows }, (_, r) => requestValue(field, dtype, raw[r], r)),
      )
    }
    for (const odfv of plan.onDemand) {
      const inputs: Record<string, readonly unknown[]> = {}
      for (const input of odfv.inputs) {
        inputs[input.name] =
          'request' in input ? requests.get(input.request)! : readVectors[input.read]![input.feature]!.values
      }
      const columns = runTransformation(
        odfv.view,
        transformOf(odfv.view, deployed),
        inputs as OnDemandColumns,
        table.rows,
        rowLabel,
      )
      odfv.outputs.forEach((at, j) => {
        if (at < 0) return
        const values = columns[j]!
        features[at] = {
          values,
          statuses: values.map((v) => (v === null ? 'NULL_VALUE' : 'PRESENT')),
          eventTimestamps: new Array<Micros>(table.rows).fill(0),
        }
      })
    }
  }
  for (const vector of features) results.push(vector)
  return { metadata: responseMetadata(plan, keyColumns), results }
}

/** Per plan, the response metadata of each list of join-key columns met (few: the callers' shapes). */
const metadataCache = new WeakMap<OnlinePlan, Map<string, OnlineFeaturesResponse['metadata']>>()

/**
 * The metadata of a response of `plan` whose join-key columns are `keyColumns`: built once per plan
 * and key columns and shared by its responses, so that writers can keep what they derive from it
 * (the JSON of the names, see `jsonResponseText`).
 */
function responseMetadata(
  plan: OnlinePlan,
  keyColumns: readonly string[],
): OnlineFeaturesResponse['metadata'] {
  let byKeys = metadataCache.get(plan)
  if (byKeys === undefined) {
    byKeys = new Map()
    metadataCache.set(plan, byKeys)
  }
  const id = keyColumns.join('\0')
  let metadata = byKeys.get(id)
  if (metadata === undefined) {
    metadata = Object.freeze({
      featureNames: Object.freeze([...keyColumns, ...plan.featureColumns]),
      valueTypes: Object.freeze([
        ...keyColumns.map((c) => plan.joinKeys.get(c)!.valueType),
        ...plan.featureTypes,
      ]),
    })
    byKeys.set(id, metadata)
  }
  return metadata
}

/**
 * The windowed aggregations of the plan's tile reads at `now`, as read results: per distinct key, the
 * wanted aggregations' values, stamped with the newest event in their windows (`now` when the windows
 * are empty, as an empty window's count is a current answer); no row for a key without tiles.
 */
async function readTileWindows(
  online: OnlineStore,
  plan: OnlinePlan,
  groups: readonly GroupKeys[],
  now: Micros,
  options: Abortable,
): Promise<OnlineReadResult[]> {
  if (plan.tileReads.length === 0) return []
  if (!hasTiles(online)) {
    throw new LarderError(
      'UNSUPPORTED',
      `the online store "${online.type}" keeps no tiles, so the windowed aggregations of "${plan.tileReads[0]!.name}" cannot be read`,
      {
        hint: 'use a built-in online store (sqlite, redis, postgres, memory) for stream feature views with aggregations',
      },
    )
  }
  return Promise.all(
    plan.tileReads.map(async (t) => {
      const hops = Math.max(...t.wanted.map((i) => t.ref.aggregations[i]!.hops))
      const tiles = await online.readTiles(
        t.ref,
        groups[t.keyGroup]!.keys,
        firstTileOfWindow(now, t.ref.hopMicros, hops),
        options,
      )
      return tiles.map((entity) => {
        const window = windowValues(t.ref, entity, now, t.wanted)
        return window && { eventTs: window.newestTs || now, values: window.values }
      })
    }),
  )
}

function entityTable(entities: EntityRows): EntityTable {
  if (Array.isArray(entities)) {
    const rows = entities as readonly Readonly<Record<string, unknown>>[]
    const columns = rows.length === 0 ? [] : Object.keys(rows[0]!)
    const values = new Map(columns.map((c) => [c, new Array<unknown>(rows.length)]))
    rows.forEach((row, i) => {
      const keys = Object.keys(row)
      const odd = keys.length !== columns.length || keys.some((k) => !values.has(k))
      if (odd) {
        throw new LarderError(
          'INVALID_ARGUMENT',
          `entity row ${i} has the keys ${knownNames(keys)} but row 0 has ${knownNames(columns)}`,
          { hint: 'give every entity row the same join keys' },
        )
      }
      for (const c of columns) values.get(c)![i] = row[c]
    })
    return { columns, values, rows: rows.length }
  }
  if (typeof entities !== 'object' || entities === null) {
    throw new LarderError('INVALID_ARGUMENT', 'entities must be { joinKey: [values] } or an array of rows', {
      hint: 'e.g. entities: { driver_id: [1001, 1002] }',
    })
  }
  const columns = Object.keys(entities)
  const values = new Map<string, readonly unknown[]>()
  let rows: number | undefined
  for (const c of columns) {
    const column = (entities as Record<string, unknown>)[c]
    if (!Array.isArray(column)) {
      throw new LarderError('INVALID_ARGUMENT', `entity column "${c}" is not an array`, {
        hint: `give a list of values, e.g. { ${c}: [${JSON.stringify(column ?? 1001)}] }`,
      })
    }
    if (rows !== undefined && column.length !== rows) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `entity column "${c}" has ${column.length} values but "${columns[0]}" has ${rows}`,
        { hint: 'give every entity column one value per row' },
      )
    }
    rows = column.length
    values.set(c, column)
  }
  return { columns, values, rows: rows ?? 1 }
}

function checkColumns(plan: OnlinePlan, table: EntityTable, strict: boolean): void {
  for (const [field, { view }] of plan.requestFields) {
    if (!table.values.has(field)) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `the request lacks the field "${field}" that on-demand feature view "${view}" needs`,
        {
          hint: `send it with the entities (or request_context), one value per row, e.g. { ${field}: [...] }`,
          details: { field, view },
        },
      )
    }
  }
  const unused = strict
    ? table.columns.find((c) => !plan.joinKeys.has(c) && !plan.requestFields.has(c))
    : undefined
  if (unused !== undefined) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `entity column "${unused}" is not a join key of the requested feature views`,
      {
        hint: `their join keys: ${knownNames(plan.joinKeys.keys())}; request fields: ${knownNames(plan.requestFields.keys())}; without strict, unused columns are ignored`,
        details: { joinKey: unused },
      },
    )
  }
  for (const read of plan.reads) {
    const missing = read.keyColumns.find((c) => !table.values.has(c))
    if (missing !== undefined) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `the entities lack the join key "${missing}" that feature view "${read.name}" needs`,
        {
          hint: `give it for every row, e.g. entities: { ${missing}: [...] }`,
          details: { joinKey: missing, view: read.name },
        },
      )
    }
  }
}

async function groupKeys(
  plan: OnlinePlan,
  columns: readonly string[],
  valueTypes: readonly number[],
  view: string,
  encode: (values: readonly EntityKeyValue[]) => Uint8Array,
  table: EntityTable,
  pace: Pace,
): Promise<GroupKeys> {
  const rowKey = new Int32Array(table.rows)
  if (columns.length === 0) return { keys: table.rows === 0 ? [] : [encode([])], rowKey }
  const sources = columns.map((c) => table.values.get(c)!)
  const values: EntityKeyValue[] = new Array(columns.length)
  const seen = new Map<string, number>()
  const keys: Uint8Array[] = []
  for (let r = 0; r < table.rows; r++) {
    for (let j = 0; j < columns.length; j++) {
      values[j] = joinKeyValue(
        sources[j]![r],
        valueTypes[j]!,
        columns[j]!,
        plan.joinKeys.get(columns[j]!)?.view ?? view,
      )
    }
    const key = encode(values)
    const id = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
    let at = seen.get(id)
    if (at === undefined) {
      at = keys.length
      seen.set(id, at)
      keys.push(key)
    }
    rowKey[r] = at
    if (pace.add(columns.length)) await pace.yield()
  }
  return { keys, rowKey }
}

async function joinKeyColumn(
  plan: OnlinePlan,
  table: EntityTable,
  column: string,
  pace: Pace,
): Promise<FeatureVector> {
  const { valueType, view } = plan.joinKeys.get(column)!
  const source = table.values.get(column)!
  const values: FeastValue[] = new Array(table.rows)
  for (let r = 0; r < table.rows; r++) {
    values[r] = joinKeyValue(source[r], valueType, column, view) as FeastValue
    if (pace.add(1)) await pace.yield()
  }
  return {
    values,
    statuses: new Array<FieldStatus>(table.rows).fill('PRESENT'),
    eventTimestamps: new Array<Micros>(table.rows).fill(0),
  }
}

/**
 * One feature's column of a read: each distinct key's value decoded once, with its status and
 * timestamp, then fanned out to the entity rows. Work that fits in the pace's current slice is done at
 * once (no promise); a larger column is done in slices, letting the event loop run between them.
 */
function featureColumn(
  read: OnlineReadResult,
  feature: number,
  rowKey: Int32Array,
  maxAgeMicros: number,
  now: Micros,
  pace: Pace,
): FeatureVector | Promise<FeatureVector> {
  const n = read.length
  const rows = rowKey.length
  // as many distinct keys as rows: row r holds key r (keys are numbered as first met), no fan-out
  const fanOut = n !== rows
  const work = fanOut ? n + rows : n
  if (work >= pace.room()) return pacedColumn(read, feature, rowKey, maxAgeMicros, now, pace)
  const unique = emptyVector(n)
  decodeKeys(read, feature, maxAgeMicros, now, unique, 0, n)
  pace.add(work)
  if (!fanOut) return unique
  const column = emptyVector(rows)
  fanOutRows(unique, rowKey, column, 0, rows)
  return column
}

/** {@link featureColumn} in slices of the pace, yielding to the event loop between them. */
async function pacedColumn(
  read: OnlineReadResult,
  feature: number,
  rowKey: Int32Array,
  maxAgeMicros: number,
  now: Micros,
  pace: Pace,
): Promise<FeatureVector> {
  const n = read.length
  const unique = emptyVector(n)
  for (let k = 0; k < n; ) {
    const end = Math.min(n, k + pace.room())
    decodeKeys(read, feature, maxAgeMicros, now, unique, k, end)
    if (pace.add(end - k)) await pace.yield()
    k = end
  }
  const rows = rowKey.length
  if (n === rows) return unique
  const column = emptyVector(rows)
  for (let r = 0; r < rows; ) {
    const end = Math.min(rows, r + pace.room())
    fanOutRows(unique, rowKey, column, r, end)
    if (pace.add(end - r)) await pace.yield()
    r = end
  }
  return column
}

function emptyVector(length: number): FeatureVector {
  return {
    values: new Array<FeastValue>(length),
    statuses: new Array<FieldStatus>(length),
    eventTimestamps: new Array<Micros>(length),
  }
}

/** Decodes the values of keys `from` to `to` (excluded) into `out`, with their statuses and timestamps. */
function decodeKeys(
  read: OnlineReadResult,
  feature: number,
  maxAgeMicros: number,
  now: Micros,
  out: FeatureVector,
  from: number,
  to: number,
): void {
  const { values, statuses, eventTimestamps } = out
  for (let k = from; k < to; k++) {
    const row = read[k]
    const bytes = row?.values[feature]
    if (row === undefined || bytes === undefined) {
      values[k] = null
      statuses[k] = 'NOT_FOUND'
      eventTimestamps[k] = 0
      continue
    }
    const value = decodeValue(bytes)
    values[k] = value
    eventTimestamps[k] = row.eventTs
    statuses[k] =
      maxAgeMicros > 0 && now - row.eventTs > maxAgeMicros
        ? 'OUTSIDE_MAX_AGE'
        : value === null
          ? 'NULL_VALUE'
          : 'PRESENT'
  }
}

/** Copies rows `from` to `to` (excluded) of `out` from their keys' entries in `unique`. */
function fanOutRows(
  unique: FeatureVector,
  rowKey: Int32Array,
  out: FeatureVector,
  from: number,
  to: number,
): void {
  const { values, statuses, eventTimestamps } = out
  for (let r = from; r < to; r++) {
    const k = rowKey[r]!
    values[r] = unique.values[k]!
    statuses[r] = unique.statuses[k]!
    eventTimestamps[r] = unique.eventTimestamps[k]!
  }
}

/**
 * The entity columns a read of these features needs, with the value type of each (after projections'
 * join-key maps), in the order the views need them, then the request fields of on-demand views. For
 * callers that parse entity values from text.
 *
 * @example await onlineJoinKeys(store, { features: ['driver_hourly_stats:conv_rate'] }) // driver_id → INT64
 */
export async function onlineJoinKeys(
  target: PlanTarget,
  request: FeatureSelectionRequest,
  options: Abortable = {},
): Promise<ReadonlyMap<string, number>> {
  const state = await target.registry.load({ signal: options.signal })
  const plan = onlinePlan(target, state, request)
  return new Map([
    ...[...plan.joinKeys].map(([column, { valueType }]) => [column, valueType] as const),
    ...[...plan.requestFields].map(([field, { dtype }]) => [field, dtype.valueType] as const),
  ])
}
