import { type Branded, definitionKind, isKind, kindOf } from './brand.js'
import { LarderError } from './errors.js'
import type { FeatureView, FeatureViewProjection } from './feature-view.js'
import type { OnDemandFeatureView, OnDemandProjection } from './on-demand-feature-view.js'
import type { StreamFeatureView, StreamProjection } from './stream-feature-view.js'
import { checkKnownKeys, checkName, checkTags, optionalString } from './validate.js'

/** What a feature service can list: whole views (feature, stream or on-demand views) or projections of them. */
export type FeatureServiceItem =
  | FeatureView
  | FeatureViewProjection
  | StreamFeatureView
  | StreamProjection
  | OnDemandFeatureView
  | OnDemandProjection

/** Options of a {@link FeatureService}; the type parameters keep the literal name and the listed items. */
export interface FeatureServiceOptions<
  N extends string = string,
  I extends FeatureServiceItem = FeatureServiceItem,
> {
  name: N
  features: readonly I[]
  description?: string
  tags?: Record<string, string>
  owner?: string
}

/** The projection a feature service item stands for: a view's whole projection, or the projection itself. */
export type ProjectionOf<I> = I extends { readonly projection: infer P } ? P : I

/**
 * A named, versionable list of features that a model consumes, usable wherever a feature list is.
 * The type parameters hold the literal name and the items it lists (views and projections with their
 * own type parameters), from which the typed columns of a read through the service are derived; they
 * default to the wide types, so a service read from the registry is a plain `FeatureService`.
 *
 * @example new FeatureService({ name: 'driver_activity_v1', features: [driverStats.select(['conv_rate'])] })
 */
export class FeatureService<
  const out N extends string = string,
  out I extends FeatureServiceItem = FeatureServiceItem,
> implements Branded<'FeatureService'>
{
  readonly [definitionKind] = 'FeatureService' as const
  readonly name: N
  /** The feature views it reads, in listed order. */
  readonly projections: readonly Extract<ProjectionOf<I>, FeatureViewProjection>[]
  /** The stream feature views it reads, in listed order; their features come after the feature views'. */
  readonly streamProjections: readonly Extract<ProjectionOf<I>, StreamProjection>[]
  /** The on-demand views it reads, in listed order; their features come after the feature views'. */
  readonly onDemandProjections: readonly Extract<ProjectionOf<I>, OnDemandProjection>[]
  readonly description: string
  readonly tags: Readonly<Record<string, string>>
  readonly owner: string

  constructor(options: FeatureServiceOptions<N, I>) {
    checkKnownKeys('FeatureService', options, ['name', 'features', 'description', 'tags', 'owner'])
    this.name = checkName('feature service', options.name) as N
    const where = `feature service "${this.name}"`
    if (!globalThis.Array.isArray(options.features) || options.features.length === 0) {
      throw new LarderError('INVALID_DEFINITION', `${where} lists no features`, {
        hint: 'pass features: [view, otherView.select([...])]',
      })
    }
    const projections: FeatureViewProjection[] = []
    const stream: StreamProjection[] = []
    const onDemand: OnDemandProjection[] = []
    options.features.forEach((item, i) => {
      if (isKind(item, 'FeatureView')) projections.push((item as FeatureView).projection)
      else if (isKind(item, 'FeatureViewProjection')) projections.push(item as FeatureViewProjection)
      else if (isKind(item, 'StreamFeatureView')) stream.push((item as StreamFeatureView).projection)
      else if (isKind(item, 'StreamProjection')) stream.push(item as StreamProjection)
      else if (isKind(item, 'OnDemandFeatureView')) onDemand.push((item as OnDemandFeatureView).projection)
      else if (isKind(item, 'OnDemandProjection')) onDemand.push(item as OnDemandProjection)
      else {
        throw new LarderError(
          'INVALID_DEFINITION',
          `${where}: features[${i}] is ${kindOf(item) ?? typeof item}, not a feature view, stream feature view, on-demand view or projection`,
          {
            hint: 'list feature views, stream feature views, on-demand views, or view.select([...]) / view.withName(...) projections',
          },
        )
      }
    })
    // the items' own projections, in the types the items declare
    this.projections = Object.freeze(projections) as typeof this.projections
    this.streamProjections = Object.freeze(stream) as typeof this.streamProjections
    this.onDemandProjections = Object.freeze(onDemand) as typeof this.onDemandProjections
    const names = [...this.projections, ...this.streamProjections, ...this.onDemandProjections].map(
      (p) => p.nameToUse,
    )
    const clash = names.find((n, i) => names.indexOf(n) !== i)
    if (clash) {
      throw new LarderError('INVALID_DEFINITION', `${where} lists "${clash}" twice`, {
        hint: `give the second one another name with view.withName('${clash}_2')`,
      })
    }
    this.description = optionalString(where, 'description', options.description)
    this.tags = checkTags(where, options.tags)
    this.owner = optionalString(where, 'owner', options.owner)
    Object.freeze(this)
  }

  /** Feature references `"<view or alias>:<feature>"` in service order. */
  get featureRefs(): string[] {
    return [...this.projections, ...this.streamProjections, ...this.onDemandProjections].flatMap((p) =>
      p.features.map((f) => `${p.nameToUse}:${f.name}`),
    )
  }
}
