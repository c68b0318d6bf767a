import {
  Consumer,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  Producer,
} from '@platformatic/kafka'
import {
  type Abortable,
  isLarderError,
  type KafkaSource,
  LarderError,
  throwIfAborted,
} from '../../core/index.js'
import { brokerUnreachable } from '../broker-support.js'
import type { ConsumerIdentity, ConsumerLag, StreamConsumer, StreamMessage } from '../consumer.js'
import type { StreamProcessorOptions } from '../stream-config.js'
import { kafkaMessageId, kafkaOrder, OffsetTracker } from './kafka-offsets.js'

/** How long one request to a broker may take, connecting included. */
const REQUEST_TIMEOUT_MS = 5000
/** How long close() waits to leave the group before it gives up. */
const CLOSE_TIMEOUT_MS = 5000
/** The bounds Kafka brokers put on a session timeout by default (`group.min/max.session.timeout.ms`). */
const MIN_SESSION_MS = 6000
const MAX_SESSION_MS = 1_800_000

/** The Kafka consumer group of a source's processors. */
export function kafkaGroupId(source: KafkaSource): string {
  return `larder.${source.name}`
}

type KafkaMessage = Message<Buffer, Buffer, Buffer, Buffer>

/**
 * A member of the consumer group `larder.<source name>` on the source's topic, reading from the
 * group's committed offsets (the earliest offset of a partition the group never committed).
 *
 * Acknowledging commits, per partition, the offset after the newest message that is acknowledged
 * together with every message delivered before it (Kafka keeps one offset per partition), so messages
 * acknowledged out of order wait for the gaps. Kafka hands a partition to another member only when
 * its member leaves the group or misses heartbeats for the session timeout: `claimAfterMs`, within the
 * brokers' default bounds (6 s to 30 min). The new owner reads again from the committed offset, and a
 * restarted member likewise; Kafka does not count deliveries, so `deliveries` is always 1.
 *
 * A message's `id` is `topic/partition/offset`, `order` the partition and offset as digits, `payload`
 * the record's value. Dead letters are produced to `<topic>.dead` (created by the broker when it
 * auto-creates topics), keyed like the original, with headers `id` and `reason`.
 */
export class KafkaStreamConsumer implements StreamConsumer {
  readonly source: KafkaSource
  readonly #consumer: Consumer
  readonly #where: string
  readonly #bufferLimit: number
  readonly #queue: KafkaMessage[] = []
  readonly #offsets = new OffsetTracker<KafkaMessage>()
  /** Messages returned by read and not yet acknowledged, by id. */
  readonly #held = new Map<string, KafkaMessage>()
  /** The newest committable message per partition whose commit has not gone through yet. */
  readonly #uncommitted = new Map<number, KafkaMessage>()
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined
  #producer: Producer | undefined
  #wake: (() => void) | undefined
  #failure: unknown
  #closed = false

  private constructor(source: KafkaSource, consumer: Consumer, where: string, bufferLimit: number) {
    this.source = source
    this.#consumer = consumer
    this.#where = where
    this.#bufferLimit = bufferLimit
  }

  /**
   * Joins the group on the source's brokers and starts fetching. INVALID_DEFINITION when the source
   * names no brokers; BACKEND_UNAVAILABLE naming them when none can be reached.
   */
  static async open(
    source: KafkaSource,
    options: StreamProcessorOptions,
    identity: ConsumerIdentity,
  ): Promise<KafkaStreamConsumer> {
    const brokers = kafkaBrokers(source)
    const where = brokers.join(',')
    const sessionTimeout = Math.min(Math.max(identity.claimAfterMs, MIN_SESSION_MS), MAX_SESSION_MS)
    const consumer = new Consumer({
      clientId: `larder-${identity.member}`,
      groupId: kafkaGroupId(source),
      bootstrapBrokers: brokers,
      timeout: REQUEST_TIMEOUT_MS,
      retries: 1,
      retryDelay: 500,
      sessionTimeout,
      heartbeatInterval: Math.min(3000, Math.floor(sessionTimeout / 3)),
      autocommit: false,
    })
    const self = new KafkaStreamConsumer(source, consumer, where, options.batch_size * 2)
    try {
      await self.#guard(() => self.#start())
    } catch (e) {
      await closeQuietly(() => forceClose(consumer))
      throw e
    }
    return self
  }

  /** Up to `max` fetched messages, waiting at most `waitMs` for the first. */
  async read(max: number, waitMs: number, opts?: Abortable): Promise<StreamMessage[]> {
    throwIfAborted(opts?.signal)
    if (this.#closed) return []
    if (this.#failure !== undefined) throw this.#fail(this.#failure)
    if (this.#queue.length === 0 && waitMs > 0) await this.#waitForData(waitMs)
    if (this.#closed) return []
    if (this.#failure !== undefined) throw this.#fail(this.#failure)
    const batch = this.#queue.splice(0, max)
    if (this.#stream?.isPaused() && this.#queue.length < this.#bufferLimit / 2) this.#stream.resume()
    return batch.map((m) => {
      const id = kafkaMessageId(m.topic, m.partition, m.offset)
      this.#offsets.delivered(m.partition, m.offset, m)
      this.#held.set(id, m)
      return {
        id,
        order: kafkaOrder(m.partition, m.offset),
        payload: m.value ?? new Uint8Array(),
        deliveries: 1,
      }
    })
  }

  /** Commits, per partition, the offset after the newest message acknowledged with all before it. Ids it does not hold are skipped. */
  async ack(messages: readonly StreamMessage[]): Promise<void> {
    for (const { id } of messages) {
      const held = this.#held.get(id)
      if (held === undefined) continue
      this.#held.delete(id)
      const committable = this.#offsets.ack(held.partition, held.offset)
      if (committable !== undefined) this.#uncommitted.set(committable.partition, committable)
    }
    // a commit that failed stays here, so the caller's retry of this ack commits it
    const commits = [...this.#uncommitted.values()]
    await this.#guard(() => Promise.all(commits.map((m) => m.commit())))
    for (const m of commits) {
      if (this.#uncommitted.get(m.partition) === m) this.#uncommitted.delete(m.partition)
    }
  }

  async deadLetter(message: StreamMessage, reason: string): Promise<void> {
    const held = this.#held.get(message.id)
    const value =
      message.payload instanceof Uint8Array
        ? Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength)
        : Buffer.from(JSON.stringify(message.payload))
    const producer = this.#deadLetterProducer()
    await this.#guard(() =>
      producer.send({
        messages: [
          {
            topic: `${this.source.topic}.dead`,
            ...(held?.key ? { key: held.key } : {}),
            value,
            headers: new Map([
              [Buffer.from('id'), Buffer.from(message.id)],
              [Buffer.from('reason'), Buffer.from(reason)],
            ]),
          },
        ],
      }),
    )
    await this.ack([message])
  }

  /**
   * `pending`: the group's lag over every partition of the topic (log end minus committed offset,
   * from the earliest offset where the group never committed), which counts messages delivered and
   * not yet acknowledged too; `unacknowledged`: undefined (Kafka keeps no such count for a group).
   */
  async lag(): Promise<ConsumerLag> {
    const topic = this.source.topic
    return this.#guard(async () => {
      const latest = (await this.#consumer.listOffsets({ topics: [topic] })).get(topic) ?? []
      const earliest =
        (await this.#consumer.listOffsets({ topics: [topic], timestamp: -2n })).get(topic) ?? []
      const partitions = latest.map((_, i) => i)
      const committed =
        (await this.#consumer.listCommittedOffsets({ topics: [{ topic, partitions }] })).get(topic) ?? []
      let pending = 0n
      for (const i of partitions) {
        const from = committed[i] !== undefined && committed[i]! >= 0n ? committed[i]! : (earliest[i] ?? 0n)
        if (latest[i]! > from) pending += latest[i]! - from
      }
      return { pending: Number(pending), unacknowledged: undefined }
    })
  }

  /** Leaves the group (its partitions go to the other members at once) and closes the connections. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#wake?.()
    await closeQuietly(() => forceClose(this.#consumer))
    if (this.#producer) await closeQuietly(() => this.#producer!.close())
  }

  async #start(): Promise<void> {
    // a rebalance: the group redelivers from the committed offsets, so what was fetched is dropped
    this.#consumer.on('consumer:group:join', () => {
      this.#queue.length = 0
      this.#held.clear()
      this.#offsets.clear()
    })
    const stream = await this.#consumer.consume({
      topics: [this.source.topic],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
    })
    stream.on('data', (m: KafkaMessage) => {
      this.#queue.push(m)
      if (this.#queue.length >= this.#bufferLimit) stream.pause()
      // wake a waiting read after this tick, so it takes every message of the fetch
      if (this.#wake) setImmediate(this.#wake)
    })
    stream.on('error', (e: unknown) => {
      this.#failure = e
      this.#wake?.()
    })
    this.#stream = stream
  }

  /** Resolves when data came (after the tick that brought it), the consumer closed or failed, or after `waitMs`. */
  #waitForData(waitMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        // a wake scheduled twice must not clear the waiter of a later read
        if (this.#wake === done) this.#wake = undefined
        resolve()
      }
      const timer = setTimeout(done, waitMs)
      this.#wake = done
    })
  }

  #deadLetterProducer(): Producer {
    this.#producer ??= new Producer({
      clientId: `larder-${kafkaGroupId(this.source)}-dead`,
      bootstrapBrokers: kafkaBrokers(this.source),
      timeout: REQUEST_TIMEOUT_MS,
      retries: 1,
      autocreateTopics: true,
    })
    return this.#producer
  }

  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (e) {
      throw this.#fail(e)
    }
  }

  /** A driver error as a LarderError: BACKEND_UNAVAILABLE for a network failure, DATA_SOURCE otherwise. */
  #fail(e: unknown): LarderError {
    if (isLarderError(e)) return e
    if (networkFailure(e)) {
      return brokerUnreachable(
        'Kafka',
        this.#where,
        e,
        `start the brokers, or fix kafkaBootstrapServers of KafkaSource "${this.source.name}" (it names ${this.#where})`,
      )
    }
    return new LarderError(
      'DATA_SOURCE',
      `KafkaSource "${this.source.name}" (topic "${this.source.topic}" at ${this.#where}): ${(e as Error).message ?? e}`,
      { hint: 'check the topic and the group with kafka-consumer-groups.sh --describe', cause: e },
    )
  }
}

/** The source's brokers, `host:port` each. INVALID_DEFINITION when it names none. */
export function kafkaBrokers(source: KafkaSource): string[] {
  const brokers = source.kafkaBootstrapServers
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '')
  if (brokers.length === 0) {
    throw new LarderError('INVALID_DEFINITION', `KafkaSource "${source.name}" has no kafkaBootstrapServers`, {
      hint: "name its brokers, e.g. kafkaBootstrapServers: 'localhost:9092'",
    })
  }
  return brokers
}

/** Whether a driver error (or one it wraps) is a network failure or a timeout. */
function networkFailure(e: unknown, depth = 0): boolean {
  if (depth > 5 || typeof e !== 'object' || e === null) return false
  const { code, errors, cause } = e as { code?: unknown; errors?: unknown; cause?: unknown }
  if (code === 'PLT_KFK_NETWORK' || code === 'PLT_KFK_TIMEOUT') return true
  if (Array.isArray(errors) && errors.some((x) => networkFailure(x, depth + 1))) return true
  return networkFailure(cause, depth + 1)
}

/** Closes a consumer and its streams without waiting for their reads (the promise overload needs no argument). */
function forceClose(consumer: Consumer): Promise<void> {
  return new Promise((resolve, reject) =>
    consumer.close(true, (error) => (error ? reject(error) : resolve())),
  )
}

/** Runs a close, bounded in time and never throwing: a close must not hang or fail a shutdown. */
async function closeQuietly(close: () => Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    close().catch(() => {}),
    new Promise((resolve) => {
      timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)
    }),
  ])
  clearTimeout(timer)
}
