import { describe, expect, it } from 'vitest'
import { KinesisSource, NatsSource, PushSource, RedisStreamSource } from '../core/index.js'
import type { StreamConsumer } from './consumer.js'
import { CONSUMER_BACKENDS, type ConsumerBackend, openStreamConsumer } from './consumer-loader.js'
import { streamProcessorSchema } from './stream-config.js'

const options = streamProcessorSchema.parse({})
const identity = { member: 'a', claimAfterMs: 30_000 }
const redisSource = new RedisStreamSource({ name: 'trips_stream', stream: 'trips', timestampField: 'ts' })

/** An import of a package that is not installed, as Node reports it. */
function missingPackage(pkg: string): Error {
  return Object.assign(
    new Error(`Cannot find package '${pkg}' imported from /app/dist/stream/redis/index.js`),
    {
      code: 'ERR_MODULE_NOT_FOUND',
    },
  )
}

describe('openStreamConsumer', () => {
  it('has a consumer folder for Redis streams, NATS and Kafka', () => {
    expect(Object.keys(CONSUMER_BACKENDS).sort()).toEqual(['KafkaSource', 'NatsSource', 'RedisStreamSource'])
  })

  it('opens the folder of the source kind with the source, options and identity', async () => {
    const calls: unknown[][] = []
    const consumer = {} as StreamConsumer
    const backends: Record<string, ConsumerBackend> = {
      RedisStreamSource: {
        load: async () => ({
          openConsumer: async (...args: unknown[]) => {
            calls.push(args)
            return consumer
          },
        }),
        packages: ['redis'],
      },
    }
    expect(await openStreamConsumer(redisSource, options, identity, { backends })).toBe(consumer)
    expect(calls).toHaveLength(1)
    expect(calls[0]!.slice(0, 3)).toEqual([redisSource, options, identity])
  })

  it('fails with MISSING_DEPENDENCY and the install command when the broker client is missing', async () => {
    const backends: Record<string, ConsumerBackend> = {
      NatsSource: {
        load: () => Promise.reject(missingPackage('@nats-io/jetstream')),
        packages: ['@nats-io/transport-node', '@nats-io/jetstream'],
      },
    }
    const source = new NatsSource({ name: 'trips_nats', subject: 'trips.events', timestampField: 'ts' })
    await expect(openStreamConsumer(source, options, identity, { backends })).rejects.toMatchObject({
      code: 'MISSING_DEPENDENCY',
      message: expect.stringContaining('"@nats-io/jetstream"'),
      hint: 'npm install @nats-io/transport-node @nats-io/jetstream',
    })
  })

  it('passes other import failures through', async () => {
    const broken = new SyntaxError('Unexpected token')
    const backends: Record<string, ConsumerBackend> = {
      RedisStreamSource: { load: () => Promise.reject(broken), packages: ['redis'] },
    }
    await expect(openStreamConsumer(redisSource, options, identity, { backends })).rejects.toBe(broken)
  })

  it('refuses a Kinesis source: there is no Kinesis consumer', async () => {
    const source = new KinesisSource({ name: 'clicks', region: 'eu-west-1', streamName: 'clicks' })
    await expect(openStreamConsumer(source, options, identity)).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: expect.stringContaining('Kinesis'),
    })
  })

  it('refuses a push source: it is pushed to, not consumed', async () => {
    const source = new PushSource({ name: 'trips_push' })
    await expect(openStreamConsumer(source, options, identity)).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      hint: expect.stringContaining('POST /push'),
    })
  })

  it('stops before connecting when the signal was aborted', async () => {
    const backends: Record<string, ConsumerBackend> = {
      RedisStreamSource: {
        load: async () => ({
          openConsumer: async () => {
            throw new Error('should not connect')
          },
        }),
        packages: ['redis'],
      },
    }
    const signal = AbortSignal.abort()
    await expect(
      openStreamConsumer(redisSource, options, identity, { backends, signal }),
    ).rejects.toMatchObject({
      code: 'ABORTED',
    })
  })
})
