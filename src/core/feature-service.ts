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

export interface FeatureServiceOptions {
  name: string
  features: readonly FeatureServiceItem[]
  description?: string
  tags?: Record<string, string>
  owner?: string
}

/**
 * A named, versionable list of features that a model consumes, usable wherever a feature list is.
 *
 * @example new FeatureService({ name: 'driver_activity_v1', features: [driverStats.select(['conv_rate'])] })
 */
export class FeatureService implements Branded<'FeatureService'> {
  readonly [definitionKind] = 'FeatureService' as const
  readonly name: string
  /** The feature views it reads, in listed order. */
  readonly projections: readonly FeatureViewProjection[]
  /** The stream feature views it reads, in listed order; their features come after the feature views'. */
  readonly streamProjections: readonly StreamProjection[]
  /** The on-demand views it reads, in listed order; their features come after the feature views'. */
  readonly onDemandProjections: readonly OnDemandProjection[]
  readonly description: string
  readonly tags: Readonly<Record<string, string>>
  readonly owner: string

  constructor(options: FeatureServiceOptions) {
    checkKnownKeys('FeatureService', options, ['name', 'features', 'description', 'tags', 'owner'])
    this.name = checkName('feature service', options.name)
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
    this.projections = Object.freeze(projections)
    this.streamProjections = Object.freeze(stream)
    this.onDemandProjections = Object.freeze(onDemand)
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
