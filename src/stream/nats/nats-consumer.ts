import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream'
import {
  ClosedConnectionError,
  ConnectionError,
  createInbox,
  DrainingConnectionError,
  headers,
  type Msg,
  type NatsConnection,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from '@nats-io/transport-node'
import {
  type Abortable,
  isLarderError,
  LarderError,
  type NatsSource,
  throwIfAborted,
} from '../../core/index.js'
import { brokerUnreachable } from '../broker-support.js'
import type { ConsumerIdentity, ConsumerLag, StreamConsumer, StreamMessage } from '../consumer.js'
import { parseAckSubject, sequenceOrder } from './nats-ack-subject.js'

/** How long past its own expiry a pull may go unanswered before the consumer is checked. */
const PULL_GRACE_MS = 1000
/** How long an acknowledgement may wait for the server's confirmation. */
const ACK_TIMEOUT_MS = 5000
/** How long close() waits to hand back unacknowledged messages before it closes anyway. */
const CLOSE_FLUSH_MS = 1000

/**
 * A member of a JetStream durable pull consumer: the consumer named by the source's `consumer` on its
 * stream (the source's `stream`, or the stream that stores its subject), filtered to its subject, with
 * explicit acks and `ack_wait` = `claimAfterMs`; created when missing, and its filter and ack wait
 * brought in line with the source when they differ. The stream must exist.
 *
 * JetStream keeps no messages per member: every member pulls from the one consumer, and a message not
 * acknowledged within `ack_wait` is redelivered to whichever member pulls next, before new ones. So a
 * member's name only names its connection, and a restarted member gets its old messages again once
 * `ack_wait` passed; `close()` hands back (naks) the messages it holds, so they return at once.
 *
 * A read is one pull request expiring after `waitMs` (below the client library's 1 s floor, so a
 * micro-batch waits no longer than asked). A message's `id` is its stream sequence, `order` the
 * sequence as 20 digits, `deliveries` the consumer's delivery count, `payload` the message's data.
 * Acknowledgements wait for the server's confirmation. Dead letters go to `<subject>.dead` (for a
 * subject with `*` wildcards, `<message subject>.dead`) with headers `id`, `reason` and `subject`,
 * stored by the stream that captures that subject, else by a stream `<stream>_dead` created for it.
 */
export class NatsStreamConsumer implements StreamConsumer {
  readonly source: NatsSource
  readonly #nc: NatsConnection
  readonly #jsm: JetStreamManager
  readonly #js: JetStreamClient
  /** The servers, for messages. */
  readonly #where: string
  /** The JetStream stream the source's subject is stored in. */
  readonly #stream: string
  readonly #ackWaitNanos: number
  /** Reply (ack) subjects and subjects of delivered messages not yet acknowledged, by id. */
  readonly #held = new Map<string, { reply: string; subject: string }>()
  #connected = true
  /** Set when a pull went unanswered or the consumer was deleted: the next read recreates it if missing. */
  #checkConsumer = false
  #closed = false

  private constructor(
    nc: NatsConnection,
    jsm: JetStreamManager,
    source: NatsSource,
    where: string,
    stream: string,
    identity: ConsumerIdentity,
  ) {
    this.#nc = nc
    this.#jsm = jsm
    this.#js = jetstream(nc)
    this.source = source
    this.#where = where
    this.#stream = stream
    this.#ackWaitNanos = Math.round(identity.claimAfterMs * 1_000_000)
  }

  /**
   * A member on an open connection: finds the stream (NOT_FOUND when there is none, with the command
   * to create it), creates or aligns the durable consumer. BACKEND_UNAVAILABLE when JetStream is not
   * enabled on the server; UNSUPPORTED for a subject ending in `>` (it would read its own dead letters).
   */
  static async open(
    nc: NatsConnection,
    source: NatsSource,
    where: string,
    identity: ConsumerIdentity,
  ): Promise<NatsStreamConsumer> {
    if (source.subject === '>' || source.subject.endsWith('.>')) {
      throw new LarderError(
        'UNSUPPORTED',
        `NatsSource "${source.name}": subject "${source.subject}" would also match its dead-letter subjects (<subject>.dead)`,
        { hint: 'name the subject without ">" (e.g. "trips.*" or "trips.events")' },
      )
    }
    let jsm: JetStreamManager
    try {
      jsm = await jetstreamManager(nc)
    } catch (e) {
      if (e instanceof Error && e.name === 'JetStreamNotEnabled') {
        throw brokerUnreachable(
          'NATS JetStream',
          where,
          e,
          'JetStream is not enabled on that server: start nats-server with -js (--jetstream)',
        )
      }
      throw e
    }
    const stream = source.stream || (await findStream(jsm, source, where))
    const consumer = new NatsStreamConsumer(nc, jsm, source, where, stream, identity)
    await consumer.#guard(() => consumer.#ensureConsumer())
    consumer.#watchConnection()
    return consumer
  }

  async read(max: number, waitMs: number, opts?: Abortable): Promise<StreamMessage[]> {
    throwIfAborted(opts?.signal)
    if (this.#closed) return []
    if (!this.#connected || this.#nc.isClosed()) throw this.#lost(undefined)
    if (this.#checkConsumer) {
      await this.#guard(() => this.#ensureConsumer())
      this.#checkConsumer = false
    }
    const messages: StreamMessage[] = []
    for (const m of await this.#pull(max, waitMs)) {
      const info = parseAckSubject(m.reply)!
      const id = String(info.streamSequence)
      this.#held.set(id, { reply: m.reply!, subject: m.subject })
      messages.push({
        id,
        order: sequenceOrder(info.streamSequence),
        payload: m.data,
        deliveries: info.deliveries,
      })
    }
    return messages
  }

  /** Acknowledges each message and waits for the server to confirm; ids it does not hold (acknowledged already) are skipped. */
  async ack(messages: readonly StreamMessage[]): Promise<void> {
    await this.#guard(() =>
      Promise.all(
        messages.map(async (m) => {
          const held = this.#held.get(m.id)
          if (held === undefined) return
          await this.#nc.request(held.reply, '+ACK', { timeout: ACK_TIMEOUT_MS })
          this.#held.delete(m.id)
        }),
      ),
    )
  }

  async deadLetter(message: StreamMessage, reason: string): Promise<void> {
    const held = this.#held.get(message.id)
    const subject = `${this.#hasWildcard() ? (held?.subject ?? this.source.subject) : this.source.subject}.dead`
    const h = headers()
    h.set('id', message.id)
    h.set('reason', reason)
    h.set('subject', held?.subject ?? this.source.subject)
    const payload = message.payload instanceof Uint8Array ? message.payload : JSON.stringify(message.payload)
    await this.#guard(async () => {
      try {
        await this.#js.publish(subject, payload, { headers: h })
      } catch (e) {
        if (!noStreamStores(e)) throw e
        await this.#createDeadStream()
        await this.#js.publish(subject, payload, { headers: h })
      }
    })
    await this.ack([message])
  }

  /** `pending`: messages of the subject not yet delivered (`num_pending`); `unacknowledged`: `num_ack_pending`. */
  async lag(): Promise<ConsumerLag> {
    const info = await this.#guard(() => this.#jsm.consumers.info(this.#stream, this.source.consumer))
    return { pending: info.num_pending, unacknowledged: info.num_ack_pending }
  }

  /** Hands back (naks) the messages it holds, so the consumer redelivers them at once, and closes the connection. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#connected && !this.#nc.isClosed() && this.#held.size > 0) {
      for (const { reply } of this.#held.values()) this.#nc.publish(reply, '-NAK')
      this.#held.clear()
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        this.#nc.flush().catch(() => {}),
        new Promise((resolve) => {
          timer = setTimeout(resolve, CLOSE_FLUSH_MS)
        }),
      ])
      clearTimeout(timer)
    }
    await this.#nc.close()
  }

  /**
   * One pull request: up to `max` messages, the server ending the request after `waitMs`. A pull the
   * server never answers (the consumer was deleted) ends after a grace period and marks the consumer
   * for a check.
   */
  async #pull(max: number, waitMs: number): Promise<Msg[]> {
    const expiresMs = Math.max(1, Math.ceil(waitMs))
    const inbox = createInbox()
    const sub = this.#nc.subscribe(inbox)
    const timer = setTimeout(() => sub.unsubscribe(), expiresMs + PULL_GRACE_MS)
    const messages: Msg[] = []
    let answered = false
    try {
      this.#nc.publish(
        `${this.#jsm.getOptions().apiPrefix ?? '$JS.API'}.CONSUMER.MSG.NEXT.${this.#stream}.${this.source.consumer}`,
        JSON.stringify({ batch: max, expires: expiresMs * 1_000_000 }),
        { reply: inbox },
      )
      for await (const m of sub) {
        if (parseAckSubject(m.reply) === undefined) {
          // a status: 100 heartbeat; 404/408 no (more) messages; 409 the request or consumer ended
          const code = m.headers?.code ?? 0
          if (code === 100) continue
          answered = true
          if (code === 409 && /consumer deleted/i.test(m.headers?.description ?? ''))
            this.#checkConsumer = true
          break
        }
        answered = true
        messages.push(m)
        if (messages.length >= max) break
      }
    } finally {
      clearTimeout(timer)
      sub.unsubscribe()
    }
    if (!answered && messages.length === 0) {
      if (this.#closed) return []
      if (!this.#connected || this.#nc.isClosed()) throw this.#lost(undefined)
      this.#checkConsumer = true
    }
    return messages
  }

  async #ensureConsumer(): Promise<void> {
    const { consumer, subject } = this.source
    let info: ConsumerInfo | undefined
    try {
      info = await this.#jsm.consumers.info(this.#stream, consumer)
    } catch (e) {
      if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.ConsumerNotFound)) throw e
    }
    if (info === undefined) {
      const config: Partial<ConsumerConfig> = {
        durable_name: consumer,
        filter_subject: subject,
        ack_policy: AckPolicy.Explicit,
        ack_wait: this.#ackWaitNanos,
        deliver_policy: DeliverPolicy.All,
      }
      await this.#jsm.consumers.add(this.#stream, config)
      return
    }
    if (info.config.deliver_subject || info.config.ack_policy !== AckPolicy.Explicit) {
      throw new LarderError(
        'INVALID_CONFIG',
        `NatsSource "${this.source.name}": the JetStream consumer "${consumer}" on stream "${this.#stream}" is ${info.config.deliver_subject ? 'a push consumer' : `acknowledged "${info.config.ack_policy}"`}; Larder needs a pull consumer with explicit acks`,
        {
          hint: `name another consumer in the source's "consumer", or delete this one (nats consumer rm ${this.#stream} ${consumer}) so Larder creates it`,
        },
      )
    }
    if (info.config.filter_subject !== subject || info.config.ack_wait !== this.#ackWaitNanos) {
      await this.#jsm.consumers.update(this.#stream, consumer, {
        filter_subject: subject,
        ack_wait: this.#ackWaitNanos,
      })
    }
  }

  /** Creates (or widens) the stream `<stream>_dead` to store this source's dead-letter subject. */
  async #createDeadStream(): Promise<void> {
    const name = `${this.#stream}_dead`
    const subject = `${this.source.subject}.dead`
    try {
      const info = await this.#jsm.streams.info(name)
      if (!info.config.subjects?.includes(subject)) {
        await this.#jsm.streams.update(name, { subjects: [...(info.config.subjects ?? []), subject] })
      }
    } catch (e) {
      if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e
      await this.#jsm.streams.add({ name, subjects: [subject] })
    }
  }

  #hasWildcard(): boolean {
    return this.source.subject.split('.').includes('*')
  }

  #watchConnection(): void {
    void (async () => {
      for await (const status of this.#nc.status()) {
        if (status.type === 'disconnect') this.#connected = false
        else if (status.type === 'reconnect') this.#connected = true
      }
    })()
  }

  /** Runs broker work, turning a lost connection into BACKEND_UNAVAILABLE and an API error into a LarderError. */
  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (e) {
      if (isLarderError(e)) throw e
      if (connectionFailed(e)) throw this.#lost(e)
      if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) {
        throw missingStream(this.source, this.#stream, this.#where, e)
      }
      if (e instanceof JetStreamApiError) {
        throw new LarderError(
          'DATA_SOURCE',
          `NatsSource "${this.source.name}" (stream "${this.#stream}", consumer "${this.source.consumer}"): ${e.message}`,
          { hint: `check the stream and its consumer with \`nats stream info ${this.#stream}\``, cause: e },
        )
      }
      throw e
    }
  }

  #lost(cause: unknown): LarderError {
    return brokerUnreachable(
      'NATS',
      this.#where,
      cause ?? 'the connection is lost',
      `the client reconnects by itself for a while: check that nats-server runs at ${this.#where}, then retry`,
    )
  }
}

async function findStream(jsm: JetStreamManager, source: NatsSource, where: string): Promise<string> {
  try {
    return await jsm.streams.find(source.subject)
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) {
      throw missingStream(source, undefined, where, e)
    }
    if (connectionFailed(e)) {
      throw brokerUnreachable('NATS', where, e, `check that nats-server runs at ${where}, then retry`)
    }
    throw e
  }
}

function missingStream(
  source: NatsSource,
  stream: string | undefined,
  where: string,
  cause: unknown,
): LarderError {
  const name = stream ?? source.name.toUpperCase().replace(/[^A-Z0-9_-]/g, '_')
  return new LarderError(
    'NOT_FOUND',
    stream === undefined
      ? `no JetStream stream at ${where} stores the subject "${source.subject}" of NatsSource "${source.name}"`
      : `the JetStream stream "${stream}" of NatsSource "${source.name}" does not exist at ${where}`,
    {
      hint: `create it, e.g. \`nats stream add ${name} --subjects '${source.subject}' --defaults\`, or name an existing stream in the source`,
      cause,
      details: { stream: stream ?? null, subject: source.subject },
    },
  )
}

/** Whether a JetStream publish failed because no stream stores its subject (the client says 503, "JetStream not enabled"). */
function noStreamStores(e: unknown): boolean {
  return (
    (e instanceof Error && e.name === 'JetStreamNotEnabled') ||
    e instanceof NoRespondersError ||
    (e instanceof RequestError && e.isNoResponders())
  )
}

/** Whether work failed because the connection did (closed, refused, draining, or no answer in time). */
function connectionFailed(e: unknown): boolean {
  return (
    e instanceof ConnectionError ||
    e instanceof ClosedConnectionError ||
    e instanceof DrainingConnectionError ||
    e instanceof TimeoutError ||
    (e instanceof RequestError && !e.isNoResponders())
  )
}
