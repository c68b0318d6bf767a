import type { Abortable, NatsSource, RedisStreamSource, StreamSource } from '../core/index.js'
import type { StreamProcessorOptions } from './stream-config.js'

/** One message as the broker delivered it, before decoding. */
export interface StreamMessage {
  /** The broker's id of the message (Redis entry id, JetStream stream sequence, Kafka topic/partition/offset): the same on every redelivery. */
  readonly id: string
  /**
   * The message's place in its stream as a string that sorts in stream order (fixed-width digits),
   * breaking ties between events with equal event and created times.
   */
  readonly order: string
  /**
   * The payload: the encoded bytes of one event (JetStream, Kafka, a Redis entry's payload field), or
   * a Redis entry's own fields as text when the source names no payload field.
   */
  readonly payload: Uint8Array | Readonly<Record<string, string>>
  /** 1 on first delivery, more when the broker redelivers it. */
  readonly deliveries: number
}

/** The position of a consumer, for metrics and health. */
export interface ConsumerLag {
  /** Messages in the stream not yet delivered to the group (undefined when the broker cannot say). */
  readonly pending: number | undefined
  /** Messages delivered to this group and not yet acknowledged. */
  readonly unacknowledged: number | undefined
}

/**
 * A consumer of one stream source in a group shared by every processor (Redis consumer group,
 * JetStream durable consumer, Kafka consumer group): each message goes to one member; a message not
 * acknowledged (its member died) is delivered again, to a member of the group, after `claimAfterMs`.
 */
export interface StreamConsumer {
  /** The source it reads, for messages. */
  readonly source: StreamSource
  /**
   * Up to `max` messages, waiting at most `waitMs` for the first: this member's unacknowledged
   * messages first (after a restart), then messages other members left unacknowledged for longer
   * than `claimAfterMs`, then new ones. An empty array when none came. Throws BACKEND_UNAVAILABLE
   * naming the broker when it cannot be reached.
   */
  read(max: number, waitMs: number, opts?: Abortable): Promise<StreamMessage[]>
  /** Acknowledges messages (after their writes): the group never delivers them again. */
  ack(messages: readonly StreamMessage[]): Promise<void>
  /**
   * Moves a message that cannot be processed to the source's dead-letter stream with the reason, and
   * acknowledges it: Redis `<stream>:dead` (fields `id`, `reason`, `payload`), JetStream subject
   * `<subject>.dead`, Kafka topic `<topic>.dead`.
   */
  deadLetter(message: StreamMessage, reason: string): Promise<void>
  lag(): Promise<ConsumerLag>
  /** Stops reading; messages delivered and not acknowledged stay with the group for redelivery. */
  close(): Promise<void>
}

/** Who a consumer is: its group's name comes from the source; `member` names this process in it. */
export interface ConsumerIdentity {
  /** Unique per process in the group, stable across restarts when given (`--consumer`): a restarted member resumes its unacknowledged messages first. */
  readonly member: string
  /** A message unacknowledged this long by a member is delivered to another. */
  readonly claimAfterMs: number
}

/** A broker's consumer folder: opens a consumer of one source (creating the group if missing). */
export interface ConsumerModule<S extends StreamSource = StreamSource> {
  openConsumer(
    source: S,
    options: StreamProcessorOptions,
    identity: ConsumerIdentity,
    opts?: Abortable,
  ): Promise<StreamConsumer>
}

export type { NatsSource, RedisStreamSource }
