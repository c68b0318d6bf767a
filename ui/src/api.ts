// Reads the registry REST API (Feast's shapes, under /api/v1) and the online route of the server
// that serves this page. Nothing else is a source of truth. When the user gave a token (the server
// answered 401), every call carries it as `Authorization: Bearer`.
import { useQuery } from '@tanstack/react-query'
import { getToken } from './auth'

export type Tags = Record<string, string>

export interface FeatureJson {
  name: string
  valueType?: string
  description?: string
  tags?: Tags
}

export interface DataSourceJson {
  name: string
  project?: string
  type?: string
  description?: string
  owner?: string
  tags?: Tags
  timestampField?: string
  createdTimestampColumn?: string
  fieldMapping?: Record<string, string>
  dataSourceClassType?: string
  fileOptions?: { uri?: string; fileFormat?: unknown }
  pushOptions?: unknown
  requestDataOptions?: { schema?: FeatureJson[] }
  batchSource?: DataSourceJson
  [key: string]: unknown
}

export interface IntervalJson {
  startTime?: string
  endTime?: string
}

export interface FeatureViewJson {
  type?: string
  spec: {
    name: string
    project?: string
    description?: string
    owner?: string
    tags?: Tags
    entities?: string[]
    features?: FeatureJson[]
    entityColumns?: FeatureJson[]
    ttl?: string
    online?: boolean
    offline?: boolean
    batchSource?: DataSourceJson
    streamSource?: DataSourceJson
    sources?: Record<string, OdfvSourceJson>
    featureTransformation?: { userDefinedFunction?: UdfJson; substraitTransformation?: unknown }
    userDefinedFunction?: UdfJson
    mode?: string
    [key: string]: unknown
  }
  meta?: {
    createdTimestamp?: string
    lastUpdatedTimestamp?: string
    materializationIntervals?: IntervalJson[]
    [key: string]: unknown
  }
}

export interface UdfJson {
  name?: string
  body?: string
  bodyText?: string
}

export interface OdfvSourceJson {
  featureViewProjection?: ProjectionJson
  requestDataSource?: DataSourceJson
  featureView?: FeatureViewJson
}

export interface ProjectionJson {
  featureViewName: string
  featureViewNameAlias?: string
  featureColumns?: FeatureJson[]
  joinKeyMap?: Record<string, string>
}

export interface EntityJson {
  spec: {
    name: string
    joinKey?: string
    valueType?: string
    description?: string
    owner?: string
    tags?: Tags
  }
  meta?: { createdTimestamp?: string; lastUpdatedTimestamp?: string }
}

export interface FeatureServiceJson {
  spec: {
    name: string
    description?: string
    owner?: string
    tags?: Tags
    features?: ProjectionJson[]
  }
  meta?: { createdTimestamp?: string; lastUpdatedTimestamp?: string }
}

export interface SavedDatasetJson {
  spec: {
    name: string
    features?: string[]
    joinKeys?: string[]
    fullFeatureNames?: boolean
    storage?: Record<string, unknown>
    featureServiceName?: string
    tags?: Tags
  }
  meta?: { createdTimestamp?: string; minEventTimestamp?: string; maxEventTimestamp?: string }
}

export interface Relation {
  source: { type: string; name: string }
  target: { type: string; name: string }
}

export interface ProjectJson {
  spec?: { name: string; description?: string }
}

/** An answer of the server that was not 2xx, with its Feast-style error body; 401 asks for a token. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint: string | undefined,
  ) {
    super(message)
  }
}

/** The server refused the call for want of a (valid) token: the UI shows the token form. */
export function needsToken(error: unknown): error is ApiError {
  return error instanceof ApiError && error.status === 401
}

/** The server did not answer at all (it is down, or the page was opened from a file). */
export class ServerDownError extends Error {}

export async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const headers = new Headers(init?.headers)
  const token = getToken()
  if (token) headers.set('authorization', `Bearer ${token}`)
  let res: Response
  try {
    res = await fetch(url, { ...init, headers })
  } catch (e) {
    throw new ServerDownError(e instanceof Error ? e.message : String(e))
  }
  const text = await res.text()
  let body: unknown
  try {
    body = text === '' ? undefined : JSON.parse(text)
  } catch {
    if (!res.ok) throw new ApiError(res.status, `${res.status} ${res.statusText}`, undefined)
    throw new ApiError(res.status, `the server answered ${url} with something other than JSON`, undefined)
  }
  if (!res.ok) {
    const b = (body ?? {}) as { detail?: string; hint?: string }
    throw new ApiError(res.status, b.detail ?? `${res.status} ${res.statusText}`, b.hint)
  }
  return body as T
}

export function useProjects() {
  return useQuery({
    queryKey: ['projects'],
    queryFn: async () => {
      const body = await getJson<{ projects?: ProjectJson[] }>('/api/v1/projects')
      const listed = (body.projects ?? []).map((p) => p.spec).filter((s): s is NonNullable<typeof s> => !!s)
      if (listed.length > 0) return listed
      // A registry written by an older Feast has no Project objects: fall back to the server's
      // project when it holds anything at all.
      const fallback = await getJson<{ projects?: { id: string }[] }>('/projects-list.json')
      const found: { name: string; description?: string }[] = []
      for (const { id } of fallback.projects ?? []) {
        if (id === 'all') continue
        const [views, entities] = await Promise.all([
          getJson<{ featureViews?: unknown[] }>(`/api/v1/feature_views?project=${encodeURIComponent(id)}`),
          getJson<{ entities?: unknown[] }>(`/api/v1/entities?project=${encodeURIComponent(id)}`),
        ])
        if ((views.featureViews ?? []).length + (entities.entities ?? []).length > 0) found.push({ name: id })
      }
      return found
    },
  })
}

/** Everything the pages show of one project, fetched at once: the registry is small enough. */
export interface RegistryData {
  readonly project: string
  readonly featureViews: FeatureViewJson[]
  readonly onDemandViews: FeatureViewJson[]
  readonly entities: EntityJson[]
  readonly dataSources: DataSourceJson[]
  readonly featureServices: FeatureServiceJson[]
  readonly savedDatasets: SavedDatasetJson[]
  readonly relations: Relation[]
  readonly loadedAt: number
}

const q = (project: string, extra = '') => `?project=${encodeURIComponent(project)}${extra}`

/** A list that a server may not have (an older one without the route): empty on 404. */
async function optionalList<T>(url: string, key: string): Promise<T[]> {
  try {
    return ((await getJson<Record<string, T[]>>(url))[key] ?? []) as T[]
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return []
    throw e
  }
}

export async function loadRegistry(project: string): Promise<RegistryData> {
  const [views, odfvs, entities, sources, services, datasets] = await Promise.all([
    getJson<{ featureViews?: FeatureViewJson[]; relationships?: Record<string, Relation[]> }>(
      `/api/v1/feature_views${q(project, '&include_relationships=true')}`,
    ),
    optionalList<FeatureViewJson>(`/api/v1/on_demand_feature_views${q(project)}`, 'onDemandFeatureViews'),
    getJson<{ entities?: EntityJson[] }>(`/api/v1/entities${q(project)}`),
    getJson<{ dataSources?: DataSourceJson[] }>(`/api/v1/data_sources${q(project)}`),
    getJson<{ featureServices?: FeatureServiceJson[]; relationships?: Record<string, Relation[]> }>(
      `/api/v1/feature_services${q(project, '&include_relationships=true')}`,
    ),
    optionalList<SavedDatasetJson>(`/api/v1/saved_datasets${q(project)}`, 'savedDatasets'),
  ])
  const all = views.featureViews ?? []
  const onDemand = all.filter((v) => v.type === 'onDemandFeatureView')
  const known = new Set(onDemand.map((v) => v.spec.name))
  for (const v of odfvs) {
    if (!known.has(v.spec.name)) onDemand.push({ ...v, type: 'onDemandFeatureView' })
  }
  const seen = new Set<string>()
  const relations: Relation[] = []
  for (const list of [
    ...Object.values(views.relationships ?? {}),
    ...Object.values(services.relationships ?? {}),
  ]) {
    for (const r of list) {
      const key = `${r.source.type}:${r.source.name}>${r.target.type}:${r.target.name}`
      if (seen.has(key)) continue
      seen.add(key)
      relations.push(r)
    }
  }
  return {
    project,
    featureViews: all.filter((v) => v.type !== 'onDemandFeatureView' && v.type !== 'labelView'),
    onDemandViews: onDemand,
    entities: entities.entities ?? [],
    dataSources: sources.dataSources ?? [],
    featureServices: services.featureServices ?? [],
    savedDatasets: datasets,
    relations,
    loadedAt: Date.now(),
  }
}

export function useRegistry(project: string) {
  return useQuery({
    queryKey: ['registry', project],
    queryFn: () => loadRegistry(project),
    enabled: project !== '',
  })
}

export interface OnlineResponse {
  metadata: { feature_names: string[] }
  results: { values: unknown[]; statuses: string[]; event_timestamps: string[] }[]
}

/** `POST /get-online-features` on this server, in Feast's JSON. */
export function getOnlineFeatures(body: {
  features?: string[]
  feature_service?: string
  entities: Record<string, unknown[]>
}): Promise<OnlineResponse> {
  return getJson<OnlineResponse>('/get-online-features', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
}

/** One materialization run of Larder's run history (`GET /api/v1/materialization_runs`). */
export interface RunJson {
  id: string
  project: string
  featureView: string
  engine: string
  status: 'succeeded' | 'failed'
  error?: string
  windowStart: string
  windowEnd: string
  rowsRead: number
  rowsWritten: number
  rowsSkipped: number
  /** The newest event timestamp the run wrote; null when it wrote no row. */
  newestEventTimestamp: string | null
  runBy: string
  startedAt: string
  finishedAt: string
  durationMs: number
}

/** A view's freshness as the server computes it for the metric `larder_feature_freshness_seconds`. */
export interface FreshnessJson {
  ageSeconds: number
  /** The newest event materialized (basis `newestEvent`), else the end of the last window (`windowEnd`). */
  timestamp: string
  basis: 'newestEvent' | 'windowEnd'
}

export interface RunsJson {
  materializationRuns: RunJson[]
  freshness: Record<string, FreshnessJson>
}

/** The most runs a page asks for at once (the server's limit). */
export const RUNS_LISTED = 1000

/**
 * The project's materialization runs, newest first (one view's with `view`), with each view's
 * freshness; refreshed every 30 s. A server without a run history (no route: 404) gives none.
 */
export function useRuns(project: string, view?: string) {
  return useQuery({
    queryKey: ['runs', project, view ?? ''],
    queryFn: async (): Promise<RunsJson> => {
      const only = view === undefined ? '' : `&feature_view=${encodeURIComponent(view)}`
      try {
        return await getJson<RunsJson>(
          `/api/v1/materialization_runs${q(project, `${only}&limit=${RUNS_LISTED}`)}`,
        )
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return { materializationRuns: [], freshness: {} }
        throw e
      }
    },
    enabled: project !== '',
    refetchInterval: 30_000,
  })
}

/** A job of the engine's job store (`GET /jobs`), in the server's snake_case JSON. */
export interface JobJson {
  job_id: string
  project: string
  kind: string
  engine: string
  status: string
  /** The views the request named; null when it named none (every view): `progress.views` has them. */
  feature_views: string[] | null
  progress: { rows_done: number; rows_total: number | null; views?: Record<string, unknown> }
  created_by: string
  created_at: string
  started_at: string | null
  finished_at: string | null
  error: { code: string; message: string } | null
}

/** The most jobs the runs page lists. */
export const JOBS_LISTED = 200

/** The server's jobs of `project`, newest first; refreshed every 10 s while jobs may be at work. */
export function useJobs(project: string) {
  return useQuery({
    queryKey: ['jobs', project],
    queryFn: async () => {
      const body = await getJson<{ jobs?: JobJson[] }>(`/jobs?limit=${JOBS_LISTED}`)
      return (body.jobs ?? []).filter((j) => j.project === project)
    },
    enabled: project !== '',
    refetchInterval: 10_000,
  })
}
