// What the pages derive from the REST API's objects: freshness, Larder's durations, the search index
// and the lineage graph.
import type {
  DataSourceJson,
  FeatureJson,
  FeatureViewJson,
  RegistryData,
  RunJson,
  RunsJson,
  Tags,
} from './api'
import { durationSeconds, parseTime } from './format'
import { path } from './router'

const LARDER_TAG = 'larder.dev/'

/** The tags a user wrote, without Larder's own settings (which ride along as `larder.dev/` tags). */
export function userTags(tags: Tags | undefined): [string, string][] {
  return Object.entries(tags ?? {}).filter(([k]) => !k.startsWith(LARDER_TAG))
}

export interface Durations {
  readonly ttl: number
  readonly maxAge: number
  readonly storageTtl: number
}

/** ttl, maxAge (defaults to ttl) and storageTtl of a view, in seconds; 0 means no limit. */
export function durations(view: FeatureViewJson): Durations {
  const ttl = durationSeconds(view.spec.ttl)
  const tags = view.spec.tags ?? {}
  const maxAge = tags[`${LARDER_TAG}max-age-seconds`]
  const storage = tags[`${LARDER_TAG}storage-ttl-seconds`]
  return {
    ttl,
    maxAge: maxAge === undefined ? ttl : Number(maxAge),
    storageTtl: storage === undefined ? 0 : Number(storage),
  }
}

export interface Interval {
  readonly start: number
  readonly end: number
}

/** The view's materialized intervals (ms), in the order they were recorded. */
export function intervals(view: FeatureViewJson): Interval[] {
  const out: Interval[] = []
  for (const i of view.meta?.materializationIntervals ?? []) {
    const start = parseTime(i.startTime)
    const end = parseTime(i.endTime)
    if (start !== undefined && end !== undefined) out.push({ start, end })
  }
  return out
}

/** The end of the newest materialized window (the watermark), or undefined if never materialized. */
export function lastMaterialized(view: FeatureViewJson): number | undefined {
  const ends = intervals(view).map((i) => i.end)
  return ends.length === 0 ? undefined : Math.max(...ends)
}

/** What a view's freshness is measured from: its newest event materialized, else its last window end. */
export interface Freshness {
  /** The instant the age is counted from (ms). */
  readonly at: number
  readonly basis: 'newestEvent' | 'windowEnd'
}

/**
 * The view's freshness: the server's (from the run history: the newest event a successful run wrote,
 * else the end of the last materialized window) when the runs are loaded, else the end of the last
 * materialized window; undefined if the view was never materialized.
 */
export function viewFreshness(view: FeatureViewJson, runs: RunsJson | undefined): Freshness | undefined {
  const server = runs?.freshness[view.spec.name]
  const at = parseTime(server?.timestamp)
  if (server && at !== undefined) return { at, basis: server.basis }
  const end = lastMaterialized(view)
  return end === undefined ? undefined : { at: end, basis: 'windowEnd' }
}

/**
 * The age of the newest materialized event over time, from the runs that ran (any order): it grows
 * between runs and drops when a run that wrote a newer event finishes, at the time it finished.
 * Points are [time ms, age ms]; the last is at `now`. Empty when no run wrote an event.
 */
export function freshnessSeries(runs: readonly RunJson[], now: number): [number, number][] {
  const landed = runs
    .flatMap((r) => {
      const at = parseTime(r.finishedAt)
      const newest = parseTime(r.newestEventTimestamp)
      return r.status === 'succeeded' && at !== undefined && newest !== undefined ? [{ at, newest }] : []
    })
    .sort((a, b) => a.at - b.at)
  const points: [number, number][] = []
  let newest: number | undefined
  for (const run of landed) {
    if (newest !== undefined) points.push([run.at, run.at - newest])
    newest = Math.max(newest ?? run.newest, run.newest)
    points.push([run.at, Math.max(0, run.at - newest)])
  }
  const last = landed[landed.length - 1]
  if (newest !== undefined && last) points.push([Math.max(now, last.at), Math.max(0, now - newest)])
  return points
}

/** The fields of the request sources the on-demand views named read, once each, in order. */
export function requestFields(data: RegistryData, onDemandViews: readonly string[]): FeatureJson[] {
  const fields = new Map<string, FeatureJson>()
  for (const name of onDemandViews) {
    const view = data.onDemandViews.find((v) => v.spec.name === name)
    for (const src of Object.values(view?.spec.sources ?? {})) {
      const request = src.requestDataSource
      if (!request) continue
      const registered = data.dataSources.find((s) => s.name === request.name)
      const schema = request.requestDataOptions?.schema ?? registered?.requestDataOptions?.schema ?? []
      for (const f of schema) if (!fields.has(f.name)) fields.set(f.name, f)
    }
  }
  return [...fields.values()]
}

/** The on-demand views that read the request source `source`, by name. */
export function onDemandReading(data: RegistryData, source: string): string[] {
  return data.onDemandViews
    .filter((v) => Object.values(v.spec.sources ?? {}).some((s) => s.requestDataSource?.name === source))
    .map((v) => v.spec.name)
}

export function viewSource(view: FeatureViewJson): DataSourceJson | undefined {
  return view.spec.streamSource ?? view.spec.batchSource
}

export type ObjectKind =
  | 'featureView'
  | 'onDemandFeatureView'
  | 'entity'
  | 'dataSource'
  | 'featureService'
  | 'savedDataset'

export const KIND_LABEL: Record<ObjectKind, string> = {
  featureView: 'Feature view',
  onDemandFeatureView: 'On-demand view',
  entity: 'Entity',
  dataSource: 'Data source',
  featureService: 'Feature service',
  savedDataset: 'Saved dataset',
}

const SEGMENT: Record<ObjectKind, string> = {
  featureView: 'feature-views',
  onDemandFeatureView: 'on-demand-views',
  entity: 'entities',
  dataSource: 'data-sources',
  featureService: 'feature-services',
  savedDataset: 'saved-datasets',
}

/** The page of an object. */
export function href(project: string, kind: ObjectKind, name?: string, hash?: string): string {
  const base =
    name === undefined ? path('p', project, SEGMENT[kind]) : path('p', project, SEGMENT[kind], name)
  return hash ? `${base}#${encodeURIComponent(hash)}` : base
}

export interface SearchItem {
  readonly id: string
  readonly kind: ObjectKind | 'feature' | 'tag'
  readonly label: string
  readonly description: string
  readonly href: string
  /** Lower-case text matched against the query. */
  readonly text: string
}

/** Every object, every feature (`view:feature`) and every tag (`key=value`) of the project. */
export function searchIndex(data: RegistryData): SearchItem[] {
  const p = data.project
  const items: SearchItem[] = []
  const tagged = new Map<string, string[]>()
  const add = (kind: ObjectKind, name: string, description: string | undefined, tags: Tags | undefined) => {
    const t = userTags(tags)
    items.push({
      id: `${kind}:${name}`,
      kind,
      label: name,
      description: description || KIND_LABEL[kind],
      href: href(p, kind, name),
      text: `${name} ${description ?? ''} ${t.map(([k, v]) => `${k}=${v}`).join(' ')}`.toLowerCase(),
    })
    for (const [k, v] of t) {
      const key = `${k}=${v}`
      tagged.set(key, [...(tagged.get(key) ?? []), href(p, kind, name), name])
    }
  }
  for (const v of data.featureViews) {
    add('featureView', v.spec.name, v.spec.description, v.spec.tags)
    for (const f of v.spec.features ?? []) {
      items.push({
        id: `feature:${v.spec.name}:${f.name}`,
        kind: 'feature',
        label: `${v.spec.name}:${f.name}`,
        description: f.description || `${f.valueType ?? ''} feature of ${v.spec.name}`,
        href: href(p, 'featureView', v.spec.name, `feature-${f.name}`),
        text: `${v.spec.name}:${f.name} ${f.description ?? ''}`.toLowerCase(),
      })
    }
  }
  for (const v of data.onDemandViews) {
    add('onDemandFeatureView', v.spec.name, v.spec.description, v.spec.tags)
    for (const f of v.spec.features ?? []) {
      items.push({
        id: `feature:${v.spec.name}:${f.name}`,
        kind: 'feature',
        label: `${v.spec.name}:${f.name}`,
        description: f.description || `on-demand feature of ${v.spec.name}`,
        href: href(p, 'onDemandFeatureView', v.spec.name),
        text: `${v.spec.name}:${f.name} ${f.description ?? ''}`.toLowerCase(),
      })
    }
  }
  for (const e of data.entities) add('entity', e.spec.name, e.spec.description, e.spec.tags)
  for (const s of data.dataSources) add('dataSource', s.name, s.description, s.tags)
  for (const s of data.featureServices) add('featureService', s.spec.name, s.spec.description, s.spec.tags)
  for (const d of data.savedDatasets) add('savedDataset', d.spec.name, undefined, d.spec.tags)
  for (const [tag, refs] of tagged) {
    const names = refs.filter((_, i) => i % 2 === 1)
    items.push({
      id: `tag:${tag}`,
      kind: 'tag',
      label: tag,
      description: `tag on ${names.slice(0, 4).join(', ')}${names.length > 4 ? ` and ${names.length - 4} more` : ''}`,
      href: refs[0]!,
      text: tag.toLowerCase(),
    })
  }
  return items
}

/** Items whose text holds every word of the query, best first (name prefix, then name, then text). */
export function search(items: readonly SearchItem[], query: string, limit = 30): SearchItem[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean)
  if (words.length === 0) return []
  const scored: { item: SearchItem; score: number }[] = []
  for (const item of items) {
    if (!words.every((w) => item.text.includes(w))) continue
    const label = item.label.toLowerCase()
    const first = words[0]!
    const name = label.includes(':') && item.kind === 'feature' ? label.split(':')[1]! : label
    const score =
      (name === first ? 0 : name.startsWith(first) ? 1 : label.includes(first) ? 2 : 3) * 10 +
      (item.kind === 'tag' ? 1 : 0)
    scored.push({ item, score })
  }
  scored.sort(
    (a, b) => a.score - b.score || (a.item.label < b.item.label ? -1 : a.item.label > b.item.label ? 1 : 0),
  )
  return scored.slice(0, limit).map((s) => s.item)
}

/** Feature services that read the view (by projection), by name. */
export function servicesUsing(data: RegistryData, view: string): string[] {
  return data.featureServices
    .filter((s) => (s.spec.features ?? []).some((p) => p.featureViewName === view))
    .map((s) => s.spec.name)
}

export interface LineageNode {
  readonly id: string
  readonly kind: ObjectKind
  readonly name: string
  readonly layer: number
}

export interface LineageEdge {
  readonly id: string
  readonly source: string
  readonly target: string
}

const LAYER: Partial<Record<ObjectKind, number>> = {
  entity: 0,
  dataSource: 0,
  featureView: 1,
  onDemandFeatureView: 2,
  featureService: 3,
}

const REL_KIND: Record<string, ObjectKind> = {
  entity: 'entity',
  dataSource: 'dataSource',
  featureView: 'featureView',
  featureService: 'featureService',
}

/**
 * The lineage graph from the API's direct relationships (entity or source → view, view → service),
 * plus push or stream source → view, and view or request source → on-demand view from the on-demand
 * views' sources (a request source is laid out in the views' layer). Indirect relationships (source →
 * service) are left out: they are paths of the graph.
 */
export function lineage(data: RegistryData): { nodes: LineageNode[]; edges: LineageEdge[] } {
  const odfv = new Set(data.onDemandViews.map((v) => v.spec.name))
  const request = new Set(data.dataSources.filter((s) => s.type === 'REQUEST_SOURCE').map((s) => s.name))
  for (const v of data.onDemandViews) {
    for (const src of Object.values(v.spec.sources ?? {})) {
      if (src.requestDataSource?.name) request.add(src.requestDataSource.name)
    }
  }
  const nodes = new Map<string, LineageNode>()
  const node = (kind: ObjectKind, name: string): string => {
    const k = kind === 'featureView' && odfv.has(name) ? 'onDemandFeatureView' : kind
    const id = `${k}:${name}`
    // a request source feeds on-demand views only: it stands in the views' column, next to them
    const layer = k === 'dataSource' && request.has(name) ? LAYER.featureView! : (LAYER[k] ?? 0)
    if (!nodes.has(id)) nodes.set(id, { id, kind: k, name, layer })
    return id
  }
  for (const v of data.featureViews) node('featureView', v.spec.name)
  for (const v of data.onDemandViews) node('onDemandFeatureView', v.spec.name)
  for (const s of data.dataSources) node('dataSource', s.name)
  for (const e of data.entities) node('entity', e.spec.name)
  for (const s of data.featureServices) node('featureService', s.spec.name)
  const edges = new Map<string, LineageEdge>()
  const edge = (source: string, target: string) => {
    const id = `${source}->${target}`
    if (!edges.has(id)) edges.set(id, { id, source, target })
  }
  for (const r of data.relations) {
    const s = REL_KIND[r.source.type]
    const t = REL_KIND[r.target.type]
    if (!s || !t) continue
    if (t === 'featureService' && s !== 'featureView') continue
    // a source → on-demand view relationship is the path source → view → on-demand view (drawn as
    // such) or a request source (linked from the on-demand view's own sources below)
    if (s === 'dataSource' && t === 'featureView' && odfv.has(r.target.name)) continue
    edge(node(s, r.source.name), node(t, r.target.name))
  }
  // Feast's relationships name a view's batch source only: a push or stream source is linked here.
  for (const v of data.featureViews) {
    const stream = v.spec.streamSource?.name
    if (stream) edge(node('dataSource', stream), node('featureView', v.spec.name))
  }
  for (const v of data.onDemandViews) {
    for (const src of Object.values(v.spec.sources ?? {})) {
      const name = src.featureViewProjection?.featureViewName ?? src.featureView?.spec?.name
      if (name) {
        const kind: ObjectKind = odfv.has(name) ? 'onDemandFeatureView' : 'featureView'
        edge(node(kind, name), node('onDemandFeatureView', v.spec.name))
      }
      const req = src.requestDataSource?.name
      if (req) edge(node('dataSource', req), node('onDemandFeatureView', v.spec.name))
    }
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] }
}
