import { randomUUID } from 'node:crypto'
import { Admin, Consumer, Producer } from '@platformatic/kafka'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { isLarderError, KafkaSource } from '../../core/index.js'
import { freePort } from '../../testing/services.js'
import type { StreamConsumer, StreamMessage } from '../consumer.js'
import { openStreamConsumer } from '../consumer-loader.js'
import { streamProcessorSchema } from '../stream-config.js'
import { kafkaGroupId } from './kafka-consumer.js'

const options = streamProcessorSchema.parse({})
/** Below the brokers' minimum session timeout, so members use 6 s. */
const CLAIM_AFTER_MS = 200

function kafkaSource(topic: string, brokers: string): KafkaSource {
  return new KafkaSource({
    name: `trips_${topic.replaceAll(/[^a-z0-9]/gi, '_')}`,
    topic,
    timestampField: 'event_timestamp',
    kafkaBootstrapServers: brokers,
  })
}

describe('Kafka consumer without a broker', () => {
  it('names its group after the source', () => {
    expect(kafkaGroupId(kafkaSource('trips', '127.0.0.1:9092'))).toBe('larder.trips_trips')
  })

  it('fails with INVALID_DEFINITION when the source names no brokers', async () => {
    const source = new KafkaSource({ name: 'trips', topic: 'trips', timestampField: 'event_timestamp' })
    await expect(
      openStreamConsumer(source, options, { member: 'a', claimAfterMs: CLAIM_AFTER_MS }),
    ).rejects.toMatchObject({ code: 'INVALID_DEFINITION' })
  })

  it('fails quickly with BACKEND_UNAVAILABLE naming the brokers when none answers', async () => {
    const port = await freePort()
    const error = await openStreamConsumer(kafkaSource('trips', `127.0.0.1:${port}`), options, {
      member: 'a',
      claimAfterMs: CLAIM_AFTER_MS,
    }).catch((e: unknown) => e)
    expect(isLarderError(error) && error.code).toBe('BACKEND_UNAVAILABLE')
    expect((error as Error).message).toContain(`127.0.0.1:${port}`)
    expect((error as { hint?: string }).hint).toContain('kafkaBootstrapServers')
  })
})

const brokers = process.env.KAFKA_BROKERS ?? ''

describe.skipIf(brokers === '')(
  'Kafka consumer on a broker (skipped: set KAFKA_BROKERS=host:port to run; no Kafka broker runs on the project machines)',
  () => {
    const admin = new Admin({ clientId: 'larder-test-admin', bootstrapBrokers: brokers.split(',') })
    const producer = new Producer({ clientId: 'larder-test-producer', bootstrapBrokers: brokers.split(',') })
    const topics: string[] = []
    const open: StreamConsumer[] = []

    beforeAll(async () => {
      await admin.listTopics()
    })
    afterEach(async () => {
      await Promise.all(open.splice(0).map((c) => c.close()))
    })
    afterAll(async () => {
      if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => {})
      await producer.close()
      await admin.close()
    })

    async function topicWith(partitions: number): Promise<KafkaSource> {
      const topic = `larder-test-${randomUUID()}`
      await admin.createTopics({ topics: [topic, `${topic}.dead`], partitions, replicas: 1 })
      topics.push(topic, `${topic}.dead`)
      return kafkaSource(topic, brokers)
    }

    async function consumer(source: KafkaSource, member: string): Promise<StreamConsumer> {
      const c = await openStreamConsumer(source, options, { member, claimAfterMs: CLAIM_AFTER_MS })
      open.push(c)
      return c
    }

    async function produce(source: KafkaSource, n: number, partition = 0, from = 0): Promise<void> {
      await producer.send({
        messages: Array.from({ length: n }, (_, i) => ({
          topic: source.topic,
          partition,
          key: Buffer.from(`k${from + i}`),
          value: Buffer.from(JSON.stringify({ trip: from + i })),
        })),
      })
    }

    /** Reads until `count` messages came or the attempts ran out (a bounded poll, no timing assumed). */
    async function readAtLeast(c: StreamConsumer, count: number, attempts = 200): Promise<StreamMessage[]> {
      const got: StreamMessage[] = []
      for (let i = 0; i < attempts && got.length < count; i++)
        got.push(...(await c.read(count - got.length, 100)))
      return got
    }

    const trip = (m: StreamMessage) =>
      (JSON.parse(Buffer.from(m.payload as Uint8Array).toString()) as { trip: number }).trip

    it('reads what was produced, with ids topic/partition/offset and order increasing', async () => {
      const source = await topicWith(1)
      await produce(source, 5)
      const c = await consumer(source, 'a')
      const got = await readAtLeast(c, 5)
      expect(got.map((m) => m.id)).toEqual([0, 1, 2, 3, 4].map((o) => `${source.topic}/0/${o}`))
      expect(got.map(trip)).toEqual([0, 1, 2, 3, 4])
      const orders = got.map((m) => m.order)
      expect([...orders].sort()).toEqual(orders)
      await c.ack(got)
      expect(await c.lag()).toEqual({ pending: 0, unacknowledged: undefined })
    })

    it('commits only up to the first unacknowledged message, and a restarted member resumes there', async () => {
      const source = await topicWith(1)
      await produce(source, 4)
      const before = await consumer(source, 'worker-1')
      const got = await readAtLeast(before, 4)
      await before.ack([got[0]!, got[2]!, got[3]!])
      expect(await before.lag()).toEqual({ pending: 3, unacknowledged: undefined })
      await before.close()

      const after = await consumer(source, 'worker-1')
      const again = await readAtLeast(after, 3)
      expect(again.map(trip)).toEqual([1, 2, 3])
    })

    it('splits a topic between two members by partition: together they get every message', async () => {
      const source = await topicWith(2)
      const a = await consumer(source, 'a')
      const b = await consumer(source, 'b')
      await produce(source, 10, 0)
      await produce(source, 10, 1, 10)
      const seen = new Set<string>()
      const perMember = { a: 0, b: 0 }
      for (let i = 0; i < 300 && seen.size < 20; i++) {
        for (const [name, c] of [
          ['a', a],
          ['b', b],
        ] as const) {
          const got = await c.read(5, 50)
          perMember[name] += got.length
          for (const m of got) seen.add(m.id)
          await c.ack(got)
        }
      }
      expect(seen.size).toBe(20)
      expect(perMember.a).toBeGreaterThan(0)
      expect(perMember.b).toBeGreaterThan(0)
    })

    it("gives a member that left the group the other's partitions, from the committed offset", async () => {
      const source = await topicWith(1)
      await produce(source, 3)
      const first = await consumer(source, 'first')
      expect(await readAtLeast(first, 3)).toHaveLength(3)
      const heir = await consumer(source, 'heir')
      await first.close()
      expect((await readAtLeast(heir, 3)).map(trip)).toEqual([0, 1, 2])
    })

    it('dead-letters to <topic>.dead with the reason and id headers, and acknowledges', async () => {
      const source = await topicWith(1)
      await produce(source, 1)
      const c = await consumer(source, 'a')
      const [m] = await readAtLeast(c, 1)
      await c.deadLetter(m!, 'not JSON')
      expect(await c.lag()).toEqual({ pending: 0, unacknowledged: undefined })

      const reader = new Consumer({
        clientId: 'larder-test-dead',
        groupId: `larder-test-${randomUUID()}`,
        bootstrapBrokers: brokers.split(','),
      })
      const stream = await reader.consume({ topics: [`${source.topic}.dead`], mode: 'earliest' })
      for await (const dead of stream) {
        const headers = new Map([...dead.headers].map(([k, v]) => [String(k), String(v)]))
        expect(headers.get('reason')).toBe('not JSON')
        expect(headers.get('id')).toBe(m!.id)
        expect(String(dead.key)).toBe('k0')
        expect(Buffer.from(dead.value)).toEqual(Buffer.from(m!.payload as Uint8Array))
        break
      }
      await reader.close(true)
    })
  },
)
