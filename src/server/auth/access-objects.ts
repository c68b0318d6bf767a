import type { AuthObject, AuthObjectType } from '../../core/index.js'
import type { JobRecord, ProjectCatalog } from '../../registry/index.js'
import { viewObject } from '../../serving/index.js'
import type { RestKind, RestObject } from '../registry-json.js'

/** The project as an object of Feast's permissions: what project-wide routes (jobs, metrics) act on. */
export function projectObject(project: string): AuthObject {
  return { type: 'PROJECT', name: project, project }
}

/** The feature views a push source feeds (`/push`), as `push` writes them; unknown names are left out. */
export function pushObjects(catalog: ProjectCatalog, pushSourceName: string): AuthObject[] {
  return [...catalog.featureViews.values()]
    .filter((v) => v.pushSource?.name === pushSourceName)
    .map((v) => ({ type: 'FEATURE_VIEW', name: v.name, project: catalog.project, tags: v.tags }))
}

/**
 * The views a materialization writes: the named ones, or (none named) every online feature view and
 * stream feature view with a batch source, as `materialize` selects them. Unknown names are left out.
 */
export function materializeObjects(
  catalog: ProjectCatalog,
  names: readonly string[] | undefined,
): AuthObject[] {
  if (names !== undefined && names.length > 0) return names.flatMap((n) => viewObject(catalog, n) ?? [])
  const views = [
    ...[...catalog.featureViews.values()].filter((v) => v.online && v.batchSource !== undefined),
    ...[...catalog.streamFeatureViews.values()].filter(
      (v) => v.storageView.online && v.storageView.batchSource !== undefined,
    ),
  ]
  return views.flatMap((v) => viewObject(catalog, v.name) ?? [])
}

/**
 * What cancelling a job acts on: a materialization writes its views online (WRITE_ONLINE; no views
 * named: every view a materialization selects); other jobs
 * (historical retrievals, stream processors) read or write offline as a whole project (UPDATE of the
 * project).
 */
export function jobAccess(
  job: JobRecord,
  catalog: ProjectCatalog,
): { action: 'WRITE_ONLINE' | 'UPDATE'; objects: AuthObject[] } {
  if (job.kind === 'materialize' || job.kind === 'materialize-incremental') {
    return { action: 'WRITE_ONLINE', objects: materializeObjects(catalog, job.featureViews ?? undefined) }
  }
  return { action: 'UPDATE', objects: [projectObject(job.project)] }
}

/** Feast's permission type of each registry REST kind (feature views by their `type`). */
const REST_TYPES: Readonly<Record<Exclude<RestKind, 'feature_views' | 'features'>, AuthObjectType>> = {
  projects: 'PROJECT',
  entities: 'ENTITY',
  data_sources: 'DATA_SOURCE',
  feature_services: 'FEATURE_SERVICE',
  saved_datasets: 'SAVED_DATASET',
  label_views: 'LABEL_VIEW',
  permissions: 'PERMISSION',
}

const VIEW_TYPES: Readonly<Record<string, AuthObjectType>> = {
  featureView: 'FEATURE_VIEW',
  streamFeatureView: 'STREAM_FEATURE_VIEW',
  onDemandFeatureView: 'ON_DEMAND_FEATURE_VIEW',
  labelView: 'LABEL_VIEW',
}

/**
 * A registry REST object as an object of Feast's permissions: its kind's type (a feature view by its
 * `type`; a feature is described through its feature view), name, project and tags.
 */
export function restAuthObject(kind: RestKind, o: RestObject): AuthObject {
  const spec = (o.json.spec ?? o.json) as { tags?: Record<string, string> }
  const tags = spec.tags ?? {}
  if (kind === 'features') {
    return { type: 'FEATURE_VIEW', name: String(o.json.featureView ?? ''), project: o.project }
  }
  if (kind === 'feature_views') {
    return { type: VIEW_TYPES[String(o.json.type)] ?? 'FEATURE_VIEW', name: o.name, project: o.project, tags }
  }
  return { type: REST_TYPES[kind], name: o.name, project: kind === 'projects' ? o.name : o.project, tags }
}
