// What the pages derive from the REST API's objects: freshness, Larder's durations, the search index
// and the lineage graph.
import type { DataSourceJson, FeatureViewJson, RegistryData, Tags } from './api'
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

/**
 * The age of the newest materialized data over time: it grows from each watermark until the next
 * window lands, then drops. Windows are taken to land when they end (the registry records no run time).
 */
export function freshnessSeries(view: FeatureViewJson, now: number): [number, number][] {
  const ends = [...new Set(intervals(view).map((i) => i.end))].sort((a, b) => a - b)
  const points: [number, number][] = []
  let watermark: number | undefined
  for (const end of ends) {
    if (watermark !== undefined) points.push([end, end - watermark])
    points.push([end, 0])
    watermark = end
  }
  if (watermark !== undefined) points.push([Math.max(now, watermark), Math.max(0, now - watermark)])
  return points
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
 * plus view → on-demand view from the on-demand views' projections. Indirect relationships (source →
 * service) are left out: they are paths of the graph.
 */
export function lineage(data: RegistryData): { nodes: LineageNode[]; edges: LineageEdge[] } {
  const odfv = new Set(data.onDemandViews.map((v) => v.spec.name))
  const nodes = new Map<string, LineageNode>()
  const node = (kind: ObjectKind, name: string): string => {
    const k = kind === 'featureView' && odfv.has(name) ? 'onDemandFeatureView' : kind
    const id = `${k}:${name}`
    if (!nodes.has(id)) nodes.set(id, { id, kind: k, name, layer: LAYER[k] ?? 0 })
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
    edge(node(s, r.source.name), node(t, r.target.name))
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
