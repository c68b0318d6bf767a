import { Aggregation, type AggregationOptions } from './aggregation.js'
import { type Branded, definitionKind, isKind, kindOf } from './brand.js'
import type { BatchSource, PushSource } from './data-source.js'
import { type DurationInput, formatDuration, parseDuration } from './duration.js'
import type { Entity } from './entity.js'
import { knownNames, LarderError } from './errors.js'
import {
  checkBool,
  checkEntities,
  checkSchema,
  FeatureView,
  type ProjectionChanges,
  ViewProjection,
} from './feature-view.js'
import type { Field } from './field.js'
import {
  type BatchTransform,
  type RowTransform,
  TRANSFORMATION_MODES,
  type Transformation,
} from './on-demand-feature-view.js'
import { isStreamSource, type StreamSource } from './stream-source.js'
import { checkKnownKeys, checkName, checkTags, optionalString } from './validate.js'

/** Feast's default `tiling_hop_size`: the resolution at which windowed aggregations are kept and answered. */
export const DEFAULT_TILING_HOP_SECONDS = 300

/**
 * Options of a stream feature view: the common ones and an optional transformation of either mode.
 * `N` keeps the literal name, for typed feature references.
 */
export type StreamFeatureViewOptions<N extends string = string> = StreamFeatureViewCommonOptions<N> &
  (
    | {
        /** `row` (the default): each event in, the event in the view's schema out. */
        mode?: 'row'
        transform?: RowTransform
      }
    | {
        /** `batch`: a micro-batch of events as columns in, columns of the same length out. */
        mode: 'batch'
        transform: BatchTransform
      }
  )

export interface StreamFeatureViewCommonOptions<N extends string = string> {
  name: N
  /** A stream source (Kafka, Kinesis, Redis stream, NATS) or a push source, with a batch source. */
  source: StreamSource | PushSource
  /** The entities whose join keys identify a row; empty for an entity-less view. */
  entities?: readonly Entity[]
  /** The event's fields: join keys, features and the fields aggregations read. Inferred from the batch source at apply when omitted. */
  schema?: readonly Field[]
  /** Windowed aggregations, each one more feature of the view. */
  aggregations?: readonly (Aggregation | AggregationOptions)[]
  /** The event-time field windows are cut on. Defaults to the source's timestamp field (else its batch source's). */
  timestampField?: string
  /** The resolution of windowed aggregations (Feast's `tiling_hop_size`); default 5 minutes. Every window is a multiple of it. */
  tilingHopSize?: DurationInput
  /** Look-back of point-in-time joins and default start of incremental materialization, as for a feature view. */
  ttl?: DurationInput
  /** Online values older than this are OUTSIDE_MAX_AGE. Defaults to `ttl`; `0` disables. */
  maxAge?: DurationInput
  /** Physical expiry of online values in stores that support it. `0` (the default) keeps them. */
  storageTtl?: DurationInput
  /** Serve online (default true). */
  online?: boolean
  /** Append the processed events to the batch source (default false, as in Feast). */
  offline?: boolean
  description?: string
  tags?: Record<string, string>
  owner?: string
}

const STREAM_VIEW_KEYS = [
  'name',
  'source',
  'entities',
  'schema',
  'aggregations',
  'timestampField',
  'tilingHopSize',
  'mode',
  'transform',
  'ttl',
  'maxAge',
  'storageTtl',
  'online',
  'offline',
  'description',
  'tags',
  'owner',
] as const

/**
 * Features computed from a stream of events, as Feast's `StreamFeatureView`: the latest value of each
 * event field, like a feature view over the source's batch source, and windowed aggregations of them.
 * An optional TypeScript transformation turns each event into the view's schema; the registry keeps
 * only its source text (code is never stored to be executed). `N` holds the literal name, for typed
 * feature references; it defaults to `string`.
 *
 * @example new StreamFeatureView({ name: 'trip_stats', source: tripsStream, entities: [driver],
 *   schema: [new Field({ name: 'driver_id', dtype: Int64 }), new Field({ name: 'fare', dtype: Float64 })],
 *   aggregations: [new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h' })] })
 */
export class StreamFeatureView<const out N extends string = string> implements Branded<'StreamFeatureView'> {
  readonly [definitionKind] = 'StreamFeatureView' as const
  readonly name: N
  readonly entities: readonly Entity[]
  /** The declared schema, or undefined until apply infers it from the batch source. */
  readonly schema: readonly Field[] | undefined
  readonly source: StreamSource | PushSource
  readonly aggregations: readonly Aggregation[]
  readonly timestampField: string
  /** Seconds. */
  readonly tilingHopSize: number
  /** The transformation applied to each event, or undefined when events are used as they come. */
  readonly transformation: Transformation | undefined
  /** Seconds; 0 means no limit. */
  readonly ttl: number
  /** Seconds as declared; undefined means "same as ttl". */
  readonly declaredMaxAge: number | undefined
  /** Seconds; 0 means never expire. */
  readonly storageTtl: number
  readonly online: boolean
  readonly offline: boolean
  readonly description: string
  readonly tags: Readonly<Record<string, string>>
  readonly owner: string
  /**
   * The view's non-aggregated features as the feature view they are stored, materialized and read as:
   * same name, entities, schema and ttl, over the batch source.
   */
  readonly storageView: FeatureView

  /**
   * Validates and freezes the definition. `registered` is for the registry's decoder: a view whose
   * transformation is known by its source text only (its function comes from the deployed definitions).
   */
  constructor(options: StreamFeatureViewOptions<N>, registered?: { mode: string; bodyText: string }) {
    checkKnownKeys('StreamFeatureView', options, STREAM_VIEW_KEYS)
    this.name = checkName('stream feature view', options.name) as N
    const where = `stream feature view "${this.name}"`
    this.entities = checkEntities(where, options.entities)
    const source = options.source as unknown
    if (!isStreamSource(source) && !isKind(source, 'PushSource')) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where} has source ${kindOf(source) ?? typeof source}, which is not a stream or push source`,
        { hint: 'pass a KafkaSource, KinesisSource, RedisStreamSource, NatsSource or PushSource as source' },
      )
    }
    this.source = source as StreamSource | PushSource
    const batch = this.source.batchSource
    if (!batch) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where}: its source "${this.source.name}" has no batchSource`,
        {
          hint: 'give the source a batchSource (a FileSource or PostgreSQLSource): training reads it, materialization loads from it, the stream processor appends to it',
        },
      )
    }
    this.ttl = parseDuration(options.ttl ?? 0, `${where} ttl`)
    this.declaredMaxAge =
      options.maxAge === undefined ? undefined : parseDuration(options.maxAge, `${where} maxAge`)
    this.storageTtl = parseDuration(options.storageTtl ?? 0, `${where} storageTtl`)
    this.online = checkBool(where, 'online', options.online, true)
    this.offline = checkBool(where, 'offline', options.offline, false)
    this.description = optionalString(where, 'description', options.description)
    this.tags = checkTags(where, options.tags)
    this.owner = optionalString(where, 'owner', options.owner)
    const sourceTimestamp = isStreamSource(this.source) ? this.source.timestampField : ''
    this.timestampField = optionalString(
      where,
      'timestampField',
      options.timestampField,
      sourceTimestamp || batch.timestampField,
    )
    this.aggregations = checkAggregations(where, options.aggregations)
    if (this.aggregations.length > 0 && this.timestampField === '') {
      throw new LarderError('INVALID_DEFINITION', `${where} has aggregations but no timestampField`, {
        hint: "windows are cut on each event's time: set timestampField, or the source's timestampField",
      })
    }
    this.tilingHopSize = parseDuration(
      options.tilingHopSize ?? DEFAULT_TILING_HOP_SECONDS,
      `${where} tilingHopSize`,
    )
    if (this.tilingHopSize <= 0) {
      throw new LarderError('INVALID_DEFINITION', `${where}: tilingHopSize must be a positive duration`, {
        hint: `leave it out for ${formatDuration(DEFAULT_TILING_HOP_SECONDS)}, or write e.g. '1m'`,
      })
    }
    for (const a of this.aggregations) {
      if (!isMultiple(a.timeWindow, this.tilingHopSize)) {
        throw new LarderError(
          'INVALID_DEFINITION',
          `${where}: the window of ${a.describe()} is not a multiple of the tiling hop size ${formatDuration(this.tilingHopSize)}`,
          {
            hint: `windows are answered at the resolution of tilingHopSize; make the window a multiple of ${formatDuration(this.tilingHopSize)} or set a tilingHopSize that divides it`,
          },
        )
      }
    }
    this.transformation = checkTransformation(where, options, registered)
    this.schema = options.schema === undefined ? undefined : checkSchema(where, options.schema, batch)
    if (this.schema) checkEventSchema(where, this.schema, this.timestampField, this.aggregations)
    this.storageView = new FeatureView({
      name: this.name,
      entities: this.entities,
      schema: this.schema,
      source: batch,
      ttl: this.ttl,
      maxAge: this.declaredMaxAge,
      storageTtl: this.storageTtl,
      online: this.online,
      offline: this.offline,
      description: this.description,
      tags: { ...this.tags },
      owner: this.owner,
    })
    Object.freeze(this)
  }

  /** The source historical retrieval and materialization read, and the stream processor appends to. */
  get batchSource(): BatchSource {
    return this.storageView.batchSource!
  }

  /** The join keys of the view's entities, in declaration order. */
  get joinKeys(): readonly string[] {
    return this.storageView.joinKeys
  }

  /** Online values older than this many seconds are OUTSIDE_MAX_AGE; 0 disables the check. */
  get maxAge(): number {
    return this.storageView.maxAge
  }

  /** The schema's join-key columns. */
  get entityColumns(): readonly Field[] {
    return this.storageView.entityColumns
  }

  /** The output feature of each aggregation, in declaration order. Empty until the schema is known. */
  get aggregatedFeatures(): readonly Field[] {
    if (!this.schema) return []
    const types = new Map(this.schema.map((f) => [f.name, f.dtype]))
    return this.aggregations.map((a) =>
      a.outputField(types.get(a.column)!, `stream feature view "${this.name}"`),
    )
  }

  /** Every feature the view serves: the latest value of each event field, then the aggregations. */
  get features(): readonly Field[] {
    return [...this.storageView.features, ...this.aggregatedFeatures]
  }

  /** The aggregation whose output is the feature `name`, or undefined for a non-aggregated feature. */
  aggregationOf(name: string): Aggregation | undefined {
    return this.aggregations.find((a) => a.outputName === name)
  }

  /** The feature with this name, or an error that lists the view's features. */
  feature(name: string): Field {
    const f = this.features.find((x) => x.name === name)
    if (!f) {
      throw new LarderError(
        'NOT_FOUND',
        `feature "${name}" not found in stream feature view "${this.name}"`,
        {
          hint: `known features: ${knownNames(this.features.map((x) => x.name))}`,
        },
      )
    }
    return f
  }

  /** The whole view as a projection: every feature, its own name, no join-key map. */
  get projection(): StreamProjection {
    return new StreamProjection(this, {})
  }

  /** A projection with a subset of the features, for a feature service. */
  select(features: readonly string[]): StreamProjection {
    return new StreamProjection(this, { features })
  }

  /** A projection under another name, so one view can appear twice in a feature service. */
  withName(alias: string): StreamProjection {
    return new StreamProjection(this, { alias })
  }

  /** A projection whose join keys are read from other entity columns: `{ location_id: 'origin_id' }`. */
  withJoinKeyMap(joinKeyMap: Record<string, string>): StreamProjection {
    return new StreamProjection(this, { joinKeyMap })
  }

  /** A copy with changed options (used by apply's schema inference), keeping a registered transformation. */
  with(changes: Partial<StreamFeatureViewCommonOptions>): StreamFeatureView {
    const registered = this.transformation?.fn ? undefined : this.transformation
    return new StreamFeatureView({ ...this.options(), ...changes }, registered)
  }

  /** The options that rebuild this view (the transform is absent for a view decoded from the registry). */
  options(): StreamFeatureViewOptions {
    return {
      name: this.name,
      source: this.source,
      entities: this.entities,
      schema: this.schema,
      aggregations: this.aggregations,
      // an empty field is re-derived, so a batch source completed by apply supplies it
      timestampField: this.timestampField || undefined,
      tilingHopSize: this.tilingHopSize,
      // the mode and the function belong together; the cast only joins the union's two arms
      mode: (this.transformation?.mode === TRANSFORMATION_MODES.batch ? 'batch' : 'row') as 'row',
      transform: this.transformation?.fn as RowTransform | undefined,
      ttl: this.ttl,
      maxAge: this.declaredMaxAge,
      storageTtl: this.storageTtl,
      online: this.online,
      offline: this.offline,
      description: this.description,
      tags: { ...this.tags },
      owner: this.owner,
    }
  }
}

function checkAggregations(where: string, value: unknown): readonly Aggregation[] {
  const list = value ?? []
  if (!globalThis.Array.isArray(list)) {
    throw new LarderError('INVALID_DEFINITION', `${where}: aggregations must be an array of Aggregation`, {
      hint: "write aggregations: [new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h' })]",
    })
  }
  return Object.freeze(
    list.map((a) => (a instanceof Aggregation ? a : new Aggregation(a as AggregationOptions))),
  )
}

function checkTransformation(
  where: string,
  options: StreamFeatureViewOptions,
  registered: { mode: string; bodyText: string } | undefined,
): Transformation | undefined {
  if (registered) return Object.freeze({ ...registered, fn: undefined })
  const mode = options.mode ?? 'row'
  if (mode !== 'row' && mode !== 'batch') {
    throw new LarderError('INVALID_DEFINITION', `${where} has mode ${JSON.stringify(mode)}`, {
      hint: "use 'row' (one event in, one out) or 'batch' (columns in, columns out)",
    })
  }
  if (options.transform === undefined) {
    if (options.mode === 'batch') {
      throw new LarderError('INVALID_DEFINITION', `${where} has mode 'batch' but no transform function`, {
        hint: 'write transform: (columns) => ({ ... }), or leave mode out to use events as they come',
      })
    }
    return undefined
  }
  if (typeof options.transform !== 'function') {
    throw new LarderError('INVALID_DEFINITION', `${where}: transform must be a function`, {
      hint: 'write transform: (event) => ({ ...event, fare_usd: event.fare * 1.1 })',
    })
  }
  return Object.freeze({
    mode: TRANSFORMATION_MODES[mode],
    bodyText: options.transform.toString(),
    fn: options.transform,
  })
}

/**
 * Checks the event schema against the view's timestamp field and aggregations: the timestamp field is
 * not a feature, every aggregated field is in the schema with a type its function takes, and every
 * output name is new.
 */
function checkEventSchema(
  where: string,
  schema: readonly Field[],
  timestampField: string,
  aggregations: readonly Aggregation[],
): void {
  if (schema.some((f) => f.name === timestampField)) {
    throw new LarderError(
      'INVALID_DEFINITION',
      `${where} declares its timestamp field "${timestampField}" as a field`,
      {
        hint: 'leave the timestamp field out of the schema; Larder reads it from each event',
      },
    )
  }
  const types = new Map(schema.map((f) => [f.name, f.dtype]))
  const taken = new Map(schema.map((f) => [f.name, 'a field of the schema']))
  for (const a of aggregations) {
    const type = types.get(a.column)
    if (type === undefined) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where}: ${a.describe()} aggregates "${a.column}", which is not in the schema`,
        { hint: `aggregate a field of the schema (${knownNames(types.keys())}), or declare "${a.column}"` },
      )
    }
    const output = a.outputField(type, where).name
    const clash = taken.get(output)
    if (clash !== undefined) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where}: the output "${output}" of ${a.describe()} has the name of ${clash}`,
        { hint: "give the aggregation another name: new Aggregation({ ..., name: '...' })" },
      )
    }
    taken.set(output, a.describe())
  }
}

/** True when `whole` seconds is a whole number of `part` seconds, to the microsecond. */
function isMultiple(whole: number, part: number): boolean {
  return Math.round(whole * 1e6) % Math.round(part * 1e6) === 0
}

/**
 * A stream feature view as a feature service lists it: a subset of its features, an alias, and a map
 * from its join keys to the request's entity columns.
 */
export class StreamProjection
  extends ViewProjection<StreamFeatureView, StreamProjection>
  implements Branded<'StreamProjection'>
{
  readonly [definitionKind] = 'StreamProjection' as const

  constructor(view: StreamFeatureView, changes: ProjectionChanges) {
    super(view, changes, 'stream feature view')
    Object.freeze(this)
  }

  protected project(view: StreamFeatureView, changes: ProjectionChanges): StreamProjection {
    return new StreamProjection(view, changes)
  }
}
