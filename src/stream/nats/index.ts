import { connect, type NatsConnection } from '@nats-io/transport-node'
import { type Abortable, type NatsSource, throwIfAborted } from '../../core/index.js'
import { brokerUnreachable, redactUrl } from '../broker-support.js'
import type { ConsumerIdentity, StreamConsumer } from '../consumer.js'
import type { StreamProcessorOptions } from '../stream-config.js'
import { NatsStreamConsumer } from './nats-consumer.js'

export { parseAckSubject, sequenceOrder } from './nats-ack-subject.js'
export { NatsStreamConsumer } from './nats-consumer.js'

/** How long connecting may take before it fails. */
const CONNECT_TIMEOUT_MS = 3000

/**
 * Opens a member of the source's JetStream durable pull consumer on the servers of
 * `stream_processor.nats_servers`, on a connection of its own, creating the consumer when missing.
 * BACKEND_UNAVAILABLE naming the servers when none can be reached (within a few seconds), NOT_FOUND
 * when the stream does not exist.
 *
 * @example const consumer = await openConsumer(tripsNats, options, { member: 'worker-1', claimAfterMs: 30_000 })
 */
export async function openConsumer(
  source: NatsSource,
  options: StreamProcessorOptions,
  identity: ConsumerIdentity,
  opts?: Abortable,
): Promise<StreamConsumer> {
  const servers = options.nats_servers
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  const where = servers.map(redactUrl).join(',')
  let nc: NatsConnection
  try {
    nc = await connect({
      servers,
      name: `larder:${source.consumer}:${identity.member}`,
      timeout: CONNECT_TIMEOUT_MS,
      // after a lost connection: about 20 s of attempts, then the connection closes and reads fail
      maxReconnectAttempts: 10,
      reconnectTimeWait: 2000,
    })
  } catch (cause) {
    throw brokerUnreachable(
      'NATS',
      where,
      cause,
      `start nats-server with JetStream (-js), or set stream_processor.nats_servers in feature_store.yaml (it names ${where})`,
    )
  }
  try {
    throwIfAborted(opts?.signal)
    return await NatsStreamConsumer.open(nc, source, where, identity)
  } catch (e) {
    await nc.close()
    throw e
  }
}
