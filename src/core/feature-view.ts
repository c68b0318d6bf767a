import { type Branded, definitionKind, isKind, kindOf } from './brand.js'
import { type BatchSource, isBatchSource, type PushSource } from './data-source.js'
import { type DurationInput, parseDuration } from './duration.js'
import type { Entity } from './entity.js'
import { knownNames, LarderError } from './errors.js'
import { Field } from './field.js'
import { checkColumnName, checkKnownKeys, checkName, checkTags, optionalString } from './validate.js'

/**
 * Options of a {@link FeatureView}. The type parameters keep the literal name, the union of the
 * schema's fields and the union of the entities, from which typed feature references are derived.
 */
export interface FeatureViewOptions<
  N extends string = string,
  F extends Field = Field,
  E extends Entity = Entity,
> {
  name: N
  /** The entities whose join keys identify a row; empty for an entity-less view. */
  entities?: readonly E[]
  /** Feature and entity columns; inferred from the source's columns at apply time when omitted. */
  schema?: readonly F[]
  /** A batch source (FileSource, PostgreSQLSource), or a PushSource (its batchSource is read offline). */
  source: BatchSource | PushSource
  /**
   * How far back a point-in-time join looks for a value, and the default start of incremental
   * materialization. `0` (the default) means no limit.
   */
  ttl?: DurationInput
  /** Online values older than this are served with status OUTSIDE_MAX_AGE. Defaults to `ttl`; `0` disables. */
  maxAge?: DurationInput
  /** Physical expiry of online values in stores that support it. `0` (the default) keeps them. */
  storageTtl?: DurationInput
  /** Materialize and serve online (default true). */
  online?: boolean
  /** Write pushed rows to the offline store (default false). */
  offline?: boolean
  description?: string
  tags?: Record<string, string>
  owner?: string
}

const VIEW_KEYS = [
  'name',
  'entities',
  'schema',
  'source',
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
 * The fields of a schema that are features: every field whose name is not a join key of the entities
 * (all of them when the join keys are not known to the compiler).
 */
export type FeatureFields<F extends Field, E extends Entity> = string extends E['joinKey']
  ? F
  : Exclude<F, { readonly name: E['joinKey'] }>

/**
 * A group of features read from one source and keyed by the same entities. The type parameters hold
 * the literal name, schema fields and entities it was built with (`FeatureView<'driver_hourly_stats',
 * Field<'conv_rate', ScalarType<'Float32'>> | ...>`), from which typed feature references are derived;
 * they default to the wide types, so a view read from the registry is a plain `FeatureView`.
 *
 * @example new FeatureView({ name: 'driver_hourly_stats', entities: [driver], ttl: '1d',
 *   schema: [new Field({ name: 'conv_rate', dtype: Float32 })], source: driverStatsSource })
 */
export class FeatureView<
  const out N extends string = string,
  out F extends Field = Field,
  out E extends Entity = Entity,
> implements Branded<'FeatureView'>
{
  readonly [definitionKind] = 'FeatureView' as const
  readonly name: N
  readonly entities: readonly E[]
  /** The declared schema, or undefined until apply infers it from the source. */
  readonly schema: readonly F[] | undefined
  readonly source: BatchSource | PushSource
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

  constructor(options: FeatureViewOptions<N, F, E>) {
    checkKnownKeys('FeatureView', options, VIEW_KEYS)
    this.name = checkName('feature view', options.name) as N
    const where = `feature view "${this.name}"`
    this.entities = checkEntities(where, options.entities) as readonly E[]
    const source = options.source as unknown
    if (!isBatchSource(source) && !isKind(source, 'PushSource')) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where} has source ${kindOf(source) ?? typeof source}, which is not a batch or push source`,
        { hint: 'pass a FileSource, PostgreSQLSource or PushSource as source' },
      )
    }
    this.source = source as BatchSource | PushSource
    this.ttl = parseDuration(options.ttl ?? 0, `${where} ttl`)
    this.declaredMaxAge =
      options.maxAge === undefined ? undefined : parseDuration(options.maxAge, `${where} maxAge`)
    this.storageTtl = parseDuration(options.storageTtl ?? 0, `${where} storageTtl`)
    this.online = checkBool(where, 'online', options.online, true)
    this.offline = checkBool(where, 'offline', options.offline, false)
    this.description = optionalString(where, 'description', options.description)
    this.tags = checkTags(where, options.tags)
    this.owner = optionalString(where, 'owner', options.owner)
    this.schema =
      options.schema === undefined
        ? undefined
        : (checkSchema(where, options.schema, this.batchSource) as readonly F[])
    Object.freeze(this)
  }

  /** The source read by historical retrieval and materialization, if any. */
  get batchSource(): BatchSource | undefined {
    return isKind(this.source, 'PushSource')
      ? (this.source as PushSource).batchSource
      : (this.source as BatchSource)
  }

  /** The push source feeding this view, if any. */
  get pushSource(): PushSource | undefined {
    return isKind(this.source, 'PushSource') ? (this.source as PushSource) : undefined
  }

  /** The join keys of the view's entities, in declaration order. */
  get joinKeys(): readonly string[] {
    return this.entities.map((e) => e.joinKey)
  }

  /** Online values older than this many seconds are OUTSIDE_MAX_AGE; 0 disables the check. */
  get maxAge(): number {
    return this.declaredMaxAge ?? this.ttl
  }

  /** The schema's feature columns (fields that are not join keys). Empty until the schema is known. */
  get features(): readonly Field[] {
    const keys = new Set<string>(this.joinKeys)
    return (this.schema ?? []).filter((f) => !keys.has(f.name))
  }

  /** The schema's join-key columns. */
  get entityColumns(): readonly Field[] {
    const keys = new Set(this.joinKeys)
    return (this.schema ?? []).filter((f) => keys.has(f.name))
  }

  /** The feature with this name, or an error that lists the view's features. */
  feature(name: string): Field {
    const f = this.features.find((x) => x.name === name)
    if (!f) {
      throw new LarderError('NOT_FOUND', `feature "${name}" not found in feature view "${this.name}"`, {
        hint: `known features: ${knownNames(this.features.map((x) => x.name))}`,
      })
    }
    return f
  }

  /** A copy with a new schema (used by apply's schema inference) or other changed options. */
  with(changes: Partial<FeatureViewOptions>): FeatureView {
    return new FeatureView({ ...this.options(), ...changes })
  }

  /** The whole view as a projection: every feature, its own name, no join-key map. */
  get projection(): FeatureViewProjection<FeatureView<N, F, E>, N, F['name']> {
    return new FeatureViewProjection(this, {}) as FeatureViewProjection<FeatureView<N, F, E>, N, F['name']>
  }

  /** A projection with a subset of the features, for a feature service. */
  select<K extends F['name']>(features: readonly K[]): FeatureViewProjection<FeatureView<N, F, E>, N, K> {
    return this.projection.select(features)
  }

  /** A projection under another name, so one view can appear twice in a feature service. */
  withName<A extends string>(alias: A): FeatureViewProjection<FeatureView<N, F, E>, A, F['name']> {
    return this.projection.withName(alias)
  }

  /** A projection whose join keys are read from other entity columns: `{ location_id: 'origin_id' }`. */
  withJoinKeyMap(map: Record<string, string>): FeatureViewProjection<FeatureView<N, F, E>, N, F['name']> {
    return this.projection.withJoinKeyMap(map)
  }

  /** The options that rebuild this view. */
  options(): FeatureViewOptions {
    return {
      name: this.name,
      entities: this.entities,
      schema: this.schema,
      source: this.source,
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

/** Copies and freezes a view's entities, checking each is an Entity and no join key appears twice. */
export function checkEntities(where: string, value: unknown): readonly Entity[] {
  const entities = value ?? []
  if (!globalThis.Array.isArray(entities)) {
    throw new LarderError('INVALID_DEFINITION', `${where}: entities must be an array of Entity`, {
      hint: 'write entities: [driver]',
    })
  }
  entities.forEach((e, i) => {
    if (!isKind(e, 'Entity')) {
      throw new LarderError('INVALID_DEFINITION', `${where}: entities[${i}] is not an Entity`, {
        hint: "define it with new Entity({ name: 'driver', joinKeys: ['driver_id'] }) and pass the object",
      })
    }
  })
  const checked = Object.freeze([...(entities as Entity[])])
  const joinKeys = checked.map((e) => e.joinKey)
  const duplicate = joinKeys.find((k, i) => joinKeys.indexOf(k) !== i)
  if (duplicate) {
    throw new LarderError(
      'INVALID_DEFINITION',
      `${where} lists two entities with the join key "${duplicate}"`,
      {
        hint: 'list each entity once',
      },
    )
  }
  return checked
}

/** Returns `value`, or `fallback` when undefined; throws unless it is a boolean. */
export function checkBool(where: string, field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') {
    throw new LarderError(
      'INVALID_DEFINITION',
      `${where}: ${field} must be true or false, got ${JSON.stringify(value)}`,
    )
  }
  return value
}

/**
 * Copies and freezes a view's schema, checking it is an array of fields with unique names, none of them
 * a timestamp column of the batch source.
 */
export function checkSchema(
  where: string,
  schema: readonly Field[],
  batchSource: BatchSource | undefined,
): readonly Field[] {
  if (!globalThis.Array.isArray(schema)) {
    throw new LarderError('INVALID_DEFINITION', `${where}: schema must be an array of Field`, {
      hint: "write schema: [new Field({ name: 'conv_rate', dtype: Float32 })]",
    })
  }
  const fields = schema.map((f) => new Field(f))
  const seen = new Set<string>()
  for (const f of fields) {
    if (seen.has(f.name)) {
      throw new LarderError('INVALID_DEFINITION', `${where} declares the field "${f.name}" twice`, {
        hint: 'give each field a unique name',
      })
    }
    seen.add(f.name)
    const timestamps = [batchSource?.timestampField, batchSource?.createdTimestampColumn].filter(Boolean)
    if (timestamps.includes(f.name)) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where} declares the source's timestamp column "${f.name}" as a field`,
        {
          hint: 'leave timestamp columns out of the schema; Larder reads them from the source',
        },
      )
    }
  }
  return Object.freeze(fields)
}

export interface ProjectionChanges {
  alias?: string
  features?: readonly string[]
  joinKeyMap?: Record<string, string>
}

/** What a projection needs of its view: its name, schema (once known), join keys and feature lookup. */
export interface ProjectedView {
  readonly name: string
  readonly schema: readonly Field[] | undefined
  readonly joinKeys: readonly string[]
  feature(name: string): Field
}

/**
 * Checks a projection's changes against its view: a valid alias, a non-empty selection of features the
 * view has (checked once its schema is known), and a join-key map over the view's join keys.
 */
function checkProjection(
  where: string,
  view: ProjectedView,
  changes: ProjectionChanges,
): {
  alias: string
  featureNames: readonly string[] | undefined
  joinKeyMap: Readonly<Record<string, string>>
} {
  const alias = changes.alias === undefined ? '' : checkName('feature view alias', changes.alias)
  let featureNames: readonly string[] | undefined
  if (changes.features !== undefined) {
    if (!globalThis.Array.isArray(changes.features) || changes.features.length === 0) {
      throw new LarderError('INVALID_DEFINITION', `${where} selects no features`, {
        hint: "pass the feature names to keep, e.g. view.select(['conv_rate'])",
      })
    }
    for (const f of changes.features) checkColumnName(where, f)
    if (view.schema) for (const f of changes.features) view.feature(f)
    featureNames = Object.freeze([...changes.features])
  }
  const joinKeyMap = checkTags(`${where} joinKeyMap`, changes.joinKeyMap)
  for (const key of Object.keys(joinKeyMap)) {
    if (!view.joinKeys.includes(key)) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where} maps join key "${key}", which the view does not have`,
        {
          hint: `the view's join keys: ${knownNames(view.joinKeys)}`,
        },
      )
    }
  }
  return { alias, featureNames, joinKeyMap }
}

/**
 * What every projection of a view shares: the checked alias, feature selection and join-key map, and
 * copies with one of them changed. A subclass names its kind and makes its own copies (`project`).
 */
export abstract class ViewProjection<
  V extends ProjectedView & { readonly features: readonly Field[] },
  Self,
> {
  readonly view: V
  readonly alias: string
  /** The selected feature names; undefined means every feature of the view. */
  readonly featureNames: readonly string[] | undefined
  readonly joinKeyMap: Readonly<Record<string, string>>

  protected constructor(view: V, changes: ProjectionChanges, what: string) {
    this.view = view
    const parts = checkProjection(`projection of ${what} "${view.name}"`, view, changes)
    this.alias = parts.alias
    this.featureNames = parts.featureNames
    this.joinKeyMap = parts.joinKeyMap
  }

  /** The same kind of projection of `view` with `changes`. */
  protected abstract project(view: V, changes: ProjectionChanges): Self

  /** The name features are reported under: the alias if set, else the view's name. */
  get nameToUse(): string {
    return this.alias || this.view.name
  }

  /** The selected features (every feature of the view when none were selected). */
  get features(): readonly Field[] {
    if (this.featureNames === undefined) return this.view.features
    return this.featureNames.map((n) => this.view.feature(n))
  }

  select(features: readonly string[]): Self {
    return this.project(this.view, { ...this.changes(), features })
  }

  withName(alias: string): Self {
    return this.project(this.view, { ...this.changes(), alias })
  }

  withJoinKeyMap(joinKeyMap: Record<string, string>): Self {
    return this.project(this.view, { ...this.changes(), joinKeyMap })
  }

  /** The same projection over another version of its view (used after schema inference). */
  over(view: V): Self {
    return this.project(view, this.changes())
  }

  private changes(): ProjectionChanges {
    return {
      alias: this.alias || undefined,
      features: this.featureNames,
      joinKeyMap: { ...this.joinKeyMap },
    }
  }
}

/**
 * A feature view as a feature service uses it: a subset of its features, an alias, and a map from
 * its join keys to the request's entity columns. Made by `view.select()`, `withName()`, `withJoinKeyMap()`.
 * The type parameters hold the view, the name its features are reported under (`nameToUse`: the
 * alias, else the view's name) and the names of the selected features, from which a feature service's
 * typed columns are derived; they default to the wide types.
 */
export class FeatureViewProjection<
    V extends FeatureView = FeatureView,
    R extends string = string,
    K extends string = string,
  >
  extends ViewProjection<V, FeatureViewProjection<V, string, K>>
  implements Branded<'FeatureViewProjection'>
{
  readonly [definitionKind] = 'FeatureViewProjection' as const
  declare readonly featureNames: readonly K[] | undefined

  constructor(view: V, changes: ProjectionChanges) {
    super(view, changes, 'feature view')
    Object.freeze(this)
  }

  protected project(view: V, changes: ProjectionChanges): FeatureViewProjection<V, string, K> {
    return new FeatureViewProjection(view, changes)
  }

  /** The name features are reported under: the alias if set, else the view's name. */
  override get nameToUse(): R {
    return super.nameToUse as R
  }

  /** The same projection with only these features (names the view has), keeping alias and join-key map. */
  override select<S extends K>(features: readonly S[]): FeatureViewProjection<V, R, S> {
    return super.select(features) as FeatureViewProjection<V, R, S>
  }

  /** The same projection reported under `alias`, keeping the selection and join-key map. */
  override withName<B extends string>(alias: B): FeatureViewProjection<V, B, K> {
    return super.withName(alias) as FeatureViewProjection<V, B, K>
  }

  /** The same projection reading its join keys from other entity columns, keeping alias and selection. */
  override withJoinKeyMap(joinKeyMap: Record<string, string>): FeatureViewProjection<V, R, K> {
    return super.withJoinKeyMap(joinKeyMap) as FeatureViewProjection<V, R, K>
  }
}
