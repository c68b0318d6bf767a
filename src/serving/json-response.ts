import {
  type FeastRecord,
  type FeastValue,
  formatMicros,
  type ScalarMapValue,
  specialKind,
  type TypedValue,
  ValueType,
  type ZonedTimestampValue,
} from '../core/index.js'
import type { FieldStatus, OnlineFeaturesResponse } from './online-features.js'

/** A JSON value as `JSON.stringify` writes it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** Feast's JSON body of `POST /get-online-features`. */
export interface FeastJsonResponse {
  metadata: { feature_names: string[] }
  results: { values: JsonValue[]; statuses: FieldStatus[]; event_timestamps: string[] }[]
}

/**
 * The response in the exact JSON shape of Feast's feature server:
 * `{"metadata":{"feature_names":[...]},"results":[{"values":[...],"statuses":[...],"event_timestamps":[...]}]}`.
 *
 * - Event timestamps are RFC 3339 in UTC with `Z` (0, 3 or 6 fractional digits); join-key columns and
 *   values not found carry the epoch, `1970-01-01T00:00:00Z`.
 * - int64 values are JSON numbers while exact (within ±(2^53 − 1)), as Feast writes them, and decimal
 *   strings beyond, because a JSON number that large loses digits in JavaScript and most parsers.
 * - float32 values are written with the fewest digits that read back as the same float32 (`0.0758`,
 *   not `0.07580000162124634`), as protobuf's JSON printer does.
 * - Bytes are base64; lists and sets are arrays; maps and structs are objects (a scalar map's keys as
 *   text); a zoned timestamp is ISO-8601 with its offset; NaN and infinities are the strings `"NaN"`,
 *   `"Infinity"` and `"-Infinity"` (protobuf's JSON mapping); a value of a type this version does not
 *   know is null.
 *
 * @example JSON.stringify(toJsonResponse(await store.getOnlineFeatures(request)))
 */
export function toJsonResponse(response: OnlineFeaturesResponse): FeastJsonResponse {
  // A response repeats few instants (the epoch, and one per view and entity across that view's
  // features), and formatting one builds a Date: format each once.
  const formatted = new Map<number, string>()
  const timestamp = (micros: number) => {
    let text = formatted.get(micros)
    if (text === undefined) {
      text = formatMicros(micros)
      formatted.set(micros, text)
    }
    return text
  }
  return {
    metadata: { feature_names: [...response.metadata.featureNames] },
    results: response.results.map((r, i) => ({
      values: r.values.map((v) => jsonValue(v, response.metadata.valueTypes[i])),
      statuses: [...r.statuses],
      event_timestamps: r.eventTimestamps.map(timestamp),
    })),
  }
}

/**
 * `JSON.stringify(toJsonResponse(response))`, the same text, written directly: the feature server's
 * hot path, where building the objects first costs more than the values themselves.
 */
export function jsonResponseText(response: OnlineFeaturesResponse): string {
  const { featureNames, valueTypes } = response.metadata
  const timestamps = new Map<number, string>()
  let out = namesJson.get(featureNames)
  if (out === undefined) {
    out = `{"metadata":{"feature_names":${JSON.stringify(featureNames)}},"results":[`
    // a frozen list is shared by every response of a plan (see `getOnlineFeatures`)
    if (Object.isFrozen(featureNames)) namesJson.set(featureNames, out)
  }
  for (let i = 0; i < response.results.length; i++) {
    const { values, statuses, eventTimestamps } = response.results[i]!
    out += i === 0 ? '{"values":[' : ',{"values":['
    for (let r = 0; r < values.length; r++) {
      if (r > 0) out += ','
      out += valueText(values[r]!, valueTypes[i])
    }
    out += '],"statuses":['
    for (let r = 0; r < statuses.length; r++) {
      if (r > 0) out += ','
      out += `"${statuses[r]}"`
    }
    out += '],"event_timestamps":['
    for (let r = 0; r < eventTimestamps.length; r++) {
      if (r > 0) out += ','
      const micros = eventTimestamps[r]!
      let text = timestamps.get(micros)
      if (text === undefined) {
        text = `"${formatMicros(micros)}"`
        timestamps.set(micros, text)
      }
      out += text
    }
    out += ']}'
  }
  return `${out}]}`
}

/** The opening of the JSON text of responses sharing a frozen list of feature names. */
const namesJson = new WeakMap<readonly string[], string>()

/** One value's JSON text, with the common scalars written without building a JSON value first. */
function valueText(value: FeastValue, valueType: number | undefined): string {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) && !FLOAT32_TYPES.has(valueType ?? -1)
        ? String(value)
        : JSON.stringify(jsonValue(value, valueType))
    case 'string':
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
  }
  return value === null ? 'null' : JSON.stringify(jsonValue(value, valueType))
}

/**
 * One value as Feast's feature server writes it in JSON (see {@link toJsonResponse}); `valueType`, when
 * given, lets FLOAT values and their lists and sets be written as float32.
 */
export function jsonValue(value: FeastValue, valueType?: number): JsonValue {
  if (FLOAT32_TYPES.has(valueType ?? -1)) {
    if (typeof value === 'number') return Number.isFinite(value) ? shortestFloat32(value) : String(value)
    if (Array.isArray(value) || value instanceof Set)
      return Array.from(value, (v) => jsonValue(v, ValueType.FLOAT))
  }
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? value : String(value)
    case 'bigint':
      return value.toString()
    case 'string':
    case 'boolean':
      return value
  }
  if (value === null) return null
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')
  if (Array.isArray(value) || value instanceof Set) return Array.from(value, jsonValue)
  switch (specialKind(value)) {
    case 'Typed':
      return jsonValue((value as TypedValue).value)
    case 'ZonedTimestamp':
      return zonedIso(value as ZonedTimestampValue)
    case 'ScalarMap':
      return Object.fromEntries(
        (value as ScalarMapValue).entries.map(([k, v]) => [String(jsonValue(k)), jsonValue(v)]),
      )
    case 'Unknown':
      return null
  }
  const record = value as FeastRecord
  const out: Record<string, JsonValue> = {}
  for (const key of Object.keys(record)) out[key] = jsonValue(record[key]!)
  return out
}

const FLOAT32_TYPES: ReadonlySet<number> = new Set([
  ValueType.FLOAT,
  ValueType.FLOAT_LIST,
  ValueType.FLOAT_SET,
])

/** The number with the fewest significant digits that rounds to the same float32 as `v`. */
function shortestFloat32(v: number): number {
  for (let digits = 6; digits < 9; digits++) {
    const candidate = Number(v.toPrecision(digits))
    if (Math.fround(candidate) === v) return candidate
  }
  return Number(v.toPrecision(9))
}

const OFFSET = /^([+-])(\d{2}):?(\d{2})$/

/** ISO-8601 local time with offset, e.g. `2026-11-22T11:00:00+01:00`; an empty or unknown zone is UTC. */
function zonedIso(z: ZonedTimestampValue): string {
  const seconds = Number(z.unixTimestamp)
  const minutes = offsetMinutes(z.zone, seconds)
  const local = new Date((seconds + minutes * 60) * 1000).toISOString().slice(0, 19)
  const sign = minutes < 0 ? '-' : '+'
  const abs = Math.abs(minutes)
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
}

function offsetMinutes(zone: string, seconds: number): number {
  if (zone === '') return 0
  const fixed = OFFSET.exec(zone)
  if (fixed) return (fixed[1] === '-' ? -1 : 1) * (Number(fixed[2]) * 60 + Number(fixed[3]))
  try {
    const name = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' })
      .formatToParts(new Date(seconds * 1000))
      .find((p) => p.type === 'timeZoneName')?.value
    const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name ?? '')
    return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0
  } catch {
    return 0
  }
}
