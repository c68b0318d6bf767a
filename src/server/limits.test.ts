// Resource limits of the feature server, over real HTTP against an in-process server: a read over the
// entity-row limit is refused before any store is read (REST, Connect and gRPC), 60,000 view names to
// /materialize are refused by name, a refused chunked body leaves its connection usable, /health is
// answered while a 100,000-row read is in flight, and a read or write that times out is cancelled in
// PostgreSQL. A store that is down answers 503 without its host, port or user.
import { writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { type Logger, pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LarderClient } from '../client/index.js'
import type { LarderError } from '../core/index.js'
import { FeatureStore } from '../feature-store.js'
import { type GrpcListening, listenGrpc, servingFetchHandlers, servingRoutes } from '../grpc/index.js'
import { at, sampleData } from '../materialize/__fixtures__/driver-data.js'
import { testOnlineStores } from '../materialize/__fixtures__/online-stores.js'
import { configText, createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import type { OnlineStore } from '../online/online-store.js'
import { describeWithService, freePort } from '../testing/services.js'
import { type AppliedRepo, appliedRepo } from './__fixtures__/serve-process.js'
import { FeatureServer, type FeatureServerOptions } from './feature-server.js'
import { DRAIN_MAX_MS } from './json-body.js'
import { type Listening, listen } from './listen.js'

const STORES = await testOnlineStores()
const FEATURES = [
  'driver_hourly_stats:conv_rate',
  'driver_hourly_stats:acc_rate',
  'driver_hourly_stats:avg_daily_trips',
]

/** A pino logger whose lines are kept, parsed, in `lines`. */
function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
  return { logger, lines }
}

interface Served {
  readonly server: FeatureServer
  readonly http: Listening
  readonly lines: Record<string, unknown>[]
  close(): Promise<void>
}

/** A feature server over `store` on a free port, with the ServingService mounted as `larder serve` does. */
async function serve(store: FeatureStore, options: Partial<FeatureServerOptions> = {}): Promise<Served> {
  const { logger, lines } = memoryLogger()
  const server = new FeatureServer(store, { logger, ...options })
  for (const h of servingFetchHandlers(server.target, 'test')) server.mount(h.path, h.fetch)
  const http = await listen(server, { port: 0 })
  return { server, http, lines, close: () => http.close() }
}

/** An answer's status and text, and its body parsed (the fields the tests read). */
interface Answer {
  readonly status: number
  readonly text: string
  readonly json: {
    readonly error_type?: string
    readonly detail?: string
    readonly hint?: string
    readonly details?: Record<string, unknown>
    readonly results?: { readonly values: unknown[] }[]
  }
}

async function post(url: string, body: unknown): Promise<Answer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await res.text()
  let json: Answer['json'] = {}
  try {
    json = JSON.parse(text)
  } catch {
    // not JSON: the tests look at `text`
  }
  return { status: res.status, text, json }
}

/** Writes `count` drivers from 5000 on to driver_hourly_stats, in batches. */
async function writeDrivers(store: FeatureStore, count: number): Promise<void> {
  const ts = new Date().toISOString()
  for (let start = 0; start < count; start += 20_000) {
    const ids = Array.from({ length: Math.min(20_000, count - start) }, (_, i) => 5000 + start + i)
    await store.writeToOnlineStore({
      featureViewName: 'driver_hourly_stats',
      df: {
        driver_id: ids,
        event_timestamp: ids.map(() => ts),
        created: ids.map(() => ts),
        conv_rate: ids.map((i) => (i % 100) / 100),
        acc_rate: ids.map((i) => (i % 10) / 10),
        avg_daily_trips: ids,
      },
    })
  }
}

describe('the feature server on SQLite', () => {
  let repo: AppliedRepo
  let store: FeatureStore
  let served: Served
  let grpc: GrpcListening
  /** Calls of the online store's readMany with at least this many keys resolve `bigReadStarted`. */
  let onBigRead: (() => void) | undefined

  beforeAll(async () => {
    repo = await appliedRepo()
    const real = await FeatureStore.open(repo.dir)
    await writeDrivers(real, 100_000)
    // the real store, telling the test when a read of many keys reaches the online store
    store = new Proxy(real, {
      get(target, property) {
        if (property === 'online') {
          return async (...args: Parameters<FeatureStore['online']>) => {
            const online = await target.online(...args)
            return {
              ...online,
              readMany: (requests, opts) => {
                if (requests.some((r) => r.keys.length >= 100_000)) onBigRead?.()
                return online.readMany(requests, opts)
              },
            } as OnlineStore
          }
        }
        const value = Reflect.get(target, property)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    served = await serve(store, { readTimeoutMs: 120_000, maxBodyBytes: 1024 * 1024 })
    grpc = await listenGrpc(servingRoutes(served.server.target, 'test'), { port: 0 })
  }, 120_000)

  afterAll(async () => {
    await grpc?.close()
    await served?.close()
    await store?.close()
    repo?.remove()
  })

  it('refuses 1,000,000 entity rows with 413 naming the count, the limit and the key', async () => {
    const body = `{"features":${JSON.stringify(FEATURES)},"entities":{"driver_id":[${'1001,'.repeat(999_999)}1001]}}`
    const res = await fetch(`${served.http.url}/get-online-features`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    })
    // the body (6 MB) is over this server's 1 MiB limit: the body limit answers first
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ error_type: 'PAYLOAD_TOO_LARGE' })
    const big = await serve(store)
    try {
      const refused = await post(`${big.http.url}/get-online-features`, body)
      expect(refused.status, refused.text).toBe(413)
      expect(refused.json).toMatchObject({
        status_code: 413,
        error_type: 'RESOURCE_EXHAUSTED',
        detail: 'the request has 1,000,000 entity rows, more than the limit of 100,000 per online read',
        details: { entity_rows: 1_000_000, limit: 100_000, key: 'feature_server.max_entity_rows' },
      })
      expect(refused.json.hint).toContain('feature_server.max_entity_rows')
    } finally {
      await big.close()
    }
  })

  it('refuses over the limit through the Connect protocol and gRPC alike', async () => {
    const request = {
      entities: { driver_id: Array.from({ length: 100_001 }, (_, i) => i) },
      features: FEATURES,
    }
    for (const client of [
      new LarderClient(served.http.url, { protocol: 'connect' }),
      new LarderClient(grpc.url, { protocol: 'grpc' }),
    ]) {
      const error = (await client.getOnlineFeatures(request).catch((e: LarderError) => e)) as LarderError
      expect(error).toMatchObject({ name: 'LarderError', code: 'RESOURCE_EXHAUSTED' })
      expect(error.message).toContain('100,001 entity rows')
      expect(error.hint).toContain('feature_server.max_entity_rows')
    }
  })

  it('refuses 60,000 unknown view names to /materialize by name, starting no job', async () => {
    const names = Array.from({ length: 60_000 }, (_, i) => `v${i}`)
    for (const [path, body] of [
      ['/materialize', { start_ts: at(0), end_ts: at(1), feature_views: names }],
      ['/materialize-incremental', { end_ts: at(1), feature_views: [...names, 'driver_hourly_stats'] }],
    ] as const) {
      const res = await post(`${served.http.url}${path}`, body)
      expect(res.status, res.text).toBe(404)
      expect(res.json.error_type).toBe('NOT_FOUND')
      expect(res.json.detail).toBe(
        `60000 feature views "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9" and 59990 more not found in project "${repo.project}"`,
      )
      expect(res.json.details).toMatchObject({ unknown: 60_000 })
      expect(res.json.hint).toContain('driver_hourly_stats')
    }
    const jobs = await fetch(`${served.http.url}/jobs`)
    expect(((await jobs.json()) as { jobs: unknown[] }).jobs).toEqual([])
  })

  it('answers /health while a read of 100,000 rows is in flight', async () => {
    const started = new Promise<void>((resolve) => {
      onBigRead = resolve
    })
    const ids = Array.from({ length: 100_000 }, (_, i) => 5000 + i)
    const big = post(`${served.http.url}/get-online-features`, {
      features: FEATURES,
      entities: { driver_id: ids },
    })
    await started
    const health = await fetch(`${served.http.url}/health`)
    expect(health.status).toBe(200)
    const answer = await big
    onBigRead = undefined
    expect(answer.status, answer.text.slice(0, 300)).toBe(200)
    const trips = answer.json.results![3]!.values
    expect(trips).toHaveLength(100_000)
    expect(trips[99_999]).toBe(104_999)
    // the server's own order of answers: /health before the read it arrived during
    const order = served.lines.filter((l) => l.msg === 'request').map((l) => `${l.path}`)
    const read = order.lastIndexOf('/get-online-features')
    const healthAt = order.lastIndexOf('/health')
    expect(healthAt).toBeGreaterThanOrEqual(0)
    expect(healthAt).toBeLessThan(read)
  }, 60_000)

  it('keeps a connection usable after refusing a chunked body with 413', async () => {
    const socket = await open(served.http.url)
    try {
      const chunk = Buffer.alloc(64 * 1024, 0x5b)
      socket.write(
        'POST /get-online-features HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      )
      // 2 MiB against the 1 MiB limit, then the end of the body and a second request
      for (let i = 0; i < 32; i++)
        socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`)
      socket.write('0\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
      const text = await received(
        socket,
        (t) => (t.match(/HTTP\/1\.1 \d{3}/g) ?? []).length >= 2 && /\}\s*$/.test(t),
      )
      const statuses = (text.match(/HTTP\/1\.1 (\d{3})/g) ?? []).map((s) => s.slice(9))
      expect(statuses).toEqual(['413', '200'])
      expect(text).not.toMatch(/connection: close/i)
      expect(text).toContain('"error_type":"PAYLOAD_TOO_LARGE"')
      expect(text).toContain('"status":"ok"')
      expect(socket.destroyed).toBe(false)
    } finally {
      socket.destroy()
    }
  })

  it('closes the connection cleanly, with Connection: close, when the rest of a refused body does not come', async () => {
    const socket = await open(served.http.url)
    let error: Error | undefined
    socket.on('error', (e) => {
      error = e
    })
    const ended = new Promise<void>((resolve) => socket.once('end', resolve))
    const chunk = Buffer.alloc(64 * 1024, 0x5b)
    socket.write(
      'POST /push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
    )
    // over the limit, then nothing more: the server waits DRAIN_MAX_MS for the rest, then answers
    for (let i = 0; i < 20; i++)
      socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`)
    const text = await received(socket, (t) => /\}\s*$/.test(t), DRAIN_MAX_MS * 4)
    await ended
    expect(text).toMatch(/^HTTP\/1\.1 413/)
    expect(text).toMatch(/\r\nconnection: close\r\n/i)
    expect(error).toBeUndefined()
    socket.destroy()
  }, 60_000)
})

/** A TCP connection to the server of `url`. */
function open(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve(socket))
    socket.once('error', reject)
  })
}

/** What the socket receives until `done` holds for it (or `waitMs` passes), as latin1 text. */
function received(socket: Socket, done: (text: string) => boolean, waitMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const timer = setTimeout(
      () => reject(new Error(`no complete answer; received ${JSON.stringify(text)}`)),
      waitMs,
    )
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1')
      if (done(text)) {
        clearTimeout(timer)
        resolve(text)
      }
    })
  })
}

describe('a store that is down', () => {
  let repo: TestRepo
  const closed: Record<string, number> = {}
  const USER = 'larder_probe_user'

  beforeAll(async () => {
    repo = await createTestRepo({ onlineStore: 'type: sqlite\npath: data/online.db', data: sampleData() })
    closed.redis = await freePort()
    closed.postgres = await freePort()
  })
  afterAll(async () => {
    await repo?.close()
  })

  for (const [type, block] of [
    ['redis', () => `type: redis\nconnection_string: 127.0.0.1:${closed.redis}`],
    [
      'postgres',
      () =>
        `type: postgres\nhost: 127.0.0.1\nport: ${closed.postgres}\ndatabase: features_db\nuser: ${USER}\npassword: s3cret`,
    ],
  ] as const) {
    it(`answers 503 naming the online store (${type}), never its host, port or user`, async () => {
      writeFileSync(join(repo.dir, 'feature_store.yaml'), configText(repo.project, block()))
      const down = await FeatureStore.open(repo.dir)
      const served = await serve(down)
      const grpc = await listenGrpc(servingRoutes(served.server.target, 'test'), { port: 0 })
      try {
        const port = String(closed[type])
        const secrets = ['127.0.0.1', port, USER, 'features_db', 's3cret']
        const health = await fetch(`${served.http.url}/health`)
        const healthText = await health.text()
        expect(health.status).toBe(503)
        expect(JSON.parse(healthText).checks.online_store).toEqual({
          ok: false,
          error: `the online store (${type}) is unavailable`,
        })
        const read = await post(`${served.http.url}/get-online-features`, {
          features: ['driver_stats:conv_rate'],
          entities: { driver_id: [1001] },
        })
        expect(read.status).toBe(503)
        expect(read.json).toMatchObject({
          error_type: 'BACKEND_UNAVAILABLE',
          detail: `the online store (${type}) is unavailable`,
          details: { backend: `the online store (${type})` },
        })
        const viaGrpc = (await new LarderClient(grpc.url, { protocol: 'grpc' })
          .getOnlineFeatures({ features: ['driver_stats:conv_rate'], entities: { driver_id: [1001] } })
          .catch((e: LarderError) => e)) as LarderError
        expect(viaGrpc).toMatchObject({
          code: 'BACKEND_UNAVAILABLE',
          message: `the online store (${type}) is unavailable`,
        })
        for (const text of [healthText, read.text, viaGrpc.message, viaGrpc.hint ?? '']) {
          for (const secret of secrets) expect(text).not.toContain(secret)
        }
        // the server's log keeps the detail
        const logged = JSON.stringify(served.lines)
        expect(logged).toContain(`127.0.0.1:${port}`)
      } finally {
        await grpc.close()
        await served.close()
        await down.close()
      }
    })
  }
})

const postgres = STORES.find((s) => s.name === 'postgres')!
describeWithService('deadlines on PostgreSQL', postgres.unavailable, () => {
  let repo: TestRepo
  let served: Served
  let admin: pg.Client
  let login: pg.ClientConfig
  let table: string

  beforeAll(async () => {
    repo = await createTestRepo({ onlineStore: postgres.config, data: sampleData() })
    await repo.store.materialize({ start: at(0), end: at(6) })
    served = await serve(repo.store, { readTimeoutMs: 300, writeTimeoutMs: 300 })
    const o = repo.store.config.onlineStore!.options as Record<string, unknown>
    login = { host: String(o.host), port: Number(o.port), database: String(o.database), user: String(o.user) }
    admin = new pg.Client(login)
    await admin.connect()
    table = `"public"."${repo.project}_driver_stats"`
  }, 60_000)
  afterAll(async () => {
    await admin?.end()
    await served?.close()
    await repo?.close()
  })

  /** Statements of the store (application_name larder) still running on the view's table. */
  async function running(): Promise<number> {
    const { rows } = await admin.query(
      `SELECT pid FROM pg_stat_activity WHERE application_name = 'larder' AND state = 'active' AND query LIKE $1`,
      [`%${repo.project}_driver_stats%`],
    )
    return rows.length
  }

  async function noneRunning(): Promise<boolean> {
    for (let i = 0; i < 500; i++) {
      if ((await running()) === 0) return true
      await sleep(20)
    }
    return false
  }

  async function whileLocked(work: () => Promise<void>): Promise<void> {
    const locker = new pg.Client(login)
    await locker.connect()
    try {
      await locker.query('BEGIN')
      await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`)
      await work()
    } finally {
      await locker.query('ROLLBACK').catch(() => {})
      await locker.end()
    }
  }

  it('answers 503 to a read that times out, and cancels its statement on the server', async () => {
    await whileLocked(async () => {
      const res = await post(`${served.http.url}/get-online-features`, {
        features: ['driver_stats:conv_rate'],
        entities: { driver_id: [1001] },
      })
      expect(res.status, res.text).toBe(503)
      expect(res.json.detail).toBe('the online store (postgres) is unavailable: no answer within 300 ms')
      // the lock is still held: only the cancel can have ended the SELECT
      expect(await noneRunning()).toBe(true)
    })
    const after = await post(`${served.http.url}/get-online-features`, {
      features: ['driver_stats:conv_rate'],
      entities: { driver_id: [1001] },
    })
    expect(after.status, after.text).toBe(200)
  })

  it('answers 503 to a write that times out, cancels it and rolls it back', async () => {
    const df = {
      driver_id: [7777],
      event_timestamp: [at(5)],
      created: [at(5)],
      conv_rate: [0.5],
      acc_rate: [0.5],
      trips: [1],
      rank: [1],
      label: ['x'],
      active: [true],
      seen: [at(5)],
      tags: [['a']],
      scores: [[1]],
    }
    await whileLocked(async () => {
      const res = await post(`${served.http.url}/write-to-online-store`, {
        feature_view_name: 'driver_stats',
        df,
      })
      expect(res.status, res.text).toBe(503)
      expect(res.json.detail).toBe('the online store (postgres) is unavailable: no answer within 300 ms')
      expect(await noneRunning()).toBe(true)
    })
    const read = await repo.store.getOnlineFeatures({
      features: ['driver_stats:conv_rate'],
      entities: { driver_id: [7777] },
    })
    expect(read.results[1]!.statuses).toEqual(['NOT_FOUND'])
  })
})
