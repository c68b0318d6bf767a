// Authentication and the authorization hook on the HTTP feature server, with real JWTs from a local
// provider: every route but /health (and /metrics unless protected) asks for a token, each route
// authorizes its Feast action on the objects it touches, the UI's files stay public, and the metrics
// port follows the main port. In-process through `app.request`, and over a socket with `listen`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type AuthObject,
  type Authorizer,
  type AuthzAction,
  LarderError,
  type Principal,
} from '../../core/index.js'
import { at, sampleData } from '../../materialize/__fixtures__/driver-data.js'
import { createTestRepo, type TestRepo } from '../../materialize/__fixtures__/test-repo.js'
import { FeatureServer, isApiPath } from '../feature-server.js'
import { listen } from '../listen.js'
import { serveStaticUi } from '../static-ui.js'
import { oidcAuth, TestIdp } from './__fixtures__/test-idp.js'

const CI_TOKEN = 'ci-token-for-the-feature-server'
const logger = pino({ level: 'silent' })

let idp: TestIdp
let repo: TestRepo
let ada: string

beforeAll(async () => {
  idp = await TestIdp.start()
  repo = await createTestRepo({ onlineStore: 'type: sqlite\npath: data/online.db', data: sampleData() })
  ada = await idp.sign(
    { preferred_username: 'ada', resource_access: { larder: { roles: ['reader'] } }, groups: ['ml'] },
    { audience: 'larder' },
  )
})
afterAll(async () => {
  await repo?.close()
  await idp?.close()
})

interface Answer {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

async function call(
  server: FeatureServer,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  const res = await server.app.request(path, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  })
  const text = await res.text()
  let body: Record<string, unknown>
  try {
    body = JSON.parse(text)
  } catch {
    body = { text }
  }
  return { status: res.status, headers: res.headers, body }
}

const online = { features: ['driver_stats:conv_rate'], entities: { driver_id: [1001] } }

describe('authentication on the feature server', () => {
  let server: FeatureServer
  beforeAll(() => {
    server = new FeatureServer(repo.store, {
      logger,
      registryRefreshSeconds: 0,
      auth: oidcAuth(idp, CI_TOKEN),
    })
  })
  afterAll(async () => {
    await server?.close()
  })

  const routes = (): [string, string, unknown?][] => [
    ['POST', '/get-online-features', online],
    ['POST', '/push', { push_source_name: 'driver_live_push', df: {} }],
    ['POST', '/write-to-online-store', { feature_view_name: 'driver_live', df: {} }],
    ['POST', '/materialize', { start_ts: at(0), end_ts: at(1) }],
    ['POST', '/materialize-incremental', { end_ts: at(1) }],
    ['GET', '/jobs'],
    ['GET', '/jobs/some-id'],
    ['DELETE', '/jobs/some-id'],
    ['GET', '/openapi.json'],
    ['POST', '/registry/refresh'],
    ['POST', '/api/v1/registry/refresh'],
    ['GET', '/projects-list.json'],
    ['GET', '/api/v1/projects'],
    ['GET', `/api/v1/feature_views?project=${repo.project}`],
    ['GET', '/api/v1/feature_views/all'],
    ['GET', `/api/v1/materialization_runs?project=${repo.project}`],
    ['POST', '/no/such/route'],
  ]

  it('answers 401 on every route without a token, naming what is missing, with WWW-Authenticate', async () => {
    for (const [method, path, body] of routes()) {
      const res = await call(server, method, path, { body })
      expect(res.status, `${method} ${path}`).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="larder"')
      expect(res.body).toMatchObject({
        status_code: 401,
        error_type: 'UNAUTHENTICATED',
        detail: 'no bearer token: the request has no Authorization header',
        details: { reason: 'no_token' },
      })
    }
  })

  it('leaves /health open, and /metrics unless protect_metrics', async () => {
    expect((await call(server, 'GET', '/health')).status).toBe(200)
    expect((await call(server, 'GET', '/metrics')).status).toBe(200)
    const guarded = new FeatureServer(repo.store, {
      logger,
      registryRefreshSeconds: 0,
      auth: oidcAuth(idp, CI_TOKEN, ['protect_metrics: true']),
    })
    try {
      expect((await call(guarded, 'GET', '/metrics')).status).toBe(401)
      const res = await guarded.app.request('/metrics', { headers: { authorization: `Bearer ${CI_TOKEN}` } })
      expect(res.status).toBe(200)
      expect(await res.text()).toContain('larder_')
      expect((await call(guarded, 'GET', '/health')).status).toBe(200)
    } finally {
      await guarded.close()
    }
  })

  it('authenticates every route it has: each GET route is an API path (never a public UI file)', () => {
    const open = new Set(['/health', '/metrics'])
    const gets = server.app.routes.filter((r) => r.method === 'GET' && !open.has(r.path))
    expect(gets.length).toBeGreaterThan(10)
    for (const r of gets) expect(isApiPath(r.path), r.path).toBe(true)
  })

  it('serves a request with a valid JWT or a static token', async () => {
    for (const token of [ada, CI_TOKEN]) {
      const read = await call(server, 'POST', '/get-online-features', { token, body: online })
      expect(read.status, JSON.stringify(read.body)).toBe(200)
      expect(read.body.metadata).toEqual({ feature_names: ['driver_id', 'conv_rate'] })
      const projects = await call(server, 'GET', '/api/v1/projects', { token })
      expect(projects.status).toBe(200)
    }
  })

  it('answers 401 invalid_token for a refused token, naming why, never echoing it', async () => {
    const expired = await idp.sign({ preferred_username: 'ada' }, { audience: 'larder', expiresIn: -3600 })
    const cases: [string, string][] = [
      [expired, 'expired'],
      [await idp.sign({ preferred_username: 'ada' }, { audience: 'someone-else' }), 'wrong_audience'],
      ['not-a-known-token', 'unknown_token'],
    ]
    for (const [token, reason] of cases) {
      const res = await call(server, 'POST', '/get-online-features', { token, body: online })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="larder", error="invalid_token"')
      expect(res.body).toMatchObject({ error_type: 'UNAUTHENTICATED', details: { reason } })
      expect(JSON.stringify(res.body)).not.toContain(token)
    }
  })

  it('answers a Connect RPC path in the Connect error format, with the LarderError code in a header', async () => {
    const rpc = new FeatureServer(repo.store, {
      logger,
      registryRefreshSeconds: 0,
      auth: oidcAuth(idp, CI_TOKEN),
    })
    rpc.mount('/feast.serving.ServingService/GetOnlineFeatures', async () => new Response('{}'))
    try {
      const res = await call(rpc, 'POST', '/feast.serving.ServingService/GetOnlineFeatures', { body: {} })
      expect(res.status).toBe(401)
      expect(res.body).toEqual({
        code: 'unauthenticated',
        message: 'no bearer token: the request has no Authorization header',
      })
      expect(res.headers.get('larder-error-code')).toBe('UNAUTHENTICATED')
    } finally {
      await rpc.close()
    }
  })
})

describe('the authorization hook', () => {
  const calls: { principal: Principal; action: AuthzAction; object: AuthObject }[] = []
  const denied = new Set<string>()
  /** Records every check; refuses `ACTION TYPE:name` pairs listed in `denied`. */
  const recording: Authorizer = {
    authorize(principal, action, object) {
      calls.push({ principal, action, object })
      if (denied.has(`${action} ${object.type}:${object.name}`)) {
        throw new LarderError('PERMISSION_DENIED', `${principal.name} may not ${action} ${object.name}`)
      }
    },
  }
  let server: FeatureServer
  beforeAll(() => {
    server = new FeatureServer(repo.store, {
      logger,
      registryRefreshSeconds: 0,
      auth: { ...oidcAuth(idp, CI_TOKEN), authorizer: recording },
    })
  })
  afterAll(async () => {
    await server?.close()
  })
  const checks = async (run: () => Promise<Answer>) => {
    calls.length = 0
    const answer = await run()
    return { answer, checked: calls.map((c) => `${c.action} ${c.object.type}:${c.object.name}`) }
  }

  it('gets the principal of the token and READ_ONLINE on the views a read reads', async () => {
    const { answer, checked } = await checks(() =>
      call(server, 'POST', '/get-online-features', { token: ada, body: online }),
    )
    expect(answer.status).toBe(200)
    expect(checked).toEqual(['READ_ONLINE FEATURE_VIEW:driver_stats'])
    expect(calls[0]!.principal).toEqual({
      name: 'ada',
      roles: ['reader'],
      groups: ['ml'],
      namespaces: [],
      kind: 'oidc',
    })
    expect(calls[0]!.object.project).toBe(repo.project)
    const service = await checks(() =>
      call(server, 'POST', '/get-online-features', {
        token: ada,
        body: {
          feature_service: 'driver_activity',
          entities: { driver_id: [1001], other_driver_id: [1002] },
        },
      }),
    )
    expect(service.checked).toEqual(['READ_ONLINE FEATURE_SERVICE:driver_activity'])
  })

  it('checks WRITE_ONLINE for push and write-to-online-store, and WRITE_OFFLINE for an offline push', async () => {
    // driver_live has no batch source: once authorized, the routes themselves refuse these rows (422)
    const df = { driver_id: [7], speed: [1.5], event_timestamp: [at(1)] }
    const route = (answer: Answer) => {
      expect(answer.status).toBe(422)
      expect(answer.body.detail).toContain('driver_live')
    }
    const push = await checks(() =>
      call(server, 'POST', '/push', { token: CI_TOKEN, body: { push_source_name: 'driver_live_push', df } }),
    )
    route(push.answer)
    expect(push.checked).toEqual(['WRITE_ONLINE FEATURE_VIEW:driver_live'])
    expect(calls[0]!.principal).toMatchObject({ name: 'ci', roles: ['writer'], kind: 'token' })
    const write = await checks(() =>
      call(server, 'POST', '/write-to-online-store', {
        token: CI_TOKEN,
        body: { feature_view_name: 'driver_live', df },
      }),
    )
    route(write.answer)
    expect(write.checked).toEqual(['WRITE_ONLINE FEATURE_VIEW:driver_live'])
    const both = await checks(() =>
      call(server, 'POST', '/push', {
        token: CI_TOKEN,
        body: { push_source_name: 'driver_live_push', df, to: 'online_and_offline' },
      }),
    )
    expect(both.checked).toEqual([
      'WRITE_ONLINE FEATURE_VIEW:driver_live',
      'WRITE_OFFLINE FEATURE_VIEW:driver_live',
    ])
  })

  it('answers 403 with the authorizer’s refusal, before the route does anything', async () => {
    denied.add('WRITE_ONLINE FEATURE_VIEW:driver_stats')
    try {
      const { answer, checked } = await checks(() =>
        call(server, 'POST', '/materialize', {
          token: ada,
          body: { start_ts: at(0), end_ts: at(6), feature_views: ['driver_stats'] },
        }),
      )
      expect(checked).toEqual(['WRITE_ONLINE FEATURE_VIEW:driver_stats'])
      expect(answer.status).toBe(403)
      expect(answer.body).toMatchObject({
        status_code: 403,
        error_type: 'PERMISSION_DENIED',
        detail: 'ada may not WRITE_ONLINE driver_stats',
      })
      const runs = await call(server, 'GET', `/api/v1/materialization_runs?project=${repo.project}`, {
        token: ada,
      })
      expect(runs.body.materializationRuns).toEqual([])
    } finally {
      denied.clear()
    }
  })

  it('checks DESCRIBE on registry objects, and leaves out of a list what may not be described', async () => {
    const one = await checks(() =>
      call(server, 'GET', `/api/v1/feature_views/driver_stats?project=${repo.project}`, { token: ada }),
    )
    expect(one.answer.status).toBe(200)
    expect(one.checked).toEqual(['DESCRIBE FEATURE_VIEW:driver_stats'])
    denied.add('DESCRIBE FEATURE_VIEW:rider_stats')
    try {
      const list = await call(server, 'GET', `/api/v1/feature_views?project=${repo.project}`, { token: ada })
      const names = (list.body.featureViews as { spec: { name: string } }[]).map((v) => v.spec.name)
      expect(names).toContain('driver_stats')
      expect(names).not.toContain('rider_stats')
      const refused = await call(server, 'GET', `/api/v1/feature_views/rider_stats?project=${repo.project}`, {
        token: ada,
      })
      expect(refused.status).toBe(403)
    } finally {
      denied.clear()
    }
  })

  it('checks DESCRIBE of the project for jobs, refresh, the project list and the OpenAPI document', async () => {
    for (const [method, path] of [
      ['GET', '/jobs'],
      ['POST', '/registry/refresh'],
      ['GET', '/projects-list.json'],
      ['GET', '/openapi.json'],
    ] as const) {
      const { answer, checked } = await checks(() => call(server, method, path, { token: ada }))
      expect(answer.status, path).toBe(200)
      expect(checked, path).toEqual([`DESCRIBE PROJECT:${repo.project}`])
    }
  })
})

describe('the web UI with authentication', () => {
  let dir: string
  let server: FeatureServer
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'larder-ui-auth-'))
    mkdirSync(join(dir, 'assets'))
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Larder</title>')
    writeFileSync(join(dir, 'assets', 'app-1234.js'), 'console.log(1)')
    server = new FeatureServer(repo.store, {
      logger,
      registryRefreshSeconds: 0,
      auth: oidcAuth(idp, CI_TOKEN),
    })
    await serveStaticUi(server, dir)
  })
  afterAll(async () => {
    await server?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves its files and deep links without a token, so the token page can load', async () => {
    for (const path of ['/', '/assets/app-1234.js', `/p/${repo.project}/feature-views`]) {
      const res = await server.app.request(path)
      expect(res.status, path).toBe(200)
    }
  })

  it("answers the UI's API calls only with a token", async () => {
    const projects = `/api/v1/projects`
    expect((await call(server, 'GET', projects)).status).toBe(401)
    expect((await call(server, 'GET', projects, { token: ada })).status).toBe(200)
    expect((await call(server, 'POST', '/get-online-features', { body: online })).status).toBe(401)
    const tried = await call(server, 'POST', '/get-online-features', { body: online, token: ada })
    expect(tried.status).toBe(200)
    // an API path without a route is still refused without a token, not answered with the page
    expect((await call(server, 'GET', '/api/v1/nothing-here')).status).toBe(401)
  })
})

describe('over a socket', () => {
  it('protects the metrics port as the main port when protect_metrics is set', async () => {
    const server = new FeatureServer(repo.store, {
      logger,
      registryRefreshSeconds: 0,
      auth: oidcAuth(idp, CI_TOKEN, ['protect_metrics: true']),
    })
    const http = await listen(server, { port: 0, metricsPort: 0 })
    try {
      const refused = await fetch(http.metricsUrl!)
      expect(refused.status).toBe(401)
      expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="larder"')
      expect(await refused.json()).toMatchObject({ status_code: 401, error_type: 'UNAUTHENTICATED' })
      const served = await fetch(http.metricsUrl!, { headers: { authorization: `Bearer ${ada}` } })
      expect(served.status).toBe(200)
      const main = await fetch(`${http.url}/get-online-features`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ada}` },
        body: JSON.stringify(online),
      })
      expect(main.status).toBe(200)
    } finally {
      await http.close()
    }
  })
})
