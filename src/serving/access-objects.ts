import type { AuthObject } from '../core/index.js'
import type { ProjectCatalog } from '../registry/index.js'
import type { FeatureSelectionRequest } from './online-plan.js'

/**
 * The feature view of `name` as an object of Feast's permissions: a feature view, stream feature view
 * or on-demand feature view with its tags; undefined when the project has none of that name (the
 * operation then answers NOT_FOUND itself).
 */
export function viewObject(catalog: ProjectCatalog, name: string): AuthObject | undefined {
  const project = catalog.project
  const fv = catalog.featureViews.get(name)
  if (fv) return { type: 'FEATURE_VIEW', name, project, tags: fv.tags }
  const sfv = catalog.streamFeatureViews.get(name)
  if (sfv) return { type: 'STREAM_FEATURE_VIEW', name, project, tags: sfv.tags }
  const odfv = catalog.onDemandFeatureViews.get(name)
  if (odfv) return { type: 'ON_DEMAND_FEATURE_VIEW', name, project, tags: odfv.tags }
  return undefined
}

/** Most distinct reference lists whose objects are kept per catalog; the cache is emptied when full. */
const MAX_CACHED_READS = 1024
/** The objects of each list of feature references already met, per catalog (so per registry state). */
const readObjectsCache = new WeakMap<ProjectCatalog, Map<string, readonly AuthObject[]>>()

/**
 * What an online read reads, for READ_ONLINE, as Feast's feature server checks it: the feature service
 * when the request names one; otherwise each view its references name, and for an on-demand view
 * also the feature views it reads from. Each object once, in the order met; names the project does not
 * have are left out. The objects of a list of references are computed once per catalog (the answer
 * is shared: callers must not change it).
 */
export function onlineReadObjects(
  catalog: ProjectCatalog,
  request: FeatureSelectionRequest,
): readonly AuthObject[] {
  if (request.featureService !== undefined || request.features === undefined) {
    return readObjects(catalog, request)
  }
  let cached = readObjectsCache.get(catalog)
  if (cached === undefined) {
    cached = new Map()
    readObjectsCache.set(catalog, cached)
  }
  const key = request.features.join('\0')
  let objects = cached.get(key)
  if (objects === undefined) {
    objects = readObjects(catalog, request)
    if (cached.size >= MAX_CACHED_READS) cached.clear()
    cached.set(key, objects)
  }
  return objects
}

function readObjects(catalog: ProjectCatalog, request: FeatureSelectionRequest): AuthObject[] {
  const service = request.featureService
  if (service !== undefined) {
    const name = typeof service === 'string' ? service : service.name
    const found = catalog.featureServices.get(name)
    return [
      { type: 'FEATURE_SERVICE', name, project: catalog.project, ...(found ? { tags: found.tags } : {}) },
    ]
  }
  const names = new Set<string>()
  for (const ref of request.features ?? []) {
    const view = typeof ref === 'string' ? ref.split(':')[0]! : ''
    names.add(view)
    for (const source of catalog.onDemandFeatureViews.get(view)?.sourceProjections ?? [])
      names.add(source.view.name)
  }
  return [...names].flatMap((name) => viewObject(catalog, name) ?? [])
}
