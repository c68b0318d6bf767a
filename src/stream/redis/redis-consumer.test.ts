import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createClient, RESP_TYPES } from 'redis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { isLarderError, RedisStreamSource, type RedisStreamSourceOptions } from '../../core/index.js'
import { describeWithService, freePort, redisUnavailable } from '../../testing/services.js'
import type { StreamConsumer, StreamMessage } from '../consumer.js'
import { openStreamConsumer } from '../consumer-loader.js'
import { streamProcessorSchema } from '../stream-config.js'
import { entryOrder } from './redis-consumer.js'

const [host, port] = (process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379').split(':') as [string, string]
const options = streamProcessorSchema.parse({ redis_connection_string: `redis://${host}:${port}` })
/** Long enough that no test sees a redelivery it did not ask for; takeover tests pass CLAIM_SOON_MS. */
const CLAIM_AFTER_MS = 30_000
const CLAIM_SOON_MS = 200

describe('entryOrder', () => {
  it('pads milliseconds to 15 digits and the sequence to 10, so strings sort in stream order', () => {
    expect(entryOrder('1733356800000-1')).toBe('0017333568000000000000001')
    const ids = ['9-10', '10-2', '10-10', '1733356800000-0', '999-99999']
    const inStreamOrder = ['9-10', '10-2', '10-10', '999-99999', '1733356800000-0']
    expect(ids.map(entryOrder).sort()).toEqual(inStreamOrder.map(entryOrder))
  })
})

describeWithService('Redis stream consumer', await redisUnavailable(host, Number(port)), () => {
  const raw = createClient({ socket: { host, port: Number(port) } }).withTypeMapping({
    [RESP_TYPES.BLOB_STRING]: Buffer,
  })
  const streams: string[] = []
  const open: StreamConsumer[] = []

  beforeAll(() => raw.connect())
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()))
  })
  afterAll(async () => {
    if (streams.length > 0) await raw.del(streams.flatMap((s) => [s, `${s}:dead`]))
    raw.destroy()
  })

  function sourceOn(extra: Partial<RedisStreamSourceOptions> = {}): RedisStreamSource {
    const stream = `larder-test:${randomUUID()}`
    streams.push(stream)
    return new RedisStreamSource({
      name: 'trips_stream',
      stream,
      timestampField: 'event_timestamp',
      ...extra,
    })
  }

  async function consumer(
    source: RedisStreamSource,
    member: string,
    claimAfterMs = CLAIM_AFTER_MS,
  ): Promise<StreamConsumer> {
    const c = await openStreamConsumer(source, options, { member, claimAfterMs })
    open.push(c)
    return c
  }

  async function produce(source: RedisStreamSource, n: number, from = 0): Promise<string[]> {
    const ids: string[] = []
    for (let i = from; i < from + n; i++) {
      ids.push(
        String(
          await raw.xAdd(source.stream, '*', { trip: String(i), event_timestamp: '2026-11-22T00:00:00Z' }),
        ),
      )
    }
    return ids
  }

  /** The entries of `<stream>:dead`, their fields as Buffers. */
  async function deadLetters(
    source: RedisStreamSource,
  ): Promise<{ id: string; fields: Record<string, Buffer> }[]> {
    const entries = (await raw.xRange(`${source.stream}:dead`, '-', '+')) ?? []
    return entries.map((e) => ({
      id: String(e!.id),
      fields: e!.message as unknown as Record<string, Buffer>,
    }))
  }

  /** Reads until `count` messages came or the attempts ran out (a bounded poll, no timing assumed). */
  async function readAtLeast(c: StreamConsumer, count: number, attempts = 100): Promise<StreamMessage[]> {
    const got: StreamMessage[] = []
    for (let i = 0; i < attempts && got.length < count; i++)
      got.push(...(await c.read(count - got.length, 50)))
    return got
  }

  it('reads what was produced, with ids and order increasing, fields as text', async () => {
    const source = sourceOn()
    const ids = await produce(source, 5)
    const c = await consumer(source, 'a')
    const got = await readAtLeast(c, 5)
    expect(got.map((m) => m.id)).toEqual(ids)
    const orders = got.map((m) => m.order)
    expect([...orders].sort()).toEqual(orders)
    expect(new Set(orders).size).toBe(5)
    expect(got[2]!.payload).toEqual({ trip: '2', event_timestamp: '2026-11-22T00:00:00Z' })
    expect(got.every((m) => m.deliveries === 1)).toBe(true)
    await c.ack(got)
    expect(await c.read(10, 20)).toEqual([])
  })

  it('gives the bytes of the payload field when the source names one', async () => {
    const source = sourceOn({ payloadField: 'data' })
    const bytes = Buffer.from([0x7b, 0x00, 0xff, 0x7d])
    await raw.xAdd(source.stream, '*', { data: bytes, other: 'x' })
    const c = await consumer(source, 'a')
    const [m] = await readAtLeast(c, 1)
    expect(m!.payload).toBeInstanceOf(Uint8Array)
    expect(Buffer.from(m!.payload as Uint8Array)).toEqual(bytes)
  })

  it('splits one stream between two members: together they get every message once', async () => {
    const source = sourceOn()
    const ids = await produce(source, 40)
    const a = await consumer(source, 'a')
    const b = await consumer(source, 'b')
    const seen: string[] = []
    const perMember = { a: 0, b: 0 }
    for (let i = 0; i < 100 && seen.length < ids.length; i++) {
      for (const [name, c] of [
        ['a', a],
        ['b', b],
      ] as const) {
        const got = await c.read(7, 20)
        perMember[name] += got.length
        seen.push(...got.map((m) => m.id))
        await c.ack(got)
      }
    }
    expect([...seen].sort()).toEqual([...ids].sort())
    expect(new Set(seen).size).toBe(ids.length)
    expect(perMember.a).toBeGreaterThan(0)
    expect(perMember.b).toBeGreaterThan(0)
    expect(await a.read(10, 20)).toEqual([])
    expect(await b.read(10, 20)).toEqual([])
  })

  it('gives a restarted member its unacknowledged messages first, redelivered', async () => {
    const source = sourceOn()
    const first = await produce(source, 3)
    const before = await consumer(source, 'worker-1')
    expect((await readAtLeast(before, 3)).map((m) => m.id)).toEqual(first)
    await before.close()
    const later = await produce(source, 2, 3)

    const after = await consumer(source, 'worker-1')
    const own = await after.read(10, 50)
    expect(own.map((m) => m.id)).toEqual(first)
    expect(own.every((m) => m.deliveries > 1)).toBe(true)
    await after.ack(own)
    const fresh = await readAtLeast(after, 2)
    expect(fresh.map((m) => m.id)).toEqual(later)
    expect(fresh.every((m) => m.deliveries === 1)).toBe(true)
  })

  it('lets another member take over messages idle longer than claimAfterMs', async () => {
    const source = sourceOn()
    const ids = await produce(source, 3)
    const dead = await consumer(source, 'dead', CLAIM_SOON_MS)
    expect(await readAtLeast(dead, 3)).toHaveLength(3)
    const heir = await consumer(source, 'heir', CLAIM_SOON_MS)
    const taken = await readAtLeast(heir, 3)
    expect(taken.map((m) => m.id)).toEqual(ids)
    expect(taken.every((m) => m.deliveries >= 2)).toBe(true)
    await heir.ack(taken)
    expect(await heir.lag()).toEqual({ pending: 0, unacknowledged: 0 })
  })

  it('dead-letters to <stream>:dead with the reason and the original fields, and acknowledges', async () => {
    const source = sourceOn()
    await produce(source, 2)
    const c = await consumer(source, 'a')
    const [bad, good] = await readAtLeast(c, 2)
    await c.deadLetter(bad!, 'event_timestamp is not a time')
    await c.ack([good!])
    const dead = await deadLetters(source)
    expect(dead).toHaveLength(1)
    const { fields } = dead[0]!
    expect(String(fields.id)).toBe(bad!.id)
    expect(String(fields.reason)).toBe('event_timestamp is not a time')
    expect(JSON.parse(String(fields.payload))).toEqual(bad!.payload)
    expect(await c.lag()).toEqual({ pending: 0, unacknowledged: 0 })
  })

  it('dead-letters payload bytes as they are, and an entry without the payload field as it is read', async () => {
    const source = sourceOn({ payloadField: 'data' })
    const bytes = Buffer.from([0xde, 0xad, 0xbe, 0xef])
    await raw.xAdd(source.stream, '*', { data: bytes })
    const missing = String(await raw.xAdd(source.stream, '*', { other: 'no payload' }))
    const c = await consumer(source, 'a')
    const got = await c.read(10, 50)
    expect(got.map((m) => Buffer.from(m.payload as Uint8Array))).toEqual([bytes])
    await c.deadLetter(got[0]!, 'not JSON')
    const dead = await deadLetters(source)
    expect(dead.map((e) => String(e.fields.id))).toEqual([missing, got[0]!.id])
    expect(String(dead[0]!.fields.reason)).toBe('the entry has no field "data"')
    expect(JSON.parse(String(dead[0]!.fields.payload))).toEqual({ other: 'no payload' })
    expect(dead[1]!.fields.payload).toEqual(bytes)
    expect(await c.lag()).toEqual({ pending: 0, unacknowledged: 0 })
  })

  it('reports lag: entries not yet delivered, and delivered but unacknowledged', async () => {
    const source = sourceOn()
    await produce(source, 5)
    const c = await consumer(source, 'a')
    expect(await c.lag()).toEqual({ pending: 5, unacknowledged: 0 })
    const got = await c.read(2, 50)
    expect(got).toHaveLength(2)
    expect(await c.lag()).toEqual({ pending: 3, unacknowledged: 2 })
  })

  it('recreates its group when the stream key was deleted under it', async () => {
    const source = sourceOn()
    const c = await consumer(source, 'a')
    await raw.del(source.stream)
    expect(await c.lag()).toEqual({ pending: undefined, unacknowledged: undefined })
    expect(await c.read(10, 20)).toEqual([])
    const ids = await produce(source, 2)
    expect((await readAtLeast(c, 2)).map((m) => m.id)).toEqual(ids)
  })

  it('fails with DATA_SOURCE when the key holds something else than a stream', async () => {
    const source = sourceOn()
    await raw.set(source.stream, 'not a stream')
    await expect(consumer(source, 'a')).rejects.toMatchObject({ code: 'DATA_SOURCE' })
  })

  it('fails quickly with BACKEND_UNAVAILABLE naming the URL, without its password, when Redis is down', async () => {
    const free = await freePort()
    const url = `redis://app:s3cret@127.0.0.1:${free}`
    const source = sourceOn()
    const error = await openStreamConsumer(
      source,
      { ...options, redis_connection_string: url },
      { member: 'a', claimAfterMs: CLAIM_AFTER_MS },
    ).catch((e: unknown) => e)
    expect(isLarderError(error) && error.code).toBe('BACKEND_UNAVAILABLE')
    expect((error as Error).message).toContain(`127.0.0.1:${free}`)
    expect((error as Error).message).not.toContain('s3cret')
    expect((error as { hint?: string }).hint).toContain('redis_connection_string')
  })

  describe('on a server that dies', () => {
    let server: ChildProcess | undefined

    afterEach(() => {
      server?.kill('SIGKILL')
    })

    it('fails reads with BACKEND_UNAVAILABLE and closes without hanging', async () => {
      const serverPort = await freePort()
      server = spawn(
        'redis-server',
        ['--bind', '127.0.0.1', '--port', String(serverPort), '--save', '', '--appendonly', 'no'],
        {
          stdio: 'ignore',
        },
      )
      // a missing binary shows as the server never answering below
      server.on('error', () => {})
      let up: string | undefined = 'not started'
      for (let i = 0; i < 100 && up !== undefined; i++) {
        up = await redisUnavailable('127.0.0.1', serverPort, 200)
        if (up !== undefined) await new Promise((r) => setTimeout(r, 50))
      }
      expect(up).toBeUndefined()
      const source = sourceOn()
      const c = await openStreamConsumer(
        source,
        { ...options, redis_connection_string: `redis://127.0.0.1:${serverPort}` },
        { member: 'a', claimAfterMs: CLAIM_AFTER_MS },
      )
      expect(await c.read(10, 20)).toEqual([])
      const exited = new Promise((r) => server!.once('exit', r))
      server.kill('SIGKILL')
      await exited
      const error = await c.read(10, 1000).catch((e: unknown) => e)
      expect(isLarderError(error) && error.code).toBe('BACKEND_UNAVAILABLE')
      expect((error as Error).message).toContain(`127.0.0.1:${serverPort}`)
      await c.close()
    })
  })
})
