import { type Branded, definitionKind, isKind, kindOf } from './brand.js'
import type { RequestSource } from './data-source.js'
import type { Entity } from './entity.js'
import { countOf, knownNames, LarderError } from './errors.js'
import { FeatureView, type FeatureViewProjection } from './feature-view.js'
import { Field } from './field.js'
import type { FeastType } from './types.js'
import { checkColumnName, checkKnownKeys, checkName, checkTags, optionalString } from './validate.js'

/** What an on-demand view reads: feature views (or projections of them) and request sources. */
export type OnDemandSource = FeatureView | FeatureViewProjection | RequestSource

/** A `row` transformation: one input record (source features and request fields by name) in, one output record out. */
export type RowTransform = (inputs: Readonly<Record<string, unknown>>) => Record<string, unknown>

/** A `batch` transformation: input columns (an array per input field) in, output columns of the same length out. */
export type BatchTransform = (
  inputs: Readonly<Record<string, readonly unknown[]>>,
) => Record<string, readonly unknown[]>

/**
 * The mode strings stored in the registry's `UserDefinedFunctionV2.mode` and `OnDemandFeatureViewSpec.mode`.
 * Feast's own modes (`pandas`, `python`, `substrait`) mark transformations Larder cannot run.
 */
export const TRANSFORMATION_MODES = { row: 'typescript-row', batch: 'typescript-batch' } as const

/**
 * A transformation as the registry knows it: its mode and source text, and the function itself when
 * the view was defined in this process (never when it was decoded from the registry: code is never
 * stored to be executed).
 */
export interface Transformation {
  /** `typescript-row`, `typescript-batch`, or a Feast mode such as `pandas` or `python`. */
  readonly mode: string
  /** The function's source text (`fn.toString()`), for display and drift detection. */
  readonly bodyText: string
  readonly fn: RowTransform | BatchTransform | undefined
}

/** One input of a transformation: a source feature (from a view or projection) or a request field. */
export interface OnDemandInput {
  readonly name: string
  readonly dtype: FeastType
  /** The projection it is read from, or undefined for a request field. */
  readonly projection: FeatureViewProjection | undefined
}

/**
 * Options of an on-demand view: the common ones and a transformation of either mode. The type
 * parameters keep the literal name and the union of the output fields, for typed feature references.
 */
export type OnDemandFeatureViewOptions<
  N extends string = string,
  F extends Field = Field,
> = OnDemandCommonOptions<N, F> &
  (
    | {
        /** `row` (the default): one record in, one out. */
        mode?: 'row'
        /** The transformation; its inputs are keyed by source feature name and request field name. */
        transform: RowTransform
      }
    | {
        /** `batch`: columns in, columns out, for vectorised work. */
        mode: 'batch'
        transform: BatchTransform
      }
  )

export interface OnDemandCommonOptions<N extends string = string, F extends Field = Field> {
  name: N
  /** Feature views, projections (`view.select([...])`) and request sources whose values the transformation reads. */
  sources: readonly OnDemandSource[]
  /** The output fields the transformation returns, with their types. */
  schema: readonly F[]
  /**
   * Compute the outputs when source rows are written (materialize, push, write-to-online-store) and
   * store them online, keyed by the source view's entities, instead of on every read (default false).
   * Needs exactly one feature-view source and no request source.
   */
  writeToOnlineStore?: boolean
  description?: string
  tags?: Record<string, string>
  owner?: string
}

const ODFV_KEYS = [
  'name',
  'sources',
  'schema',
  'mode',
  'transform',
  'writeToOnlineStore',
  'description',
  'tags',
  'owner',
] as const

/**
 * Features computed by a TypeScript function from other features and from values sent with the
 * request, as Feast's `OnDemandFeatureView`. The function runs from the deployed definitions, online
 * (after the source reads) and offline (after the point-in-time join), with the same results; the
 * registry keeps only its source text.
 *
 * The type parameters hold the literal name and output fields it was built with, from which typed
 * feature references are derived; they default to the wide types.
 *
 * @example new OnDemandFeatureView({ name: 'transformed_conv_rate', sources: [driverHourlyStats, inputRequest],
 *   schema: [new Field({ name: 'conv_rate_plus_val1', dtype: Float64 })],
 *   transform: (r) => ({ conv_rate_plus_val1: (r.conv_rate as number) + (r.val_to_add as number) }) })
 */
export class OnDemandFeatureView<const out N extends string = string, out F extends Field = Field>
  implements Branded<'OnDemandFeatureView'>
{
  readonly [definitionKind] = 'OnDemandFeatureView' as const
  readonly name: N
  /** The feature-view sources as projections, in declaration order. */
  readonly sourceProjections: readonly FeatureViewProjection[]
  readonly requestSources: readonly RequestSource[]
  readonly schema: readonly F[]
  readonly transformation: Transformation
  readonly writeToOnlineStore: boolean
  readonly description: string
  readonly tags: Readonly<Record<string, string>>
  readonly owner: string

  /**
   * Validates and freezes the definition. `registered` is for the registry's decoder: a view known by
   * its source text only, whose function must come from the deployed definitions.
   */
  constructor(options: OnDemandFeatureViewOptions<N, F>, registered?: { mode: string; bodyText: string }) {
    checkKnownKeys('OnDemandFeatureView', options, ODFV_KEYS)
    this.name = checkName('on-demand feature view', options.name) as N
    const where = `on-demand feature view "${this.name}"`
    if (!Array.isArray(options.sources) || options.sources.length === 0) {
      throw new LarderError('INVALID_DEFINITION', `${where} has no sources`, {
        hint: 'list the feature views and request sources it reads, e.g. sources: [driverHourlyStats, inputRequest]',
      })
    }
    const projections: FeatureViewProjection[] = []
    const requests: RequestSource[] = []
    options.sources.forEach((s, i) => {
      if (isKind(s, 'FeatureView')) projections.push((s as FeatureView).projection)
      else if (isKind(s, 'FeatureViewProjection')) projections.push(s as FeatureViewProjection)
      else if (isKind(s, 'RequestSource')) requests.push(s as RequestSource)
      else {
        throw new LarderError(
          'INVALID_DEFINITION',
          `${where}: sources[${i}] is ${kindOf(s) ?? typeof s}, not a feature view, projection or request source`,
          { hint: 'pass FeatureView, view.select([...]) or RequestSource objects' },
        )
      }
    })
    this.sourceProjections = Object.freeze(projections)
    this.requestSources = Object.freeze(requests)
    if (!Array.isArray(options.schema) || options.schema.length === 0) {
      throw new LarderError('INVALID_DEFINITION', `${where} declares no output fields`, {
        hint: "write schema: [new Field({ name: 'conv_rate_plus_val1', dtype: Float64 })]",
      })
    }
    const schema = options.schema.map((f) => (f instanceof Field ? f : new Field(f)))
    const outputs = schema.map((f) => checkColumnName(where, f.name))
    const twice = outputs.find((n, i) => outputs.indexOf(n) !== i)
    if (twice !== undefined) {
      throw new LarderError('INVALID_DEFINITION', `${where} declares the output "${twice}" twice`, {
        hint: 'give each output field a unique name',
      })
    }
    this.schema = Object.freeze(schema) as readonly F[]
    this.writeToOnlineStore = options.writeToOnlineStore ?? false
    if (typeof this.writeToOnlineStore !== 'boolean') {
      throw new LarderError('INVALID_DEFINITION', `${where}: writeToOnlineStore must be true or false`)
    }
    if (this.writeToOnlineStore && (projections.length !== 1 || requests.length > 0)) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where} has writeToOnlineStore but reads ${countOf(projections.length, 'feature view')} and ${countOf(requests.length, 'request source')}`,
        {
          hint: 'a view computed at write time reads exactly one feature view and no request data; drop writeToOnlineStore to compute it on read',
        },
      )
    }
    if (registered) {
      this.transformation = Object.freeze({ ...registered, fn: undefined })
    } else {
      const mode = options.mode ?? 'row'
      if (mode !== 'row' && mode !== 'batch') {
        throw new LarderError('INVALID_DEFINITION', `${where} has mode ${JSON.stringify(mode)}`, {
          hint: "use 'row' (one record in, one out) or 'batch' (columns in, columns out)",
        })
      }
      if (typeof options.transform !== 'function') {
        throw new LarderError('INVALID_DEFINITION', `${where} has no transform function`, {
          hint: 'write transform: (inputs) => ({ output: ... })',
        })
      }
      this.transformation = Object.freeze({
        mode: TRANSFORMATION_MODES[mode],
        bodyText: options.transform.toString(),
        fn: options.transform,
      })
    }
    this.description = optionalString(where, 'description', options.description)
    this.tags = checkTags(where, options.tags)
    this.owner = optionalString(where, 'owner', options.owner)
    // A source whose schema apply will infer is checked then, when the view is completed (`over`).
    if (projections.every((p) => p.view.schema !== undefined)) checkInputs(this)
    Object.freeze(this)
  }

  /** The output fields (an on-demand view's features). */
  get features(): readonly F[] {
    return this.schema
  }

  /** The join keys of the source views, when the view is stored online (`writeToOnlineStore`). */
  get entities(): readonly Entity[] {
    return this.sourceProjections[0]?.view.entities ?? []
  }

  /**
   * With `writeToOnlineStore`, the feature view the outputs are stored as online: the view's name, the
   * source view's entities, the outputs as features, and the source view's ttl, maxAge and storage
   * expiry. Undefined for a view computed on read.
   */
  get storageView(): FeatureView | undefined {
    if (!this.writeToOnlineStore) return undefined
    const source = this.sourceProjections[0]!.view
    return new FeatureView({
      ...source.options(),
      name: this.name,
      schema: source.schema ? [...source.entityColumns, ...this.schema] : undefined,
      description: this.description,
      tags: { ...this.tags },
      owner: this.owner,
    })
  }

  /** The fields a request must supply. */
  get requestFields(): readonly Field[] {
    return this.requestSources.flatMap((s) => s.schema)
  }

  /**
   * The transformation's inputs: the selected features of each source view, then the request fields.
   * Throws when two of them share a name (the function could not tell them apart).
   */
  get inputs(): readonly OnDemandInput[] {
    const out: OnDemandInput[] = []
    const from = new Map<string, string>()
    const add = (
      name: string,
      dtype: FeastType,
      projection: FeatureViewProjection | undefined,
      what: string,
    ) => {
      const previous = from.get(name)
      if (previous !== undefined) {
        throw new LarderError(
          'INVALID_DEFINITION',
          `on-demand feature view "${this.name}" gets the input "${name}" from both ${previous} and ${what}`,
          { hint: `select it from one source only, e.g. view.select([...]) without "${name}"` },
        )
      }
      from.set(name, what)
      out.push({ name, dtype, projection })
    }
    for (const p of this.sourceProjections) {
      for (const f of p.features) add(f.name, f.dtype, p, `feature view "${p.nameToUse}"`)
    }
    for (const s of this.requestSources) {
      for (const f of s.schema) add(f.name, f.dtype, undefined, `request source "${s.name}"`)
    }
    return out
  }

  /** The output field with this name, or an error that lists the view's outputs. */
  feature(name: string): Field {
    const f = this.schema.find((x) => x.name === name)
    if (!f) {
      throw new LarderError(
        'NOT_FOUND',
        `feature "${name}" not found in on-demand feature view "${this.name}"`,
        {
          hint: `known features: ${knownNames(this.schema.map((x) => x.name))}`,
        },
      )
    }
    return f
  }

  /** A selection of the outputs, for a feature service. */
  select<K extends F['name']>(features: readonly K[]): OnDemandProjection<OnDemandFeatureView<N, F>, N, K> {
    return new OnDemandProjection(this, { features }) as OnDemandProjection<OnDemandFeatureView<N, F>, N, K>
  }

  /** The view under another name in a feature service. */
  withName<A extends string>(alias: A): OnDemandProjection<OnDemandFeatureView<N, F>, A, F['name']> {
    return new OnDemandProjection(this, { alias }) as OnDemandProjection<
      OnDemandFeatureView<N, F>,
      A,
      F['name']
    >
  }

  /** The whole view as a projection: every output, its own name. */
  get projection(): OnDemandProjection<OnDemandFeatureView<N, F>, N, F['name']> {
    return new OnDemandProjection(this, {}) as OnDemandProjection<OnDemandFeatureView<N, F>, N, F['name']>
  }

  /** The same view with its sources replaced by other versions of them (used after schema inference). */
  over(views: ReadonlyMap<FeatureView, FeatureView>): OnDemandFeatureView {
    const sources: OnDemandSource[] = [
      ...this.sourceProjections.map((p) => p.over(views.get(p.view) ?? p.view)),
      ...this.requestSources,
    ]
    return new OnDemandFeatureView({ ...this.options(), sources }, this.#registered())
  }

  #registered(): { mode: string; bodyText: string } | undefined {
    return this.transformation.fn ? undefined : this.transformation
  }

  /** The options that rebuild this view (the transform is absent for a view decoded from the registry). */
  options(): OnDemandFeatureViewOptions {
    const fn = this.transformation.fn
    return {
      // the mode and the function belong together; the cast only joins the union's two arms
      name: this.name,
      sources: [...this.sourceProjections, ...this.requestSources],
      schema: this.schema,
      mode: (this.transformation.mode === TRANSFORMATION_MODES.batch ? 'batch' : 'row') as 'row',
      transform: fn as RowTransform,
      writeToOnlineStore: this.writeToOnlineStore,
      description: this.description,
      tags: { ...this.tags },
      owner: this.owner,
    }
  }
}

/** Throws when two inputs share a name (the transformation could not tell them apart). */
function checkInputs(view: OnDemandFeatureView): void {
  if (view.inputs.length === 0) {
    throw new LarderError('INVALID_DEFINITION', `on-demand feature view "${view.name}" has no inputs`, {
      hint: 'give it a source with features or a request source with fields',
    })
  }
}

/**
 * An on-demand view as a feature service lists it: a subset of its outputs, possibly under an alias.
 * The type parameters hold the view, the name its outputs are reported under (`nameToUse`: the alias,
 * else the view's name) and the names of the selected outputs, from which a feature service's typed
 * columns are derived; they default to the wide types.
 */
export class OnDemandProjection<
  out V extends OnDemandFeatureView = OnDemandFeatureView,
  out R extends string = string,
  out K extends string = string,
> implements Branded<'OnDemandProjection'>
{
  readonly [definitionKind] = 'OnDemandProjection' as const
  readonly view: V
  readonly alias: string
  readonly featureNames: readonly K[] | undefined

  constructor(view: V, changes: { alias?: string; features?: readonly string[] }) {
    this.view = view
    this.alias = changes.alias === undefined ? '' : checkName('on-demand feature view alias', changes.alias)
    if (changes.features !== undefined) {
      if (!Array.isArray(changes.features) || changes.features.length === 0) {
        throw new LarderError(
          'INVALID_DEFINITION',
          `projection of on-demand feature view "${view.name}" selects no features`,
          {
            hint: "pass the output names to keep, e.g. odfv.select(['conv_rate_plus_val1'])",
          },
        )
      }
      for (const f of changes.features) view.feature(f)
      this.featureNames = Object.freeze([...changes.features]) as readonly K[]
    } else this.featureNames = undefined
    Object.freeze(this)
  }

  /** The name outputs are reported under: the alias if set, else the view's name. */
  get nameToUse(): R {
    return (this.alias || this.view.name) as R
  }

  get features(): readonly Field[] {
    return this.featureNames === undefined
      ? this.view.schema
      : this.featureNames.map((n) => this.view.feature(n))
  }

  /** The same projection with only these outputs, keeping its alias. */
  select<S extends K>(features: readonly S[]): OnDemandProjection<V, R, S> {
    return new OnDemandProjection(this.view, { alias: this.alias || undefined, features })
  }

  /** The same projection reported under `alias`, keeping its selection. */
  withName<B extends string>(alias: B): OnDemandProjection<V, B, K> {
    return new OnDemandProjection(this.view, { alias, features: this.featureNames })
  }

  /** The same projection over another version of its view. */
  over(view: OnDemandFeatureView): OnDemandProjection {
    return new OnDemandProjection(view, { alias: this.alias || undefined, features: this.featureNames })
  }
}
