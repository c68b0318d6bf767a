import type { RepoConfig } from '../config/index.js'
import {
  type Abortable,
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
 * readers see all the rows or none), or both, online first. Everything is checked before anything
 * is written, so a bad frame writes nothing. Views sharing a batch source append the rows once.
 *
 * Throws NOT_FOUND for an unknown push source (listing the known ones), INVALID_ARGUMENT naming the
 * column for a missing column or a value that does not fit its type, and for a push source that feeds
 * no view (or no online view, or none with a batch source, as `to` needs).
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
  const written = await writeOnline(target, encoded, options)
  if (offlineRows) {
    const store = await target.offline()
    await store.writeRows(offline[0]!, offlineRows, options)
  }
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
 * converted by the view's declared types and the store keeps the newer value per entity. Throws
 * NOT_FOUND for an unknown view (listing the known ones) and INVALID_ARGUMENT naming the column for a
 * missing column or a value that does not fit; nothing is written then.
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
  const written = await writeOnline(target, encoded, options)
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
 * checked against the view's declared types first (as an online write checks it), then the rows go to
 * the offline store in one append, which either lands whole or not at all. Throws NOT_FOUND for an
 * unknown view and INVALID_ARGUMENT naming the column and row of a value that does not fit.
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
  const store = await target.offline()
  await store.writeRows(view, rows, options)
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
      cellError(view, f.name, r, () => encodeValue(f.type, coerce(f.type, features[i]![r]))),
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
  return cellError(view, column, row, () => toMicros(value as Date | string | number, `column "${column}"`))
}

/** Runs `f`; a LarderError it throws is re-thrown naming the view, column and row. */
function cellError<T>(view: FeatureView, column: string, row: number, f: () => T): T {
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
        details: { column, row, view: view.name },
      },
    )
  }
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

/** The frame's rows as the views sharing one batch source store them: join keys, timestamps, features. */
function offlineBatch(views: readonly FeatureView[], frame: Frame): Row[] {
  const columns = new Set<string>()
  for (const view of views) {
    const where = `feature view "${view.name}" (offline)`
    const ts = timestampColumns(view)
    for (const name of [...view.joinKeys, ts.event, ...view.features.map((f) => f.name)]) {
      requireColumn(frame, name, where)
      columns.add(name)
    }
    if (ts.created !== undefined && frame.columns.has(ts.created)) columns.add(ts.created)
  }
  const sources = columns.size
  const names = [...columns]
  const values = names.map((n) => frame.columns.get(n)!)
  const rows: Row[] = new Array(frame.rows)
  for (let r = 0; r < frame.rows; r++) {
    const row: Row = {}
    for (let c = 0; c < sources; c++) row[names[c]!] = values[c]![r]
    rows[r] = row
  }
  return rows
}

async function writeOnline(
  target: IngestTarget,
  batches: readonly { view: FeatureView; ref: ViewRef; rows: OnlineWriteRow[] }[],
  options: Abortable,
): Promise<Map<string, { written: number; skipped: number }>> {
  const out = new Map<string, { written: number; skipped: number }>()
  if (batches.length === 0) return out
  const store = await target.online(options)
  for (const b of batches) {
    out.set(
      b.view.name,
      b.rows.length === 0 ? { written: 0, skipped: 0 } : await store.write(b.ref, b.rows, options),
    )
  }
  return out
}
