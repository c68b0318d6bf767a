import type { Context, Env, Hono } from 'hono'
import { type Authorizer, LarderError, nowMicros, type Principal, permittedItems } from '../core/index.js'
import {
  DEFAULT_RUNS_LISTED,
  materializationRunJson,
  projectFreshness,
  type Registry,
  type RegistryState,
  viewFreshnessJson,
} from '../registry/index.js'
import { projectObject, restAuthObject } from './auth/access-objects.js'
import {
  type JsonObject,
  objectRelations,
  type PageQuery,
  paginate,
  REST_KINDS,
  type RestKind,
  type RestObject,
  restFeature,
  restObject,
  restObjects,
} from './registry-json.js'

/**
 * How the REST routes check access: the request's principal (authenticated by the server's
 * middleware) and the authorizer every route calls with DESCRIBE before it answers.
 */
export interface RegistryApiAccess {
  readonly authorizer: Authorizer
  principal(c: Context): Principal
}

/** Where the REST routes read the registry: the served state, without waiting for a reload. */
export type RegistryReader = () => Promise<RegistryState>

/** Where `/materialization_runs` reads the run history (never cached). */
export type RunHistory = Pick<Registry, 'listMaterializationRuns'>

/** The largest `limit` of `/materialization_runs`. */
export const MAX_RUNS_LISTED = 1000

/** Kinds with a `/all` list across projects (Feast has none for permissions and projects). */
const WITH_ALL: readonly RestKind[] = [
  'entities',
  'data_sources',
  'feature_views',
  'features',
  'feature_services',
  'saved_datasets',
  'label_views',
]

/**
 * Registers Feast's REST registry API (read side) on `app` under `prefix` (Feast's is `/api/v1`):
 * `GET /projects[/{name}]`, and for entities, data sources, feature views, features, feature
 * services, saved datasets, label views and permissions a per-project list (`?project=`), an `/all`
 * list across projects where Feast has one, and `/{name}` (`/features/{feature_view}/{name}`).
 * Query parameters: `project`, `include_relationships`, `page`, `limit` (1 to 100), `sort_by`,
 * `sort_order`, `tags=key:value` (repeatable), and for feature views `entity`, `feature`,
 * `data_source` and `feature_service`. Shapes: see `registry-json.ts`. Also
 * `GET /on_demand_feature_views[/{name}]`, the on-demand views alone in the shape of Feast's registry
 * `ListOnDemandFeatureViews` (see `registerOnDemandRoutes`).
 *
 * With `runs`, also Larder's `GET /materialization_runs?project=P[&feature_view=V][&limit=N]`: the
 * project's materialization runs, newest first (`limit` 1 to 1000, default 100), as
 * `{materializationRuns: [...], freshness: {view: {ageSeconds, timestamp, basis}}}`. The freshness is
 * the same number as the feature server's `larder_feature_freshness_seconds`: the age of the newest
 * event a successful run wrote, else of the end of the last materialized window.
 *
 * Every route checks DESCRIBE with `access`: on the object a `/{name}` route answers (a feature on
 * its feature view), on each object of a list (those refused are left out, as Feast filters lists),
 * on the project for `/materialization_runs`.
 */
export function registerRegistryApi<E extends Env>(
  app: Hono<E>,
  prefix: string,
  read: RegistryReader,
  access: RegistryApiAccess,
  runs?: RunHistory,
): void {
  const describe = (c: Context, kind: RestKind, o: RestObject) =>
    access.authorizer.authorize(access.principal(c), 'DESCRIBE', restAuthObject(kind, o))
  /** Feast's list filtering: only the objects the principal may describe. */
  const permitted = (c: Context, kind: RestKind, objects: readonly RestObject[]) =>
    permittedItems(access.authorizer, access.principal(c), 'DESCRIBE', objects, (o) =>
      restAuthObject(kind, o),
    )
  if (runs) registerRunsRoute(app, prefix, read, runs, access)
  app.get(`${prefix}/projects`, async (c) => {
    const state = await read()
    const { items, pagination } = paginate(
      json(await permitted(c, 'projects', restObjects(state, 'projects', undefined))),
      pageQuery(c),
      'project',
    )
    return c.json({ projects: items, pagination })
  })
  app.get(`${prefix}/projects/:name`, async (c) => {
    const state = await read()
    const project = restObject(state, 'projects', c.req.param('name'), c.req.param('name'))
    await describe(c, 'projects', project)
    return c.json(project.json)
  })
  for (const kind of Object.keys(REST_KINDS) as RestKind[]) {
    if (kind === 'projects') continue
    const { key, relationType } = REST_KINDS[kind]
    app.get(`${prefix}/${kind}`, async (c) => {
      const project = requiredProject(c)
      const state = await read()
      const objects = await permitted(c, kind, filtered(state, kind, project, c))
      const { items, pagination } = paginate(json(objects), pageQuery(c), 'project')
      const body: JsonObject = { [key]: items, pagination }
      if (flag(c, 'include_relationships')) {
        body.relationships = relationMap(state, project, relationType, objects)
      }
      return c.json(body)
    })
    if (WITH_ALL.includes(kind)) {
      app.get(`${prefix}/${kind}/all`, async (c) => {
        const state = await read()
        const objects = await permitted(c, kind, filtered(state, kind, undefined, c))
        const { items, pagination } = paginate(
          objects.map((o) => ({ ...o.json, project: o.project })),
          pageQuery(c),
          'all',
        )
        const body: JsonObject = { [key]: items, pagination }
        if (flag(c, 'include_relationships')) {
          const relationships: JsonObject = {}
          for (const o of objects)
            relationships[o.name] = objectRelations(state, o.project, relationType, o.name)
          body.relationships = relationships
        }
        return c.json(body)
      })
    }
    if (kind === 'features') {
      app.get(`${prefix}/features/:feature_view/:name`, async (c) => {
        const project = requiredProject(c)
        const state = await read()
        const feature = restFeature(state, project, c.req.param('feature_view'), c.req.param('name'))
        await describe(c, 'features', feature)
        const body: JsonObject = { ...feature.json }
        if (flag(c, 'include_relationships')) body.relationships = []
        return c.json(body)
      })
      continue
    }
    app.get(`${prefix}/${kind}/:name`, async (c) => {
      const project = requiredProject(c)
      const name = c.req.param('name')
      const state = await read()
      const found = restObject(state, kind, project, name)
      await describe(c, kind, found)
      const body: JsonObject = { ...found.json }
      // Feast adds the data sources that are targets of the entity's relationships; an entity is
      // only ever a source, so the list is always empty there too.
      if (kind === 'entities') body.dataSources = []
      if (flag(c, 'include_relationships'))
        body.relationships = objectRelations(state, project, relationType, name)
      return c.json(body)
    })
  }
  registerOnDemandRoutes(app, prefix, read, describe, permitted)
}

/** The type Feast's feature view lists give an on-demand feature view. */
const ON_DEMAND_TYPE = 'onDemandFeatureView'

/** An on-demand view's JSON as Feast's `ListOnDemandFeatureViews` gives it: without the list's `type`. */
function onDemandJson(o: RestObject): JsonObject {
  const { type: _type, ...rest } = o.json
  return rest
}

/**
 * `GET /on_demand_feature_views?project=` and `/on_demand_feature_views/{name}`: the on-demand views
 * alone, shaped as Feast's registry `ListOnDemandFeatureViews` (`{onDemandFeatureViews: [...],
 * pagination}`) and `GetOnDemandFeatureView` answer them, with the feature view list's query
 * parameters, filtering and DESCRIBE checks. Feast's REST server lists them under `/feature_views`
 * only; web UIs written against the gRPC shapes ask for this path.
 */
function registerOnDemandRoutes<E extends Env>(
  app: Hono<E>,
  prefix: string,
  read: RegistryReader,
  describe: (c: Context, kind: RestKind, o: RestObject) => void | Promise<void>,
  permitted: (c: Context, kind: RestKind, objects: readonly RestObject[]) => Promise<RestObject[]>,
): void {
  const onDemand = (objects: readonly RestObject[]) => objects.filter((o) => o.json.type === ON_DEMAND_TYPE)
  app.get(`${prefix}/on_demand_feature_views`, async (c) => {
    const project = requiredProject(c)
    const state = await read()
    const objects = await permitted(
      c,
      'feature_views',
      onDemand(filtered(state, 'feature_views', project, c)),
    )
    const { items, pagination } = paginate(objects.map(onDemandJson), pageQuery(c), 'project')
    const body: JsonObject = { onDemandFeatureViews: items, pagination }
    if (flag(c, 'include_relationships')) {
      body.relationships = relationMap(state, project, REST_KINDS.feature_views.relationType, objects)
    }
    return c.json(body)
  })
  app.get(`${prefix}/on_demand_feature_views/:name`, async (c) => {
    const project = requiredProject(c)
    const name = c.req.param('name')
    const state = await read()
    const views = onDemand(restObjects(state, 'feature_views', project))
    const found = views.find((o) => o.name === name)
    if (!found) {
      throw new LarderError(
        'NOT_FOUND',
        `on-demand feature view "${name}" not found in project "${project}"`,
        {
          hint: `known on-demand feature views: ${
            views
              .map((o) => o.name)
              .sort()
              .join(', ') || '(none)'
          }`,
          details: { kind: 'on-demand feature view', name, project },
        },
      )
    }
    await describe(c, 'feature_views', found)
    const body: JsonObject = onDemandJson(found)
    if (flag(c, 'include_relationships'))
      body.relationships = objectRelations(state, project, REST_KINDS.feature_views.relationType, name)
    return c.json(body)
  })
}

function registerRunsRoute<E extends Env>(
  app: Hono<E>,
  prefix: string,
  read: RegistryReader,
  runs: RunHistory,
  access: RegistryApiAccess,
): void {
  app.get(`${prefix}/materialization_runs`, async (c) => {
    const project = requiredProject(c)
    await access.authorizer.authorize(access.principal(c), 'DESCRIBE', projectObject(project))
    const view = c.req.query('feature_view') || undefined
    const limit = intQuery(c, 'limit', 1, MAX_RUNS_LISTED) ?? DEFAULT_RUNS_LISTED
    const signal = c.req.raw.signal
    const [state, listed] = await Promise.all([
      read(),
      runs.listMaterializationRuns(project, { view, limit, signal }),
    ])
    const catalog = state.catalog(project)
    const fresh = await projectFreshness(runs, catalog, nowMicros(), { signal })
    const freshness: JsonObject = {}
    for (const [name, f] of fresh) {
      if (view === undefined || name === view) freshness[name] = viewFreshnessJson(f)
    }
    return c.json({ materializationRuns: listed.map(materializationRunJson), freshness })
  })
}

function json(objects: readonly RestObject[]): JsonObject[] {
  return objects.map((o) => o.json)
}

function relationMap(
  state: RegistryState,
  project: string,
  relationType: string | undefined,
  objects: readonly RestObject[],
): JsonObject {
  const out: JsonObject = {}
  for (const o of objects) out[o.name] = objectRelations(state, project, relationType, o.name)
  return out
}

/** The kind's objects after the `tags` filter, and for feature views the entity, feature, source and service filters. */
function filtered(
  state: RegistryState,
  kind: RestKind,
  project: string | undefined,
  c: Context,
): readonly RestObject[] {
  let objects = restObjects(state, kind, project)
  const tags = c.req.queries('tags') ?? []
  for (const tag of tags) {
    const at = tag.indexOf(':')
    if (at < 0) continue
    const [k, v] = [tag.slice(0, at), tag.slice(at + 1)]
    objects = objects.filter((o) => specOf(o).tags?.[k] === v)
  }
  if (kind !== 'feature_views') {
    if (kind === 'features') {
      const view = c.req.query('feature_view')
      const name = c.req.query('name')
      if (view) objects = objects.filter((o) => o.json.featureView === view)
      if (name) objects = objects.filter((o) => o.name === name)
    }
    return objects
  }
  const entity = c.req.query('entity')
  const feature = c.req.query('feature')
  const source = c.req.query('data_source')
  const service = c.req.query('feature_service')
  if (entity) objects = objects.filter((o) => (specOf(o).entities ?? []).includes(entity))
  if (feature) objects = objects.filter((o) => (specOf(o).features ?? []).some((f) => f.name === feature))
  if (source) {
    objects = objects.filter((o) => {
      const spec = specOf(o)
      return spec.batchSource?.name === source || spec.streamSource?.name === source
    })
  }
  if (service && project !== undefined) {
    const found = restObjects(state, 'feature_services', project).find((s) => s.name === service)
    const views = new Set(
      (
        (specOf(found ?? { name: '', project: '', json: {} }).features ?? []) as {
          featureViewName?: string
        }[]
      ).map((p) => p.featureViewName),
    )
    objects = objects.filter((o) => views.has(o.name))
  }
  return objects
}

interface SpecJson {
  tags?: Record<string, string>
  entities?: string[]
  features?: { name?: string; featureViewName?: string }[]
  batchSource?: { name?: string }
  streamSource?: { name?: string }
}

function specOf(o: RestObject): SpecJson {
  return ((o.json.spec as SpecJson | undefined) ?? (o.json as SpecJson)) as SpecJson
}

function requiredProject(c: Context): string {
  const project = c.req.query('project')
  if (!project) {
    throw new LarderError('INVALID_ARGUMENT', 'the query parameter "project" is required', {
      hint: `e.g. ${c.req.path}?project=my_project; GET /api/v1/projects lists the projects`,
      details: { field: 'query.project' },
    })
  }
  return project
}

function flag(c: Context, name: string): boolean {
  const v = c.req.query(name)
  return v === 'true' || v === '1'
}

/** An integer query parameter from `min` to `max`; undefined when absent; INVALID_ARGUMENT otherwise. */
export function intQuery(c: Context, name: string, min: number, max: number): number | undefined {
  const text = c.req.query(name)
  if (text === undefined || text === '') return undefined
  const n = Number(text)
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `the query parameter "${name}" must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`,
      {
        hint: `e.g. ${name}=${min}`,
        details: { field: `query.${name}` },
      },
    )
  }
  return n
}

function pageQuery(c: Context): PageQuery {
  const int = (name: string, min: number, max: number) => intQuery(c, name, min, max)
  const order = c.req.query('sort_order') ?? 'asc'
  if (order !== 'asc' && order !== 'desc') {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `the query parameter "sort_order" must be asc or desc, got ${JSON.stringify(order)}`,
      {
        details: { field: 'query.sort_order' },
      },
    )
  }
  return {
    page: int('page', 1, Number.MAX_SAFE_INTEGER),
    limit: int('limit', 1, 100),
    sortBy: c.req.query('sort_by') || undefined,
    sortOrder: order,
  }
}

/** How long `/stream_status` waits for the stream processor's status routes. */
export const STREAM_STATUS_TIMEOUT_MS = 2000

/** What `/stream_status` read from the processor's `/metrics`, per feature view or source. */
interface StreamMetricsJson {
  eventsTotal: Record<string, number>
  batchSeconds: Record<string, { sum: number; count: number }>
  lag: Record<string, { pending?: number; unacknowledged?: number }>
  deadLettered: Record<string, number>
}

/**
 * The `larder_stream_*` samples of a stream processor's Prometheus text: events and batch times by
 * feature view, lag and dead letters by source. Other lines are ignored.
 */
export function parseStreamMetrics(text: string): StreamMetricsJson {
  const out: StreamMetricsJson = { eventsTotal: {}, batchSeconds: {}, lag: {}, deadLettered: {} }
  for (const line of text.split('\n')) {
    const m = /^(larder_stream_[a-z_]+)\{([^}]*)\} ([^ ]+)/.exec(line)
    if (!m) continue
    const [, name, labelText, valueText] = m
    const value = Number(valueText)
    if (!Number.isFinite(value)) continue
    const labels: Record<string, string> = {}
    for (const l of labelText!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
    const view = labels.feature_view ?? ''
    const source = labels.source ?? ''
    if (name === 'larder_stream_events_total') out.eventsTotal[view] = value
    else if (name === 'larder_stream_batch_duration_seconds_sum')
      out.batchSeconds[view] = { ...(out.batchSeconds[view] ?? { count: 0 }), sum: value }
    else if (name === 'larder_stream_batch_duration_seconds_count')
      out.batchSeconds[view] = { ...(out.batchSeconds[view] ?? { sum: 0 }), count: value }
    else if (
      name === 'larder_stream_lag_messages' &&
      (labels.state === 'pending' || labels.state === 'unacknowledged')
    )
      out.lag[source] = { ...out.lag[source], [labels.state]: value }
    else if (name === 'larder_stream_dead_lettered_total') out.deadLettered[source] = value
  }
  return out
}

/**
 * Larder's `GET /stream_status?project=`: what the stream processor at `url` (the status server of
 * `larder stream`) reports, read from its `/health` and `/metrics` at each request, for the web UI's
 * stream views page. Always 200 after DESCRIBE on the project: `{configured: false}` without a URL,
 * `{configured: true, url, reachable: false, error}` when the processor does not answer within
 * {@link STREAM_STATUS_TIMEOUT_MS}, else `{configured: true, url, reachable: true, scrapedAt, health,
 * metrics}` (see {@link parseStreamMetrics}); counters are totals since the processor started.
 */
export function registerStreamStatusRoute<E extends Env>(
  app: Hono<E>,
  prefix: string,
  access: RegistryApiAccess,
  url: string | undefined,
): void {
  app.get(`${prefix}/stream_status`, async (c) => {
    const project = requiredProject(c)
    await access.authorizer.authorize(access.principal(c), 'DESCRIBE', projectObject(project))
    if (url === undefined) return c.json({ configured: false })
    const base = url.replace(/\/+$/, '')
    const signal = AbortSignal.any([c.req.raw.signal, AbortSignal.timeout(STREAM_STATUS_TIMEOUT_MS)])
    try {
      const [health, metrics] = await Promise.all([
        // /health answers 503 with the same body when a source is not running
        fetch(`${base}/health`, { signal }).then((r) => r.json() as Promise<JsonObject>),
        fetch(`${base}/metrics`, { signal }).then(async (r) => {
          if (!r.ok) throw new Error(`GET /metrics answered ${r.status}`)
          return parseStreamMetrics(await r.text())
        }),
      ])
      return c.json({
        configured: true,
        url: base,
        reachable: true,
        scrapedAt: new Date().toISOString(),
        health,
        metrics,
      })
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e)
      return c.json({
        configured: true,
        url: base,
        reachable: false,
        error: `the stream processor did not answer: ${reason}`,
      })
    }
  })
}
