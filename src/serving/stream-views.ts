import {
  type FeatureService,
  FeatureViewProjection,
  knownNames,
  LarderError,
  parseFeatureRef,
  type StreamProjection,
} from '../core/index.js'
import type { FeatureSelection } from '../offline/index.js'
import type { ProjectCatalog } from '../registry/index.js'

/** True when the reference names a stream feature view of the catalog. */
export function isStreamViewRef(catalog: ProjectCatalog, ref: string): boolean {
  return catalog.streamFeatureViews.has(parseFeatureRef(ref).view)
}

/**
 * What a request reads of stream feature views (a service's stream projections, or the references to
 * stream views among `refs`): each view's non-aggregated features, as a selection of the feature view
 * they are stored as, under the projection's name and join-key map, and, for an `offline` read, its
 * aggregated features as the selection's windows (computed by the offline store's window query).
 * References are grouped by view in order of first appearance. Throws UNSUPPORTED for an aggregated
 * feature read `online` (its values need the stream processor), NOT_FOUND for an unknown feature,
 * INVALID_ARGUMENT for a reference given twice.
 */
export function streamViewSelections(
  catalog: ProjectCatalog,
  service: FeatureService | undefined,
  refs: readonly string[],
  read: 'online' | 'offline',
): FeatureSelection[] {
  if (service) {
    return service.streamProjections.flatMap((p) =>
      selectionOf(p.over(catalog.streamFeatureView(p.view.name)), read),
    )
  }
  const byView = new Map<string, string[]>()
  for (const ref of refs.filter((r) => isStreamViewRef(catalog, r))) {
    const { view, feature } = parseFeatureRef(ref)
    catalog.streamFeatureView(view).feature(feature)
    const features = byView.get(view) ?? []
    if (features.includes(feature)) {
      throw new LarderError('INVALID_ARGUMENT', `feature reference "${ref}" is given twice`, {
        hint: 'list each feature once',
      })
    }
    features.push(feature)
    byView.set(view, features)
  }
  return [...byView].flatMap(([view, features]) =>
    selectionOf(catalog.streamFeatureView(view).select(features), read),
  )
}

function selectionOf(p: StreamProjection, read: 'online' | 'offline'): FeatureSelection[] {
  const names = p.features.map((f) => f.name)
  const plain = names.filter((n) => p.view.aggregationOf(n) === undefined)
  const aggregations = names.flatMap((n) => p.view.aggregationOf(n) ?? [])
  const aggregated = names.find((n) => p.view.aggregationOf(n) !== undefined)
  if (aggregated !== undefined && read === 'online') {
    throw new LarderError(
      'UNSUPPORTED',
      `feature "${aggregated}" of stream feature view "${p.view.name}" is a windowed aggregation (${p.view.aggregationOf(aggregated)!.describe()}); serving it needs the stream processor (larder stream), which this version of Larder does not have yet`,
      {
        hint:
          plain.length > 0
            ? `read the view's other requested features for now: ${knownNames(plain)}`
            : `read the view's non-aggregated features for now: ${knownNames(p.view.storageView.features.map((f) => f.name))}`,
        details: { view: p.view.name, feature: aggregated },
      },
    )
  }
  if (names.length === 0) return []
  const projection = new FeatureViewProjection(p.view.storageView, {
    alias: p.alias || undefined,
    features: plain.length > 0 ? plain : undefined,
    joinKeyMap: { ...p.joinKeyMap },
  })
  const windows = { hopSeconds: p.view.tilingHopSize, aggregations }
  return [{ projection, features: plain, ...(aggregations.length > 0 ? { windows } : {}) }]
}
