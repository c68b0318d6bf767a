/**
 * Feast's REST registry API shapes (sdk/python/feast/api/registry/rest/*.py and the gRPC registry
 * server behind it), computed from the registry protobuf. Facts matched here:
 *
 * - Objects are proto3 JSON as `MessageToDict` writes it: camelCase, default values left out, int64
 *   as strings, enums by name.
 * - Lists are `{"<kind>": [...], "pagination": {...}}`, plus `"relationships": {name: [...]}` with
 *   `include_relationships=true`. Feature views of every kind come under `featureViews` with a `type`
 *   of `featureView`, `onDemandFeatureView` or `streamFeatureView`; label views also come under
 *   `featureViews`, with the type `labelView`.
 * - Pagination is camelCase `{page, limit, totalCount, totalPages, hasNext, hasPrevious}` with every
 *   zero or false member left out. A per-project list without `page` and `limit` holds everything
 *   and reports `{totalCount, totalPages: 1}` (`{}` when empty); the `/all` lists default to page 1 of
 *   50 and add `project` to each object.
 * - A relationship is `{source: {type, name}, target: {type, name}}` with the types `entity`,
 *   `dataSource`, `featureView` and `featureService`: entity → view, batch or stream source → view,
 *   request source or source view's batch source → on-demand view, view → service (direct), and each
 *   source of a service's views → service (indirect). Features and permissions have none.
 */
import { type DescMessage, type Message, toJson } from '@bufbuild/protobuf'
import { LarderError, typeFromValueType, valueTypeName } from '../core/index.js'
import { DataSourceSchema } from '../gen/feast/core/DataSource_pb.js'
import { EntitySchema } from '../gen/feast/core/Entity_pb.js'
import type { FeatureSpecV2 } from '../gen/feast/core/Feature_pb.js'
import { FeatureServiceSchema } from '../gen/feast/core/FeatureService_pb.js'
import { FeatureViewSchema } from '../gen/feast/core/FeatureView_pb.js'
import { LabelViewSchema } from '../gen/feast/core/LabelView_pb.js'
import { OnDemandFeatureViewSchema } from '../gen/feast/core/OnDemandFeatureView_pb.js'
import { PermissionSchema } from '../gen/feast/core/Permission_pb.js'
import { ProjectSchema } from '../gen/feast/core/Project_pb.js'
import type { Registry as RegistryProto } from '../gen/feast/core/Registry_pb.js'
import { SavedDatasetSchema } from '../gen/feast/core/SavedDataset_pb.js'
import { StreamFeatureViewSchema } from '../gen/feast/core/StreamFeatureView_pb.js'
import type { RegistryState } from '../registry/index.js'

export type JsonObject = { [key: string]: unknown }

/** One registry object as the REST API shows it. */
export interface RestObject {
  readonly name: string
  readonly project: string
  readonly json: JsonObject
}

/** The object kinds of the REST API, by path segment, with the key their lists are wrapped in. */
export const REST_KINDS = {
  projects: { key: 'projects', relationType: undefined },
  entities: { key: 'entities', relationType: 'entity' },
  data_sources: { key: 'dataSources', relationType: 'dataSource' },
  feature_views: { key: 'featureViews', relationType: 'featureView' },
  features: { key: 'features', relationType: undefined },
  feature_services: { key: 'featureServices', relationType: 'featureService' },
  saved_datasets: { key: 'savedDatasets', relationType: undefined },
  label_views: { key: 'featureViews', relationType: 'featureView' },
  permissions: { key: 'permissions', relationType: undefined },
} as const

export type RestKind = keyof typeof REST_KINDS

/** What the singular of each kind is called in a not-found message. */
const SINGULAR: Readonly<Record<RestKind, string>> = {
  projects: 'project',
  entities: 'entity',
  data_sources: 'data source',
  feature_views: 'feature view',
  features: 'feature',
  feature_services: 'feature service',
  saved_datasets: 'saved dataset',
  label_views: 'label view',
  permissions: 'permission',
}

export interface Relation {
  readonly source: { readonly type: string; readonly name: string }
  readonly target: { readonly type: string; readonly name: string }
}

interface Derived {
  readonly objects: Map<string, readonly RestObject[]>
  readonly relations: Map<string, { direct: Relation[]; indirect: Relation[] }>
}

const derived = new WeakMap<RegistryState, Derived>()

function cacheOf(state: RegistryState): Derived {
  let d = derived.get(state)
  if (!d) {
    d = { objects: new Map(), relations: new Map() }
    derived.set(state, d)
  }
  return d
}

/**
 * The objects of one kind in a project (every project when `project` is undefined), in registry
 * order, as proto3 JSON. Computed once per registry state.
 */
export function restObjects(
  state: RegistryState,
  kind: RestKind,
  project: string | undefined,
): readonly RestObject[] {
  const cache = cacheOf(state).objects
  const key = `${kind}\0${project ?? ''}`
  let found = cache.get(key)
  if (!found) {
    const all = objectsOf(state.proto, kind)
    found = project === undefined ? all : all.filter((o) => o.project === project)
    cache.set(key, found)
  }
  return found
}

/** One object by name, or NOT_FOUND listing the names of that kind in the project. */
export function restObject(state: RegistryState, kind: RestKind, project: string, name: string): RestObject {
  const objects = restObjects(state, kind, project)
  const found = objects.find((o) => o.name === name)
  if (found) return found
  throw new LarderError('NOT_FOUND', `${SINGULAR[kind]} "${name}" not found in project "${project}"`, {
    hint: `known: ${knownList(objects.map((o) => o.name))}`,
    details: { kind: SINGULAR[kind], name, project },
  })
}

/** A feature by view and name, or NOT_FOUND naming the view's features. */
export function restFeature(state: RegistryState, project: string, view: string, name: string): RestObject {
  const features = restObjects(state, 'features', project)
  const found = features.find((f) => f.json.featureView === view && f.name === name)
  if (found) return found
  const ofView = features.filter((f) => f.json.featureView === view).map((f) => f.name)
  throw new LarderError(
    'NOT_FOUND',
    `feature "${name}" not found in feature view "${view}" in project "${project}"`,
    {
      hint:
        ofView.length > 0
          ? `features of "${view}": ${knownList(ofView)}`
          : `known feature views: ${knownList(restObjects(state, 'feature_views', project).map((v) => v.name))}`,
      details: { kind: 'feature', name, featureView: view, project },
    },
  )
}

function knownList(names: readonly string[]): string {
  return names.length === 0 ? '(none)' : [...new Set(names)].sort().join(', ')
}

function json(schema: DescMessage, message: Message): JsonObject {
  return toJson(schema, message) as JsonObject
}

function objectsOf(proto: RegistryProto, kind: RestKind): RestObject[] {
  const bySpec = <M extends Message & { spec?: { name: string; project: string } }>(
    schema: DescMessage,
    list: readonly M[],
    type?: string,
  ): RestObject[] =>
    list
      .filter((m) => m.spec !== undefined)
      .map((m) => ({
        name: m.spec!.name,
        project: m.spec!.project,
        json: type === undefined ? json(schema, m) : { type, ...json(schema, m) },
      }))
  switch (kind) {
    case 'projects':
      return proto.projects
        .filter((p) => p.spec !== undefined)
        .map((p) => ({ name: p.spec!.name, project: p.spec!.name, json: json(ProjectSchema, p) }))
    case 'entities':
      return bySpec(EntitySchema, proto.entities)
    case 'data_sources':
      return proto.dataSources.map((s) => ({
        name: s.name,
        project: s.project,
        json: json(DataSourceSchema, s),
      }))
    case 'feature_views':
      return [
        ...bySpec(FeatureViewSchema, proto.featureViews, 'featureView'),
        ...bySpec(StreamFeatureViewSchema, proto.streamFeatureViews, 'streamFeatureView'),
        ...bySpec(OnDemandFeatureViewSchema, proto.onDemandFeatureViews, 'onDemandFeatureView'),
      ]
    case 'features':
      return featuresOf(proto)
    case 'feature_services':
      return bySpec(FeatureServiceSchema, proto.featureServices)
    case 'saved_datasets':
      return bySpec(SavedDatasetSchema, proto.savedDatasets)
    case 'label_views':
      return bySpec(LabelViewSchema, proto.labelViews, 'labelView')
    case 'permissions':
      return bySpec(PermissionSchema, proto.permissions)
  }
}

interface ViewLike {
  spec?: { name: string; project: string; owner?: string; features: FeatureSpecV2[] }
  meta?: { createdTimestamp?: unknown; lastUpdatedTimestamp?: unknown }
}

/** Feast's `Feature` message per feature of every feature view: name, view, type name, and the view's owner and times. */
function featuresOf(proto: RegistryProto): RestObject[] {
  const views: readonly { schema: DescMessage; view: ViewLike & Message }[] = [
    ...proto.featureViews.map((view) => ({ schema: FeatureViewSchema, view })),
    ...proto.streamFeatureViews.map((view) => ({ schema: StreamFeatureViewSchema, view })),
    ...proto.onDemandFeatureViews.map((view) => ({ schema: OnDemandFeatureViewSchema, view })),
  ]
  const out: RestObject[] = []
  for (const { schema, view } of views) {
    const spec = view.spec
    if (!spec) continue
    const meta = (json(schema, view).meta ?? {}) as JsonObject
    for (const f of spec.features) {
      const feature: JsonObject = { name: f.name, featureView: spec.name, type: typeName(f) }
      if (f.description) feature.description = f.description
      if (spec.owner) feature.owner = spec.owner
      if (meta.createdTimestamp) feature.createdTimestamp = meta.createdTimestamp
      if (meta.lastUpdatedTimestamp) feature.lastUpdatedTimestamp = meta.lastUpdatedTimestamp
      if (Object.keys(f.tags).length > 0) feature.tags = { ...f.tags }
      out.push({ name: f.name, project: spec.project, json: feature })
    }
  }
  return out
}

/** The feature's type as Feast's Python SDK prints it (`Float32`, `Array(String)`). */
function typeName(f: FeatureSpecV2): string {
  try {
    return typeFromValueType(f.valueType, f.tags)?.name ?? valueTypeName(f.valueType)
  } catch {
    return valueTypeName(f.valueType)
  }
}

/**
 * The relationships of one object (direct, then indirect), as Feast's `GetObjectRelationships` with
 * `include_indirect`. An object type without relationships (feature, permission) has none.
 */
export function objectRelations(
  state: RegistryState,
  project: string,
  type: string | undefined,
  name: string,
): Relation[] {
  if (type === undefined) return []
  const { direct, indirect } = relationsOf(state, project)
  return [...direct, ...indirect].filter(
    (r) =>
      (r.source.type === type && r.source.name === name) ||
      (r.target.type === type && r.target.name === name),
  )
}

function relationsOf(state: RegistryState, project: string): { direct: Relation[]; indirect: Relation[] } {
  const cache = cacheOf(state).relations
  let found = cache.get(project)
  if (!found) {
    found = computeRelations(state.proto, project)
    cache.set(project, found)
  }
  return found
}

function computeRelations(
  proto: RegistryProto,
  project: string,
): { direct: Relation[]; indirect: Relation[] } {
  const rel = (sourceType: string, source: string, targetType: string, target: string): Relation => ({
    source: { type: sourceType, name: source },
    target: { type: targetType, name: target },
  })
  const inProject = <M extends { spec?: { project: string } }>(list: readonly M[]) =>
    list.filter((m) => m.spec?.project === project)
  const views = inProject(proto.featureViews)
  const services = inProject(proto.featureServices)
  const direct: Relation[] = []
  for (const s of services) {
    for (const p of s.spec!.features)
      direct.push(rel('featureView', p.featureViewName, 'featureService', s.spec!.name))
  }
  for (const v of views) {
    for (const e of v.spec!.entities) direct.push(rel('entity', e, 'featureView', v.spec!.name))
    const source = v.spec!.batchSource?.name
    if (source) direct.push(rel('dataSource', source, 'featureView', v.spec!.name))
  }
  for (const odfv of inProject(proto.onDemandFeatureViews)) {
    for (const source of Object.values(odfv.spec!.sources)) {
      if (source.source.case === 'requestDataSource') {
        direct.push(rel('dataSource', source.source.value.name, 'featureView', odfv.spec!.name))
      } else if (source.source.case === 'featureViewProjection') {
        const sourceView = proto.featureViews.find(
          (v) => v.spec?.name === (source.source.value as { featureViewName: string }).featureViewName,
        )
        const batch = sourceView?.spec?.batchSource?.name
        if (batch) direct.push(rel('dataSource', batch, 'featureView', odfv.spec!.name))
      }
    }
  }
  for (const sfv of inProject(proto.streamFeatureViews)) {
    const stream = sfv.spec!.streamSource?.name
    if (stream) direct.push(rel('dataSource', stream, 'featureView', sfv.spec!.name))
    const batch = sfv.spec!.batchSource?.name
    if (batch) direct.push(rel('dataSource', batch, 'featureView', sfv.spec!.name))
  }
  const indirect: Relation[] = []
  for (const s of services) {
    for (const p of s.spec!.features) {
      for (const r of direct) {
        if (r.target.type === 'featureView' && r.target.name === p.featureViewName) {
          indirect.push(rel(r.source.type, r.source.name, 'featureService', s.spec!.name))
        }
      }
    }
  }
  return { direct, indirect }
}

/** Pagination and sorting as the query asked. */
export interface PageQuery {
  readonly page: number | undefined
  readonly limit: number | undefined
  readonly sortBy: string | undefined
  readonly sortOrder: 'asc' | 'desc'
}

/**
 * Sorts and pages objects as Feast does. `mode: 'project'` is the registry server's per-project list
 * (everything unless both page and limit are given); `mode: 'all'` is the REST `/all` list (page 1 of
 * 50 by default, `hasPrevious` whenever the page starts after the first object).
 */
export function paginate<T extends JsonObject>(
  items: readonly T[],
  query: PageQuery,
  mode: 'project' | 'all',
): { items: T[]; pagination: JsonObject } {
  const sorted = query.sortBy ? sortBy(items, query.sortBy, query.sortOrder) : [...items]
  const total = sorted.length
  const page = mode === 'all' ? (query.page ?? 1) : (query.page ?? 0)
  const limit = mode === 'all' ? (query.limit ?? 50) : (query.limit ?? 0)
  if (mode === 'project' && total === 0) return { items: [], pagination: {} }
  if (mode === 'project' && (page === 0 || limit === 0)) {
    return { items: sorted, pagination: { totalCount: total, totalPages: 1 } }
  }
  const start = (page - 1) * limit
  const end = start + limit
  const totalPages = Math.ceil(total / limit)
  const pagination: JsonObject = {}
  if (page) pagination.page = page
  if (limit) pagination.limit = limit
  if (total) pagination.totalCount = total
  if (totalPages) pagination.totalPages = totalPages
  const hasNext = mode === 'all' ? end < total : page < totalPages
  const hasPrevious = mode === 'all' ? start > 0 : page > 1
  if (hasNext) pagination.hasNext = true
  if (hasPrevious) pagination.hasPrevious = true
  return { items: sorted.slice(start, end), pagination }
}

/** Sorts by a dot path (`spec.name`); a bare key not at the top level is looked up under `spec`. */
function sortBy<T extends JsonObject>(items: readonly T[], path: string, order: 'asc' | 'desc'): T[] {
  const parts = path.split('.')
  const lookup = (o: unknown, keys: readonly string[]): unknown => {
    let at = o
    for (const k of keys) at = at !== null && typeof at === 'object' ? (at as JsonObject)[k] : undefined
    return at
  }
  const keyOf = (o: T): [number, string, number] => {
    let v = lookup(o, parts)
    if (v === undefined && parts.length === 1) v = lookup(o, ['spec', path])
    if (v === undefined || v === null) return [0, '', 0]
    if (typeof v === 'number') return [1, '', v]
    return [1, String(typeof v === 'object' ? JSON.stringify(v) : v).toLowerCase(), 0]
  }
  const keyed = items.map((item) => ({ item, key: keyOf(item) }))
  keyed.sort((a, b) => {
    const [ap, as, an] = a.key
    const [bp, bs, bn] = b.key
    const c = as < bs ? -1 : as > bs ? 1 : ap - bp || an - bn
    return order === 'desc' ? -c : c
  })
  return keyed.map((k) => k.item)
}

/** Feast UI's `projects-list.json`: one entry per registered project (title-cased name), plus "All Projects" when there are several. */
export function projectsList(
  state: RegistryState,
  fallbackProject: string,
  registryPath: string,
): JsonObject {
  const projects = state.proto.projects
    .filter((p) => p.spec !== undefined)
    .map((p) => ({
      name: titleCase(p.spec!.name.replaceAll('_', ' ')),
      description: p.spec!.description || `Project: ${p.spec!.name}`,
      id: p.spec!.name,
      registryPath,
    }))
  if (projects.length === 0) {
    projects.push({ name: 'Project', description: 'Test project', id: fallbackProject, registryPath })
  }
  if (projects.length > 1) {
    projects.unshift({
      name: 'All Projects',
      description: 'View data across all projects',
      id: 'all',
      registryPath,
    })
  }
  return { projects }
}

/** Python's `str.title()`: each run of letters capitalized, the rest of the run lower case. */
function titleCase(text: string): string {
  return text.replace(/[A-Za-z]+/g, (w) => w[0]!.toUpperCase() + w.slice(1).toLowerCase())
}
