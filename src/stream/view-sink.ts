import type { RepoConfig } from '../config/index.js'
import {
  type BatchTransform,
  type EntityKeyValue,
  encodeValue,
  eventState,
  type FeastType,
  isLarderError,
  LarderError,
  type Micros,
  type RowTransform,
  type StreamFeatureView,
  TRANSFORMATION_MODES,
  tileIndex,
  toMicros,
  ValueType,
} from '../core/index.js'
import { coerce } from '../ingest/ingest.js'
import type { Row } from '../offline/index.js'
import { entityKeyEncoder, type OnlineWriteRow, type ViewRef, viewRef } from '../online/online-store.js'
import { type TileViewRef, type TileWrite, tileViewRef } from '../online/tile-store.js'
import { joinKeyValue } from '../serving/entity-values.js'
import type { StreamMessage } from './consumer.js'

/** An event decoded from a message: its fields by name, as JSON gives them or as text (Redis entry fields). */
export interface DecodedEvent {
  readonly message: StreamMessage
  readonly fields: Readonly<Record<string, unknown>>
  /** True when every value is text to be read by the view's types (a Redis entry's own fields). */
  readonly text: boolean
}

/** What one event becomes for one view. */
export interface PreparedEvent {
  readonly message: StreamMessage
  readonly online: OnlineWriteRow
  readonly tile: TileWrite | undefined
  /**
   * The row appended offline: join keys, features, the batch source's timestamp and created columns
   * (undefined for a view without `offline: true`, which appends nothing).
   */
  readonly offline: Row | undefined
}

/** An event a view refuses, with the reason (it goes to the dead-letter stream). */
export interface RefusedEvent {
  readonly message: StreamMessage
  readonly reason: string
}

/**
 * One stream feature view as the processor writes it: events in (after the source's field mapping),
 * the view's transformation applied, checked against the view's schema, and turned into its
 * latest-value row, its tile contribution and its offline row. A bad event is refused with a reason
 * naming the view, the field and the value; it never fails the batch.
 */
export class ViewSink {
  readonly view: StreamFeatureView
  /** The latest-value storage of the view's plain features. */
  readonly ref: ViewRef
  /** The view's tiles, when it has aggregations. */
  readonly tiles: TileViewRef | undefined
  readonly #transform: RowTransform | BatchTransform | undefined
  readonly #encodeKey: (values: readonly EntityKeyValue[]) => Uint8Array
  readonly #types: ReadonlyMap<string, FeastType>
  readonly #timestampField: string
  readonly #createdField: string
  readonly #offlineTimestamp: string
  readonly #offlineCreated: string
  readonly #aggregationColumns: readonly string[]

  /**
   * `view` is the registered view (its schema is known); `transform` its deployed function, needed
   * when the view has a transformation (the registry keeps only its text).
   */
  constructor(
    config: RepoConfig,
    view: StreamFeatureView,
    transform: RowTransform | BatchTransform | undefined,
  ) {
    if (view.transformation && !transform) {
      throw new LarderError(
        'NOT_FOUND',
        `stream feature view "${view.name}" has a transformation that the deployed feature repo does not define`,
        {
          hint: 'run `larder stream` in the repo that defines the view (the registry keeps only its source text)',
        },
      )
    }
    this.view = view
    this.ref = viewRef(config.project, view.storageView)
    this.tiles = view.aggregations.length > 0 ? tileViewRef(config.project, view) : undefined
    this.#transform = view.transformation ? transform : undefined
    this.#encodeKey = entityKeyEncoder(this.ref, config.entityKeySerializationVersion)
    this.#types = new Map((view.schema ?? []).map((f) => [f.name, f.dtype]))
    this.#timestampField = view.timestampField
    const source = view.source
    this.#createdField = 'createdTimestampColumn' in source ? source.createdTimestampColumn : ''
    const batch = view.batchSource
    this.#offlineTimestamp = batch.timestampField || view.timestampField
    this.#offlineCreated = batch.createdTimestampColumn
    this.#aggregationColumns = view.aggregations.map((a) => a.column)
  }

  /** The events as this view writes them, and those it refuses. */
  prepare(events: readonly DecodedEvent[]): { prepared: PreparedEvent[]; refused: RefusedEvent[] } {
    const prepared: PreparedEvent[] = []
    const refused: RefusedEvent[] = []
    const records = this.#transformed(events, refused)
    records.forEach((record, i) => {
      if (record === undefined) return
      const event = events[i]!
      try {
        prepared.push(this.#prepare(event.message, record, event.text))
      } catch (error) {
        refused.push({ message: event.message, reason: reasonOf(error) })
      }
    })
    return { prepared, refused }
  }

  /** Each event's record after the transformation (its output fields over the event's), or undefined when refused. */
  #transformed(
    events: readonly DecodedEvent[],
    refused: RefusedEvent[],
  ): (Readonly<Record<string, unknown>> | undefined)[] {
    const fn = this.#transform
    if (fn === undefined) return events.map((e) => e.fields)
    const where = `the transformation of stream feature view "${this.view.name}"`
    if (this.view.transformation?.mode === TRANSFORMATION_MODES.batch) {
      const names = [...new Set(events.flatMap((e) => Object.keys(e.fields)))]
      const columns = Object.fromEntries(names.map((n) => [n, events.map((e) => e.fields[n] ?? null)]))
      let out: Record<string, readonly unknown[]>
      try {
        out = (fn as BatchTransform)(columns)
        checkRecord(out, 'columns')
        for (const [name, column] of Object.entries(out)) {
          if (!Array.isArray(column) || column.length !== events.length) {
            throw new Error(
              `it returned ${Array.isArray(column) ? column.length : typeof column} values for "${name}" for ${events.length} events`,
            )
          }
        }
      } catch (error) {
        const reason = `${where} failed on its batch: ${(error as Error).message}`
        for (const e of events) refused.push({ message: e.message, reason })
        return events.map(() => undefined)
      }
      const outNames = Object.keys(out)
      return events.map((e, r) => ({
        ...e.fields,
        ...Object.fromEntries(outNames.map((n) => [n, out[n]![r]])),
      }))
    }
    return events.map((e) => {
      try {
        const out = (fn as RowTransform)(e.fields)
        checkRecord(out, 'a record')
        return { ...e.fields, ...out }
      } catch (error) {
        refused.push({ message: e.message, reason: `${where} failed: ${(error as Error).message}` })
        return undefined
      }
    })
  }

  #prepare(message: StreamMessage, record: Readonly<Record<string, unknown>>, text: boolean): PreparedEvent {
    const view = this.view.name
    const eventTs = this.#timestamp(record, this.#timestampField, text, true)!
    const createdTs =
      this.#createdField === '' ? undefined : this.#timestamp(record, this.#createdField, text, false)
    const keyValues = this.ref.joinKeys.map((k) => {
      const raw = record[k.name]
      if (raw === undefined || raw === null || raw === '') {
        throw new LarderError(
          'INVALID_ARGUMENT',
          `the event has no join key "${k.name}" for stream feature view "${view}"`,
        )
      }
      const value = text ? cell(view, k.name, () => fromText(raw, k.valueType)) : raw
      return joinKeyValue(value, k.valueType, k.name, view)
    })
    // as a Buffer (a view, no copy), which the stores and latestRows use without wrapping it again
    const encoded = this.#encodeKey(keyValues)
    const entityKey = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength)
    const values = new Map<string, unknown>()
    const fieldValue = (name: string): unknown => {
      if (!values.has(name)) {
        const type = this.#types.get(name)!
        const raw = record[name] ?? null
        values.set(
          name,
          cell(view, name, () =>
            coerce(type, text && raw !== null ? fromText(raw, type.valueType, type) : raw),
          ),
        )
      }
      return values.get(name)
    }
    const online: OnlineWriteRow = {
      entityKey,
      values: this.ref.features.map((f) => cell(view, f.name, () => encodeValue(f.type, fieldValue(f.name)))),
      eventTs,
      createdTs,
    }
    const order = { ts: eventTs, created: createdTs ?? -Infinity, order: message.order }
    const tile =
      this.tiles &&
      ({
        id: message.id,
        entityKey,
        tile: tileIndex(eventTs, this.tiles.hopMicros),
        eventTs,
        states: this.tiles.aggregations.map((a, i) =>
          cell(view, this.#aggregationColumns[i]!, () =>
            eventState(a, fieldValue(this.#aggregationColumns[i]!), order),
          ),
        ),
      } satisfies TileWrite)
    if (!this.view.offline) return { message, online, tile, offline: undefined }
    const offline: Row = {}
    this.ref.joinKeys.forEach((k, j) => {
      offline[k.name] = keyValues[j]
    })
    for (const f of this.ref.features) offline[f.name] = fieldValue(f.name)
    if (this.#offlineCreated !== '' && createdTs !== undefined)
      offline[this.#offlineCreated] = isoMicros(createdTs)
    offline[this.#offlineTimestamp] = isoMicros(eventTs)
    return { message, online, tile, offline }
  }

  #timestamp(
    record: Readonly<Record<string, unknown>>,
    field: string,
    text: boolean,
    required: boolean,
  ): Micros | undefined {
    const raw = record[field]
    if (raw === undefined || raw === null || raw === '') {
      if (!required) return undefined
      throw new LarderError(
        'INVALID_ARGUMENT',
        `the event has no timestamp field "${field}" for stream feature view "${this.view.name}"`,
      )
    }
    const value = text && typeof raw === 'string' && NUMBER.test(raw) ? Number(raw) : raw
    return cell(this.view.name, field, () => toMicros(value as string | number | Date, 'the value'))
  }
}

const NUMBER = /^-?\d+(\.\d+)?$/

/** A Redis entry field's text as the value of a field of this type. */
function fromText(raw: unknown, valueType: number, type?: FeastType): unknown {
  if (typeof raw !== 'string') return raw
  switch (valueType) {
    case ValueType.INT32:
    case ValueType.INT64:
    case ValueType.FLOAT:
    case ValueType.DOUBLE: {
      const n = Number(raw)
      if (raw.trim() === '' || !Number.isFinite(n)) {
        throw new LarderError('INVALID_ARGUMENT', `${JSON.stringify(raw.slice(0, 40))} is not a number`)
      }
      return valueType === ValueType.INT64 && !Number.isSafeInteger(n) && /^-?\d+$/.test(raw)
        ? BigInt(raw)
        : n
    }
    case ValueType.BOOL:
      if (raw === 'true' || raw === '1') return true
      if (raw === 'false' || raw === '0') return false
      throw new LarderError(
        'INVALID_ARGUMENT',
        `${JSON.stringify(raw.slice(0, 40))} is not a boolean (true, false, 1, 0)`,
      )
    default:
      if (
        type?.element !== undefined ||
        type?.fields !== undefined ||
        raw.startsWith('[') ||
        raw.startsWith('{')
      ) {
        try {
          return JSON.parse(raw)
        } catch {
          return raw
        }
      }
      return raw
  }
}

/** Throws unless a transformation returned an object (a Promise is not: transformations are synchronous). */
function checkRecord(out: unknown, wanted: string): void {
  if (out === null || typeof out !== 'object' || Array.isArray(out))
    throw new Error(
      `it returned ${out === null ? 'null' : Array.isArray(out) ? 'an array' : typeof out}, not ${wanted}`,
    )
  if (typeof (out as { then?: unknown }).then === 'function')
    throw new Error(`it returned a Promise, not ${wanted}: a stream transformation must be synchronous`)
}

/** Runs `f`; an error it throws names the view, the field and the cause. */
function cell<T>(view: string, field: string, f: () => T): T {
  try {
    return f()
  } catch (error) {
    const prefix = `field "${field}" of the event for stream feature view "${view}": `
    // a field's value is read once and used again (online value, tile state): name it once
    if (isLarderError(error) && error.message.startsWith(prefix)) throw error
    throw new LarderError('INVALID_ARGUMENT', `${prefix}${(error as Error).message}`, { cause: error })
  }
}

function reasonOf(error: unknown): string {
  if (isLarderError(error)) return error.message
  return `unexpected error: ${(error as Error)?.message ?? String(error)}`
}

/** RFC 3339 text in UTC with microseconds, as the offline stores read timestamps. */
function isoMicros(micros: Micros): string {
  const ms = Math.floor(micros / 1000)
  const rest = micros - ms * 1000
  return new Date(ms).toISOString().replace('Z', `${String(rest).padStart(3, '0')}Z`)
}

/**
 * The latest-value rows of a batch: one per entity, its latest event by event time, then created
 * time, then stream order (as materialization picks it). A store's newer-wins compares event times
 * only, at its resolution (whole seconds in SQLite), a tie going to the later write, so writing every
 * event would let a later-written event with an equal (or, in SQLite, same-second) time win.
 */
export function latestRows(events: readonly PreparedEvent[]): OnlineWriteRow[] {
  const latest = new Map<string, PreparedEvent>()
  for (const event of events) {
    const bytes = event.online.entityKey
    const key = (
      Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    ).toString('latin1')
    const held = latest.get(key)
    if (held === undefined || laterEvent(event, held)) latest.set(key, event)
  }
  return [...latest.values()].map((e) => e.online)
}

function laterEvent(a: PreparedEvent, b: PreparedEvent): boolean {
  if (a.online.eventTs !== b.online.eventTs) return a.online.eventTs > b.online.eventTs
  const [ca, cb] = [a.online.createdTs ?? -Infinity, b.online.createdTs ?? -Infinity]
  if (ca !== cb) return ca > cb
  return a.message.order > b.message.order
}
