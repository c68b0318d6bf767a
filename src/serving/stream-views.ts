import {
  type FeatureService,
  FeatureViewProjection,
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
 * they are stored as, under the projection's name and join-key map, and its aggregated features as
 * the selection's windows (offline computed by the store's window query, online combined from the
 * stream processor's tiles). References are grouped by view in order of first appearance. Throws
 * NOT_FOUND for an unknown feature, INVALID_ARGUMENT for a reference given twice.
 */
export function streamViewSelections(
  catalog: ProjectCatalog,
  service: FeatureService | undefined,
  refs: readonly string[],
): FeatureSelection[] {
  if (service) {
    return service.streamProjections.flatMap((p) =>
      selectionOf(p.over(catalog.streamFeatureView(p.view.name))),
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
    selectionOf(catalog.streamFeatureView(view).select(features)),
  )
}

function selectionOf(p: StreamProjection): FeatureSelection[] {
  const names = p.features.map((f) => f.name)
  if (names.length === 0) return []
  const plain = names.filter((n) => p.view.aggregationOf(n) === undefined)
  const aggregations = names.flatMap((n) => p.view.aggregationOf(n) ?? [])
  const projection = new FeatureViewProjection(p.view.storageView, {
    alias: p.alias || undefined,
    features: plain.length > 0 ? plain : undefined,
    joinKeyMap: { ...p.joinKeyMap },
  })
  const windows = { hopSeconds: p.view.tilingHopSize, aggregations }
  return [{ projection, features: plain, ...(aggregations.length > 0 ? { windows } : {}) }]
}
