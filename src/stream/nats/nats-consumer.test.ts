import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AckPolicy, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { isLarderError, NatsSource, type NatsSourceOptions } from '../../core/index.js'
import { describeWithService, freePort, natsUnavailable } from '../../testing/services.js'
import type { StreamConsumer, StreamMessage } from '../consumer.js'
import { openStreamConsumer } from '../consumer-loader.js'
import { streamProcessorSchema } from '../stream-config.js'
import { parseAckSubject, sequenceOrder } from './nats-ack-subject.js'

const [host, port] = (process.env.LARDER_TEST_NATS ?? '127.0.0.1:4222').split(':') as [string, string]
const options = streamProcessorSchema.parse({ nats_servers: `nats://${host}:${port}` })
/** Long enough that no test sees a redelivery it did not ask for; takeover tests pass CLAIM_SOON_MS. */
const CLAIM_AFTER_MS = 30_000
const CLAIM_SOON_MS = 200

describe('NATS ack subjects', () => {
  it('reads the delivery count and stream sequence of both subject forms', () => {
    expect(parseAckSubject('$JS.ACK.TRIPS.larder.2.41.57.1733356800000000000.0')).toEqual({
      streamSequence: 41,
      deliveries: 2,
    })
    expect(parseAckSubject('$JS.ACK.hub.ACCHASH.TRIPS.larder.1.7.7.1733356800000000000.3.abc')).toEqual({
      streamSequence: 7,
      deliveries: 1,
    })
  })

  it('refuses subjects that are not JetStream acks', () => {
    expect(parseAckSubject(undefined)).toBeUndefined()
    expect(parseAckSubject('_INBOX.abc')).toBeUndefined()
    expect(parseAckSubject('$JS.ACK.TRIPS.larder.x.41.57.1.0')).toBeUndefined()
    expect(parseAckSubject('$JS.ACK.TRIPS.larder.1.41')).toBeUndefined()
  })

  it('orders sequences as fixed-width digits', () => {
    expect(sequenceOrder(41)).toBe('00000000000000000041')
    const sequences = [10, 9, 100, 2 ** 53 - 1, 1]
    expect(sequences.map(sequenceOrder).sort()).toEqual([1, 9, 10, 100, 2 ** 53 - 1].map(sequenceOrder))
  })
})

describeWithService('NATS JetStream consumer', await natsUnavailable(host, Number(port)), () => {
  let nc: NatsConnection
  let jsm: JetStreamManager
  const streams: string[] = []
  const open: StreamConsumer[] = []

  beforeAll(async () => {
    nc = await connect({ servers: `nats://${host}:${port}` })
    jsm = await jetstreamManager(nc)
  })
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()))
  })
  afterAll(async () => {
    for (const name of streams) await jsm.streams.delete(name).catch(() => false)
    await nc.close()
  })

  /** A new stream storing `<prefix>.<capture>` and a source on `<prefix>.events`. */
  async function sourceOn(
    extra: Partial<NatsSourceOptions> = {},
    capture = 'events',
  ): Promise<{ source: NatsSource; stream: string }> {
    const id = randomUUID().replaceAll('-', '')
    const stream = `LARDER_TEST_${id}`
    const prefix = `larder-test.${id}`
    streams.push(stream, `${stream}_dead`)
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.${capture}`] })
    const source = new NatsSource({
      name: 'trips_nats',
      subject: `${prefix}.events`,
      stream,
      timestampField: 'event_timestamp',
      ...extra,
    })
    return { source, stream }
  }

  async function consumer(source: NatsSource, member: string, claimAfterMs = CLAIM_AFTER_MS) {
    const c = await openStreamConsumer(source, options, { member, claimAfterMs })
    open.push(c)
    return c
  }

  async function produce(source: NatsSource, n: number, from = 0): Promise<string[]> {
    const js = jetstream(nc)
    const ids: string[] = []
    for (let i = from; i < from + n; i++) {
      const ack = await js.publish(source.subject, JSON.stringify({ trip: i }))
      ids.push(String(ack.seq))
    }
    return ids
  }

  /** Reads until `count` messages came or the attempts ran out (a bounded poll, no timing assumed). */
  async function readAtLeast(c: StreamConsumer, count: number, attempts = 100): Promise<StreamMessage[]> {
    const got: StreamMessage[] = []
    for (let i = 0; i < attempts && got.length < count; i++)
      got.push(...(await c.read(count - got.length, 50)))
    return got
  }

  const text = (m: StreamMessage) => JSON.parse(Buffer.from(m.payload as Uint8Array).toString())

  it('reads what was published, with ids and order increasing, payloads as bytes', async () => {
    const { source } = await sourceOn()
    const ids = await produce(source, 5)
    const c = await consumer(source, 'a')
    const got = await readAtLeast(c, 5)
    expect(got.map((m) => m.id)).toEqual(ids)
    const orders = got.map((m) => m.order)
    expect([...orders].sort()).toEqual(orders)
    expect(got.map(text)).toEqual([0, 1, 2, 3, 4].map((trip) => ({ trip })))
    expect(got.every((m) => m.deliveries === 1)).toBe(true)
    await c.ack(got)
    expect(await c.read(10, 50)).toEqual([])
    expect(await c.lag()).toEqual({ pending: 0, unacknowledged: 0 })
  })

  it('finds the stream by subject when the source names none', async () => {
    const { source } = await sourceOn()
    const bySubject = new NatsSource({
      name: 'trips_nats',
      subject: source.subject,
      consumer: 'by_subject',
      timestampField: 'event_timestamp',
    })
    const ids = await produce(bySubject, 2)
    const c = await consumer(bySubject, 'a')
    expect((await readAtLeast(c, 2)).map((m) => m.id)).toEqual(ids)
  })

  it('splits one stream between two members: together they get every message once', async () => {
    const { source } = await sourceOn()
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
        const got = await c.read(7, 50)
        perMember[name] += got.length
        seen.push(...got.map((m) => m.id))
        await c.ack(got)
      }
    }
    expect([...seen].sort()).toEqual([...ids].sort())
    expect(new Set(seen).size).toBe(ids.length)
    expect(perMember.a).toBeGreaterThan(0)
    expect(perMember.b).toBeGreaterThan(0)
    expect(await a.read(10, 50)).toEqual([])
  })

  it('gives a restarted member its unacknowledged messages first, redelivered', async () => {
    const { source } = await sourceOn()
    const first = await produce(source, 3)
    const before = await consumer(source, 'worker-1')
    expect((await readAtLeast(before, 3)).map((m) => m.id)).toEqual(first)
    await before.close()
    const later = await produce(source, 2, 3)

    const after = await consumer(source, 'worker-1')
    const got = await readAtLeast(after, 5)
    expect(got.map((m) => m.id)).toEqual([...first, ...later])
    expect(got.slice(0, 3).every((m) => m.deliveries > 1)).toBe(true)
    expect(got.slice(3).every((m) => m.deliveries === 1)).toBe(true)
  })

  it('lets another member take over messages unacknowledged longer than claimAfterMs', async () => {
    const { source } = await sourceOn()
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

  it('sets the consumer ack wait to claimAfterMs, and aligns an existing consumer', async () => {
    const { source, stream } = await sourceOn()
    await consumer(source, 'a', 200)
    expect((await jsm.consumers.info(stream, source.consumer)).config.ack_wait).toBe(200_000_000)
    await consumer(source, 'b', 700)
    const info = await jsm.consumers.info(stream, source.consumer)
    expect(info.config).toMatchObject({
      ack_wait: 700_000_000,
      ack_policy: AckPolicy.Explicit,
      filter_subject: source.subject,
    })
  })

  it('dead-letters to <subject>.dead with the reason in headers, creating <stream>_dead, and acknowledges', async () => {
    const { source, stream } = await sourceOn()
    await produce(source, 2)
    const c = await consumer(source, 'a')
    const [bad, good] = await readAtLeast(c, 2)
    await c.deadLetter(bad!, 'event_timestamp is not a time')
    await c.deadLetter(good!, 'second one')
    const dead = await jsm.streams.getMessage(`${stream}_dead`, { seq: 1 })
    expect(dead!.subject).toBe(`${source.subject}.dead`)
    expect(dead!.header.get('reason')).toBe('event_timestamp is not a time')
    expect(dead!.header.get('id')).toBe(bad!.id)
    expect(dead!.header.get('subject')).toBe(source.subject)
    expect(Buffer.from(dead!.data)).toEqual(Buffer.from(bad!.payload as Uint8Array))
    expect((await jsm.streams.info(`${stream}_dead`)).state.messages).toBe(2)
    expect(await c.lag()).toEqual({ pending: 0, unacknowledged: 0 })
  })

  it('dead-letters into the source stream when it stores <subject>.dead', async () => {
    const { source, stream } = await sourceOn({}, '>')
    await produce(source, 1)
    const c = await consumer(source, 'a')
    const [m] = await readAtLeast(c, 1)
    await c.deadLetter(m!, 'bad')
    const info = await jsm.streams.info(stream)
    expect(info.state.messages).toBe(2)
    const dead = await jsm.streams.getMessage(stream, { last_by_subj: `${source.subject}.dead` })
    expect(dead!.header.get('reason')).toBe('bad')
    expect(await c.read(10, 50)).toEqual([])
    await expect(jsm.streams.info(`${stream}_dead`)).rejects.toThrow()
  })

  it('reports lag: messages not yet delivered, and delivered but unacknowledged', async () => {
    const { source } = await sourceOn()
    await produce(source, 5)
    const c = await consumer(source, 'a')
    expect(await c.lag()).toEqual({ pending: 5, unacknowledged: 0 })
    expect(await c.read(2, 50)).toHaveLength(2)
    expect(await c.lag()).toEqual({ pending: 3, unacknowledged: 2 })
  })

  it('recreates its consumer when it was deleted under it', async () => {
    const { source, stream } = await sourceOn()
    const c = await consumer(source, 'a')
    await jsm.consumers.delete(stream, source.consumer)
    const ids = await produce(source, 2)
    expect((await readAtLeast(c, 2, 20)).map((m) => m.id)).toEqual(ids)
  })

  it('fails with NOT_FOUND naming the stream, with the command to create it', async () => {
    const missing = new NatsSource({
      name: 'trips_nats',
      subject: `larder-test.${randomUUID()}.events`,
      stream: 'LARDER_TEST_MISSING',
      timestampField: 'event_timestamp',
    })
    const error = await consumer(missing, 'a').catch((e: unknown) => e)
    expect(isLarderError(error) && error.code).toBe('NOT_FOUND')
    expect((error as Error).message).toContain('"LARDER_TEST_MISSING"')
    expect((error as { hint?: string }).hint).toContain('nats stream add LARDER_TEST_MISSING')

    const unstored = new NatsSource({
      name: 'trips_nats',
      subject: missing.subject,
      timestampField: 'event_timestamp',
    })
    await expect(consumer(unstored, 'a')).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('refuses a subject ending in ">", which would read its own dead letters', async () => {
    const { stream } = await sourceOn()
    const greedy = new NatsSource({
      name: 'trips_nats',
      subject: 'larder-test.>',
      stream,
      timestampField: 'ts',
    })
    await expect(consumer(greedy, 'a')).rejects.toMatchObject({ code: 'UNSUPPORTED' })
  })

  it('fails quickly with BACKEND_UNAVAILABLE naming the server, without its password, when NATS is down', async () => {
    const free = await freePort()
    const { source } = await sourceOn()
    const error = await openStreamConsumer(
      source,
      { ...options, nats_servers: `nats://app:s3cret@127.0.0.1:${free}` },
      { member: 'a', claimAfterMs: CLAIM_AFTER_MS },
    ).catch((e: unknown) => e)
    expect(isLarderError(error) && error.code).toBe('BACKEND_UNAVAILABLE')
    expect((error as Error).message).toContain(`127.0.0.1:${free}`)
    expect((error as Error).message).not.toContain('s3cret')
    expect((error as { hint?: string }).hint).toContain('nats_servers')
  })

  describe('on a server that dies', () => {
    let server: ChildProcess | undefined
    let dir: string | undefined

    afterAll(() => {
      server?.kill('SIGKILL')
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    })

    it('fails reads with BACKEND_UNAVAILABLE and closes without hanging', async () => {
      const serverPort = await freePort()
      dir = mkdtempSync(join(tmpdir(), 'larder-nats-'))
      server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(serverPort), '-js', '-sd', dir], {
        stdio: 'ignore',
      })
      // a missing binary shows as the server never answering below
      server.on('error', () => {})
      let up: string | undefined = 'not started'
      for (let i = 0; i < 100 && up !== undefined; i++) {
        up = await natsUnavailable('127.0.0.1', serverPort, 200)
        if (up !== undefined) await new Promise((r) => setTimeout(r, 50))
      }
      expect(up).toBeUndefined()
      const admin = await connect({ servers: `nats://127.0.0.1:${serverPort}` })
      await (await jetstreamManager(admin)).streams.add({ name: 'DYING', subjects: ['dying.events'] })
      await admin.close()
      const source = new NatsSource({ name: 'dying', subject: 'dying.events', timestampField: 'ts' })
      const c = await openStreamConsumer(
        source,
        { ...options, nats_servers: `nats://127.0.0.1:${serverPort}` },
        { member: 'a', claimAfterMs: CLAIM_AFTER_MS },
      )
      expect(await c.read(10, 50)).toEqual([])
      const exited = new Promise((r) => server!.once('exit', r))
      server.kill('SIGKILL')
      await exited
      let error: unknown
      for (let i = 0; i < 20 && error === undefined; i++)
        error = await c.read(10, 50).then(
          () => undefined,
          (e) => e,
        )
      expect(isLarderError(error) && error.code).toBe('BACKEND_UNAVAILABLE')
      expect((error as Error).message).toContain(`127.0.0.1:${serverPort}`)
      await c.close()
    })
  })
})
