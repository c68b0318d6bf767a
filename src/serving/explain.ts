import {
  type Abortable,
  clockNow,
  decodeValue,
  type EntityKeyValue,
  type FeastValue,
  type FeatureView,
  formatDuration,
  formatMicros,
  isLarderError,
  LarderError,
  MICROS_PER_SECOND,
  type Micros,
  type OnDemandColumns,
  requestValue,
  runTransformation,
  type TimestampInput,
  toMicros,
  transformOf,
  ValueType,
  valueTypeName,
} from '../core/index.js'
import type { OfflineStore } from '../offline/index.js'
import { entityKeyEncoder, type OnlineRow, type OnlineStore, type ViewRef } from '../online/online-store.js'
import type { MaterializationInterval, MaterializationRun, ProjectCatalog } from '../registry/index.js'
import { joinKeyValue, parseJoinKeyText } from './entity-values.js'
import { type JsonValue, jsonValue } from './json-response.js'
import {
  type EntityRows,
  type FieldStatus,
  getOnlineFeatures,
  type OnlineFeaturesResponse,
  type ServingTarget,
} from './online-features.js'
import {
  type FeatureSelectionRequest,
  type OnDemandRead,
  type OnlinePlan,
  onlinePlan,
  type ViewRead,
} from './online-plan.js'
import { probeSource, type SourceProbe, type SourceRow, sameStoredValue } from './source-probe.js'
import { expireOnRead } from './storage-expiry.js'

/**
 * What a feature's online read gave: Feast's statuses, or `ERROR` when the read of that feature fails
 * (an on-demand view's transformation throws, or a request field it needs is missing).
 */
export type ExplainStatus = FieldStatus | 'ERROR'

/**
 * Why a feature reads as it does. See `docs/explain-and-parity.md` for each code, how it is detected
 * and its fix.
 */
export type ExplainCauseCode =
  | 'ok'
  | 'join_key_type'
  | 'not_materialized'
  | 'materialization_failed'
  | 'online_store_empty'
  | 'key_encoding_mismatch'
  | 'key_not_in_source'
  | 'first_row_after_at'
  | 'outside_ttl'
  | 'after_materialized_window'
  | 'before_materialized_window'
  | 'source_changed_after_materialization'
  | 'storage_expired'
  | 'null_in_source'
  | 'outside_max_age'
  | 'online_value_differs'
  | 'online_not_in_source'
  | 'not_pushed'
  | 'source_unreadable'
  | 'odfv_input_missing'
  | 'odfv_transform_failed'
  | 'odfv_null_output'
  | 'odfv_output_not_written'
  | 'no_aggregation_tiles'

/** The cause of a feature's status: a code, one sentence naming the object and the values, and the fix. */
export interface ExplainCause {
  readonly code: ExplainCauseCode
  readonly message: string
  /** What to do, with the command to run; null when nothing needs fixing. */
  readonly fix: string | null
}

/** A source row as the explanation shows it. */
export interface ExplainSourceRow {
  readonly eventTs: Micros
  /** The feature's value in that row (as the online store would hold it). */
  readonly value: FeastValue
}

/** The evidence behind a cause: what the registry, the online store and the offline source hold. */
export interface ExplainDetails {
  /** The feature view, stream feature view or on-demand feature view read. */
  readonly view: string
  readonly kind: 'feature view' | 'stream feature view' | 'on demand feature view'
  /** The serialized entity key read from the online store, in hex. */
  readonly entityKey?: string
  /** Seconds from the online value's event to `at`. */
  readonly ageSeconds?: number
  readonly ttlSeconds?: number
  readonly maxAgeSeconds?: number
  readonly storageTtlSeconds?: number
  /** The recorded materialization intervals: how many, the first start and the last end; null when none. */
  readonly materialized?: { readonly intervals: number; readonly start: Micros; readonly end: Micros } | null
  /** The view's newest recorded materialization run. */
  readonly lastRun?: {
    readonly status: string
    readonly start: Micros
    readonly end: Micros
    readonly finishedAt: Micros
    readonly error?: string
  }
  /** What the offline source holds for the key (absent for a view without a batch source). */
  readonly source?: {
    readonly name: string
    /** The newest row at or before `at`, the view's ttl ignored. */
    readonly atOrBefore: ExplainSourceRow | null
    /** The newest row at or before the last materialized end (what materialization loads). */
    readonly atLastEnd?: ExplainSourceRow | null
    /** The event time of the key's newest row of all. */
    readonly newestEventTs: Micros | null
  }
  /** Why the source could not be read. */
  readonly sourceError?: string
  /** The explanations of an on-demand view's inputs read from feature views. */
  readonly inputs?: readonly FeatureExplanation[]
  /** The error the read or the transformation gave. */
  readonly error?: string
  /** A join key given with another type, and the value it was read with. */
  readonly joinKey?: {
    readonly key: string
    readonly given: string
    readonly used: EntityKeyValue
    readonly type: string
  }
  /** With a wrong key type: the cause found once the key was read with its declared type. */
  readonly normalisedCause?: ExplainCause
}

/** One feature's answer. */
export interface FeatureExplanation {
  /** `view:feature`, under the projection's name (an alias in a feature service). */
  readonly feature: string
  readonly status: ExplainStatus
  readonly value: FeastValue
  /** The ValueType of the value. */
  readonly valueType: number
  /** The online value's event time; undefined when the store holds none. */
  readonly eventTs: Micros | undefined
  readonly cause: ExplainCause
  readonly details: ExplainDetails
}

/** What {@link explain} found for one entity row. */
export interface ExplainReport {
  readonly project: string
  /** The entity row read, join keys in their declared types. */
  readonly entity: Readonly<Record<string, unknown>>
  /** The instant ages were measured from. */
  readonly at: Micros
  readonly features: readonly FeatureExplanation[]
}

/** One entity row and the features to explain. */
export interface ExplainRequest extends Omit<FeatureSelectionRequest, 'fullFeatureNames'> {
  /** The entity row: join keys (and request fields of on-demand views). */
  readonly entityRow?: Readonly<Record<string, unknown>>
  /** The same in the columnar or row form `getOnlineFeatures` takes; it must hold exactly one row. */
  readonly entities?: EntityRows
  /** The instant to explain at: ages, maxAge and ttl are measured from it (default: the clock's now). */
  readonly at?: TimestampInput
}

/** What explain reads: the serving target and its offline store (`FeatureStore` is one). */
export interface ExplainTarget extends ServingTarget {
  offline(): Promise<OfflineStore>
}

/** A join key value given with another type than the key's, and the value it was read with. */
interface KeyNote {
  readonly key: string
  readonly given: string
  readonly used: EntityKeyValue
  readonly type: string
  readonly view: string
}

/** Everything known about one view read of the plan, gathered once for all its features. */
interface ReadFacts {
  readonly read: ViewRead
  /** The registry name: the feature view, stream view or stored on-demand view. */
  readonly name: string
  readonly kind: ExplainDetails['kind']
  /** The feature view whose table is read (a stream view's or stored on-demand view's storage view). */
  readonly view: FeatureView | undefined
  /** The view materialized to fill it: itself, or a stored on-demand view's source view. */
  readonly loadedBy: string
  /** The view's join keys under their own names. */
  readonly key: Readonly<Record<string, EntityKeyValue>>
  /** `driver_id=1001`, the key as the request gave it. */
  readonly keyLabel: string
  readonly entityKey: Uint8Array
  readonly row: OnlineRow | undefined
  readonly intervals: readonly MaterializationInterval[]
  readonly lastRun: MaterializationRun | undefined
  readonly probe: SourceProbe | undefined
  readonly probeError: unknown
  readonly notes: readonly KeyNote[]
  readonly hasRows: () => Promise<boolean | undefined>
  readonly otherKeyType: () => Promise<string | undefined>
}

interface Context {
  readonly at: Micros
  readonly online: OnlineStore
  readonly target: ExplainTarget
  readonly signal: AbortSignal | undefined
}

/**
 * Explains each feature of one entity row: its online status and value (as `getOnlineFeatures` gives
 * them, measured at `at`), and the cause, found by looking at the registry (materialization intervals
 * and the newest run), the online store, and the offline source (a point-in-time lookup of that one
 * key through the offline engine). Each cause carries the command that fixes it.
 *
 * A join key given with another type than the view's (the string `"1001"` for an Int64 key, a number
 * for a String key) is read with its declared type, and the cause `join_key_type` says so; the status
 * is then that of the corrected read. Throws as `getOnlineFeatures` does for unknown features, a
 * missing join key, or a value that no type fits; INVALID_ARGUMENT for more than one entity row.
 *
 * @example
 * const report = await explain(store, { entityRow: { driver_id: 1001 }, features: ['driver_hourly_stats:conv_rate'] })
 * report.features[0].cause // { code: 'ok', message: '...', fix: null }
 */
export async function explain(
  target: ExplainTarget,
  request: ExplainRequest,
  options: Abortable = {},
): Promise<ExplainReport> {
  const signal = options.signal
  const given = oneRow(request)
  const at = request.at === undefined ? clockNow(target.clock) : toMicros(request.at, 'at')
  // intervals and runs as they are now, not as a cache saw them
  const state = await target.registry.load({ allowCache: false, signal })
  const catalog = state.catalog(target.config.project)
  const selection: FeatureSelectionRequest = {
    features: request.features,
    featureService: request.featureService,
    fullFeatureNames: true,
  }
  const plan = onlinePlan(target, state, selection)
  const { entity, notes } = normaliseKeys(plan, given)
  let response: OnlineFeaturesResponse | undefined
  let readError: unknown
  try {
    response = await getOnlineFeatures(
      target,
      { ...selection, entities: [entity] },
      { now: formatMicros(at), signal },
    )
  } catch (e) {
    if (!isLarderError(e) || e.code === 'BACKEND_UNAVAILABLE' || e.code === 'ABORTED') throw e
    readError = e
  }
  const online = await target.online(options)
  const ctx: Context = { at, online, target, signal }
  const facts = await readFacts(ctx, catalog, plan, entity, notes)
  const explained = new Map<string, FeatureExplanation>()
  const explainRead = async (r: number, f: number): Promise<FeatureExplanation> => {
    const id = `${r}\0${f}`
    const known = explained.get(id)
    if (known) return known
    const result = await explainViewFeature(ctx, facts[r]!, f)
    explained.set(id, result)
    return result
  }
  const out: FeatureExplanation[] = new Array(plan.featureColumns.length)
  for (let r = 0; r < plan.reads.length; r++) {
    const read = plan.reads[r]!
    for (let f = 0; f < read.features.length; f++) {
      const column = read.outputs[f]!
      if (column < 0) continue
      out[column] = withResponse(await explainRead(r, f), response, plan.featureColumns[column]!)
    }
  }
  for (const t of plan.tileReads) {
    t.outputs.forEach((column, j) => {
      const name = t.ref.aggregations[t.wanted[j]!]!.name
      out[column] = explainTile(ctx, t.name, name, plan.featureColumns[column]!, response, readError)
    })
  }
  for (const odfv of plan.onDemand) {
    const inputs = await Promise.all(
      odfv.inputs.flatMap((input) => ('read' in input ? [explainRead(input.read, input.feature)] : [])),
    )
    const results = await explainOnDemand(ctx, plan, odfv, entity, facts, inputs, response)
    for (const [column, result] of results) out[column] = result
  }
  return { project: target.config.project, entity, at, features: out }
}

/** The one entity row of the request, as a record. */
function oneRow(request: ExplainRequest): Record<string, unknown> {
  if ((request.entityRow === undefined) === (request.entities === undefined)) {
    throw new LarderError('INVALID_ARGUMENT', 'give either entityRow or entities, with one entity row', {
      hint: "e.g. explain({ entityRow: { driver_id: 1001 }, features: ['driver_hourly_stats:conv_rate'] })",
    })
  }
  if (request.entityRow !== undefined) {
    if (
      typeof request.entityRow !== 'object' ||
      request.entityRow === null ||
      Array.isArray(request.entityRow)
    ) {
      throw new LarderError('INVALID_ARGUMENT', 'entityRow must be an object of join keys', {
        hint: 'e.g. entityRow: { driver_id: 1001 }',
      })
    }
    return { ...request.entityRow }
  }
  const entities = request.entities!
  if (Array.isArray(entities)) {
    const rows = entities as readonly Readonly<Record<string, unknown>>[]
    if (rows.length !== 1) throw tooManyRows(rows.length)
    return { ...rows[0] }
  }
  const row: Record<string, unknown> = {}
  for (const [column, values] of Object.entries(entities as Readonly<Record<string, readonly unknown[]>>)) {
    if (!Array.isArray(values) || values.length !== 1) {
      throw tooManyRows(Array.isArray(values) ? values.length : 0, column)
    }
    row[column] = values[0]
  }
  return row
}

function tooManyRows(rows: number, column?: string): LarderError {
  return new LarderError(
    'INVALID_ARGUMENT',
    `explain takes one entity row, but ${column === undefined ? 'the entities hold' : `entity column "${column}" holds`} ${rows}`,
    { hint: 'explain one row at a time, e.g. entities: { driver_id: [1001] }' },
  )
}

/**
 * The row with each join key in its declared type. A value of another type that reads as one of the
 * key's type (the text "1001" for an Int64 key, the number 1001 for a String key) is converted, and
 * noted; anything else throws as the online read would.
 */
function normaliseKeys(
  plan: OnlinePlan,
  given: Record<string, unknown>,
): { entity: Record<string, unknown>; notes: Map<string, KeyNote> } {
  const entity = { ...given }
  const notes = new Map<string, KeyNote>()
  for (const read of plan.reads) {
    const missing = read.keyColumns.find((c) => !(c in given))
    if (missing !== undefined) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `the entity row lacks the join key "${missing}" that feature view "${read.name}" needs`,
        { hint: `give it, e.g. ${missing}=<value>`, details: { joinKey: missing, view: read.name } },
      )
    }
  }
  for (const [column, { valueType, view }] of plan.joinKeys) {
    if (!(column in given)) continue
    const value = given[column]
    try {
      entity[column] = joinKeyValue(value, valueType, column, view)
    } catch (e) {
      const used = otherTypeValue(value, valueType, column)
      if (used === undefined) throw e
      entity[column] = used
      notes.set(column, {
        key: column,
        given:
          typeof value === 'string'
            ? `the string ${JSON.stringify(value)}`
            : `the ${typeof value} ${String(value)}`,
        used,
        type: valueTypeName(valueType),
        view,
      })
    }
  }
  return { entity, notes }
}

function otherTypeValue(value: unknown, valueType: number, key: string): EntityKeyValue | undefined {
  try {
    if (typeof value === 'string' && valueType !== ValueType.STRING && valueType !== ValueType.BYTES) {
      return parseJoinKeyText(value.trim(), valueType, key)
    }
    if ((typeof value === 'number' || typeof value === 'bigint') && valueType === ValueType.STRING) {
      return String(value)
    }
  } catch {
    return undefined
  }
  return undefined
}

/** Gathers, for every view the plan reads, its online row, registry records and source rows, concurrently. */
async function readFacts(
  ctx: Context,
  catalog: ProjectCatalog,
  plan: OnlinePlan,
  entity: Record<string, unknown>,
  notes: ReadonlyMap<string, KeyNote>,
): Promise<ReadFacts[]> {
  const { target, at, online, signal } = ctx
  const project = target.config.project
  const keyValues = plan.keyGroups.map((g) => g.columns.map((c) => entity[c] as EntityKeyValue))
  const keys = plan.keyGroups.map((g, i) => g.encode(keyValues[i]!))
  const rows = expireOnRead(
    online.capabilities,
    plan.reads.map((r) => r.ref),
    await online.readMany(
      plan.reads.map((r) => ({ view: r.ref, keys: [keys[r.keyGroup]!], features: r.features })),
      { signal },
    ),
    at,
  )
  const offline = await target.offline()
  return Promise.all(
    plan.reads.map(async (read, r): Promise<ReadFacts> => {
      const { name, kind, view, loadedBy } = viewOf(catalog, read.ref.name)
      const key: Record<string, EntityKeyValue> = {}
      read.ref.joinKeys.forEach((k, j) => {
        key[k.name] = entity[read.keyColumns[j]!] as EntityKeyValue
      })
      const keyLabel =
        read.keyColumns.length === 0
          ? '(no join key)'
          : read.keyColumns.map((c) => `${c}=${String(entity[c])}`).join(',')
      const intervals = catalog.materializationIntervals(loadedBy)
      const lastEnd = intervals.length > 0 ? Math.max(...intervals.map((i) => i.end)) : undefined
      const [runs, probed] = await Promise.all([
        target.registry
          .listMaterializationRuns(project, { view: loadedBy, limit: 1, signal })
          .catch(() => []),
        kind === 'on demand feature view' || view === undefined
          ? Promise.resolve({ probe: undefined, error: undefined })
          : probeSource(offline, view, key, read.features, lastEnd === undefined ? [at] : [at, lastEnd], {
              signal,
            }).then(
              (probe) => ({ probe, error: undefined }),
              (error: unknown) => {
                if (signal?.aborted) throw error
                return { probe: undefined, error }
              },
            ),
      ])
      let hasRows: Promise<boolean | undefined> | undefined
      let other: Promise<string | undefined> | undefined
      return {
        read,
        name,
        kind,
        view,
        loadedBy,
        key,
        keyLabel,
        entityKey: keys[read.keyGroup]!,
        row: rows[r]![0],
        intervals,
        lastRun: runs[0],
        probe: probed.probe,
        probeError: probed.error,
        notes: read.keyColumns.flatMap((c) => notes.get(c) ?? []),
        hasRows: () => {
          hasRows ??= online.hasRows ? online.hasRows(read.ref, { signal }) : Promise.resolve(undefined)
          return hasRows
        },
        otherKeyType: () => {
          other ??= otherKeyTypeRow(ctx, read.ref, key, read.features)
          return other
        },
      }
    }),
  )
}

/** The registry object behind an online table name. */
function viewOf(
  catalog: ProjectCatalog,
  table: string,
): { name: string; kind: ExplainDetails['kind']; view: FeatureView | undefined; loadedBy: string } {
  const fv = catalog.featureViews.get(table)
  if (fv) return { name: table, kind: 'feature view', view: fv, loadedBy: table }
  const sfv = catalog.streamFeatureViews.get(table)
  if (sfv) return { name: table, kind: 'stream feature view', view: sfv.storageView, loadedBy: table }
  const odfv = catalog.onDemandFeatureViews.get(table)
  return {
    name: table,
    kind: 'on demand feature view',
    view: odfv?.storageView,
    loadedBy: odfv?.sourceProjections[0]?.view.name ?? table,
  }
}

/**
 * Reads the key from the online store with String keys read as Int64 and Int64 keys as String (rows
 * written under another key type); returns the key as found, or undefined.
 */
async function otherKeyTypeRow(
  ctx: Context,
  ref: ViewRef,
  key: Readonly<Record<string, EntityKeyValue>>,
  features: readonly string[],
): Promise<string | undefined> {
  if (ref.joinKeys.length === 0) return undefined
  const swapped = ref.joinKeys.map((k) => {
    const v = key[k.name]
    if (k.valueType === ValueType.STRING && typeof v === 'string' && /^[+-]?\d+$/.test(v)) {
      return { joinKey: { name: k.name, valueType: ValueType.INT64 }, value: normaliseInt(BigInt(v)) }
    }
    if (
      (k.valueType === ValueType.INT64 || k.valueType === ValueType.INT32) &&
      (typeof v === 'number' || typeof v === 'bigint')
    ) {
      return { joinKey: { name: k.name, valueType: ValueType.STRING }, value: String(v) as EntityKeyValue }
    }
    return undefined
  })
  if (swapped.some((s) => s === undefined)) return undefined
  const other: ViewRef = { ...ref, joinKeys: swapped.map((s) => s!.joinKey) }
  const encode = entityKeyEncoder(other, ctx.target.config.entityKeySerializationVersion)
  const [row] = await ctx.online.read(other, [encode(swapped.map((s) => s!.value))], features, {
    signal: ctx.signal,
  })
  if (row === undefined) return undefined
  return swapped
    .map(
      (s) =>
        `${s!.joinKey.name} as ${valueTypeName(s!.joinKey.valueType)} ${JSON.stringify(typeof s!.value === 'bigint' ? String(s!.value) : s!.value)}`,
    )
    .join(', ')
}

function normaliseInt(big: bigint): number | bigint {
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big
}

/** The online status of one feature of a read, as `getOnlineFeatures` computes it. */
function onlineState(
  facts: ReadFacts,
  f: number,
  at: Micros,
): { status: FieldStatus; value: FeastValue; eventTs: Micros | undefined } {
  const row = facts.row
  const bytes = row?.values[f]
  if (row === undefined || bytes === undefined)
    return { status: 'NOT_FOUND', value: null, eventTs: undefined }
  const value = decodeValue(bytes)
  const maxAge = facts.read.maxAgeMicros
  const status: FieldStatus =
    maxAge > 0 && at - row.eventTs > maxAge ? 'OUTSIDE_MAX_AGE' : value === null ? 'NULL_VALUE' : 'PRESENT'
  return { status, value, eventTs: row.eventTs }
}

/** Explains feature `f` of a view read: its online state, then the cause. */
async function explainViewFeature(ctx: Context, facts: ReadFacts, f: number): Promise<FeatureExplanation> {
  const feature = facts.read.features[f]!
  const state = onlineState(facts, f, ctx.at)
  const dtype = facts.view?.features.find((x) => x.name === feature)?.dtype
  const details = viewDetails(ctx, facts, f, state.eventTs)
  let cause = await diagnose(ctx, facts, f, state)
  let extra: Partial<ExplainDetails> = {}
  if (facts.notes.length > 0) {
    extra = { joinKey: noteJson(facts.notes[0]!), normalisedCause: cause }
    cause = keyTypeCause(facts.notes, cause, `${facts.read.name}:${feature}`, state.status)
  }
  return {
    feature: `${facts.read.name}:${feature}`,
    status: state.status,
    value: state.value,
    valueType: dtype?.valueType ?? ValueType.UNKNOWN,
    eventTs: state.eventTs,
    cause,
    details: { ...details, ...extra },
  }
}

function noteJson(note: KeyNote): NonNullable<ExplainDetails['joinKey']> {
  return { key: note.key, given: note.given, used: note.used, type: note.type }
}

function keyTypeCause(
  notes: readonly KeyNote[],
  inner: ExplainCause,
  ref: string,
  status: ExplainStatus,
): ExplainCause {
  const note = notes[0]!
  const used = typeof note.used === 'string' ? JSON.stringify(note.used) : String(note.used)
  return {
    code: 'join_key_type',
    message:
      `join key "${note.key}" was given as ${note.given}, but feature view "${note.view}" keys it as ${note.type}, ` +
      `so an online read with it fails; read as ${used}, "${ref}" is ${status} (${inner.code}: ${inner.message})`,
    fix:
      `send ${note.key} as ${note.type === 'STRING' ? 'a string' : 'an integer'} (${used}), e.g. ` +
      `larder get ${note.key}=${String(note.used)} --features ${ref}` +
      (inner.fix === null ? '' : `; then: ${inner.fix}`),
  }
}

function viewDetails(ctx: Context, facts: ReadFacts, f: number, eventTs: Micros | undefined): ExplainDetails {
  const view = facts.view
  const intervals = facts.intervals
  const run = facts.lastRun
  const probe = facts.probe
  const rowOf = (row: SourceRow | undefined): ExplainSourceRow | null =>
    row === undefined ? null : { eventTs: row.eventTs, value: row.values[f] ?? null }
  return {
    view: facts.name,
    kind: facts.kind,
    entityKey: Buffer.from(facts.entityKey).toString('hex'),
    ...(eventTs === undefined ? {} : { ageSeconds: (ctx.at - eventTs) / MICROS_PER_SECOND }),
    ...(view === undefined
      ? {}
      : { ttlSeconds: view.ttl, maxAgeSeconds: view.maxAge, storageTtlSeconds: view.storageTtl }),
    materialized:
      intervals.length === 0
        ? null
        : {
            intervals: intervals.length,
            start: Math.min(...intervals.map((i) => i.start)),
            end: Math.max(...intervals.map((i) => i.end)),
          },
    ...(run === undefined
      ? {}
      : {
          lastRun: {
            status: run.status,
            start: run.start,
            end: run.end,
            finishedAt: run.finishedAt,
            ...(run.error === undefined ? {} : { error: run.error }),
          },
        }),
    ...(probe === undefined
      ? {}
      : {
          source: {
            name: probe.source,
            atOrBefore: rowOf(probe.at[0]),
            ...(probe.at.length > 1 ? { atLastEnd: rowOf(probe.at[1]) } : {}),
            newestEventTs: probe.newest?.eventTs ?? null,
          },
        }),
    ...(facts.probeError === undefined ? {} : { sourceError: errorText(facts.probeError) }),
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

const iso = formatMicros

/** An age in microseconds as `3h20m` (`in 2h` for a future instant). */
export function formatAge(micros: number): string {
  const seconds = Math.round(micros / MICROS_PER_SECOND)
  if (seconds < 0) return `in ${formatDuration(-seconds)}`
  return seconds === 0 ? '0s' : formatDuration(seconds)
}

function seconds(s: number): string {
  return s === 0 ? '0s' : formatDuration(s)
}

/** The cause of a feature view feature's online state. */
async function diagnose(
  ctx: Context,
  facts: ReadFacts,
  f: number,
  state: { status: FieldStatus; value: FeastValue; eventTs: Micros | undefined },
): Promise<ExplainCause> {
  const { at } = ctx
  const feature = facts.read.features[f]!
  const ref = `${facts.read.name}:${feature}`
  const v = facts.loadedBy
  const what = `${facts.kind} "${facts.name}"`
  const key = facts.keyLabel
  const view = facts.view
  const intervals = facts.intervals
  const firstStart = intervals.length > 0 ? Math.min(...intervals.map((i) => i.start)) : undefined
  const lastEnd = intervals.length > 0 ? Math.max(...intervals.map((i) => i.end)) : undefined
  const incremental = `larder materialize-incremental ${iso(Math.max(at, lastEnd ?? at))} --views ${v}`
  const window = (start: Micros, end: Micros) =>
    `larder materialize ${iso(start)} ${iso(Math.max(start, end))} --views ${v}`
  const covered = (ts: Micros) => intervals.some((i) => i.start <= ts && ts <= i.end)
  const dtype = view?.features.find((x) => x.name === feature)?.dtype
  const shown = (value: FeastValue) => JSON.stringify(jsonValue(value, dtype?.valueType))
  const ttl = view?.ttl ?? 0
  const maxAge = view?.maxAge ?? 0
  const run = facts.lastRun
  const failedRun =
    run?.status === 'failed' && (lastEnd === undefined || run.end > lastEnd)
      ? ` The last materialization of "${v}" (${iso(run.start)} to ${iso(run.end)}) failed: ${run.error ?? 'no error recorded'}.`
      : ''

  if (facts.kind === 'on demand feature view') {
    return storedOnDemandCause(facts, state, ref, lastEnd, firstStart, window, incremental, failedRun)
  }
  const pushOnly = view !== undefined && view.batchSource === undefined
  if (pushOnly && state.status === 'NOT_FOUND') {
    const push = view.pushSource?.name ?? '(none)'
    return {
      code: 'not_pushed',
      message: `${what} has no batch source, so only pushes write it, and none wrote ${key}`,
      fix: `push a row for ${key} to push source "${push}" (POST /push, or store.push({ pushSourceName: '${push}', df }))`,
    }
  }
  const probe = facts.probe
  const N = probe?.at[0]
  const X = probe?.at[1]

  if (state.status === 'NOT_FOUND') {
    if (intervals.length === 0) {
      if (run?.status === 'failed') {
        return {
          code: 'materialization_failed',
          message: `${what} was never materialized successfully: its last materialization (${iso(run.start)} to ${iso(run.end)}) failed: ${run.error ?? 'no error recorded'}`,
          fix: `fix what failed, then run: ${incremental}`,
        }
      }
      return {
        code: 'not_materialized',
        message: `${what} was never materialized: the registry records no materialization interval for it, so the online store holds none of its rows`,
        fix: `run: ${incremental}; or load a chosen window: larder materialize START END --views ${v}`,
      }
    }
    if ((await facts.hasRows()) === false) {
      return {
        code: 'online_store_empty',
        message: `${what} was materialized from ${iso(firstStart!)} to ${iso(lastEnd!)}, but the ${ctx.online.type} online store holds none of its rows (the online store was switched or emptied)`,
        fix: `load the recorded range again: ${window(firstStart!, lastEnd!)}`,
      }
    }
    const other = await facts.otherKeyType()
    if (other !== undefined) {
      return {
        code: 'key_encoding_mismatch',
        message: `the online store holds a row of ${what} for ${other}, but the view keys ${key} as ${facts.read.ref.joinKeys.map((k) => valueTypeName(k.valueType)).join(', ')}: the rows were written with another key type`,
        fix: `declare the entity's join key with the type the rows were written with, run larder apply, then reload: ${lastEnd === undefined ? incremental : window(firstStart!, lastEnd)}`,
      }
    }
    if (probe === undefined) return unreadable(facts, what, state.status)
    if (probe.newest === undefined) {
      return {
        code: 'key_not_in_source',
        message: `source "${probe.source}" of ${what} has no row for ${key}`,
        fix: `check the key; once the source holds rows for ${key}, run: ${incremental}`,
      }
    }
    if (N === undefined) {
      return {
        code: 'first_row_after_at',
        message: `the first row of ${key} in source "${probe.source}" is at ${iso(probe.newest.eventTs)} or later, after ${iso(at)}: at that time the key had no value`,
        fix: `ask about a later time (--at ${iso(probe.newest.eventTs)}), or, to serve it now, run: ${incremental}`,
      }
    }
    if (ttl > 0 && at - N.eventTs > ttl * MICROS_PER_SECOND) {
      return {
        code: 'outside_ttl',
        message: `the newest row of ${key} in source "${probe.source}" is at ${iso(N.eventTs)}, ${formatAge(at - N.eventTs)} before ${iso(at)}, beyond the ttl of ${seconds(ttl)} of ${what}: training data has no value here either, and materialization does not load rows older than the ttl`,
        fix: `write a fresher row for ${key} and run: ${incremental}; or raise the ttl of "${v}" in the definitions, run larder apply, then: ${window(N.eventTs, Math.max(at, lastEnd!))}`,
      }
    }
    if (N.eventTs > lastEnd!) {
      return {
        code: 'after_materialized_window',
        message: `the newest row of ${key} in source "${probe.source}" is at ${iso(N.eventTs)}, after the last materialized end ${iso(lastEnd!)} of ${what}: that window was never loaded.${failedRun}`,
        fix: `run: ${incremental}`,
      }
    }
    const expected = X ?? N
    if (covered(expected.eventTs)) {
      const storageTtl = view?.storageTtl ?? 0
      if (storageTtl > 0 && at - expected.eventTs > storageTtl * MICROS_PER_SECOND) {
        return {
          code: 'storage_expired',
          message: `the row of ${key} at ${iso(expected.eventTs)} was materialized, but it is ${formatAge(at - expected.eventTs)} old, beyond the storageTtl of ${seconds(storageTtl)} of ${what}: the online store expired it`,
          fix: `write a fresher row for ${key} and run: ${incremental}; or raise storageTtl of "${v}", run larder apply, then: ${window(expected.eventTs, lastEnd!)}`,
        }
      }
      return {
        code: 'source_changed_after_materialization',
        message: `the row of ${key} at ${iso(expected.eventTs)} lies inside a materialized window of ${what} (up to ${iso(lastEnd!)}), yet the online store holds nothing for the key: the row reached the source after that window was loaded (or the online row was removed)`,
        fix: `reload the window: ${window(expected.eventTs, lastEnd!)}`,
      }
    }
    return {
      code: 'before_materialized_window',
      message: `the row of ${key} at ${iso(expected.eventTs)} lies outside every materialized window of ${what} (${countWindows(intervals)} from ${iso(firstStart!)} to ${iso(lastEnd!)}): it was never loaded`,
      fix: `load it: ${window(expected.eventTs, expected.eventTs < firstStart! ? firstStart! : lastEnd!)}`,
    }
  }

  // The online store holds a row for the key.
  const E = state.eventTs!
  const ageText = `${formatAge(at - E)} old at ${iso(at)}`
  if (probe !== undefined && !pushOnly) {
    if (N !== undefined && N.eventTs > E) {
      const stale =
        state.status === 'OUTSIDE_MAX_AGE'
          ? ` The online value is ${ageText}, beyond the maxAge of ${seconds(maxAge)}.`
          : ''
      if (lastEnd === undefined || N.eventTs > lastEnd) {
        return {
          code: 'after_materialized_window',
          message: `source "${probe.source}" has a newer row of ${key} at ${iso(N.eventTs)} (${feature} = ${shown(N.values[f]!)}) than the online value's event at ${iso(E)}, after the last materialized end ${lastEnd === undefined ? '(none)' : iso(lastEnd)} of ${what}.${stale}${failedRun}`,
          fix: `run: ${incremental}`,
        }
      }
      if (covered(N.eventTs)) {
        return {
          code: 'source_changed_after_materialization',
          message: `source "${probe.source}" has a row of ${key} at ${iso(N.eventTs)} (${feature} = ${shown(N.values[f]!)}) inside a materialized window of ${what} (up to ${iso(lastEnd)}), but the online store holds the older event at ${iso(E)} (${shown(state.value)}): the row reached the source after that window was loaded.${stale}`,
          fix: `reload the window: ${window(N.eventTs, lastEnd)}`,
        }
      }
      return {
        code: 'before_materialized_window',
        message: `source "${probe.source}" has a newer row of ${key} at ${iso(N.eventTs)} than the online value's event at ${iso(E)}, outside every materialized window of ${what}: it was never loaded.${stale}`,
        fix: `load it: ${window(N.eventTs, lastEnd)}`,
      }
    }
    if (N !== undefined && N.eventTs === E && dtype && !sameStoredValue(dtype, N.values[f]!, state.value)) {
      return {
        code: 'online_value_differs',
        message: `the online store holds ${feature} = ${shown(state.value)} for the event of ${key} at ${iso(E)}, but the source row at that time holds ${shown(N.values[f]!)}: the online row was written by something other than materialization (a push or write to the online store only), or was corrupted`,
        fix: `reload the window: ${window(E, Math.max(E, lastEnd ?? E))}`,
      }
    }
    if ((N === undefined || N.eventTs < E) && E <= at) {
      return {
        code: 'online_not_in_source',
        message: `the online value of ${key} comes from an event at ${iso(E)}, but source "${probe.source}" has no row at that time (its newest row up to ${iso(at)} is ${N === undefined ? 'none' : `at ${iso(N.eventTs)}`}): it was pushed or written to the online store only, so training data does not have it`,
        fix: `write such rows to the offline source too (push with to: "online_and_offline"), or accept that training data lags serving`,
      }
    }
  }
  if (state.status === 'PRESENT') {
    return {
      code: 'ok',
      message: `${feature} = ${shown(state.value)} from the event at ${iso(E)}, ${ageText}${maxAge > 0 ? ` (maxAge ${seconds(maxAge)})` : ''}`,
      fix: null,
    }
  }
  if (state.status === 'NULL_VALUE') {
    const inSource = probe !== undefined && N !== undefined && N.eventTs === E
    return {
      code: 'null_in_source',
      message: inSource
        ? `the row of ${key} at ${iso(E)} in source "${probe.source}" holds null for ${feature}, and that is what was loaded`
        : `the online store holds null for ${feature} of ${key} (event at ${iso(E)})`,
      fix: `write a row with a value for ${feature} to the source, then run: ${N !== undefined && N.eventTs === E ? window(E, Math.max(E, lastEnd ?? E)) : incremental}`,
    }
  }
  // OUTSIDE_MAX_AGE, with no newer row in the source
  return {
    code: 'outside_max_age',
    message: `the online value of ${key} comes from the event at ${iso(E)}, ${ageText}, beyond the maxAge of ${seconds(maxAge)} of ${what}; ${probe === undefined ? 'its source was not read' : `source "${probe.source}" has no newer row up to ${iso(at)}`}`,
    fix: `write fresher rows for ${key} to the source and run: ${incremental}; or raise maxAge of "${v}" and run larder apply`,
  }
}

function countWindows(intervals: readonly MaterializationInterval[]): string {
  return intervals.length === 1 ? '1 window' : `${intervals.length} windows`
}

/** The cause when the offline source could not be read: its error quoted, the source named in the fix. */
function unreadable(facts: ReadFacts, what: string, status: FieldStatus): ExplainCause {
  const source = facts.view?.batchSource?.name
  const named = source === undefined ? `the offline source of ${what}` : `source "${source}"`
  return {
    code: 'source_unreadable',
    message: `the online value of ${facts.keyLabel} is ${status}, and the offline source of ${what} could not be read to say why: ${errorText(facts.probeError ?? 'it has no batch source')}`,
    fix: `fix ${named} as the error says (its path, table or columns), then run larder explain again`,
  }
}

/** The cause for a feature of an on-demand view written at materialization time and read from its own table. */
function storedOnDemandCause(
  facts: ReadFacts,
  state: { status: FieldStatus; value: FeastValue; eventTs: Micros | undefined },
  ref: string,
  lastEnd: Micros | undefined,
  firstStart: Micros | undefined,
  window: (start: Micros, end: Micros) => string,
  incremental: string,
  failedRun: string,
): ExplainCause {
  const what = `on-demand feature view "${facts.name}"`
  if (state.status === 'PRESENT') {
    return {
      code: 'ok',
      message: `${ref} was written at materialization, from the event at ${iso(state.eventTs!)}`,
      fix: null,
    }
  }
  if (state.status === 'NOT_FOUND') {
    if (lastEnd === undefined) {
      return {
        code: 'not_materialized',
        message: `${what} stores its outputs when its source view "${facts.loadedBy}" is materialized, which never happened.${failedRun}`,
        fix: `run: ${incremental}`,
      }
    }
    return {
      code: 'odfv_output_not_written',
      message: `${what} stores its outputs when "${facts.loadedBy}" is materialized (last window up to ${iso(lastEnd)}), but none was written for ${facts.keyLabel}.${failedRun}`,
      fix: `reload the source view: ${window(firstStart!, lastEnd)}`,
    }
  }
  if (state.status === 'NULL_VALUE') {
    return {
      code: 'odfv_null_output',
      message: `the transformation of ${what} returned null for ${ref} when "${facts.loadedBy}" was materialized`,
      fix: `if null is wrong for these inputs, correct the transformation (try it with runOnDemand from larderjs/testing), run larder apply, then reload: ${lastEnd === undefined ? incremental : window(firstStart!, lastEnd)}`,
    }
  }
  return {
    code: 'outside_max_age',
    message: `${ref} was written from the event at ${iso(state.eventTs!)}, older than the maxAge of ${what}`,
    fix: `write fresher rows to the source of "${facts.loadedBy}" and run: ${incremental}`,
  }
}

/** Takes the status and value of the column from the online response, when the whole read succeeded. */
function withResponse(
  explanation: FeatureExplanation,
  response: OnlineFeaturesResponse | undefined,
  column: string,
): FeatureExplanation {
  if (response === undefined) return explanation
  const at = response.metadata.featureNames.indexOf(column)
  if (at < 0) return explanation
  const vector = response.results[at]!
  return { ...explanation, status: vector.statuses[0]!, value: vector.values[0]! }
}

/** A windowed aggregation of a stream view, combined from the stream processor's tiles. */
function explainTile(
  ctx: Context,
  name: string,
  feature: string,
  column: string,
  response: OnlineFeaturesResponse | undefined,
  readError: unknown,
): FeatureExplanation {
  const ref = `${name}:${feature}`
  const details: ExplainDetails = { view: name, kind: 'stream feature view' }
  const at = response?.metadata.featureNames.indexOf(column) ?? -1
  if (response === undefined || at < 0) {
    return {
      feature: ref,
      status: 'ERROR',
      value: null,
      valueType: ValueType.UNKNOWN,
      eventTs: undefined,
      cause: {
        code: 'no_aggregation_tiles',
        message: `the aggregation ${ref} could not be read: ${errorText(readError)}`,
        fix: 'fix the error above, then run larder explain again',
      },
      details: { ...details, error: errorText(readError) },
    }
  }
  const vector = response.results[at]!
  const status = vector.statuses[0]!
  const eventTs = vector.eventTimestamps[0] || undefined
  return {
    feature: ref,
    status,
    value: vector.values[0]!,
    valueType: response.metadata.valueTypes[at] ?? ValueType.UNKNOWN,
    eventTs,
    cause:
      status === 'NOT_FOUND'
        ? {
            code: 'no_aggregation_tiles',
            message: `no tile of stream feature view "${name}" holds events of this key: the stream processor computes ${feature} from the events it reads`,
            fix: 'run the stream processor: larder stream',
          }
        : {
            code: 'ok',
            message: `${feature} combined from the stream processor's tiles at ${iso(ctx.at)}`,
            fix: null,
          },
    details,
  }
}

/** Explains the requested outputs of an on-demand view computed on read: its inputs, then the transformation. */
async function explainOnDemand(
  ctx: Context,
  plan: OnlinePlan,
  odfv: OnDemandRead,
  entity: Record<string, unknown>,
  facts: readonly ReadFacts[],
  inputExplanations: readonly FeatureExplanation[],
  response: OnlineFeaturesResponse | undefined,
): Promise<Map<number, FeatureExplanation>> {
  const view = odfv.view
  const what = `on-demand feature view "${view.name}"`
  const out = new Map<number, FeatureExplanation>()
  const columns = odfv.outputs
    .map((column, j) => ({ column, field: view.schema[j]! }))
    .filter((c) => c.column >= 0)
  const nameOf = (column: number, feature: string) => {
    const full = plan.featureColumns[column]!
    return full.slice(0, full.length - feature.length - 2)
  }
  const notes = facts.flatMap((x, r) => (odfv.inputs.some((i) => 'read' in i && i.read === r) ? x.notes : []))
  const keyLabel = Object.entries(entity)
    .filter(([k]) => plan.joinKeys.has(k))
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',')
  const missingFields = view.requestFields.filter((f) => !(f.name in entity) || entity[f.name] === undefined)
  let outputs: FeastValue[][] | undefined
  let failure: ExplainCause | undefined
  let error: string | undefined
  if (missingFields.length > 0) {
    const names = missingFields.map((f) => f.name)
    failure = {
      code: 'odfv_input_missing',
      message: `${what} needs the request field${names.length > 1 ? 's' : ''} ${names.map((n) => `"${n}"`).join(', ')}, which the entity row lacks`,
      fix: `send ${names.join(', ')} with the entity row, e.g. larder explain ${keyLabel || 'KEY=VALUE'},${names.map((n) => `${n}=<value>`).join(',')} --features ${view.name}:${columns[0]?.field.name ?? ''}`,
    }
    error = failure.message
  } else {
    try {
      const deployed = await ctx.target.onDemandViews?.({ signal: ctx.signal })
      const inputs: Record<string, readonly unknown[]> = {}
      let k = 0
      for (const input of odfv.inputs) {
        inputs[input.name] =
          'read' in input
            ? [inputExplanations[k++]!.value]
            : [requestValue(input.request, input.dtype, entity[input.request], 0)]
      }
      outputs = runTransformation(
        view,
        transformOf(view, deployed),
        inputs as OnDemandColumns,
        1,
        () => keyLabel || 'the entity row',
      )
    } catch (e) {
      error = errorText(e)
      const drift =
        isLarderError(e) && (e.code === 'CONFLICT' || e.code === 'NOT_FOUND' || e.code === 'UNSUPPORTED')
      failure = {
        code: 'odfv_transform_failed',
        message: error.includes(view.name)
          ? `the transformation failed: ${error}`
          : `the transformation of ${what} failed for ${keyLabel || 'the entity row'}: ${error}`,
        fix: drift
          ? `deploy the definitions that match the registry, or register the deployed ones: larder plan, then larder apply`
          : `fix the transformation in the repo's definitions (see the error), then run larder apply`,
      }
    }
  }
  // an input's own cause, before any wrong-typed key wrapped it (the output is wrapped once, below)
  const causeOf = (x: FeatureExplanation) => x.details.normalisedCause ?? x.cause
  const missingInputs = inputExplanations.filter((x) => x.status === 'NOT_FOUND' || x.status === 'NULL_VALUE')
  for (const { column, field } of columns) {
    const name = nameOf(column, field.name)
    const ref = `${name}:${field.name}`
    let status: ExplainStatus
    let value: FeastValue = null
    if (outputs !== undefined) {
      value = outputs[view.schema.indexOf(field)]![0]!
      status = value === null ? 'NULL_VALUE' : 'PRESENT'
    } else {
      status = 'ERROR'
    }
    if (response !== undefined) {
      const at = response.metadata.featureNames.indexOf(plan.featureColumns[column]!)
      if (at >= 0) {
        status = response.results[at]!.statuses[0]!
        value = response.results[at]!.values[0]!
      }
    }
    let cause: ExplainCause
    if (failure !== undefined) cause = failure
    else if (value === null && missingInputs.length > 0) {
      const first = missingInputs[0]!
      cause = {
        code: 'odfv_input_missing',
        message: `${ref} is null because its input ${first.feature} is ${first.status}: ${causeOf(first).message}`,
        fix: causeOf(first).fix,
      }
    } else if (inputExplanations.some((x) => causeOf(x).code !== 'ok')) {
      const first = inputExplanations.find((x) => causeOf(x).code !== 'ok')!
      cause = {
        code: causeOf(first).code,
        message: `${ref} is computed from ${first.feature}, which is ${first.status}: ${causeOf(first).message}`,
        fix: causeOf(first).fix,
      }
    } else if (value === null) {
      cause = {
        code: 'odfv_null_output',
        message: `the transformation of ${what} returned null for ${field.name} from present inputs`,
        fix: `if null is wrong for these inputs, correct the transformation (try it with runOnDemand from larderjs/testing) and run larder apply`,
      }
    } else {
      cause = {
        code: 'ok',
        message: `${field.name} = ${JSON.stringify(jsonValue(value, field.dtype.valueType))}, computed on read`,
        fix: null,
      }
    }
    const details: ExplainDetails = {
      view: view.name,
      kind: 'on demand feature view',
      inputs: inputExplanations,
      ...(error === undefined ? {} : { error }),
    }
    if (notes.length > 0) {
      out.set(column, {
        feature: ref,
        status,
        value,
        valueType: field.dtype.valueType,
        eventTs: undefined,
        cause: keyTypeCause(notes, cause, ref, status),
        details: { ...details, joinKey: noteJson(notes[0]!), normalisedCause: cause },
      })
      continue
    }
    out.set(column, {
      feature: ref,
      status,
      value,
      valueType: field.dtype.valueType,
      eventTs: undefined,
      cause,
      details,
    })
  }
  return out
}

/**
 * The report as JSON (the body of `POST /explain` and `larder explain --json`): snake-case fields,
 * RFC 3339 timestamps, values as Feast's JSON writes them (int64 beyond 2^53 as text, Float32 with
 * its shortest digits, bytes in base64).
 */
export function explainJson(report: ExplainReport): JsonValue {
  return {
    project: report.project,
    entity: Object.fromEntries(
      Object.entries(report.entity).map(([k, v]) => [k, jsonValue((v ?? null) as FeastValue)]),
    ),
    at: iso(report.at),
    features: report.features.map(featureJson),
  }
}

function featureJson(x: FeatureExplanation): JsonValue {
  const d = x.details
  const row = (r: ExplainSourceRow | null | undefined) =>
    r === undefined
      ? undefined
      : r === null
        ? null
        : { event_timestamp: iso(r.eventTs), value: jsonValue(r.value, x.valueType) }
  const details: Record<string, JsonValue | undefined> = {
    view: d.view,
    kind: d.kind,
    entity_key: d.entityKey,
    age_seconds: d.ageSeconds,
    ttl_seconds: d.ttlSeconds,
    max_age_seconds: d.maxAgeSeconds,
    storage_ttl_seconds: d.storageTtlSeconds,
    materialized:
      d.materialized === undefined
        ? undefined
        : d.materialized === null
          ? null
          : {
              intervals: d.materialized.intervals,
              start: iso(d.materialized.start),
              end: iso(d.materialized.end),
            },
    last_run:
      d.lastRun === undefined
        ? undefined
        : {
            status: d.lastRun.status,
            start: iso(d.lastRun.start),
            end: iso(d.lastRun.end),
            finished_at: iso(d.lastRun.finishedAt),
            ...(d.lastRun.error === undefined ? {} : { error: d.lastRun.error }),
          },
    source:
      d.source === undefined
        ? undefined
        : {
            name: d.source.name,
            at_or_before: row(d.source.atOrBefore) ?? null,
            ...(d.source.atLastEnd === undefined ? {} : { at_last_end: row(d.source.atLastEnd) ?? null }),
            newest_event_timestamp: d.source.newestEventTs === null ? null : iso(d.source.newestEventTs),
          },
    source_error: d.sourceError,
    inputs: d.inputs?.map(featureJson),
    error: d.error,
    join_key:
      d.joinKey === undefined
        ? undefined
        : {
            key: d.joinKey.key,
            given: d.joinKey.given,
            used: jsonValue(d.joinKey.used as FeastValue),
            type: d.joinKey.type,
          },
    normalised_cause: d.normalisedCause === undefined ? undefined : { ...d.normalisedCause },
  }
  return {
    feature: x.feature,
    status: x.status,
    value: jsonValue(x.value, x.valueType),
    event_timestamp: x.eventTs === undefined ? null : iso(x.eventTs),
    cause: { ...x.cause },
    details: Object.fromEntries(Object.entries(details).filter(([, v]) => v !== undefined)) as JsonValue,
  }
}
