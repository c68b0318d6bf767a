import { type Branded, definitionKind, isKind, kindOf } from './brand.js'
import { LarderError } from './errors.js'
import type { FeatureView, FeatureViewProjection } from './feature-view.js'
import { checkKnownKeys, checkName, checkTags, optionalString } from './validate.js'

/** What a feature service can list: whole views or projections of them. */
export type FeatureServiceItem = FeatureView | FeatureViewProjection

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
  readonly projections: readonly FeatureViewProjection[]
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
    this.projections = Object.freeze(
      options.features.map((item, i) => {
        if (isKind(item, 'FeatureView')) return (item as FeatureView).projection
        if (isKind(item, 'FeatureViewProjection')) return item as FeatureViewProjection
        throw new LarderError(
          'INVALID_DEFINITION',
          `${where}: features[${i}] is ${kindOf(item) ?? typeof item}, not a feature view or projection`,
          { hint: 'list feature views, or view.select([...]) / view.withName(...) projections' },
        )
      }),
    )
    const names = this.projections.map((p) => p.nameToUse)
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
    return this.projections.flatMap((p) => p.features.map((f) => `${p.nameToUse}:${f.name}`))
  }
}
