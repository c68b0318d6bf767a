import {
  type Abortable,
  type BatchSource,
  decodeValue,
  type EntityKeyValue,
  encodeValue,
  type FeastType,
  type FeastValue,
  type FeatureView,
  Field,
  FileSource,
  formatMicros,
  isKind,
  type Micros,
  PostgreSQLSource,
  toMicros,
  UnixTimestamp,
  ValueType,
} from '../core/index.js'
import type { OfflineStore } from '../offline/index.js'

/**
 * The feature the probe adds to a copy of a view: the source's timestamp column read as a feature,
 * so the point-in-time join reports which row it matched (a null feature alone cannot tell a stored
 * null from a missing row).
 */
const EVENT_FEATURE = 'larder_probe_event_ts'

/** An instant after any source row: asking the join there finds the key's newest row of all. */
const END_OF_TIME = toMicros('2999-12-31T00:00:00Z')

/** One source row the probe matched: its event time and the asked features' values (codec form). */
export interface SourceRow {
  readonly eventTs: Micros
  readonly values: readonly FeastValue[]
}

/** The rows of one key the probe found, each the newest at or before its instant; undefined: none. */
export interface SourceProbe {
  /** The source the rows were read from (its name). */
  readonly source: string
  /** Newest row at or before each instant asked for, in order. */
  readonly at: readonly (SourceRow | undefined)[]
  /** The key's newest row of all. */
  readonly newest: SourceRow | undefined
}

/**
 * Looks one entity key up in a view's offline source through the offline engine's point-in-time
 * join, bounded to that key: for each instant, the newest row at or before it (the view's ttl
 * ignored, ties broken as the join and materialization break them), and the newest row of all.
 * `key` holds the view's join keys by their own names. Returns undefined for a view without a batch
 * source. Throws what the engine throws when the source cannot be read.
 *
 * @example await probeSource(offline, driverStats, { driver_id: 1001 }, ['conv_rate'], [nowMicros()])
 */
export async function probeSource(
  offline: OfflineStore,
  view: FeatureView,
  key: Readonly<Record<string, EntityKeyValue>>,
  features: readonly string[],
  instants: readonly Micros[],
  options: Abortable = {},
): Promise<SourceProbe | undefined> {
  const source = view.batchSource
  if (source === undefined || view.schema === undefined) return undefined
  const probe = view.with({
    ttl: 0,
    source: withEventFeature(source),
    schema: [...view.schema, new Field({ name: EVENT_FEATURE, dtype: UnixTimestamp })],
  })
  const times = [...instants, END_OF_TIME]
  const job = await offline.getHistoricalFeatures(
    {
      entities: times.map((t) => ({ ...key, event_timestamp: formatMicros(t) })),
      features: [{ projection: probe.projection, features: [...features, EVENT_FEATURE] }],
      fullFeatureNames: true,
    },
    options,
  )
  const rows = await job.toRows(undefined, options)
  const found = rows.map((row): SourceRow | undefined => {
    const ts = row[`${probe.name}__${EVENT_FEATURE}`]
    if (ts === null || ts === undefined) return undefined
    return {
      eventTs: toMicros(ts as string, 'source event timestamp'),
      values: features.map((f) =>
        storedForm(view.feature(f).dtype, row[`${probe.name}__${f}`] as FeastValue | undefined),
      ),
    }
  })
  return { source: source.name, at: found.slice(0, instants.length), newest: found.at(-1) }
}

/** A copy of the source whose timestamp column is also mapped to {@link EVENT_FEATURE}. */
function withEventFeature(source: BatchSource): BatchSource {
  const common = {
    name: source.name,
    timestampField: source.timestampField,
    createdTimestampColumn: source.createdTimestampColumn || undefined,
    datePartitionColumn: source.datePartitionColumn || undefined,
    fieldMapping: { ...source.fieldMapping, [source.timestampField]: EVENT_FEATURE },
  }
  if (isKind(source, 'FileSource')) {
    const file = source as FileSource
    return new FileSource({ ...common, path: file.path, fileFormat: file.fileFormat })
  }
  const pg = source as PostgreSQLSource
  return new PostgreSQLSource({ ...common, table: pg.table || undefined, query: pg.query || undefined })
}

/**
 * A value read from an offline result (`RetrievalJob.toRows`) as the online store would hold it for
 * the declared type: put through the Value codec, so a Float32 feature is narrowed to 32 bits and a
 * UnixTimestamp (RFC 3339 text offline) becomes epoch seconds. A value the codec refuses is returned
 * as read.
 */
export function storedForm(dtype: FeastType, value: FeastValue | undefined): FeastValue {
  if (value === null || value === undefined) return null
  let v: unknown = value
  if (dtype.valueType === ValueType.UNIX_TIMESTAMP && typeof value === 'string') v = epochSeconds(value)
  if (dtype.valueType === ValueType.UNIX_TIMESTAMP_LIST && Array.isArray(value)) {
    v = value.map((x) => (typeof x === 'string' ? epochSeconds(x) : x))
  }
  try {
    return decodeValue(encodeValue(dtype, v))
  } catch {
    return value
  }
}

function epochSeconds(text: string): number {
  return Math.floor(toMicros(text, 'timestamp') / 1_000_000)
}

/**
 * Whether two values are the same once stored: both encoded as Feast `Value` bytes by the declared
 * type (a Float32 narrowed to 32 bits, an int64 exact whether number or bigint) and compared byte for
 * byte. Values the codec refuses are compared with `Object.is`.
 *
 * @example sameStoredValue(Float32, 0.1, Math.fround(0.1)) // true
 */
export function sameStoredValue(dtype: FeastType, a: FeastValue, b: FeastValue): boolean {
  let x: Uint8Array
  let y: Uint8Array
  try {
    x = encodeValue(dtype, a)
    y = encodeValue(dtype, b)
  } catch {
    return Object.is(a, b)
  }
  return x.length === y.length && Buffer.from(x).equals(Buffer.from(y))
}
