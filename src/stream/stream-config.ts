import { z } from 'zod'

/**
 * `stream_processor:` in feature_store.yaml: where the brokers are (a source names its stream, the
 * deployment names the broker) and how `larder stream` batches. Every key has a default, so a repo
 * next to local brokers needs no block.
 */
export const streamProcessorSchema = z.strictObject({
  redis_connection_string: z
    .string()
    .regex(/^rediss?:\/\//, { message: 'must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379' })
    .default('redis://127.0.0.1:6379')
    .describe('The Redis server of Redis stream sources'),
  nats_servers: z
    .string()
    .min(1)
    .default('nats://127.0.0.1:4222')
    .describe('NATS servers of NATS sources, comma-separated'),
  batch_size: z
    .number()
    .int()
    .min(1, { message: 'must be 1 or more' })
    .max(10_000, { message: 'must be at most 10000' })
    .default(500)
    .describe('Most events per micro-batch (one online write, one offline append, one ack)'),
  max_wait_ms: z
    .number()
    .int()
    .min(1, { message: 'must be 1 or more' })
    .default(100)
    .describe('Longest wait for a micro-batch to fill before it is written'),
  claim_after_ms: z
    .number()
    .int()
    .min(100, { message: 'must be 100 or more' })
    .default(30_000)
    .describe("How long another member's unacknowledged message waits before it is taken over"),
})

export type StreamProcessorOptions = z.output<typeof streamProcessorSchema>
