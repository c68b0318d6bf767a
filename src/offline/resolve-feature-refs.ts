import {
  type FeatureService,
  type FeatureView,
  isKind,
  knownNames,
  LarderError,
  parseFeatureRef,
} from '../core/index.js'
import type { FeatureSelection } from './offline-store.js'

/** Finds feature views by name; a `Map<string, FeatureView>` is one. */
export interface ViewLookup {
  get(name: string): FeatureView | undefined
  /** Every view name, for error messages. */
  keys(): Iterable<string>
}

/**
 * Turns feature references (`"view:feature"`) or a feature service into the selections a historical
 * request takes. References are grouped by view in order of first appearance, features in reference
 * order. A service's projections keep their alias, feature subset and join-key map, applied to the view
 * found under the projection's view name. Throws a `LarderError` naming the unknown view (listing the
 * known ones) or feature (listing the view's features), or a reference given twice.
 *
 * @example resolveFeatureRefs(['driver_hourly_stats:conv_rate'], new Map([[stats.name, stats]]))
 */
export function resolveFeatureRefs(
  refs: readonly string[] | FeatureService,
  lookupView: ViewLookup,
): FeatureSelection[] {
  if (isKind(refs, 'FeatureService')) {
    return (refs as FeatureService).projections.map((p) => {
      const view = findView(lookupView, p.view.name, `feature service "${(refs as FeatureService).name}"`)
      const projection = p.over(view)
      return { projection, features: projection.features.map((f) => f.name) }
    })
  }
  if (!Array.isArray(refs)) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      'features must be a list of "view:feature" references or a feature service',
      {
        hint: "write features: ['driver_hourly_stats:conv_rate']",
      },
    )
  }
  const byView = new Map<string, { view: FeatureView; features: string[] }>()
  for (const ref of refs as readonly string[]) {
    const { view: name, feature } = parseFeatureRef(ref)
    let entry = byView.get(name)
    if (entry === undefined) {
      entry = { view: findView(lookupView, name, `feature reference "${ref}"`), features: [] }
      byView.set(name, entry)
    }
    entry.view.feature(feature)
    if (entry.features.includes(feature)) {
      throw new LarderError('INVALID_ARGUMENT', `feature reference "${ref}" is given twice`, {
        hint: 'list each feature once',
      })
    }
    entry.features.push(feature)
  }
  return [...byView.values()].map((e) => ({ projection: e.view.projection, features: e.features }))
}

function findView(lookup: ViewLookup, name: string, where: string): FeatureView {
  const view = lookup.get(name)
  if (view === undefined) {
    throw new LarderError('NOT_FOUND', `${where}: feature view "${name}" not found`, {
      hint: `known feature views: ${knownNames(lookup.keys())}`,
    })
  }
  return view
}
