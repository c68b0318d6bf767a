import { type Abortable, type KafkaSource, throwIfAborted } from '../../core/index.js'
import type { ConsumerIdentity, StreamConsumer } from '../consumer.js'
import type { StreamProcessorOptions } from '../stream-config.js'
import { KafkaStreamConsumer } from './kafka-consumer.js'

export { KafkaStreamConsumer, kafkaBrokers, kafkaGroupId } from './kafka-consumer.js'
export { kafkaMessageId, kafkaOrder, OffsetTracker } from './kafka-offsets.js'

/**
 * Opens a member of the consumer group `larder.<source name>` on the source's topic and brokers
 * (`kafkaBootstrapServers`), joining the group at once. INVALID_DEFINITION when the source names no
 * brokers, BACKEND_UNAVAILABLE naming them when none can be reached.
 *
 * @example const consumer = await openConsumer(driverStats, options, { member: 'worker-1', claimAfterMs: 30_000 })
 */
export async function openConsumer(
  source: KafkaSource,
  options: StreamProcessorOptions,
  identity: ConsumerIdentity,
  opts?: Abortable,
): Promise<StreamConsumer> {
  throwIfAborted(opts?.signal)
  return KafkaStreamConsumer.open(source, options, identity)
}
