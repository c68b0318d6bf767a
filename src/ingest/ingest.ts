import type { RepoConfig } from '../config/index.js'
import {
  type Abortable,
  checkInstant,
  checkValueRange,
  type DeployedOnDemandViews,
  type EntityKeyValue,
  encodeValue,
  type FeastType,
  type FeatureView,
  isKind,
  isLarderError,
  knownNames,
  LarderError,
  type Micros,
  onDemandWriteRows,
  type PushSource,
  throwIfAborted,
  toMicros,
  transformOf,
  ValueType,
} from '../core/index.js'
import type { OfflineStore, Row } from '../offline/index.js'
import {
  entityKeyEncoder,
  type OnlineStore,
  type OnlineWriteRow,
  type ViewRef,
  viewRef,
} from '../online/online-store.js'
import type { ProjectCatalog, Registry } from '../registry/index.js'
import { joinKeyValue } from '../serving/entity-values.js'
import { type DataFrame, type Frame, requireColumn, toFrame } from './data-frame.js'

/** What ingestion needs from a feature store; `FeatureStore` is one. */
export interface IngestTarget {
  readonly config: RepoConfig
  readonly registry: Registry
  offline(): Promise<OfflineStore>
  online(options?: Abortable): Promise<OnlineStore>
  /** The deployed on-demand views, for views computed at write time (`writeToOnlineStore`). */
  onDemandViews?(): Promise<DeployedOnDemandViews>
}

/** Where pushed rows go, as Feast's `PushMode`. */
export type PushMode = 'online' | 'offline' | 'online_and_offline'

export interface PushRequest {
  /** The push source whose feature views receive the rows. */
  readonly pushSourceName: string
  /**
   * The rows: the views' join keys, the batch source's timestamp field (ISO-8601 text, naive = UTC;
   * a `Date`; or epoch milliseconds), its created timestamp column when there is one, and every feature.
   */
  readonly df: DataFrame
  /** Default `online`, as Feast. */
  readonly to?: PushMode
}

export interface WriteToOnlineStoreRequest {
  readonly featureViewName: string
  /** As {@link PushRequest.df}, for this view. */
  readonly df: DataFrame
}

/** What happened to one feature view. */
export interface ViewIngestion {
  readonly view: string
  /** Rows received. */
  readonly rows: number
  /** Rows the online store applied, and rows it left out because it held a newer value. */
  readonly onlineWritten: number
  readonly onlineSkipped: number
  /** Rows appended to the view's batch source (0 when the push did not go offline). */
  readonly offlineRows: number
}

export interface IngestResult {
  readonly views: readonly ViewIngestion[]
}

/**
 * Pushes rows to every feature view fed by a push source, as Feast's `push`: online (converted by the
 * views' declared types, keyed by their join keys, stamped with the batch source's timestamp field;
 * the store keeps the newer value per entity), offline (appended to the batch source, atomically:
 * readers see all the rows or none), or both. Views sharing a batch source append the rows once.
 *
 * All or nothing: every value is checked against every destination before anything is written (the
 * online encoding of its declared type, Float32 range and timestamps Larder holds included, then the
 * offline source's column types, with the offline rows staged). With both destinations the order is
 * offline staged, online written, offline committed; a failure before the online write writes
 * nothing, and one after it (the offline commit, or one of several online views) throws an error
 * whose `details.written` says what was written (see the module's CONTEXT.md). Aborting `signal`
 * stops the push only until the first write starts; from then on it runs to its end.
 *
 * Throws NOT_FOUND for an unknown push source (listing the known ones), INVALID_ARGUMENT naming the
 * view, column, row (counted from 0) and value for a missing column or a value that does not fit a
 * destination, and for a push source that feeds no view (or no online view, or none with a batch
 * source, as `to` needs).
 *
 * @example
 * await push(store, {
 *   pushSourceName: 'driver_stats_push_source',
 *   df: { driver_id: [1001], event_timestamp: ['2026-11-22T10:00:00Z'], created: ['2026-11-22T10:00:00Z'],
 *         conv_rate: [0.9], acc_rate: [0.8], avg_daily_trips: [12] },
 * })
 */
export async function push(
  target: IngestTarget,
  request: PushRequest,
  options: Abortable = {},
): Promise<IngestResult> {
  const to = request.to ?? 'online'
  if (!PUSH_MODES.includes(to)) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `to must be one of ${PUSH_MODES.join(', ')}, got ${JSON.stringify(to)}`,
      {
        details: { field: 'to' },
      },
    )
  }
  const catalog = await catalogOf(target, options)
  const source = pushSource(catalog, request.pushSourceName)
  const fed = [...catalog.featureViews.values()].filter((v) => v.pushSource?.name === source.name)
  if (fed.length === 0) {
    throw new LarderError('INVALID_ARGUMENT', `push source "${source.name}" feeds no feature view`, {
      hint: 'define a FeatureView with this push source as its source, and apply',
    })
  }
  const frame = toFrame(request.df)
  const online = to === 'offline' ? [] : fed.filter((v) => v.online)
  if (to !== 'offline' && online.length === 0) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `push source "${source.name}" feeds no online feature view (${knownNames(fed.map((v) => v.name))} have online: false)`,
      { hint: 'push with to: "offline", or set online: true on a view and apply' },
    )
  }
  const offline = to === 'online' ? [] : fed
  if (offline.length > 0 && source.batchSource === undefined) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `push source "${source.name}" has no batch source to write offline rows to`,
      {
        hint: 'give the PushSource a batchSource, or push with to: "online"',
      },
    )
  }
  const encoded = online.map((v) => ({ view: v, ...encodeOnline(target.config, v, frame) }))
  // offline-only views' cells are checked as an online write checks them, so that a bad value is
  // refused naming its column and row before the file is touched
  for (const v of offline) if (!online.includes(v)) encodeOnline(target.config, v, frame)
  encoded.push(...(await onDemandRows(target, catalog, encoded)))
  const offlineRows = offline.length > 0 ? offlineBatch(offline, frame) : undefined
  const written = await applyWrites(
    target,
    `push to push source "${source.name}"`,
    encoded,
    offlineRows && { view: offline[0]!, rows: offlineRows },
    options,
  )
  return {
    views: fed.map((v) => ({
      view: v.name,
      rows: frame.rows,
      onlineWritten: written.get(v.name)?.written ?? 0,
      onlineSkipped: written.get(v.name)?.skipped ?? 0,
      offlineRows: offlineRows && offline.includes(v) ? offlineRows.length : 0,
    })),
  }
}

/**
 * Writes rows to one feature view's online storage, as Feast's `write_to_online_store`: values are
 * converted by the view's declared types and the store keeps the newer value per entity. Every value
 * is checked before anything is written; aborting `signal` stops the call only until the first write
 * starts. Throws NOT_FOUND for an unknown view (listing the known ones) and INVALID_ARGUMENT naming the
 * column, row and value for a missing column or a value that does not fit; nothing is written then.
 *
 * @example await writeToOnlineStore(store, { featureViewName: 'driver_hourly_stats', df: rows })
 */
export async function writeToOnlineStore(
  target: IngestTarget,
  request: WriteToOnlineStoreRequest,
  options: Abortable = {},
): Promise<IngestResult> {
  const catalog = await catalogOf(target, options)
  const view = writableView(catalog, request.featureViewName)
  const frame = toFrame(request.df)
  const encoded = [{ view, ...encodeOnline(target.config, view, frame) }]
  encoded.push(...(await onDemandRows(target, catalog, encoded)))
  const written = await applyWrites(
    target,
    `write to feature view "${view.name}"`,
    encoded,
    undefined,
    options,
  )
  return {
    views: [
      {
        view: view.name,
        rows: frame.rows,
        onlineWritten: written.get(view.name)?.written ?? 0,
        onlineSkipped: written.get(view.name)?.skipped ?? 0,
        offlineRows: 0,
      },
    ],
  }
}

export interface WriteToOfflineStoreRequest {
  readonly featureViewName: string
  /** As {@link PushRequest.df}, for this view. */
  readonly df: DataFrame
}

/**
 * Appends rows to one feature view's offline source, as Feast's `write_to_offline_store`: every cell is
 * checked against the view's declared types first (as an online write checks it) and against the
 * source's column types, then the rows go to the offline store in one append, which either lands whole
 * or not at all. Aborting `signal` stops the call only until the append commits. Throws NOT_FOUND for
 * an unknown view and INVALID_ARGUMENT naming the view, column, row and value that does not fit.
 *
 * @example await writeToOfflineStore(store, { featureViewName: 'driver_hourly_stats', df: rows })
 */
export async function writeToOfflineStore(
  target: IngestTarget,
  request: WriteToOfflineStoreRequest,
  options: Abortable = {},
): Promise<IngestResult> {
  const catalog = await catalogOf(target, options)
  const view = writableView(catalog, request.featureViewName)
  const frame = toFrame(request.df)
  encodeOnline(target.config, view, frame)
  const rows = offlineBatch([view], frame)
  await applyWrites(target, `write to feature view "${view.name}"`, [], { view, rows }, options)
  return {
    views: [
      { view: view.name, rows: frame.rows, onlineWritten: 0, onlineSkipped: 0, offlineRows: rows.length },
    ],
  }
}

const PUSH_MODES: readonly PushMode[] = ['online', 'offline', 'online_and_offline']

/**
 * The view rows are written to by name: a feature view, or the non-aggregated features of a stream
 * feature view (Feast's `write_to_online_store` and `write_to_offline_store` take both). NOT_FOUND lists
 * the feature views.
 */
function writableView(catalog: ProjectCatalog, name: string): FeatureView {
  return catalog.streamFeatureViews.get(name)?.storageView ?? catalog.featureView(name)
}

async function catalogOf(target: IngestTarget, options: Abortable): Promise<ProjectCatalog> {
  return (await target.registry.load({ signal: options.signal })).catalog(target.config.project)
}

function pushSource(catalog: ProjectCatalog, name: string): PushSource {
  const source = catalog.dataSources.get(name)
  const known = () =>
    knownNames([...catalog.dataSources.values()].filter((s) => isKind(s, 'PushSource')).map((s) => s.name))
  if (source === undefined) {
    throw new LarderError('NOT_FOUND', `push source "${name}" not found in project "${catalog.project}"`, {
      hint: `known push sources: ${known()}`,
      details: { pushSource: name },
    })
  }
  if (!isKind(source, 'PushSource')) {
    throw new LarderError('INVALID_ARGUMENT', `data source "${name}" is not a push source`, {
      hint: `known push sources: ${known()}`,
      details: { pushSource: name },
    })
  }
  return source as PushSource
}

/** The view's event timestamp column (its batch source's timestamp field) and created column, if any. */
function timestampColumns(view: FeatureView): { event: string; created: string | undefined } {
  const source = view.batchSource
  if (source === undefined) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `feature view "${view.name}" has no batch source, so the column of its event timestamps is not known`,
      { hint: 'give its PushSource a batchSource with a timestampField' },
    )
  }
  return { event: source.timestampField, created: source.createdTimestampColumn || undefined }
}

/** Encodes every row of the frame for a view's online storage; throws naming the view, column and row of the first bad value. */
/**
 * The rows of the on-demand views stored at write time that read the written views: their
 * transformations run over the values just encoded (decoded again, so they see what an online read
 * would), and the outputs are keyed and timed as the source rows.
 */
async function onDemandRows(
  target: IngestTarget,
  catalog: ProjectCatalog,
  written: readonly { view: FeatureView; ref: ViewRef; rows: OnlineWriteRow[] }[],
): Promise<{ view: FeatureView; ref: ViewRef; rows: OnlineWriteRow[] }[]> {
  const stored = [...catalog.onDemandFeatureViews.values()].filter((o) => o.writeToOnlineStore)
  if (stored.length === 0) return []
  const deployed = await target.onDemandViews?.()
  return stored.flatMap((odfv) => {
    const source = written.find((w) => w.view.name === odfv.sourceProjections[0]!.view.name)
    if (!source) return []
    const view = odfv.storageView!
    const ref = viewRef(target.config.project, view)
    const rows = onDemandWriteRows(
      odfv,
      transformOf(odfv, deployed),
      source.ref.features.map((f) => f.name),
      source.rows,
      (r) => `row ${r} written to feature view "${source.view.name}"`,
    )
    return [{ view, ref, rows }]
  })
}

function encodeOnline(
  config: RepoConfig,
  view: FeatureView,
  frame: Frame,
): { ref: ViewRef; rows: OnlineWriteRow[] } {
  const ref = viewRef(config.project, view)
  const where = `feature view "${view.name}"`
  const ts = timestampColumns(view)
  const keys = ref.joinKeys.map((k) => requireColumn(frame, k.name, `${where} (join key)`))
  const features = ref.features.map((f) => requireColumn(frame, f.name, where))
  const events = requireColumn(frame, ts.event, `${where} (its event timestamp)`)
  const created = ts.created === undefined ? undefined : frame.columns.get(ts.created)
  const encodeKey = entityKeyEncoder(ref, config.entityKeySerializationVersion)
  const rows: OnlineWriteRow[] = new Array(frame.rows)
  const keyValues: EntityKeyValue[] = new Array(keys.length)
  for (let r = 0; r < frame.rows; r++) {
    ref.joinKeys.forEach((k, j) => {
      keyValues[j] = joinKeyValue(keys[j]![r], k.valueType, k.name, view.name)
    })
    const values = ref.features.map((f, i) =>
      cellError(view, f.name, r, features[i]![r], () => {
        const value = coerce(f.type, features[i]![r])
        checkValueRange(f.type, value)
        return encodeValue(f.type, value)
      }),
    )
    rows[r] = {
      entityKey: encodeKey(keyValues),
      values,
      eventTs: timestamp(view, ts.event, r, events[r], true)!,
      createdTs: created === undefined ? undefined : timestamp(view, ts.created!, r, created[r], false),
    }
  }
  return { ref, rows }
}

function timestamp(
  view: FeatureView,
  column: string,
  row: number,
  value: unknown,
  required: boolean,
): Micros | undefined {
  if (value === null || value === undefined) {
    if (!required) return undefined
    throw new LarderError(
      'INVALID_ARGUMENT',
      `row ${row} has no event timestamp in column "${column}" for feature view "${view.name}"`,
      {
        details: { column, row },
      },
    )
  }
  // a JSON body gives integers beyond 2^53 as bigints: as epoch milliseconds they are out of range anyway
  const input = typeof value === 'bigint' ? Number(value) : value
  const shown = typeof value === 'bigint' ? String(value) : (JSON.stringify(value) ?? String(value))
  return cellError(view, column, row, value, () =>
    checkInstant(toMicros(input as Date | string | number, `column "${column}"`), shown),
  )
}

/**
 * Runs `f`; a LarderError it throws is re-thrown as INVALID_ARGUMENT naming the view, column, row
 * (counted from 0) and, in `details.value`, the value as given (scalars only; text cut at 200 characters).
 */
function cellError<T>(view: FeatureView, column: string, row: number, value: unknown, f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (!isLarderError(e)) throw e
    throw new LarderError(
      'INVALID_ARGUMENT',
      `column "${column}", row ${row}, for feature view "${view.name}": ${e.message}`,
      {
        hint: e.hint ?? 'give values of the type the view declares',
        cause: e,
        details: { view: view.name, column, row, ...shownValue(value) },
      },
    )
  }
}

/** `{ value }` for a scalar a JSON body can carry back (a bigint as text), else nothing. */
function shownValue(value: unknown): { value?: string | number | boolean } {
  if (typeof value === 'string') return { value: value.length > 200 ? `${value.slice(0, 200)}…` : value }
  if (typeof value === 'number') return Number.isFinite(value) ? { value } : { value: String(value) }
  if (typeof value === 'boolean') return { value }
  if (typeof value === 'bigint') return { value: String(value) }
  return {}
}

const BYTES_TYPES: ReadonlySet<number> = new Set([
  ValueType.BYTES,
  ValueType.PDF_BYTES,
  ValueType.IMAGE_BYTES,
])
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * JSON has no bytes or timestamps: a base64 string for a bytes feature becomes its bytes, and ISO-8601
 * text or a `Date` for a UNIX_TIMESTAMP feature becomes epoch seconds (lists element-wise). Anything
 * else is left for the Value encoder to check against the type.
 */
export function coerce(type: FeastType, value: unknown): unknown {
  const element = type.element
  if (element && Array.isArray(value)) return value.map((v) => coerce(element, v))
  if (typeof value === 'string' && BYTES_TYPES.has(type.valueType)) {
    if (!BASE64.test(value) || value.length % 4 !== 0) {
      throw new LarderError('INVALID_ARGUMENT', `${JSON.stringify(value.slice(0, 40))} is not base64`, {
        hint: 'give bytes as base64 text',
      })
    }
    return new Uint8Array(Buffer.from(value, 'base64'))
  }
  if (type.valueType === ValueType.UNIX_TIMESTAMP && (typeof value === 'string' || value instanceof Date)) {
    return Math.floor(toMicros(value) / 1_000_000)
  }
  return value
}

/**
 * The frame's rows as the views sharing one batch source store them: join keys, timestamps, features.
 * Features hold what the online write encodes, in the forms an offline column takes: base64 text of a
 * bytes feature as bytes, a UNIX_TIMESTAMP feature (epoch seconds, ISO text or a `Date`) as a `Date`.
 */
function offlineBatch(views: readonly FeatureView[], frame: Frame): Row[] {
  const columns = new Map<string, FeastType | undefined>()
  for (const view of views) {
    const where = `feature view "${view.name}" (offline)`
    const ts = timestampColumns(view)
    for (const name of [...view.joinKeys, ts.event]) {
      requireColumn(frame, name, where)
      if (!columns.has(name)) columns.set(name, undefined)
    }
    for (const f of view.features) {
      requireColumn(frame, f.name, where)
      if (columns.get(f.name) === undefined) columns.set(f.name, f.dtype)
    }
    if (ts.created !== undefined && frame.columns.has(ts.created) && !columns.has(ts.created)) {
      columns.set(ts.created, undefined)
    }
  }
  const names = [...columns.keys()]
  const values = names.map((n) => {
    const raw = frame.columns.get(n)!
    const type = columns.get(n)
    return type === undefined || !needsOfflineForm(type)
      ? raw
      : raw.map((v) => offlineValue(type, coerce(type, v)))
  })
  const rows: Row[] = new Array(frame.rows)
  for (let r = 0; r < frame.rows; r++) {
    const row: Row = {}
    for (let c = 0; c < names.length; c++) row[names[c]!] = values[c]![r]
    rows[r] = row
  }
  return rows
}

function needsOfflineForm(type: FeastType): boolean {
  const vt = (type.element ?? type).valueType
  return BYTES_TYPES.has(vt) || vt === ValueType.UNIX_TIMESTAMP
}

/** A coerced value in the form an offline column takes: epoch seconds of a UNIX_TIMESTAMP as a `Date`. */
function offlineValue(type: FeastType, value: unknown): unknown {
  if (value === null || value === undefined) return null
  const element = type.element
  if (element && Array.isArray(value)) return value.map((v) => offlineValue(element, v))
  if (
    type.valueType === ValueType.UNIX_TIMESTAMP &&
    (typeof value === 'number' || typeof value === 'bigint')
  ) {
    return new Date(Number(value) * 1000)
  }
  return value
}

/** Encoded online rows of one view. */
interface OnlineBatch {
  readonly view: FeatureView
  readonly ref: ViewRef
  readonly rows: OnlineWriteRow[]
}

/**
 * Writes checked rows online and/or offline, all or nothing as far as the stores allow. The online
 * store is opened first (a store that is down fails before anything is written). With rows for both,
 * the offline append is staged and checked against the source's column types, then the online rows
 * are written (`beforeCommit`), then the append commits: an online write is an upsert that keeps the
 * newer value, so repeating it after a failed commit changes nothing, while an append repeated after a
 * failed online write would duplicate rows. `signal` is honoured until the first write starts (the
 * offline staging included) and ignored after, so an abort never splits a write.
 *
 * Returns what each view's online write did. When a failure comes after something was written,
 * throws an error with the failure's code whose `details.written` is `{ online, offline }` (rows) and
 * `details.views` each view's rows written online; a failure before any write is rethrown unchanged.
 */
async function applyWrites(
  target: IngestTarget,
  what: string,
  online: readonly OnlineBatch[],
  offline: { view: FeatureView; rows: Row[] } | undefined,
  options: Abortable,
): Promise<Map<string, { written: number; skipped: number }>> {
  const signal = options.signal
  throwIfAborted(signal)
  const out = new Map<string, { written: number; skipped: number }>()
  const onlineStore = online.length > 0 ? await target.online({ signal }) : undefined
  const writeOnline = async () => {
    // the last point at which an abort stops the request: nothing has been written yet
    throwIfAborted(signal)
    for (const b of online) {
      out.set(
        b.view.name,
        b.rows.length === 0 ? { written: 0, skipped: 0 } : await onlineStore!.write(b.ref, b.rows),
      )
    }
  }
  if (offline === undefined) {
    try {
      await writeOnline()
    } catch (error) {
      throw out.size === 0 ? error : partialWrite(error, what, 'online', out, undefined)
    }
    return out
  }
  const store = await target.offline()
  // the caller's signal may cancel the staging of the append, never what follows it
  const staging = new AbortController()
  const forward = () => staging.abort(signal?.reason)
  signal?.addEventListener('abort', forward, { once: true })
  let onlineDone = false
  try {
    await store.writeRows(offline.view, offline.rows, {
      signal: staging.signal,
      beforeCommit: async () => {
        signal?.removeEventListener('abort', forward)
        await writeOnline()
        onlineDone = true
      },
    })
  } catch (error) {
    if (out.size === 0) throw error
    throw partialWrite(error, what, onlineDone ? 'offline' : 'online', out, 0)
  } finally {
    signal?.removeEventListener('abort', forward)
  }
  return out
}

/**
 * The error of a write that failed after another part of it was written: the failure's code (so a
 * store that is down is still a 503), a message saying what was written and what failed, and
 * `details.written: { online, offline }` (rows, summed over views) and `details.views`.
 */
function partialWrite(
  error: unknown,
  what: string,
  failed: 'online' | 'offline',
  online: ReadonlyMap<string, { written: number; skipped: number }>,
  offlineRows: number | undefined,
): LarderError {
  const cause = isLarderError(error) ? error : undefined
  const onlineRows = [...online.values()].reduce((n, v) => n + v.written + v.skipped, 0)
  const views = Object.fromEntries([...online].map(([view, v]) => [view, { online: v.written + v.skipped }]))
  const done = [...online.keys()].map((v) => `"${v}"`).join(', ')
  const reason = cause?.message ?? String(error)
  const message =
    failed === 'offline'
      ? `${what} was written online (${onlineRows} rows to ${done}) but not appended offline: ${reason}`
      : `${what} was written online only in part (${onlineRows} rows to ${done})${offlineRows === undefined ? '' : ' and not offline'}: ${reason}`
  return new LarderError(cause?.code ?? 'INTERNAL', message, {
    cause: error,
    hint: `send the same rows again once the cause is fixed: an online write keeps the newer value per entity, so rows written twice change nothing${cause?.hint ? `; ${cause.hint}` : ''}`,
    details: {
      ...(cause?.details ?? {}),
      written: { online: onlineRows, offline: offlineRows ?? 0 },
      views,
      failed,
    },
  })
}
