import { randomUUID } from 'node:crypto'
import { OpenAPIHono, type z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { routePath } from 'hono/route'
import type { Logger } from 'pino'
import {
  type Abortable,
  type AuthObject,
  type AuthzAction,
  authorizeAll,
  callerSafeError,
  formatMicros,
  isLarderError,
  LarderError,
  NO_AUTH,
  nowMicros,
  type Principal,
  type ServerAuth,
} from '../core/index.js'
import type { FeatureStore } from '../feature-store.js'
import { type IngestResult, push, writeToOnlineStore } from '../ingest/index.js'
import {
  type MaterializeOptions,
  type MaterializeProgress,
  type MaterializeResult,
  type MaterializeTarget,
  materialize,
  materializeIncremental,
  submitMaterialize,
  submitMaterializeIncremental,
} from '../materialize/index.js'
import { type OnlineReadRequest, type OnlineStore, viewRef } from '../online/online-store.js'
import { hasTiles, type TileStore } from '../online/tile-store.js'
import { type JobRecord, jobJson, jobStatusesOf, projectFreshness } from '../registry/index.js'
import {
  explain,
  explainJson,
  getOnlineFeatures,
  jsonResponseText,
  onlineReadObjects,
  type ServingTarget,
  STRICT_HEADER,
  viewObject,
} from '../serving/index.js'
import { jobAccess, materializeObjects, projectObject, pushObjects } from './auth/access-objects.js'
import { type AuthVariables, authenticate, principalOf } from './auth/http-auth.js'
import { BackgroundRegistry } from './background-registry.js'
import { errorResponse, rpcErrorResponse } from './errors.js'
import { checkMaterializeViews, type JobStart, ServerJobs } from './jobs.js'
import { decodeBody, parseJsonBody, requestBodyLimit, validateBody } from './json-body.js'
import { ServerMetrics } from './metrics.js'
import { intQuery, registerRegistryApi } from './registry-api.js'
import { projectsList } from './registry-json.js'
import { type RequestGuardOptions, RequestGuards } from './request-guards.js'
import * as schemas from './schemas.js'

export interface FeatureServerOptions {
  /** Largest request body accepted, in bytes; a larger one answers 413 (default 10 MiB). */
  readonly maxBodyBytes?: number
  /**
   * How long one online store read may take before the request answers 503 (default 1000 ms); the
   * read is then aborted in the store (see `target`).
   */
  readonly readTimeoutMs?: number
  /**
   * How long one online store write of `/push` or `/write-to-online-store` may take before the
   * request answers 503 (default 10,000 ms: a write of a full 10 MiB body takes seconds); the write is
   * then aborted in the store, rolled back where the store writes in a transaction. Materializations
   * are not bounded by it.
   */
  readonly writeTimeoutMs?: number
  /**
   * Seconds between background registry reloads (default: the repo's `cache_ttl_seconds`, or 1 when
   * that is 0, which means "always current" in the config).
   */
  readonly registryRefreshSeconds?: number
  /** Where structured logs go; one line per request with its request id. */
  readonly logger: Logger
  /**
   * Who may call (default: no authentication, everyone may do everything, Feast's `no_auth`). Every
   * route but `GET /health` (and `GET /metrics` unless `protectMetrics`) authenticates the request,
   * then authorizes its Feast action on the objects it touches; the UI's static files stay public.
   */
  readonly auth?: ServerAuth & { readonly protectMetrics?: boolean }
  /**
   * Who may reach the server from a browser (see `RequestGuards`): the `Host` names it answers to
   * besides IP addresses, `localhost` and the name `listen` binds, and the web origins that may call
   * it cross-origin (default none: CORS off).
   */
  readonly guards?: RequestGuardOptions
}

export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
const DEFAULT_READ_TIMEOUT_MS = 1000
const DEFAULT_WRITE_TIMEOUT_MS = 10_000
const REGISTRY_PATH = '/api/v1'
/** Where the Connect RPC handlers of `mount` live (`/feast.serving.ServingService/*`). */
const RPC_PREFIX = '/feast.'
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/
/** Most jobs `GET /jobs` lists at once. */
const MAX_JOBS_LISTED = 1000

/**
 * Path prefixes of the server's own routes: requests to them are authenticated (except `/health`,
 * and `/metrics` when open), and `serveStaticUi` never answers them with the UI's `index.html`.
 * A GET elsewhere is a file of the UI (or a 404) and needs no token, so the login page can load.
 */
export const API_PATH_PREFIXES: readonly string[] = [
  '/api/',
  '/jobs',
  '/feast.',
  '/get-online-features',
  '/explain',
  '/push',
  '/write-to-online-store',
  '/materialize',
  '/registry/',
  '/projects-list.json',
  '/openapi.json',
  '/metrics',
  '/health',
]

/** Whether `path` is one of the server's routes (see {@link API_PATH_PREFIXES}). */
export function isApiPath(path: string): boolean {
  return API_PATH_PREFIXES.some((p) => path.startsWith(p))
}

type Env = { Variables: { requestId: string; requestIdSent?: boolean } & AuthVariables }

/**
 * Larder's HTTP feature server: Feast's feature server routes (`/get-online-features`, `/push`,
 * `/write-to-online-store`, `/materialize`, `/materialize-incremental`, `/health`), Feast's REST registry API under `/api/v1`
 * with `/projects-list.json` for web UIs, plus the jobs of the engine's job store (`GET /jobs`,
 * `GET /jobs/{id}`, `DELETE /jobs/{id}`), `/metrics` (Prometheus), `/openapi.json` and
 * `POST /registry/refresh`. Handlers only translate HTTP to calls of `serving/`,
 * `ingest/` and `materialize/` and back; every error answers one JSON body (see `errors.ts`).
 *
 * Browser-borne requests are refused before anything else (`guards`, see `RequestGuards`): a `Host`
 * the server does not answer to (421), a state-changing request from another origin (403) or with a
 * body that is not JSON (415); CORS is off unless origins are allowed. With `auth`, requests are then
 * authenticated by middleware before any route runs (401 naming what is wrong), and each route asks
 * the authorizer for its Feast action on the objects it touches (403).
 *
 * Reads use the registry loaded last (reloaded in the background, never waiting for a reload), and
 * an online read that takes longer than `readTimeoutMs` answers 503, so a backend that hangs does not
 * hold requests. The store stays the caller's: `close()` stops the server's own work, not the store.
 *
 * @example
 * const server = new FeatureServer(store, { logger: pino() })
 * serve({ fetch: server.fetch, port: 6566 })
 */
export class FeatureServer {
  readonly app: OpenAPIHono<Env>
  readonly metrics: ServerMetrics
  readonly registry: BackgroundRegistry
  /** The Host, Origin, content-type and CORS checks of every request; `listen` adds the bound name. */
  readonly guards: RequestGuards
  /**
   * What serving and materialization run against: the store with the server's registry and an online
   * store whose reads are timed and bounded by `readTimeoutMs` (see {@link FeatureServerOptions}).
   */
  readonly target: ServingTarget & MaterializeTarget
  /** What `/push` and `/write-to-online-store` run against: `target` with writes bounded by `writeTimeoutMs` too. */
  readonly #ingest: ServingTarget & MaterializeTarget
  readonly #store: FeatureStore
  readonly #logger: Logger
  readonly #readTimeoutMs: number
  readonly #writeTimeoutMs: number
  readonly #jobs: ServerJobs
  readonly #timed = new WeakMap<OnlineStore, OnlineStore>()
  readonly #timedWrites = new WeakMap<OnlineStore, OnlineStore>()
  readonly #auth: ServerAuth
  readonly #protectMetrics: boolean
  #openapi: unknown

  constructor(store: FeatureStore, options: FeatureServerOptions) {
    this.#store = store
    this.#logger = options.logger
    this.#auth = options.auth ?? NO_AUTH
    this.#protectMetrics = options.auth?.protectMetrics ?? false
    this.#readTimeoutMs = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS
    this.#writeTimeoutMs = options.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS
    this.guards = new RequestGuards(options.guards)
    this.#jobs = new ServerJobs(store)
    const ttl = store.config.registry.cacheTtlSeconds
    this.registry = new BackgroundRegistry(store.registry, {
      intervalSeconds: options.registryRefreshSeconds ?? (ttl > 0 ? ttl : 1),
      onError: (err) => this.#logger.warn({ err }, 'registry reload failed; serving the previous registry'),
    })
    this.metrics = new ServerMetrics(() => this.#freshness())
    this.target = {
      config: store.config,
      registry: this.registry,
      online: async (opts?: Abortable) => this.#timedStore(await this.#openOnline(opts), false),
      offline: () => store.offline(),
      onDemandViews: () => store.onDemandViews(),
      engine: () => store.engine(),
    }
    this.#ingest = {
      ...this.target,
      online: async (opts?: Abortable) => this.#timedStore(await this.#openOnline(opts), true),
    }
    this.app = new OpenAPIHono<Env>()
    this.#middleware(options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES)
    this.#routes()
  }

  /** The fetch handler to serve (`@hono/node-server`'s `serve({ fetch })`, or `app.request` in tests). */
  readonly fetch = (request: Request, env?: unknown): Response | Promise<Response> =>
    this.app.fetch(request, env)

  /**
   * Serves `handler` for `POST path` behind the server's middleware (request id, logs, metrics,
   * authentication, body limit), with the request's principal; for RPC handlers such as the Connect
   * protocol's `/feast.serving.ServingService/*`, which authorize their own actions.
   */
  mount(path: string, handler: (request: Request, principal: Principal) => Promise<Response>): void {
    this.app.post(path, (c) => handler(c.req.raw, principalOf(c)))
  }

  /**
   * Adds a route to `/openapi.json`: its summary, the JSON `body` and `query` it takes and the JSON it
   * answers (200), with the server's error body as the default answer. Only documents: the route is
   * registered on `app` by the caller.
   */
  describeRoute(
    method: 'get' | 'post' | 'delete',
    path: string,
    summary: string,
    body?: z.ZodType,
    response?: z.ZodType,
    query?: z.ZodObject,
  ): void {
    this.app.openAPIRegistry.registerPath({
      method,
      path,
      summary,
      request: {
        ...(body ? { body: { content: { 'application/json': { schema: body } }, required: true } } : {}),
        ...(query ? { query } : {}),
      },
      responses: {
        200: response
          ? { description: 'OK', content: { 'application/json': { schema: response } } }
          : { description: 'OK' },
        default: { description: 'Error', content: { 'application/json': { schema: schemas.ErrorBody } } },
      },
    })
  }

  /**
   * The Prometheus text of `GET /metrics`, for a separate metrics port: authenticated and authorized
   * (DESCRIBE of the project) with `headers` when the server protects its metrics.
   */
  async metricsFor(headers: Headers): Promise<{ contentType: string; text: string }> {
    if (this.#protectMetrics) {
      const principal = await this.#auth.authenticator.authenticate(headers)
      await this.#auth.authorizer.authorize(principal, 'DESCRIBE', projectObject(this.#store.project))
    }
    return this.metrics.render()
  }

  /**
   * Aborts the materialization jobs the server runs in this process (each ends cancelled, "the server
   * is shutting down"; jobs on a queue go on, on their workers) and stops the registry reloads. The
   * store stays open.
   */
  async close(): Promise<void> {
    await this.#jobs.abortAll()
    await this.registry.close()
  }

  #middleware(maxBodyBytes: number): void {
    const app = this.app
    app.use('*', async (c, next) => {
      const started = performance.now()
      const given = c.req.header('x-request-id')
      const requestId = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID()
      c.set('requestId', requestId)
      await next()
      // a route that wrote the id into its answer's plain headers (see `#answerJson`) spares the
      // answer a Headers object
      if (c.get('requestIdSent') !== true) c.res.headers.set('x-request-id', requestId)
      const seconds = (performance.now() - started) / 1000
      const route = routePath(c, -1)
      this.metrics.request(route, c.req.method, c.res.status, seconds)
      // the line is built only when it is written
      if (!this.#logger.isLevelEnabled('info')) return
      const principal = c.get('principal')
      this.#logger.info(
        {
          reqId: requestId,
          method: c.req.method,
          path: c.req.path,
          route,
          status: c.res.status,
          ms: seconds * 1000,
          ...(principal && principal.kind !== 'anonymous' ? { principal: principal.name } : {}),
        },
        'request',
      )
    })
    // before authentication: a page of another site, or a rebound host name, never reaches a route
    app.use('*', this.guards.middleware({ isRpc: (path) => path.startsWith(RPC_PREFIX) }))
    app.use(
      '*',
      authenticate(this.#auth.authenticator, (c) => this.#isPublic(c.req.method, c.req.path)),
    )
    app.use('*', requestBodyLimit(maxBodyBytes))
    app.onError((err, c) => {
      const requestId = c.get('requestId')
      const { status, body, headers } = c.req.path.startsWith(RPC_PREFIX)
        ? rpcErrorResponse(err, requestId)
        : errorResponse(err, requestId)
      // the full error, whose text the answer may hide (`callerSafeError`), is logged for operators
      if (status >= 500) this.#logger.error({ reqId: requestId, err }, 'request failed')
      // a 413 closes the connection (`connection: close` in `headers`) only when the rest of the body
      // was left unread (see `requestBodyLimit`); closing with the client still sending would reset
      // the connection, and the client would often lose the answer
      return c.json(body, status, headers)
    })
    app.notFound((c) => {
      const { status, body } = errorResponse(
        new LarderError('NOT_FOUND', `no route ${c.req.method} ${c.req.path}`, {
          hint: 'GET /openapi.json lists the routes',
        }),
        c.get('requestId'),
      )
      return c.json(body, status)
    })
  }

  /** Requests that need no token: `/health`, open metrics, and GETs of the UI's files. */
  #isPublic(method: string, path: string): boolean {
    if (path === '/health') return true
    if (path === '/metrics') return !this.#protectMetrics
    return (method === 'GET' || method === 'HEAD') && !isApiPath(path)
  }

  /** Authorizes the request's principal to do `action` on each object; PERMISSION_DENIED otherwise. */
  #allow(c: Context<Env>, action: AuthzAction, objects: Iterable<AuthObject>): Promise<void> {
    return authorizeAll(this.#auth.authorizer, principalOf(c), action, objects)
  }

  /** The served project's objects (the registry loaded last), to name what a request touches. */
  async #catalog() {
    return (await this.registry.load()).catalog(this.#store.project)
  }

  #routes(): void {
    const app = this.app
    const project = () => [projectObject(this.#store.project)]
    const doc = this.describeRoute.bind(this)

    doc(
      'post',
      '/get-online-features',
      'Latest feature values of entity rows (Feast columnar response)',
      schemas.GetOnlineFeaturesRequest,
      schemas.GetOnlineFeaturesResponse,
    )
    app.post('/get-online-features', async (c) => {
      const body = await readBody(c, schemas.GetOnlineFeaturesRequest, schemas.isPlainOnlineRequest)
      // the hot route: without permissions it names no objects
      if (!this.#auth.authorizer.allowsEverything) {
        await this.#allow(
          c,
          'READ_ONLINE',
          onlineReadObjects(await this.#catalog(), {
            features: body.features,
            featureService: body.feature_service,
          }),
        )
      }
      const entities = body.request_context ? { ...body.entities, ...body.request_context } : body.entities
      const response = await getOnlineFeatures(
        this.target,
        {
          features: body.features,
          featureService: body.feature_service,
          entities,
          fullFeatureNames: body.full_feature_names,
        },
        { signal: c.req.raw.signal, strict: body.strict ?? c.req.header(STRICT_HEADER) === 'true' },
      )
      this.metrics.statuses(response, Object.keys(entities).length)
      return answerJson(c, jsonResponseText(response))
    })

    doc(
      'post',
      '/explain',
      "Why each feature of one entity row reads as it does: status, value, cause and fix (Larder's addition)",
      schemas.ExplainRequest,
      schemas.ExplainResponse,
    )
    app.post('/explain', async (c) => {
      const body = await readBody(c, schemas.ExplainRequest)
      const objects = onlineReadObjects(await this.#catalog(), {
        features: body.features,
        featureService: body.feature_service,
      })
      // the answer shows the online values and the key's rows in the offline source
      await this.#allow(c, 'READ_ONLINE', objects)
      await this.#allow(c, 'READ_OFFLINE', objects)
      const entities = body.request_context ? { ...body.entities, ...body.request_context } : body.entities
      const report = await explain(
        this.target,
        { features: body.features, featureService: body.feature_service, entities, at: body.at },
        { signal: c.req.raw.signal },
      )
      return c.json(explainJson(report) as object)
    })

    doc(
      'post',
      '/push',
      'Write rows to every feature view of a push source: online, offline or both',
      schemas.PushRequest,
      schemas.IngestResponse,
    )
    app.post('/push', async (c) => {
      const body = await readBody(c, schemas.PushRequest)
      const to = body.to ?? 'online'
      const fed = pushObjects(await this.#catalog(), body.push_source_name)
      if (to !== 'offline') await this.#allow(c, 'WRITE_ONLINE', fed)
      if (to !== 'online') await this.#allow(c, 'WRITE_OFFLINE', fed)
      const result = await push(
        this.#ingest,
        { pushSourceName: body.push_source_name, df: body.df, to },
        {
          signal: c.req.raw.signal,
        },
      )
      this.metrics.pushRows(body.push_source_name, to, result.views[0]?.rows ?? 0)
      return c.json(ingestJson(result))
    })

    doc(
      'post',
      '/write-to-online-store',
      "Write rows to one feature view's online storage",
      schemas.WriteToOnlineStoreRequest,
      schemas.IngestResponse,
    )
    app.post('/write-to-online-store', async (c) => {
      const body = await readBody(c, schemas.WriteToOnlineStoreRequest)
      const view = viewObject(await this.#catalog(), body.feature_view_name)
      await this.#allow(c, 'WRITE_ONLINE', view ? [view] : [])
      const result = await writeToOnlineStore(
        this.#ingest,
        { featureViewName: body.feature_view_name, df: body.df },
        { signal: c.req.raw.signal },
      )
      return c.json(ingestJson(result))
    })

    doc(
      'post',
      '/materialize',
      'Load [start_ts, end_ts] from the offline store into the online store; ?async=true answers 202 with a job id',
      schemas.MaterializeRequest,
      schemas.MaterializeResponse,
      schemas.AsyncQuery,
    )
    app.post('/materialize', async (c) => {
      const body = await readBody(c, schemas.MaterializeRequest)
      if (body.disable_event_timestamp) {
        throw new LarderError('UNSUPPORTED', 'disable_event_timestamp is not supported', {
          hint: 'leave it out: rows are loaded by their event timestamps',
          details: { field: 'body.disable_event_timestamp' },
        })
      }
      const views = checkMaterializeViews(await this.#catalog(), body.feature_views ?? undefined)
      await this.#allow(c, 'WRITE_ONLINE', materializeObjects(await this.#catalog(), views))
      const request = { start: body.start_ts, end: body.end_ts, views }
      return this.#materialization(
        c,
        views,
        (options) => materialize(this.target, request, options),
        (options) => submitMaterialize(this.target, request, options),
      )
    })

    doc(
      'post',
      '/materialize-incremental',
      'Load each view from where its last materialization ended up to end_ts; ?async=true answers 202',
      schemas.MaterializeIncrementalRequest,
      schemas.MaterializeResponse,
      schemas.AsyncQuery,
    )
    app.post('/materialize-incremental', async (c) => {
      const body = await readBody(c, schemas.MaterializeIncrementalRequest)
      const views = checkMaterializeViews(await this.#catalog(), body.feature_views ?? undefined)
      await this.#allow(c, 'WRITE_ONLINE', materializeObjects(await this.#catalog(), views))
      const request = { end: body.end_ts, views }
      return this.#materialization(
        c,
        views,
        (options) => materializeIncremental(this.target, request, options),
        (options) => submitMaterializeIncremental(this.target, request, options),
      )
    })

    doc(
      'get',
      '/jobs',
      "The project's jobs (materializations, historical retrievals, stream processors), newest first, from the engine's job store",
      undefined,
      schemas.JobList,
      schemas.JobsQuery,
    )
    app.get('/jobs', async (c) => {
      await this.#allow(c, 'DESCRIBE', project())
      const status = jobStatusesOf(c.req.queries('status') ?? [])
      const jobs = await this.#store.listJobs({
        status: status.length > 0 ? status : undefined,
        limit: intQuery(c, 'limit', 1, MAX_JOBS_LISTED),
        signal: c.req.raw.signal,
      })
      const now = nowMicros()
      return c.json({ jobs: jobs.map((job) => jobJson(job, now)) })
    })

    doc('get', '/jobs/{id}', 'One job: its state, progress, error and result', undefined, schemas.Job)
    app.get('/jobs/:id', async (c) => {
      await this.#allow(c, 'DESCRIBE', project())
      return c.json(
        jobJson(await this.#store.getJob(c.req.param('id'), { signal: c.req.raw.signal }), nowMicros()),
      )
    })

    doc(
      'delete',
      '/jobs/{id}',
      'Cancel a job: it stops at its next batch boundary and records no interval for a view it did not finish; a lost job is marked cancelled at once. Answers the job as stored after the request',
      undefined,
      schemas.Job,
    )
    app.delete('/jobs/:id', async (c) => {
      const id = c.req.param('id')
      const signal = c.req.raw.signal
      const { action, objects } = jobAccess(await this.#store.getJob(id, { signal }), await this.#catalog())
      await this.#allow(c, action, objects)
      return c.json(jobJson(await this.#store.cancelJob(id, { signal }), nowMicros()))
    })

    doc(
      'get',
      '/health',
      '200 when the registry and the online store answer, else 503 naming which failed',
      undefined,
      schemas.Health,
    )
    app.get('/health', async (c) => {
      const log = (what: string) => (err: unknown) =>
        this.#logger.warn({ reqId: c.get('requestId'), err }, `health check: ${what} failed`)
      const checks = {
        registry: {
          ...(await check('the registry', () => this.#store.registry.load(), log('the registry'))),
          age_seconds: this.registry.ageSeconds,
        },
        online_store: await check(
          this.#onlineName(),
          () => this.#probeOnlineStore(),
          log('the online store'),
        ),
      }
      const ok = checks.registry.ok && checks.online_store.ok
      return c.json({ status: ok ? 'ok' : 'unavailable', checks }, ok ? 200 : 503)
    })

    doc('get', '/metrics', 'Prometheus metrics')
    app.get('/metrics', async (c) => {
      if (this.#protectMetrics) await this.#allow(c, 'DESCRIBE', project())
      const { contentType, text } = await this.metrics.render()
      return c.body(text, 200, { 'content-type': contentType })
    })

    app.get('/openapi.json', async (c) => {
      await this.#allow(c, 'DESCRIBE', project())
      this.#openapi ??= app.getOpenAPI31Document({
        openapi: '3.1.0',
        info: { title: 'Larder feature server', version: '1' },
      })
      return c.json(this.#openapi as object)
    })

    for (const path of ['/registry/refresh', `${REGISTRY_PATH}/registry/refresh`]) {
      doc('post', path, 'Reload the registry now (reads keep using the previous one until it is loaded)')
      app.post(path, async (c) => {
        await this.#allow(c, 'DESCRIBE', project())
        const state = await this.registry.refresh()
        return c.json({ status: 'refreshed', version: state.version })
      })
    }

    doc('get', '/projects-list.json', "Feast UI's project list")
    app.get('/projects-list.json', async (c) => {
      await this.#allow(c, 'DESCRIBE', project())
      return c.json(projectsList(await this.registry.load(), this.#store.project, REGISTRY_PATH))
    })
    registerRegistryApi(
      app,
      REGISTRY_PATH,
      () => this.registry.load(),
      { authorizer: this.#auth.authorizer, principal: principalOf },
      this.registry,
    )
    doc(
      'get',
      `${REGISTRY_PATH}/materialization_runs`,
      "Larder's materialization run history of a project, newest first, with each view's freshness",
      undefined,
      schemas.MaterializationRunsResponse,
      schemas.MaterializationRunsQuery,
    )
    for (const kind of [
      'projects',
      'entities',
      'data_sources',
      'feature_views',
      'features',
      'feature_services',
      'saved_datasets',
      'label_views',
      'permissions',
    ]) {
      doc(
        'get',
        `${REGISTRY_PATH}/${kind}`,
        `Feast REST registry API: ${kind.replaceAll('_', ' ')} (also /all and /{name})`,
      )
    }
  }

  /**
   * Runs a materialization as a job of the engine: synchronously with `run` (200 with the outcome), or
   * with ?async=true through `submit` (202 with the job id). 409 when a job at work shares a view,
   * unless ?force=true (see {@link ServerJobs}).
   */
  async #materialization(
    c: Context<Env>,
    views: readonly string[] | undefined,
    run: (options: MaterializeOptions) => Promise<MaterializeResult>,
    submit: (options: MaterializeOptions) => Promise<JobRecord>,
  ): Promise<Response> {
    const force = c.req.query('force') === 'true'
    const meter = this.#meter()
    const options = (start: JobStart): MaterializeOptions => ({
      signal: start.signal,
      onJob: start.onJob,
      onProgress: meter.progress,
      onWarning: (message) => this.#logger.warn(message),
    })
    if (c.req.query('async') === 'true') {
      const job = await this.#jobs.start(
        views,
        {
          force,
          detached: true,
          onFinished: (finished) => {
            if (finished.status === 'succeeded') return
            meter.failed()
            this.#logger.warn(
              { job: finished.id, error: finished.error },
              'materialization job did not succeed',
            )
          },
        },
        (start) => submit(options(start)),
      )
      return c.json({ status: 'accepted', feature_views: job.featureViews, job_id: job.id }, 202)
    }
    try {
      const result = await this.#jobs.start(views, { force, detached: false }, (start) => run(options(start)))
      return c.json(materializeJson(result))
    } catch (e) {
      meter.failed()
      throw e
    }
  }

  /**
   * The metrics of one materialization: rows and duration of each view once it is done (from its
   * progress events), and with `failed()` the view it was loading when it stopped.
   */
  #meter(): { progress: (p: MaterializeProgress) => void; failed: () => void } {
    let current: MaterializeProgress | undefined
    return {
      progress: (p) => {
        current = p
        if (p.phase === 'done') this.metrics.materialization(p.view, 'succeeded', p.rows, p.elapsedSeconds)
      },
      failed: () => {
        if (current && current.phase !== 'done') {
          this.metrics.materialization(current.view, 'failed', current.rows, current.elapsedSeconds)
        }
      },
    }
  }

  /** Reads one key of the first online view (or only opens the store when there is none); a missing table still counts as an answer. */
  async #probeOnlineStore(): Promise<void> {
    const online = await this.target.online()
    const catalog = (await this.registry.load()).catalog(this.#store.project)
    const view = [...catalog.featureViews.values()].find((v) => v.online && v.features.length > 0)
    if (!view) return
    const ref = viewRef(this.#store.project, view)
    try {
      await online.readMany([{ view: ref, keys: [new Uint8Array(0)], features: [ref.features[0]!.name] }])
    } catch (e) {
      if (!(e instanceof LarderError && e.code === 'NOT_FOUND')) throw e
    }
  }

  /** The online store, its errors naming it for the caller (see {@link namedBackend}). */
  async #openOnline(opts?: Abortable): Promise<OnlineStore> {
    try {
      return await this.#store.online(opts)
    } catch (e) {
      throw isLarderError(e) ? namedBackend(e, this.#onlineName()) : e
    }
  }

  /** `the online store (<type>)`, as errors shown to callers name it. */
  #onlineName(type = this.#store.config.onlineStore?.type ?? 'none'): string {
    return `the online store (${type})`
  }

  /**
   * The online store as the server uses it: each read timed (by store type) and bounded by the read
   * timeout, and with `boundWrites` each write bounded by the write timeout. When a bound is reached
   * the call answers BACKEND_UNAVAILABLE (503) at once and its work is aborted: the store's signal
   * fires, so it cancels the statement in flight (PostgreSQL), sends no further batch (SQLite SELECTs,
   * Redis pipelines) and rolls a write back where it writes in a transaction. A call whose caller went
   * away (the request's signal) ends ABORTED; BACKEND_UNAVAILABLE errors name the online store.
   */
  #timedStore(store: OnlineStore, boundWrites: boolean): OnlineStore {
    const cache = boundWrites ? this.#timedWrites : this.#timed
    let timed = cache.get(store)
    if (timed) return timed
    const metrics = this.metrics
    const name = this.#onlineName(store.type)
    const bounded = <T>(
      limitMs: number,
      opts: Abortable | undefined,
      run: (opts: Abortable) => Promise<T>,
    ): Promise<T> => {
      // one signal for the store, fired by the deadline or by the caller's (a listener costs less per
      // read than `AbortSignal.any`)
      const abort = new AbortController()
      const caller = opts?.signal
      const forward = () => abort.abort(caller?.reason)
      if (caller?.aborted) forward()
      else caller?.addEventListener('abort', forward, { once: true })
      let late = false
      return new Promise<T>((resolve, reject) => {
        const settled = () => {
          clearTimeout(timer)
          caller?.removeEventListener('abort', forward)
        }
        const timer = setTimeout(() => {
          const error = new LarderError(
            'BACKEND_UNAVAILABLE',
            `${name} did not answer within ${limitMs} ms`,
            {
              hint: 'check that the online store is up and reachable; the request can be retried',
              details: { backend: name, reason: `no answer within ${limitMs} ms` },
            },
          )
          late = true
          caller?.removeEventListener('abort', forward)
          abort.abort(error)
          reject(error)
        }, limitMs)
        run({ ...opts, signal: abort.signal }).then(
          (value) => {
            settled()
            resolve(value)
          },
          (err: unknown) => {
            settled()
            if (caller?.aborted && !late) {
              reject(new LarderError('ABORTED', 'the request was cancelled by its client', { cause: err }))
            } else reject(isLarderError(err) ? namedBackend(err, name) : err)
          },
        )
      })
    }
    const reads = this.#readTimeoutMs
    const writes = this.#writeTimeoutMs
    timed = {
      type: store.type,
      capabilities: store.capabilities,
      update: (plan, opts) => store.update(plan, opts),
      write: boundWrites
        ? (view, rows, opts) => bounded(writes, opts, (o) => store.write(view, rows, o))
        : (view, rows, opts) => store.write(view, rows, opts),
      read: (view, keys, features, opts) => bounded(reads, opts, (o) => store.read(view, keys, features, o)),
      async readMany(requests: readonly OnlineReadRequest[], opts?: Abortable) {
        const started = performance.now()
        const result = await bounded(reads, opts, (o) => store.readMany(requests, o))
        metrics.onlineRead(store.type, (performance.now() - started) / 1000)
        return result
      },
      teardown: (plan, opts) => store.teardown(plan, opts),
      hasRows: store.hasRows && ((view, opts) => bounded(reads, opts, (o) => store.hasRows!(view, o))),
      close: () => store.close(),
      // tiles (stream feature views' aggregations) are read with the same bound as values
      ...(hasTiles(store) && {
        applyTiles: (view, writes, now, opts) => store.applyTiles(view, writes, now, opts),
        releaseMarks: (view, writes, opts) => store.releaseMarks(view, writes, opts),
        readTiles: (view, keys, fromTile, opts) =>
          bounded(reads, opts, (o) => store.readTiles(view, keys, fromTile, o)),
        dropTiles: (view, opts) => store.dropTiles(view, opts),
      }),
    } satisfies OnlineStore & Partial<TileStore>
    cache.set(store, timed)
    return timed
  }

  /**
   * Each view's freshness in seconds: the age of the newest event materialized (the run history),
   * else of the end of its last materialized window (the served registry). A run history that cannot
   * be read is logged, and the windows answer alone.
   */
  async #freshness(): Promise<Map<string, number>> {
    const state = this.registry.current
    if (!state) return new Map()
    const fresh = await projectFreshness(this.registry, state.catalog(this.#store.project), nowMicros(), {
      onError: (err) =>
        this.#logger.warn({ err }, 'materialization run history unreadable; freshness from windows'),
    })
    return new Map([...fresh].map(([view, f]) => [view, f.ageSeconds]))
  }
}

/**
 * The request's JSON body checked against `schema`. A body that `plain` accepts (a hand-written check
 * of the common shape, which accepts only what the schema accepts) skips the schema's generic walk;
 * any other body is validated by the schema, whose messages name what is wrong.
 */
async function readBody<S extends z.ZodType>(
  c: Context<Env>,
  schema: S,
  plain?: (value: unknown) => value is z.output<S>,
): Promise<z.output<S>> {
  const value = parseJsonBody(decodeBody(await c.req.arrayBuffer()))
  return plain?.(value) ? value : validateBody(schema, value)
}

/**
 * A 200 answer of JSON `text`, with the request id among its plain headers: the answer then needs no
 * Headers object, which the request middleware would otherwise build to add the id.
 */
function answerJson(c: Context<Env>, text: string): Response {
  c.set('requestIdSent', true)
  return new Response(text, {
    status: 200,
    headers: { 'content-type': 'application/json', 'x-request-id': c.get('requestId') },
  })
}

/**
 * Runs a health probe of `backend` (`the registry`, `the online store (redis)`): ok, or the error as
 * an unauthenticated caller may see it (no host, port, user or path: see `callerSafeError`), the full
 * error going to `log`.
 */
async function check(
  backend: string,
  probe: () => Promise<unknown>,
  log: (err: unknown) => void,
): Promise<{ ok: boolean; error?: string }> {
  try {
    await probe()
    return { ok: true }
  } catch (e) {
    log(e)
    if (isLarderError(e) && e.code === 'BACKEND_UNAVAILABLE') {
      return { ok: false, error: callerSafeError(namedBackend(e, backend)).message }
    }
    const code = isLarderError(e) ? ` (${e.code})` : ''
    return { ok: false, error: `${backend} failed${code}; the server log has the details` }
  }
}

/**
 * The error with `details.backend` set to `backend` when it is BACKEND_UNAVAILABLE without one, so
 * that the text a caller sees (`callerSafeError`) says which backend is unavailable.
 */
function namedBackend(e: LarderError, backend: string): LarderError {
  if (e.code !== 'BACKEND_UNAVAILABLE' || typeof e.details.backend === 'string') return e
  return new LarderError(e.code, e.message, { cause: e, hint: e.hint, details: { ...e.details, backend } })
}

function materializeJson(result: MaterializeResult) {
  return {
    feature_views: result.views.map((v) => ({
      name: v.view,
      start: formatMicros(v.start),
      end: formatMicros(v.end),
      rows: v.rows,
      written: v.written,
      skipped: v.skipped,
      seconds: v.seconds,
    })),
  }
}

function ingestJson(result: IngestResult) {
  return {
    feature_views: result.views.map((v) => ({
      name: v.view,
      rows: v.rows,
      online_written: v.onlineWritten,
      online_skipped: v.onlineSkipped,
      offline_rows: v.offlineRows,
    })),
  }
}
