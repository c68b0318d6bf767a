import type { Abortable, RedisStreamSource } from '../../core/index.js'
import { throwIfAborted } from '../../core/index.js'
import type { ConsumerIdentity, StreamConsumer } from '../consumer.js'
import type { StreamProcessorOptions } from '../stream-config.js'
import { RedisStreamConsumer } from './redis-consumer.js'
import { connectStreamClient, type RedisStreamClient } from './redis-stream-client.js'

export { entryOrder, RedisStreamConsumer } from './redis-consumer.js'

/**
 * Opens a member of the source's consumer group on the Redis server of
 * `stream_processor.redis_connection_string`, on two connections of its own (blocking reads hold
 * one), creating the stream and the group when missing. BACKEND_UNAVAILABLE naming the URL when the
 * server cannot be reached.
 *
 * @example const consumer = await openConsumer(tripsStream, options, { member: 'worker-1', claimAfterMs: 30_000 })
 */
export async function openConsumer(
  source: RedisStreamSource,
  options: StreamProcessorOptions,
  identity: ConsumerIdentity,
  opts?: Abortable,
): Promise<StreamConsumer> {
  const url = options.redis_connection_string
  const name = `larder:${source.consumerGroup}:${identity.member}`
  const clients: RedisStreamClient[] = []
  try {
    clients.push(await connectStreamClient(url, `${name}:read`))
    clients.push(await connectStreamClient(url, name))
    throwIfAborted(opts?.signal)
    return await RedisStreamConsumer.open(source, clients[0]!, clients[1]!, identity)
  } catch (e) {
    await Promise.all(clients.map((c) => c.close()))
    throw e
  }
}
