// End to end: `larder serve` as a child process on a `larder init` repo, every route over real HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AppliedRepo, appliedRepo, type ServeProcess, startServe } from './__fixtures__/serve-process.js'

const now = new Date()
/** The sample data's last hour, as the server formats timestamps (no fractional digits when whole). */
const lastHour = new Date(Math.floor(now.getTime() / 3_600_000) * 3_600_000)
  .toISOString()
  .replace('.000Z', 'Z')
const EPOCH = '1970-01-01T00:00:00Z'

let repo: AppliedRepo
let server: ServeProcess

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: res.status, headers: res.headers, text: await res.text() }
}

// biome-ignore lint/suspicious/noExplicitAny: the tests read response bodies of many shapes
type AnyJson = any

async function get(path: string): Promise<{ status: number; headers: Headers; body: AnyJson }> {
  const res = await fetch(`${server.url}${path}`)
  return { status: res.status, headers: res.headers, body: await res.json() }
}

beforeAll(async () => {
  repo = await appliedRepo({ now })
  server = await startServe(repo.dir, ['--metrics-port', '0', '--max-body-bytes', '200000'])
  const res = await post('/materialize-incremental', { end_ts: now.toISOString() })
  expect(res.status, res.text).toBe(200)
})

afterAll(async () => {
  await server?.stop('SIGKILL')
  repo?.remove()
})

describe('larder serve (child process, real HTTP)', () => {
  it('answers /health with each check', async () => {
    const res = await get('/health')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      status: 'ok',
      checks: { registry: { ok: true, age_seconds: expect.any(Number) }, online_store: { ok: true } },
    })
    expect(res.body.checks.registry.age_seconds).toBeGreaterThanOrEqual(0)
  })

  it("answers /get-online-features with Feast's exact JSON", async () => {
    const res = await post('/get-online-features', {
      features: ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:avg_daily_trips'],
      entities: { driver_id: [1001, 4242] },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    const expected = `{"metadata":{"feature_names":["driver_id","conv_rate","avg_daily_trips"]},"results":[{"values":[1001,4242],"statuses":["PRESENT","PRESENT"],"event_timestamps":["${EPOCH}","${EPOCH}"]},{"values":[0.0758,null],"statuses":["PRESENT","NOT_FOUND"],"event_timestamps":["${lastHour}","${EPOCH}"]},{"values":[269,null],"statuses":["PRESENT","NOT_FOUND"],"event_timestamps":["${lastHour}","${EPOCH}"]}]}`
    expect(res.text).toBe(expected)
  })

  it('ignores extra context columns as Feast does, and answers 422 naming one when strict', async () => {
    const features = ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:avg_daily_trips']
    const plain = await post('/get-online-features', { features, entities: { driver_id: [1001, 4242] } })
    const entities = { driver_id: [1001, 4242], user_agent: ['ios', 'web'], basket_total: [12.5, 3] }
    const extra = await post('/get-online-features', { features, entities })
    expect(extra.status).toBe(200)
    expect(extra.text).toBe(plain.text)
    const strict = await post('/get-online-features', { features, entities, strict: true })
    expect(strict.status).toBe(422)
    expect(JSON.parse(strict.text).detail).toBe(
      'entity column "user_agent" is not a join key of the requested feature views',
    )
    const header = await post('/get-online-features', { features, entities }, { 'larder-strict': 'true' })
    expect(header.status).toBe(422)
  })

  it('reads a feature service with full feature names, projections included', async () => {
    const res = await post('/get-online-features', {
      feature_service: 'driver_activity_v2',
      full_feature_names: true,
      entities: { driver_id: [1002] },
    })
    expect(res.status).toBe(200)
    expect(JSON.parse(res.text)).toEqual({
      metadata: {
        feature_names: [
          'driver_id',
          'driver_hourly_stats__conv_rate',
          'driver_hourly_stats__acc_rate',
          'driver_hourly_stats__avg_daily_trips',
          'fresh__conv_rate',
        ],
      },
      results: [
        { values: [1002], statuses: ['PRESENT'], event_timestamps: [EPOCH] },
        { values: [0.2552], statuses: ['PRESENT'], event_timestamps: [lastHour] },
        { values: [0.7897], statuses: ['PRESENT'], event_timestamps: [lastHour] },
        { values: [163], statuses: ['PRESENT'], event_timestamps: [lastHour] },
        { values: [0.2552], statuses: ['PRESENT'], event_timestamps: [lastHour] },
      ],
    })
  })

  it('computes on-demand features from request_context, and names a missing request field', async () => {
    const res = await post('/get-online-features', {
      feature_service: 'driver_activity_v3',
      entities: { driver_id: [1002, 4242] },
      request_context: { val_to_add: [1, 2], val_to_add_2: [10, 20] },
    })
    expect(res.status).toBe(200)
    const body = JSON.parse(res.text)
    expect(body.metadata.feature_names).toEqual([
      'driver_id',
      'conv_rate',
      'conv_rate_plus_val1',
      'conv_rate_plus_val2',
    ])
    const conv = body.results[1].values[0] as number
    expect(body.results[2]).toEqual({
      values: [Math.fround(conv) + 1, null],
      statuses: ['PRESENT', 'NULL_VALUE'],
      event_timestamps: [EPOCH, EPOCH],
    })
    expect(body.results[3].values[0]).toBe(Math.fround(conv) + 10)

    const missing = await post('/get-online-features', {
      feature_service: 'driver_activity_v3',
      entities: { driver_id: [1002], val_to_add: [1] },
    })
    expect(missing.status).toBe(422)
    expect(JSON.parse(missing.text).detail).toBe(
      'the request lacks the field "val_to_add_2" that on-demand feature view "transformed_conv_rate" needs',
    )
  })

  it('answers 404 naming the known views, 422 with the field path, 413 above the body limit', async () => {
    const unknown = await post('/get-online-features', { features: ['nope:x'], entities: { driver_id: [1] } })
    expect(unknown.status).toBe(404)
    const body = JSON.parse(unknown.text)
    expect(body).toMatchObject({ status_code: 404, error_type: 'NOT_FOUND' })
    expect(`${body.detail} ${body.hint}`).toContain('driver_hourly_stats')

    const wrongType = await post('/get-online-features', { features: 'x', entities: { driver_id: [1] } })
    expect(wrongType.status).toBe(422)
    expect(JSON.parse(wrongType.text).details.field).toBe('body.features')

    const badKey = await post('/get-online-features', {
      features: ['driver_hourly_stats:conv_rate'],
      entities: { driver_id: ['1001'] },
    })
    expect(badKey.status).toBe(422)
    expect(JSON.parse(badKey.text).detail).toContain('driver_id')

    const notJson = await post('/get-online-features', '{"features": [')
    expect(notJson.status).toBe(422)
    expect(JSON.parse(notJson.text).error_type).toBe('INVALID_ARGUMENT')

    const huge = await post('/get-online-features', {
      features: ['a'],
      entities: { id: 'x'.repeat(300_000) },
    })
    expect(huge.status).toBe(413)
    expect(JSON.parse(huge.text)).toMatchObject({ status_code: 413, error_type: 'PAYLOAD_TOO_LARGE' })

    const route = await get('/no/such/route')
    expect(route.status).toBe(404)
    for (const r of [unknown, wrongType, badKey, notJson, huge])
      expect(r.text).not.toMatch(/\bat \S+:\d+:\d+/)
  })

  it('echoes x-request-id, and makes one when none is given', async () => {
    const given = await post(
      '/get-online-features',
      { features: [], entities: {} },
      { 'x-request-id': 'req-42' },
    )
    expect(given.headers.get('x-request-id')).toBe('req-42')
    const made = await get('/health')
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    expect(server.logs().some((l) => l.reqId === 'req-42' && l.route === '/get-online-features')).toBe(true)
  })

  it('pushes to the views of a push source and writes to one view online', async () => {
    const at = new Date(now.getTime() - 60_000).toISOString()
    const df = {
      driver_id: [5001],
      event_timestamp: [at],
      created: [at],
      conv_rate: [0.5],
      acc_rate: [0.25],
      avg_daily_trips: [9],
    }
    const pushed = await post('/push', { push_source_name: 'driver_stats_push_source', df, to: 'online' })
    expect(pushed.status, pushed.text).toBe(200)
    expect(JSON.parse(pushed.text)).toEqual({
      feature_views: [
        { name: 'driver_hourly_stats_fresh', rows: 1, online_written: 1, online_skipped: 0, offline_rows: 0 },
      ],
    })
    const written = await post('/write-to-online-store', { feature_view_name: 'driver_hourly_stats', df })
    expect(written.status, written.text).toBe(200)
    const read = await post('/get-online-features', {
      features: ['driver_hourly_stats_fresh:avg_daily_trips', 'driver_hourly_stats:acc_rate'],
      entities: { driver_id: [5001] },
    })
    expect(
      JSON.parse(read.text)
        .results.slice(1)
        .map((r: { values: unknown[] }) => r.values[0]),
    ).toEqual([9, 0.25])

    const unknown = await post('/push', { push_source_name: 'nope', df })
    expect(unknown.status).toBe(404)
    expect(JSON.parse(unknown.text).hint).toContain('driver_stats_push_source')
    const missing = await post('/push', {
      push_source_name: 'driver_stats_push_source',
      df: { driver_id: [1] },
    })
    expect(missing.status).toBe(422)
    expect(JSON.parse(missing.text).details.column).toBe('conv_rate')
    const badMode = await post('/push', { push_source_name: 'driver_stats_push_source', df, to: 'both' })
    expect(badMode.status).toBe(422)
    expect(JSON.parse(badMode.text).details.field).toBe('body.to')
  })

  it('materializes in the background: 202 with a job id, then the job succeeds', async () => {
    const res = await post('/materialize?async=true', {
      start_ts: new Date(now.getTime() - 2 * 3_600_000).toISOString(),
      end_ts: now.toISOString(),
      feature_views: ['driver_hourly_stats'],
    })
    expect(res.status).toBe(202)
    const accepted = JSON.parse(res.text)
    expect(accepted).toMatchObject({ status: 'accepted', feature_views: ['driver_hourly_stats'] })
    let job: Record<string, unknown> = {}
    for (let i = 0; i < 200; i++) {
      job = (await get(`/jobs/${accepted.job_id}`)).body
      if (job.status !== 'queued' && job.status !== 'running') break
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(job).toMatchObject({ job_id: accepted.job_id, kind: 'materialize', status: 'succeeded' })
    expect((job.result as { views: { view: string; rows: number }[] }).views).toEqual([
      expect.objectContaining({ view: 'driver_hourly_stats', rows: 5 }),
    ])
    const missing = await get('/jobs/nope')
    expect(missing.status).toBe(404)
    expect(missing.body).toMatchObject({
      error_type: 'NOT_FOUND',
      detail: `job "nope" not found in project "${repo.project}"`,
    })
  })

  it('serves Prometheus metrics on the main port and on --metrics-port', async () => {
    const main = await (await fetch(`${server.url}/metrics`)).text()
    expect(main).toContain(
      'larder_http_requests_total{route="/get-online-features",method="POST",status="200"}',
    )
    expect(main).toMatch(/larder_online_read_duration_seconds_count\{store="sqlite"\} [1-9]/)
    expect(main).toMatch(/larder_online_feature_statuses_total\{status="NOT_FOUND"\} [1-9]/)
    expect(main).toMatch(/larder_materialized_rows_total\{feature_view="driver_hourly_stats"\} [1-9]/)
    expect(main).toContain('larder_push_rows_total{push_source="driver_stats_push_source",to="online"} 1')
    expect(main).toMatch(/larder_feature_freshness_seconds\{feature_view="driver_hourly_stats"\} \d/)
    const separate = await (await fetch(server.metricsUrl!)).text()
    expect(separate).toContain('larder_http_requests_total')
  })

  it('describes its routes in /openapi.json', async () => {
    const doc = (await get('/openapi.json')).body
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/get-online-features',
        '/materialize',
        '/health',
        '/jobs',
        '/jobs/{id}',
        '/api/v1/feature_views',
      ]),
    )
    expect(doc.components.schemas.GetOnlineFeaturesRequest.properties.entities).toBeDefined()
    expect(Object.keys(doc.paths['/jobs/{id}'])).toEqual(['get', 'delete'])
    expect(doc.paths['/jobs'].get.parameters.map((p: { name: string }) => p.name)).toEqual([
      'status',
      'limit',
    ])
    expect(Object.keys(doc.components.schemas.Job.properties)).toContain('job_id')
    const example = doc.components.schemas.PushRequest.example
    const pushed = await post('/push', { ...example, to: 'online' })
    expect(pushed.status, pushed.text).toBe(200)
    expect(JSON.parse(pushed.text).feature_views[0]).toMatchObject({
      name: 'driver_hourly_stats_fresh',
      rows: 1,
    })
  })

  it("serves the registry in Feast's REST shapes", async () => {
    const projects = (await get('/api/v1/projects')).body
    expect(projects.projects.map((p: { spec: { name: string } }) => p.spec.name)).toEqual([repo.project])
    expect(projects.pagination).toEqual({ totalCount: 1, totalPages: 1 })

    const entities = (await get(`/api/v1/entities?project=${repo.project}`)).body
    expect(entities.entities[0].spec).toMatchObject({
      name: 'driver',
      joinKey: 'driver_id',
      valueType: 'INT64',
    })

    const views = (await get(`/api/v1/feature_views?project=${repo.project}&include_relationships=true`)).body
    expect(
      views.featureViews.map((v: { type: string; spec: { name: string } }) => [v.type, v.spec.name]),
    ).toEqual([
      ['featureView', 'driver_hourly_stats'],
      ['featureView', 'driver_hourly_stats_fresh'],
      ['onDemandFeatureView', 'transformed_conv_rate'],
    ])
    // Feast's relationship shapes name every kind of view "featureView"
    expect(views.relationships.transformed_conv_rate).toEqual(
      expect.arrayContaining([
        {
          source: { type: 'dataSource', name: 'vals_to_add' },
          target: { type: 'featureView', name: 'transformed_conv_rate' },
        },
        {
          source: { type: 'featureView', name: 'transformed_conv_rate' },
          target: { type: 'featureService', name: 'driver_activity_v3' },
        },
      ]),
    )
    expect(views.relationships.driver_hourly_stats).toEqual(
      expect.arrayContaining([
        {
          source: { type: 'entity', name: 'driver' },
          target: { type: 'featureView', name: 'driver_hourly_stats' },
        },
        {
          source: { type: 'featureView', name: 'driver_hourly_stats' },
          target: { type: 'featureService', name: 'driver_activity_v1' },
        },
      ]),
    )

    const one = (await get(`/api/v1/feature_views/driver_hourly_stats?project=${repo.project}`)).body
    expect(one).toMatchObject({ type: 'featureView', spec: { name: 'driver_hourly_stats', ttl: '86400s' } })
    expect(one.meta.materializationIntervals.length).toBeGreaterThan(0)

    const all = (await get('/api/v1/feature_views/all?limit=1')).body
    expect(all.featureViews).toHaveLength(1)
    expect(all.featureViews[0].project).toBe(repo.project)
    expect(all.pagination).toEqual({ page: 1, limit: 1, totalCount: 3, totalPages: 3, hasNext: true })

    const features = (await get(`/api/v1/features?project=${repo.project}&feature_view=driver_hourly_stats`))
      .body
    expect(features.features.map((f: { name: string; type: string }) => `${f.name}:${f.type}`)).toEqual([
      'conv_rate:Float32',
      'acc_rate:Float32',
      'avg_daily_trips:Int64',
    ])
    const feature = (await get(`/api/v1/features/driver_hourly_stats/conv_rate?project=${repo.project}`)).body
    expect(feature).toMatchObject({ name: 'conv_rate', featureView: 'driver_hourly_stats', type: 'Float32' })

    const services = (await get('/api/v1/feature_services/all')).body
    expect(services.featureServices.map((s: { spec: { name: string } }) => s.spec.name).sort()).toEqual([
      'driver_activity_v1',
      'driver_activity_v2',
      'driver_activity_v3',
    ])
    const sources = (await get(`/api/v1/data_sources?project=${repo.project}`)).body
    expect(sources.dataSources.map((s: { name: string }) => s.name).sort()).toEqual([
      'driver_hourly_stats_source',
      'driver_stats_push_source',
      'vals_to_add',
    ])
    // Feast's REST API lists on-demand views among the feature views, with their own type
    const odfv = (await get(`/api/v1/feature_views/transformed_conv_rate?project=${repo.project}`)).body
    expect(odfv.type).toBe('onDemandFeatureView')
    expect(odfv.spec).toMatchObject({
      name: 'transformed_conv_rate',
      mode: 'typescript-row',
      features: [
        { name: 'conv_rate_plus_val1', valueType: 'DOUBLE' },
        { name: 'conv_rate_plus_val2', valueType: 'DOUBLE' },
      ],
      featureTransformation: {
        userDefinedFunction: { name: 'transformed_conv_rate', mode: 'typescript-row' },
      },
    })
    for (const [kind, key] of [
      ['saved_datasets', 'savedDatasets'],
      ['label_views', 'featureViews'],
      ['permissions', 'permissions'],
    ] as const) {
      const empty = await get(`/api/v1/${kind}?project=${repo.project}`)
      expect(empty.status).toBe(200)
      expect(empty.body).toEqual({ [key]: [], pagination: {} })
    }

    const missing = await get(`/api/v1/entities/nobody?project=${repo.project}`)
    expect(missing.status).toBe(404)
    expect(missing.body.hint).toContain('driver')
    const noProject = await get('/api/v1/entities')
    expect(noProject.status).toBe(422)
    expect(noProject.body.details.field).toBe('query.project')

    const list = (await get('/projects-list.json')).body
    expect(list).toEqual({
      projects: [
        { name: 'Demo', description: expect.any(String), id: repo.project, registryPath: '/api/v1' },
      ],
    })
    const refreshed = await post('/registry/refresh', '')
    expect(refreshed.status).toBe(200)
  })

  it('finishes an in-flight request on SIGTERM, then exits 0', async () => {
    const inFlight = post('/materialize', {
      start_ts: new Date(now.getTime() - 3_600_000).toISOString(),
      end_ts: now.toISOString(),
    })
    await new Promise((r) => setTimeout(r, 20))
    const code = server.stop('SIGTERM')
    const res = await inFlight
    expect(res.status).toBe(200)
    expect(await code).toBe(0)
    expect(server.logs().map((l) => l.msg)).toEqual(
      expect.arrayContaining(['shutting down: finishing in-flight requests', 'stopped']),
    )
  })
})
