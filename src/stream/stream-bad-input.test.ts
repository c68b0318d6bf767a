import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatMicros, isLarderError, toMicros } from '../core/index.js'
import { createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import { describeWithService, freePort, redisUnavailable } from '../testing/services.js'
import { CORE, handled, untilHandled, waitUntil, withSettings } from './__fixtures__/stream-test-kit.js'
import { runStreamProcessor, type StreamProcessor } from './index.js'

// Events the processor cannot use go to the source's dead-letter stream with a reason naming the
// view, the field and the value, and the processor goes on writing the good ones; a definition it
// could never run fails at apply; a broker that is down is retried (health says so) until it is up.

const T = toMicros('2026-03-01T00:00:00Z')
const SECOND = 1_000_000
const at = (seconds: number) => formatMicros(T + seconds * SECOND)
const tag = `${process.pid}-${Date.now().toString(36)}`
const STREAMS = {
  fields: `larder-bad-fields-${tag}`,
  json: `larder-bad-json-${tag}`,
  row: `larder-bad-row-${tag}`,
  batch: `larder-bad-batch-${tag}`,
}

/** Four views over four Redis streams: entry fields, JSON payloads, a row transformation, a batch one. */
function definitions(aggregation = 'sum'): string {
  const view = (name: string, source: string, extra = '') => `export const ${name} = new StreamFeatureView({
  name: '${name}',
  source: ${source},
  entities: [k],
  schema: [
    new Field({ name: 'k', dtype: Int64 }),
    new Field({ name: 'n', dtype: Int64 }),
    new Field({ name: 'x', dtype: Float64 }),
    new Field({ name: 's', dtype: String }),
  ],
  aggregations: [
    new Aggregation({ column: 'x', function: '${aggregation}', timeWindow: '1h', name: 'sum_x' }),
    new Aggregation({ column: 'n', function: 'count', timeWindow: '1h', name: 'count_n' }),
  ],
  tilingHopSize: '1m',${extra}
})`
  const source = (name: string, stream: string, extra = '') =>
    `export const ${name} = new RedisStreamSource({ name: '${name}', stream: '${stream}', timestampField: 'ts', batchSource: file${extra} })`
  return [
    `import { Aggregation, Entity, Field, FileSource, Float64, Int64, RedisStreamSource, StreamFeatureView, String } from ${JSON.stringify(CORE)}`,
    `export const k = new Entity({ name: 'k', joinKeys: ['k'], valueType: Int64 })`,
    `export const file = new FileSource({ name: 'events_file', path: 'data/events', timestampField: 'ts' })`,
    source('fields_src', STREAMS.fields),
    source('json_src', STREAMS.json, `, payloadField: 'data'`),
    source('row_src', STREAMS.row),
    source('batch_src', STREAMS.batch),
    view('fields_view', 'fields_src'),
    view('json_view', 'json_src'),
    view(
      'row_view',
      'row_src',
      `
  transform: (e) => {
    if (e.s === 'boom') throw new Error('cannot take s = ' + e.s + ' of k = ' + e.k)
    if (e.s === 'async') return Promise.resolve({ x: 0 })
    return { x: Number(e.x) * 2 }
  },`,
    ),
    view(
      'batch_view',
      'batch_src',
      `
  mode: 'batch',
  transform: (columns) => ({
    x: columns.s.includes('short') ? columns.x.slice(1).map(Number) : columns.x.map((v) => Number(v) * 10),
  }),`,
    ),
    '',
  ].join('\n')
}

/** What one stream receives, in order, and the dead-letter reasons expected (matched in order). */
interface Feed {
  readonly stream: string
  readonly entries: readonly Record<string, string>[]
  readonly dead: readonly RegExp[]
  /** Dead letters the consumer writes as it reads (not counted in health): entries without the payload field. */
  readonly buried?: number
}

const FEEDS: readonly Feed[] = [
  {
    stream: STREAMS.fields,
    entries: [
      { k: '1', ts: at(1), n: '1', x: '1.5', s: 'a' },
      { k: '1', n: '2', x: '2', s: 'no time' },
      { ts: at(2), n: '2', x: '2', s: 'no key' },
      { k: '1', ts: at(2), n: '2', x: 'abc', s: 'text in x' },
      { k: '1', ts: at(2), n: '2.5', x: '2', s: 'fraction in n' },
      { k: '1', ts: 'yesterday', n: '2', x: '2', s: 'bad time' },
      { k: 'one', ts: at(2), n: '2', x: '2', s: 'text key' },
      { k: '1', ts: at(3), n: '3', x: '2.5', s: 'b' },
      { k: '2', ts: at(3), n: '7', x: '-1', s: 'c' },
    ],
    dead: [
      /the event has no timestamp field "ts" for stream feature view "fields_view"/,
      /the event has no join key "k" for stream feature view "fields_view"/,
      /^field "x" of the event for stream feature view "fields_view": "abc" is not a number$/,
      /^field "n" of the event for stream feature view "fields_view": cannot encode 2\.5 as INT64/,
      /^field "ts" of the event for stream feature view "fields_view": the value "yesterday" is not a valid timestamp/,
      /^field "k" of the event for stream feature view "fields_view": "one" is not a number$/,
    ],
  },
  {
    stream: STREAMS.json,
    entries: [
      { data: JSON.stringify({ k: 1, ts: at(1), n: 1, x: 1.5, s: 'a' }) },
      { data: 'not json {' },
      { data: '[1, 2]' },
      { data: JSON.stringify({ k: 1, ts: at(2), n: 2, x: 'abc', s: 'text in x' }) },
      { data: JSON.stringify({ k: 1, ts: at(2), n: { a: 1 }, x: 2, s: 'object in n' }) },
      { data: JSON.stringify({ k: 1, ts: at(2), n: 2, x: 2, s: ['a list'] }) },
      { data: JSON.stringify({ k: null, ts: at(2), n: 2, x: 2, s: 'null key' }) },
      { data: JSON.stringify({ k: 1, ts: null, n: 2, x: 2, s: 'null time' }) },
      { payload: JSON.stringify({ k: 1, ts: at(2), n: 2, x: 2, s: 'no data field' }) },
      { data: JSON.stringify({ k: 1, ts: at(3), n: 3, x: 2.5, s: 'b' }) },
      { data: JSON.stringify({ k: 2, ts: at(3), n: 7, x: -1, s: null }) },
    ],
    dead: [
      /^field "data" of message \S+ is not JSON \("not json \{"\): .*, for stream feature view "json_view"$/,
      /^field "data" of message \S+ is JSON array \("\[1, 2\]"\), not an object of event fields, for stream feature view "json_view"$/,
      /^field "x" of the event for stream feature view "json_view": cannot encode "abc" as DOUBLE/,
      /^field "n" of the event for stream feature view "json_view": cannot encode an object as INT64/,
      /^field "s" of the event for stream feature view "json_view": cannot encode an array .*as STRING/,
      /the event has no join key "k" for stream feature view "json_view"/,
      /the event has no timestamp field "ts" for stream feature view "json_view"/,
      /^the entry has no field "data"$/,
    ],
    buried: 1,
  },
  {
    stream: STREAMS.row,
    entries: [
      { k: '1', ts: at(1), n: '1', x: '1.5', s: 'a' },
      { k: '1', ts: at(2), n: '2', x: '2', s: 'boom' },
      { k: '1', ts: at(3), n: '3', x: '2.5', s: 'b' },
      { k: '1', ts: at(2), n: '2', x: '2', s: 'async' },
      { k: '2', ts: at(3), n: '7', x: '-1', s: 'c' },
    ],
    dead: [
      /^the transformation of stream feature view "row_view" failed: cannot take s = boom of k = 1$/,
      /^the transformation of stream feature view "row_view" failed: it returned a Promise, not a record/,
    ],
  },
  {
    // batches of two: the second batch's transformation returns one value too few, so both its events go
    stream: STREAMS.batch,
    entries: [
      { k: '1', ts: at(1), n: '1', x: '1.5', s: 'a' },
      { k: '2', ts: at(3), n: '7', x: '-1', s: 'c' },
      { k: '1', ts: at(2), n: '2', x: '2', s: 'short' },
      { k: '1', ts: at(2), n: '2', x: '3', s: 'in the bad batch' },
      { k: '1', ts: at(3), n: '3', x: '2.5', s: 'b' },
    ],
    dead: [
      /the transformation of stream feature view "batch_view" failed on its batch: it returned 1 values for "x" for 2 events/,
      /the transformation of stream feature view "batch_view" failed on its batch: it returned 1 values for "x" for 2 events/,
    ],
  },
]

const redisDown = await redisUnavailable('127.0.0.1', 6379)
const noRedisServer = await redisServerMissing()

describeWithService('the stream processor given bad input', redisDown, () => {
  const redis = createClient({ url: 'redis://127.0.0.1:6379' })
  let repo: TestRepo
  beforeAll(async () => {
    await redis.connect()
    repo = await createTestRepo({
      onlineStore: 'type: memory',
      featuresFile: definitions(),
      prepare: async (dir) => mkdirSync(join(dir, 'data', 'events')),
    })
  })
  afterAll(async () => {
    await redis.del(Object.values(STREAMS).flatMap((s) => [s, `${s}:dead`]))
    await redis.quit()
    await repo?.close()
  })

  it('dead-letters each bad event with a reason naming the view, the field and the value, and writes the good ones', async () => {
    for (const feed of FEEDS) for (const entry of feed.entries) await redis.xAdd(feed.stream, '*', entry)
    const logs: string[] = []
    const processor = await runStreamProcessor(withSettings(repo.store, { batch_size: 2, max_wait_ms: 20 }), {
      member: 'bad-input',
      now: () => T,
      onLog: (line) => logs.push(line.msg),
    })
    try {
      const total = (source: string) => FEEDS[['fields', 'json', 'row', 'batch'].indexOf(source)]!
      await waitUntil(
        () =>
          processor.health().sources.every((s) => {
            const feed = total(s.source.replace('_src', ''))
            return s.events + s.deadLettered >= feed.entries.length - (feed.buried ?? 0)
          }),
        `every event handled (health: ${JSON.stringify(processor.health())})`,
      )
      const health = processor.health()
      expect(health.healthy).toBe(true)
      for (const s of health.sources) {
        const feed = total(s.source.replace('_src', ''))
        expect(s, s.source).toMatchObject({
          state: 'running',
          error: undefined,
          deadLettered: feed.dead.length - (feed.buried ?? 0),
          events: feed.entries.length - feed.dead.length,
        })
      }
    } finally {
      await processor.stop()
    }
    for (const feed of FEEDS) {
      const dead = (await redis.xRange(`${feed.stream}:dead`, '-', '+')) ?? []
      const reasons = dead.map((d) => d.message.reason!)
      expect(reasons.length, `${feed.stream}: ${reasons.join('\n')}`).toBe(feed.dead.length)
      feed.dead.forEach((pattern, i) => {
        expect(reasons[i], feed.stream).toMatch(pattern)
      })
      // the dead letter keeps the message's id and payload
      expect(dead.every((d) => d.message.id !== undefined && d.message.payload !== undefined)).toBe(true)
    }
    expect(logs.filter((m) => m === 'event dead-lettered').length).toBe(
      FEEDS.reduce((n, f) => n + f.dead.length - (f.buried ?? 0), 0),
    )
    const read = (view: string) =>
      repo.store.getOnlineFeatures(
        {
          entities: { k: [1, 2] },
          features: [`${view}:n`, `${view}:x`, `${view}:s`, `${view}:sum_x`, `${view}:count_n`],
        },
        { now: at(10) },
      )
    const values = async (view: string) => (await read(view)).results.slice(1).map((c) => c.values)
    // the good events: k=1 at 1 s (x 1.5) and 3 s (x 2.5), k=2 at 3 s (x -1)
    expect(await values('fields_view')).toEqual([
      [3, 7],
      [2.5, -1],
      ['b', 'c'],
      [4, -1],
      [2, 1],
    ])
    expect(await values('json_view')).toEqual([
      [3, 7],
      [2.5, -1],
      ['b', null],
      [4, -1],
      [2, 1],
    ])
    expect(await values('row_view')).toEqual([
      [3, 7],
      [5, -2],
      ['b', 'c'],
      [8, -2],
      [2, 1],
    ])
    expect(await values('batch_view')).toEqual([
      [3, 7],
      [25, -10],
      ['b', 'c'],
      [40, -10],
      [2, 1],
    ])
  })

  it('refuses an unknown aggregation function at apply with INVALID_DEFINITION', async () => {
    const features = join(repo.dir, 'features.ts')
    const good = readFileSync(features, 'utf8')
    writeFileSync(features, definitions('median'))
    try {
      const error = await repo.store.apply().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isLarderError(error) && error.code).toBe('INVALID_DEFINITION')
      expect((error as Error).message).toMatch(/unknown function "median"/)
    } finally {
      writeFileSync(features, good)
    }
  })
})

/** Starts `redis-server` on `port` (no persistence); resolves once it answers PING. */
async function startRedis(port: number): Promise<ChildProcess> {
  const server = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--loglevel',
      'warning',
    ],
    { stdio: 'ignore' },
  )
  // a run cut short leaves no server behind
  process.once('exit', () => server.exitCode === null && server.kill('SIGKILL'))
  await waitUntil(
    async () => (await redisUnavailable('127.0.0.1', port, 500)) === undefined,
    `redis-server on ${port}`,
  )
  return server
}

function stopRedis(server: ChildProcess | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!server || server.exitCode !== null || server.signalCode !== null) return resolve()
    server.once('exit', () => resolve())
    server.kill('SIGTERM')
  })
}

describe('the stream processor when its broker is down', () => {
  let repo: TestRepo
  const servers: ChildProcess[] = []
  beforeAll(async () => {
    repo = await createTestRepo({
      onlineStore: 'type: memory',
      featuresFile: definitions(),
      prepare: async (dir) => mkdirSync(join(dir, 'data', 'events')),
    })
  })
  afterAll(async () => {
    for (const server of servers) await stopRedis(server)
    await repo?.close()
  })

  it('starts, reports retrying with the address, and stops promptly', async () => {
    const port = await freePort()
    const processor: StreamProcessor = await runStreamProcessor(
      withSettings(repo.store, { redis_connection_string: `redis://127.0.0.1:${port}` }),
      { member: 'down', views: ['fields_view'] },
    )
    let stopped = false
    try {
      await waitUntil(() => processor.health().sources[0]!.state === 'retrying', 'state retrying')
      const [source] = processor.health().sources
      expect(processor.health().healthy).toBe(false)
      expect(source!.error).toContain(`127.0.0.1:${port}`)
      expect(source!.error).toMatch(/cannot reach Redis/)
    } finally {
      // bounded: a stop that hangs fails here rather than at the test's timeout
      const bound = new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000).unref())
      expect(await Promise.race([processor.stop().then(() => 'stopped' as const), bound])).toBe('stopped')
      stopped = true
    }
    expect(stopped).toBe(true)
    expect(processor.health().sources[0]!.state).toBe('stopped')
  })

  describeWithService('with redis-server', noRedisServer, () => {
    // LARDER_STREAM_OUTAGE_MS=40000 outlasts the Redis client's own reconnect attempts (about 30 s)
    const outageMs = Number(process.env.LARDER_STREAM_OUTAGE_MS ?? 500)
    it(`recovers from a broker outage of ${outageMs} ms: retrying while it is down, then events flow`, async () => {
      const port = await freePort()
      let server = await startRedis(port)
      servers.push(server)
      const url = `redis://127.0.0.1:${port}`
      const processor = await runStreamProcessor(
        withSettings(repo.store, { redis_connection_string: url, max_wait_ms: 20 }),
        { member: 'outage', views: ['fields_view'], now: () => T },
      )
      const add = async (fields: Record<string, string>) => {
        const client = createClient({ url })
        await client.connect()
        try {
          await client.xAdd(STREAMS.fields, '*', fields)
        } finally {
          await client.quit()
        }
      }
      try {
        await add({ k: '6', ts: at(1), n: '1', x: '1.5', s: 'before' })
        await untilHandled(processor, 1)
        server.kill('SIGKILL')
        await waitUntil(() => processor.health().sources[0]!.state === 'retrying', 'state retrying')
        expect(processor.health().sources[0]!.error).toContain(`127.0.0.1:${port}`)
        await new Promise((r) => setTimeout(r, outageMs))
        // the server comes back empty (no persistence): the stream and its group are made again
        server = await startRedis(port)
        servers.push(server)
        await add({ k: '6', ts: at(2), n: '2', x: '2.5', s: 'after' })
        await untilHandled(processor, 2, outageMs + 40_000)
        expect(processor.health().sources[0]).toMatchObject({ state: 'running', error: undefined })
      } finally {
        await processor.stop()
      }
      const r = await repo.store.getOnlineFeatures(
        { entities: { k: [6] }, features: ['fields_view:s', 'fields_view:sum_x'] },
        { now: at(10) },
      )
      expect(r.results.slice(1).map((c) => c.values[0])).toEqual(['after', 4])
    }, 120_000)

    it('recovers when the broker comes up: health turns running and events flow', async () => {
      const port = await freePort()
      const processor = await runStreamProcessor(
        withSettings(repo.store, { redis_connection_string: `redis://127.0.0.1:${port}`, max_wait_ms: 20 }),
        { member: 'late', views: ['fields_view'], now: () => T },
      )
      try {
        await waitUntil(() => processor.health().sources[0]!.state === 'retrying', 'state retrying')
        const server = await startRedis(port)
        servers.push(server)
        const late = createClient({ url: `redis://127.0.0.1:${port}` })
        await late.connect()
        try {
          await late.xAdd(STREAMS.fields, '*', { k: '5', ts: at(1), n: '1', x: '1.5', s: 'a' })
          await late.xAdd(STREAMS.fields, '*', { k: '5', ts: at(2), n: '2', x: '2.5', s: 'b' })
          await untilHandled(processor, 2, 40_000)
          expect(processor.health()).toMatchObject({ healthy: true })
          expect(processor.health().sources[0]).toMatchObject({ state: 'running', error: undefined })
        } finally {
          await late.quit()
        }
      } finally {
        await processor.stop()
      }
      const r = await repo.store.getOnlineFeatures(
        { entities: { k: [5] }, features: ['fields_view:s', 'fields_view:sum_x', 'fields_view:count_n'] },
        { now: at(10) },
      )
      expect(r.results.slice(1).map((c) => c.values[0])).toEqual(['b', 4, 2])
      expect(handled(processor)).toBe(2)
    }, 60_000)
  })
})

/** Undefined when `redis-server` can be run, else the reason. */
async function redisServerMissing(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn('redis-server', ['--version'], { stdio: 'ignore' })
    child.once('error', () => resolve('redis-server is not installed'))
    child.once('exit', (code) =>
      resolve(code === 0 ? undefined : `redis-server --version exited with ${code}`),
    )
  })
}
