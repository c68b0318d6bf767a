// The browser guards of Larder's HTTP servers over real sockets, requests crafted with node:http so the
// Host, Origin and Content-Type headers are exactly what a browser (or an attacker's page) would
// send: content types (415), the Host allowlist (421), Origin on state-changing routes (403), CORS off
// by default and configurable, TLS on `larder ui`, and the registry server's REST and gRPC ports.
// `larder serve`, `larder ui` and `larder serve-registry` run as child processes (the built CLI).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startUi, type UiProcess } from '../cli/__fixtures__/ui-browser.js'
import { FeatureStore } from '../feature-store.js'
import {
  type RegistryServerProcess,
  startServeRegistry,
} from '../registry-server/__fixtures__/serve-registry-process.js'
import { type AppliedRepo, appliedRepo, type ServeProcess, startServe } from './__fixtures__/serve-process.js'
import { FeatureServer } from './feature-server.js'
import { type Listening, listen } from './listen.js'
import { RequestGuards } from './request-guards.js'

interface Reply {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
  // biome-ignore lint/suspicious/noExplicitAny: error and feature bodies of many shapes
  readonly body: any
}

/** One request with exactly these headers (node:http sends Host as given), over HTTP or HTTPS. */
function send(
  url: string,
  options: {
    method?: string
    headers?: Record<string, string>
    body?: string | Uint8Array
    ca?: Buffer
  } = {},
): Promise<Reply> {
  const target = new URL(url)
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        ca: options.ca,
        agent: false,
        // TLS names the certificate's host, whatever Host header the request carries
        ...(options.ca ? { servername: 'localhost' } : {}),
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (d: Buffer) => chunks.push(d))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let body: unknown
          try {
            body = JSON.parse(text)
          } catch {
            body = undefined
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body })
        })
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

const now = new Date()
const recent = new Date(now.getTime() - 60_000).toISOString()
const pushOf = (driver: number) =>
  JSON.stringify({
    push_source_name: 'driver_stats_push_source',
    df: {
      driver_id: [driver],
      event_timestamp: [recent],
      created: [recent],
      conv_rate: [0.5],
      acc_rate: [0.25],
      avg_daily_trips: [driver],
    },
  })
const JSON_TYPE = { 'content-type': 'application/json' }

let repo: AppliedRepo
let serve: ServeProcess
let certDir: string

beforeAll(async () => {
  repo = await appliedRepo({ now })
  serve = await startServe(repo.dir, ['--metrics-port', '0'])
  certDir = mkdtempSync(join(tmpdir(), 'larder-guards-tls-'))
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(certDir, 'key.pem'),
      '-out',
      join(certDir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  )
}, 60_000)

afterAll(async () => {
  await serve?.stop('SIGKILL')
  repo?.remove()
  if (certDir) rmSync(certDir, { recursive: true, force: true })
})

/** The log line in which a `larder serve` process said it listens. */
function listening(server: ServeProcess): Record<string, unknown> {
  return server.logs().find((l) => l.msg === 'feature server listening')!
}

/** The value of `avg_daily_trips` the served store holds for a driver, or its status when it has none. */
async function storedTrips(url: string, driver: number): Promise<unknown> {
  const read = await send(`${url}/get-online-features`, {
    method: 'POST',
    headers: JSON_TYPE,
    body: JSON.stringify({
      features: ['driver_hourly_stats_fresh:avg_daily_trips'],
      entities: { driver_id: [driver] },
    }),
  })
  expect(read.status, read.text).toBe(200)
  const column = read.body.results[1]
  return column.statuses[0] === 'PRESENT' ? column.values[0] : column.statuses[0]
}

describe('RequestGuards.hostAllowed', () => {
  it('accepts IP addresses and localhost on any port, and refuses other names by default', () => {
    const guards = new RequestGuards()
    for (const host of [
      undefined,
      'localhost',
      'localhost:1',
      '127.0.0.1:6566',
      '198.51.100.7',
      '[::1]:80',
    ]) {
      expect(guards.hostAllowed(host), String(host)).toBe(true)
    }
    for (const host of ['', 'evil.test', 'localhost.evil.test', '127.0.0.1.nip.io', 'a@b', 'x:99999']) {
      expect(guards.hostAllowed(host), host).toBe(false)
    }
    // a refused host is never remembered as accepted
    expect(guards.hostAllowed('evil.test')).toBe(false)
  })

  it('adds the bound name, and the machine host name when bound to every interface', () => {
    const named = new RequestGuards()
    named.bindTo('features.internal')
    expect(named.hostAllowed('features.internal:6566')).toBe(true)
    expect(named.hostAllowed(hostname())).toBe(false)
    const everywhere = new RequestGuards()
    everywhere.bindTo('::')
    expect(everywhere.hostAllowed(`${hostname()}:8888`)).toBe(true)
    expect(everywhere.allowedHosts).toEqual(['localhost', hostname().toLowerCase()])
    const address = new RequestGuards()
    address.bindTo('127.0.0.1')
    expect(address.allowedHosts).toEqual(['localhost'])
  })

  it('matches configured names, name:port, domains and *', () => {
    const guards = new RequestGuards({ allowedHosts: ['a.test', 'b.test:8443', '.c.test'] })
    expect(guards.hostAllowed('A.TEST:1')).toBe(true)
    expect(guards.hostAllowed('b.test:8443')).toBe(true)
    expect(guards.hostAllowed('b.test')).toBe(false)
    expect(guards.hostAllowed('c.test')).toBe(true)
    expect(guards.hostAllowed('x.y.c.test:9')).toBe(true)
    expect(guards.hostAllowed('xc.test')).toBe(false)
    expect(new RequestGuards({ allowedHosts: ['*'] }).hostAllowed('anything.test')).toBe(true)
  })
})

describe('content types of state-changing routes (larder serve)', () => {
  it.each([
    ['text/plain', 'text/plain'],
    ['text/plain;charset=UTF-8', 'text/plain;charset=UTF-8'],
    ['a form', 'application/x-www-form-urlencoded'],
    ['a multipart form', 'multipart/form-data; boundary=x'],
    ['JSON in another charset', 'application/json; charset=iso-8859-1'],
    ['a protobuf type off the RPC paths', 'application/proto'],
  ])(
    'refuses %s with 415 naming the type received and the one expected, writing nothing',
    async (_, type) => {
      const driver = 7100 + type.length
      const res = await send(`${serve.url}/push`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: pushOf(driver),
      })
      expect(res.status, res.text).toBe(415)
      expect(res.headers['content-type']).toMatch(/^application\/json/)
      expect(res.body).toMatchObject({
        status_code: 415,
        error_type: 'UNSUPPORTED',
        details: { reason: 'content_type', content_type: type, expected: 'application/json' },
      })
      expect(res.body.detail).toContain(JSON.stringify(type))
      expect(res.body.detail).toContain('expected application/json')
      expect(res.body.hint).toContain('content-type: application/json')
      expect(res.body.request_id).toBe(res.headers['x-request-id'])
      expect(await storedTrips(serve.url, driver)).toBe('NOT_FOUND')
    },
  )

  it('refuses a text/plain materialization, which then records no run', async () => {
    const res = await send(`${serve.url}/materialize-incremental`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ end_ts: now.toISOString() }),
    })
    expect(res.status, res.text).toBe(415)
    const runs = await send(`${serve.url}/api/v1/materialization_runs?project=${repo.project}`)
    expect(runs.body.materializationRuns).toEqual([])
  })

  it('accepts application/json, with a UTF-8 charset in any spelling', async () => {
    for (const [i, type] of [
      'application/json',
      'application/json; charset=utf-8',
      'Application/JSON;Charset="UTF-8"',
      'application/json; charset=utf8',
    ].entries()) {
      const res = await send(`${serve.url}/push`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: pushOf(7200 + i),
      })
      expect(res.status, `${type}: ${res.text}`).toBe(200)
      expect(await storedTrips(serve.url, 7200 + i)).toBe(7200 + i)
    }
  })

  it("accepts a JSON body without a content type from a client that is not a browser (Feast's Python client), never from a browser", async () => {
    const body = JSON.stringify({
      features: ['driver_hourly_stats_fresh:avg_daily_trips'],
      entities: { driver_id: [7200] },
    })
    const python = await send(`${serve.url}/get-online-features`, { method: 'POST', body })
    expect(python.status, python.text).toBe(200)
    expect(python.body.results[1].values).toEqual([7200])
    const browser = await send(`${serve.url}/push`, {
      method: 'POST',
      headers: { 'sec-fetch-site': 'same-origin' },
      body: pushOf(7300),
    })
    expect(browser.status, browser.text).toBe(415)
    expect(browser.body.detail).toContain('without a content type')
    expect(browser.body.details).toMatchObject({ content_type: null, expected: 'application/json' })
    expect(await storedTrips(serve.url, 7300)).toBe('NOT_FOUND')
  })

  it('lets a POST without a body through without a content type (curl -X POST /registry/refresh)', async () => {
    const res = await send(`${serve.url}/registry/refresh`, { method: 'POST' })
    expect(res.status, res.text).toBe(200)
    expect(res.body.status).toBe('refreshed')
  })

  it('accepts the Connect and gRPC-Web types on the RPC paths, and refuses text/plain there in the Connect shape', async () => {
    const path = `${serve.url}/feast.serving.ServingService/GetFeastServingInfo`
    // an empty gRPC-Web frame: flags 0, length 0
    const grpcWeb = await send(path, {
      method: 'POST',
      headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' },
      body: new Uint8Array(5),
    })
    expect(grpcWeb.status, grpcWeb.text).toBe(200)
    expect(grpcWeb.headers['content-type']).toBe('application/grpc-web+proto')
    const connect = await send(path, { method: 'POST', headers: JSON_TYPE, body: '{}' })
    expect(connect.status, connect.text).toBe(200)
    expect(connect.body.version).toBeTruthy()
    const plain = await send(path, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })
    expect(plain.status).toBe(415)
    expect(plain.body).toEqual({ code: 'invalid_argument', message: expect.stringContaining('"text/plain"') })
    expect(plain.body.message).toContain('application/grpc-web+proto')
    expect(plain.headers['larder-error-code']).toBe('UNSUPPORTED')
  })
})

describe('the Host allowlist (DNS rebinding)', () => {
  const port = () => new URL(serve.url).port

  it('refuses a host name the server does not answer to with 421, naming the host and the fix, on reads and writes', async () => {
    for (const [method, path, body] of [
      ['GET', '/api/v1/projects', undefined],
      ['POST', '/push', pushOf(7400)],
      ['GET', '/health', undefined],
    ] as const) {
      const res = await send(`${serve.url}${path}`, {
        method,
        headers: { host: `rebind.test:${port()}`, ...JSON_TYPE },
        body,
      })
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(421)
      expect(res.body).toMatchObject({
        status_code: 421,
        error_type: 'PERMISSION_DENIED',
        details: { reason: 'host_not_allowed', host: `rebind.test:${port()}` },
      })
      expect(res.body.detail).toContain(`"rebind.test:${port()}"`)
      expect(res.body.hint).toContain('feature_server.allowed_hosts')
      expect(res.body.hint).toContain('--allowed-host rebind.test')
      expect(res.body.request_id).toBe(res.headers['x-request-id'])
    }
    expect(await storedTrips(serve.url, 7400)).toBe('NOT_FOUND')
  })

  it('answers localhost, IP addresses and port-forwarded ports, and refuses names that only look local', async () => {
    for (const host of [
      `localhost:${port()}`,
      'localhost:8080',
      'LOCALHOST',
      `127.0.0.1:${port()}`,
      '198.51.100.7:6566',
      `[::1]:${port()}`,
    ]) {
      const res = await send(`${serve.url}/api/v1/projects`, { headers: { host } })
      expect(res.status, `${host}: ${res.text}`).toBe(200)
    }
    for (const host of ['127.0.0.1.nip.io', 'localhost.evil.test', 'evil.test']) {
      const res = await send(`${serve.url}/api/v1/projects`, { headers: { host } })
      expect(res.status, `${host}: ${res.text}`).toBe(421)
    }
    // what is not a host at all the HTTP adapter refuses before any route
    for (const host of ['a@b', 'x:99999', 'localhost:80.evil.test']) {
      expect((await send(`${serve.url}/api/v1/projects`, { headers: { host } })).status, host).toBe(400)
    }
  })

  it('checks Host on the metrics port too', async () => {
    const evil = await send(serve.metricsUrl!, { headers: { host: 'rebind.test' } })
    expect(evil.status).toBe(421)
    expect(evil.body).toMatchObject({ details: { reason: 'host_not_allowed' } })
    expect((await send(serve.metricsUrl!)).status).toBe(200)
  })

  it('answers the names given with --allowed-host, and any host with *', async () => {
    const widened = await startServe(repo.dir, [
      '--allowed-host',
      'features.example.com',
      '--allowed-host',
      '.corp.test',
      '--allowed-host',
      'pinned.test:8443',
    ])
    try {
      expect(listening(widened).allowedHosts).toEqual(
        expect.arrayContaining(['localhost', 'features.example.com', 'pinned.test:8443', '.corp.test']),
      )
      const status = async (host: string) =>
        (await send(`${widened.url}/api/v1/projects`, { headers: { host } })).status
      expect(await status('features.example.com')).toBe(200)
      expect(await status('Features.Example.com:6566')).toBe(200)
      expect(await status('corp.test')).toBe(200)
      expect(await status('ml.corp.test:443')).toBe(200)
      expect(await status('pinned.test:8443')).toBe(200)
      expect(await status('pinned.test:8444')).toBe(421)
      expect(await status('evilcorp.test')).toBe(421)
      expect(await status('rebind.test')).toBe(421)
    } finally {
      await widened.stop('SIGKILL')
    }
    const any = await startServe(repo.dir, ['--allowed-host', '*'])
    try {
      expect((await send(`${any.url}/api/v1/projects`, { headers: { host: 'rebind.test' } })).status).toBe(
        200,
      )
    } finally {
      await any.stop('SIGKILL')
    }
  })

  it('answers the machine host name when bound to every interface', async () => {
    const all = await startServe(repo.dir, ['--host', '0.0.0.0'])
    try {
      const url = all.url.replace('0.0.0.0', '127.0.0.1')
      expect(listening(all).allowedHosts).toContain(hostname().toLowerCase())
      expect((await send(`${url}/api/v1/projects`, { headers: { host: `${hostname()}:6566` } })).status).toBe(
        200,
      )
      expect((await send(`${url}/api/v1/projects`, { headers: { host: 'rebind.test' } })).status).toBe(421)
    } finally {
      await all.stop('SIGKILL')
    }
  })

  it('refuses a flag that is not a host, naming it', async () => {
    const failed = startServe(repo.dir, ['--allowed-host', 'https://features.example.com'], 10_000)
    await expect(failed).rejects.toThrow(
      /option '--allowed-host <host>' argument 'https:\/\/features\.example\.com' is invalid/,
    )
  })
})

describe('Origin on state-changing routes', () => {
  it('refuses a POST from another origin with 403 naming the origin, and writes nothing', async () => {
    for (const origin of ['http://attacker.test:4444', 'null', `${serve.url}.evil.test`]) {
      const res = await send(`${serve.url}/push`, {
        method: 'POST',
        headers: { origin, ...JSON_TYPE },
        body: pushOf(7500),
      })
      expect(res.status, `${origin}: ${res.text}`).toBe(403)
      expect(res.body).toMatchObject({
        error_type: 'PERMISSION_DENIED',
        details: { reason: 'origin_not_allowed', origin },
      })
      expect(res.body.detail).toContain(JSON.stringify(origin))
      expect(res.body.hint).toContain('feature_server.allowed_origins')
    }
    expect(await storedTrips(serve.url, 7500)).toBe('NOT_FOUND')
  })

  it('refuses DELETE and materialization from another origin', async () => {
    const origin = { origin: 'http://attacker.test:4444' }
    const cancel = await send(`${serve.url}/jobs/some-job`, { method: 'DELETE', headers: origin })
    expect(cancel.status).toBe(403)
    const mat = await send(`${serve.url}/materialize-incremental`, {
      method: 'POST',
      headers: { ...origin, ...JSON_TYPE },
      body: JSON.stringify({ end_ts: now.toISOString() }),
    })
    expect(mat.status).toBe(403)
    const runs = await send(`${serve.url}/api/v1/materialization_runs?project=${repo.project}`)
    expect(runs.body.materializationRuns).toEqual([])
  })

  it("accepts the server's own origin (the page it served, under any name it answers to)", async () => {
    const own = await send(`${serve.url}/push`, {
      method: 'POST',
      headers: { origin: serve.url, ...JSON_TYPE },
      body: pushOf(7501),
    })
    expect(own.status, own.text).toBe(200)
    const port = new URL(serve.url).port
    const byName = await send(`${serve.url}/push`, {
      method: 'POST',
      headers: { host: `localhost:${port}`, origin: `http://localhost:${port}`, ...JSON_TYPE },
      body: pushOf(7502),
    })
    expect(byName.status, byName.text).toBe(200)
    // the same host on another port, or another scheme, is another origin
    for (const origin of [`http://localhost:${Number(port) + 1}`, `https://127.0.0.1:${port}`]) {
      const other = await send(`${serve.url}/push`, {
        method: 'POST',
        headers: { host: `localhost:${port}`, origin, ...JSON_TYPE },
        body: pushOf(7503),
      })
      expect(other.status, origin).toBe(403)
    }
    expect(await storedTrips(serve.url, 7501)).toBe(7501)
    expect(await storedTrips(serve.url, 7503)).toBe('NOT_FOUND')
  })

  it('lets reads from another origin through, without a header that would let its page read them', async () => {
    const res = await send(`${serve.url}/api/v1/projects`, {
      headers: { origin: 'http://attacker.test:4444' },
    })
    expect(res.status).toBe(200)
    expect(res.headers['access-control-allow-origin']).toBeUndefined()
  })
})

describe('CORS', () => {
  const preflight = (url: string, origin: string) =>
    send(`${url}/get-online-features`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, authorization',
        'access-control-request-private-network': 'true',
      },
    })

  it('is off by default: a preflight from any origin is 403 naming it, and no answer carries CORS headers', async () => {
    const res = await preflight(serve.url, 'http://app.test:3000')
    expect(res.status).toBe(403)
    expect(res.headers['access-control-allow-origin']).toBeUndefined()
    expect(res.headers['access-control-allow-private-network']).toBeUndefined()
    expect(res.body.detail).toContain('"http://app.test:3000"')
    expect(res.body.hint).toContain('feature_server.allowed_origins')
    for (const path of ['/api/v1/projects', '/projects-list.json']) {
      const read = await send(`${serve.url}${path}`, { headers: { origin: 'http://app.test:3000' } })
      expect(read.headers['access-control-allow-origin'], path).toBeUndefined()
    }
  })

  it('answers allowed origins only, from --allowed-origin', async () => {
    const server = await startServe(repo.dir, ['--allowed-origin', 'http://App.test:3000/'])
    try {
      const allowed = await preflight(server.url, 'http://app.test:3000')
      expect(allowed.status).toBe(204)
      expect(allowed.headers['access-control-allow-origin']).toBe('http://app.test:3000')
      expect(allowed.headers['access-control-allow-methods']).toContain('POST')
      expect(allowed.headers['access-control-allow-headers']).toBe('content-type, authorization')
      expect(allowed.headers['access-control-allow-credentials']).toBeUndefined()
      expect(allowed.headers['access-control-allow-private-network']).toBe('true')
      expect(allowed.headers.vary).toContain('Origin')
      const other = await preflight(server.url, 'http://app.test:3001')
      expect(other.status).toBe(403)
      expect(other.headers['access-control-allow-origin']).toBeUndefined()

      const read = await send(`${server.url}/get-online-features`, {
        method: 'POST',
        headers: { origin: 'http://app.test:3000', ...JSON_TYPE },
        body: JSON.stringify({
          features: ['driver_hourly_stats:conv_rate'],
          entities: { driver_id: [1001] },
        }),
      })
      expect(read.status, read.text).toBe(200)
      expect(read.headers['access-control-allow-origin']).toBe('http://app.test:3000')
      expect(read.headers['access-control-expose-headers']).toContain('x-request-id')
      expect(read.headers.vary).toContain('Origin')
      // an allowed origin passes the Origin check of writes too, but still only with JSON
      const push = await send(`${server.url}/push`, {
        method: 'POST',
        headers: { origin: 'http://app.test:3000', 'content-type': 'text/plain' },
        body: pushOf(7600),
      })
      expect(push.status).toBe(415)
      expect(push.headers['access-control-allow-origin']).toBe('http://app.test:3000')
    } finally {
      await server.stop('SIGKILL')
    }
  })
})

describe('CORS from feature_server: in feature_store.yaml (in-process server)', () => {
  let store: FeatureStore
  const started: Listening[] = []
  beforeAll(async () => {
    store = await FeatureStore.open(repo.dir)
  })
  afterAll(async () => {
    for (const s of started) await s.close()
    await store?.close()
  })
  const start = async (guards: ConstructorParameters<typeof RequestGuards>[0]) => {
    const server = new FeatureServer(store, { logger: pino({ level: 'silent' }), guards })
    const listening = await listen(server, { port: 0 })
    started.push(listening)
    return listening.url
  }

  it('answers "*" with a wildcard, and allowed origins with credentials when allowed', async () => {
    const any = await start({ allowedOrigins: ['*'] })
    const res = await send(`${any}/api/v1/projects`, { headers: { origin: 'http://whoever.test' } })
    expect(res.headers['access-control-allow-origin']).toBe('*')
    expect(res.headers['access-control-allow-credentials']).toBeUndefined()
    const credentialed = await start({ allowedOrigins: ['https://app.example.com'], allowCredentials: true })
    const cred = await send(`${credentialed}/api/v1/projects`, {
      headers: { origin: 'https://app.example.com' },
    })
    expect(cred.headers['access-control-allow-origin']).toBe('https://app.example.com')
    expect(cred.headers['access-control-allow-credentials']).toBe('true')
  })

  it('refuses "*" with credentials, naming the key', () => {
    expect(() => new RequestGuards({ allowedOrigins: ['*'], allowCredentials: true })).toThrow(
      /feature_server\.allow_credentials/,
    )
    expect(() => new RequestGuards({ allowedHosts: ['http://x.test'] })).toThrow(
      /allowed host: "http:\/\/x\.test"/,
    )
    expect(() => new RequestGuards({ allowedOrigins: ['https://x.test/path'] })).toThrow(
      /allowed origin: .*write https:\/\/x\.test/,
    )
  })
})

describe('larder ui', () => {
  let ui: UiProcess
  let ca: Buffer
  beforeAll(async () => {
    ca = readFileSync(join(certDir, 'cert.pem'))
    ui = await startUi(repo.dir, {
      args: ['--tls-key', join(certDir, 'key.pem'), '--tls-cert', join(certDir, 'cert.pem')],
    })
  })
  afterAll(async () => {
    await ui?.stop()
  })

  it('serves over HTTPS with --tls-key and --tls-cert', async () => {
    expect(ui.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const page = await send(`${ui.url}/`, { ca })
    expect(page.status).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    const projects = await send(`${ui.url}/api/v1/projects`, { ca })
    expect(projects.status).toBe(200)
    // the TLS origin is the page's own; http on the same port is another origin
    const port = new URL(ui.url).port
    const own = await send(`${ui.url}/get-online-features`, {
      method: 'POST',
      ca,
      headers: { origin: `https://127.0.0.1:${port}`, ...JSON_TYPE },
      body: JSON.stringify({ features: ['driver_hourly_stats:conv_rate'], entities: { driver_id: [1001] } }),
    })
    expect(own.status, own.text).toBe(200)
    const plain = await send(`${ui.url}/get-online-features`, {
      method: 'POST',
      ca,
      headers: { origin: `http://127.0.0.1:${port}`, ...JSON_TYPE },
      body: '{}',
    })
    expect(plain.status).toBe(403)
  })

  it('applies the same guards as larder serve', async () => {
    const page = await send(`${ui.url}/`, { ca, headers: { host: 'rebind.test' } })
    expect(page.status).toBe(421)
    expect(page.body.details.host).toBe('rebind.test')
    const push = await send(`${ui.url}/push`, {
      method: 'POST',
      ca,
      headers: { origin: 'http://attacker.test', ...JSON_TYPE },
      body: pushOf(7700),
    })
    expect(push.status).toBe(403)
    const form = await send(`${ui.url}/push`, {
      method: 'POST',
      ca,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=b',
    })
    expect(form.status).toBe(415)
  })
})

describe('larder serve-registry', () => {
  let registry: RegistryServerProcess
  let ca: Buffer
  beforeAll(async () => {
    ca = readFileSync(join(certDir, 'cert.pem'))
    registry = await startServeRegistry(repo.dir, [
      '--tls-key',
      join(certDir, 'key.pem'),
      '--tls-cert',
      join(certDir, 'cert.pem'),
    ])
  })
  afterAll(async () => {
    await registry?.stop('SIGKILL')
  })

  it('checks Host on its REST port and has CORS off by default', async () => {
    const url = `${registry.restUrl}/api/v1/projects`
    expect((await send(url, { ca })).status).toBe(200)
    const rebound = await send(url, { ca, headers: { host: 'rebind.test' } })
    expect(rebound.status).toBe(421)
    expect(rebound.body.hint).toContain('--allowed-host')
    const foreign = await send(url, { ca, headers: { origin: 'http://attacker.test' } })
    expect(foreign.status).toBe(200)
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined()
    const pre = await send(url, {
      method: 'OPTIONS',
      ca,
      headers: { origin: 'http://attacker.test', 'access-control-request-method': 'GET' },
    })
    expect(pre.status).toBe(403)
    expect(pre.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('leaves a page nothing to send to its gRPC port over HTTP/1.1: text/plain is 415 and preflights go unanswered', async () => {
    const method = `${registry.grpcUrl}/feast.registry.RegistryServer/ListProjects`
    const plain = await send(method, {
      method: 'POST',
      ca,
      headers: { origin: 'http://attacker.test', 'content-type': 'text/plain' },
      body: '{}',
    })
    expect(plain.status).toBe(415)
    const pre = await send(method, {
      method: 'OPTIONS',
      ca,
      headers: {
        origin: 'http://attacker.test',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    })
    expect(pre.status).toBeGreaterThanOrEqual(400)
    expect(pre.headers['access-control-allow-origin']).toBeUndefined()
    // the same call with the Connect JSON type is served: the port speaks HTTP/1.1 with TLS
    const connect = await send(method, { method: 'POST', ca, headers: JSON_TYPE, body: '{}' })
    expect(connect.status, connect.text).toBe(200)
  })
})
