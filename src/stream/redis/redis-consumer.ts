import {
  type Abortable,
  isLarderError,
  LarderError,
  type RedisStreamSource,
  throwIfAborted,
} from '../../core/index.js'
import type { ConsumerIdentity, ConsumerLag, StreamConsumer, StreamMessage } from '../consumer.js'
import type { RedisStreamClient } from './redis-stream-client.js'

/** One stream entry as Redis returns it: its id and its fields (null when it was deleted while pending). */
type RawEntry = [Buffer, Buffer[] | null]

/**
 * A member of a Redis consumer group on one stream (`XREADGROUP`), the group named by the source's
 * `consumerGroup` and the member by the identity. Each read takes, in turn:
 *
 * 1. after a (re)start, this member's own pending entries (`XREADGROUP` from id 0), until none are left;
 * 2. entries other members left unacknowledged longer than `claimAfterMs` (`XAUTOCLAIM`), checked at
 *    most every `claimAfterMs / 2` (so a dead member's entries move within 1.5 x `claimAfterMs`);
 * 3. new entries (`XREADGROUP ... BLOCK waitMs ... >`).
 *
 * A message's `id` is the entry id, its `order` the id as 25 digits (milliseconds padded to 15, sequence
 * to 10), `deliveries` the group's delivery count (`XPENDING`; 1 for a new entry). The payload is the
 * entry's fields as text, or the bytes of the source's `payloadField`; an entry without that field is
 * dead-lettered as it is read (it cannot be decoded). Entries deleted while pending are acknowledged
 * and skipped. Blocking reads hold their connection, so acks, claims and dead letters use a second one.
 */
export class RedisStreamConsumer implements StreamConsumer {
  readonly source: RedisStreamSource
  readonly #reader: RedisStreamClient
  readonly #writer: RedisStreamClient
  readonly #member: string
  readonly #claimAfterMs: number
  /** Where the next read of this member's own pending entries starts; undefined once they are read. */
  #ownCursor: string | undefined = '0'
  #claimCursor = '0-0'
  #nextClaimScan = 0
  #closed = false

  private constructor(
    source: RedisStreamSource,
    reader: RedisStreamClient,
    writer: RedisStreamClient,
    identity: ConsumerIdentity,
  ) {
    this.source = source
    this.#reader = reader
    this.#writer = writer
    this.#member = identity.member
    this.#claimAfterMs = identity.claimAfterMs
  }

  /**
   * A member on two connections (blocking reads, everything else), creating the stream and the group
   * (from the stream's first entry) when missing. DATA_SOURCE when the key holds something else than a
   * stream.
   */
  static async open(
    source: RedisStreamSource,
    reader: RedisStreamClient,
    writer: RedisStreamClient,
    identity: ConsumerIdentity,
  ): Promise<RedisStreamConsumer> {
    const consumer = new RedisStreamConsumer(source, reader, writer, identity)
    await consumer.#guard(() => consumer.#ensureGroup())
    return consumer
  }

  async read(max: number, waitMs: number, opts?: Abortable): Promise<StreamMessage[]> {
    throwIfAborted(opts?.signal)
    try {
      while (this.#ownCursor !== undefined) {
        const own = await this.#readOwn(max)
        if (own.length > 0) return own
      }
      const claimed = await this.#claim(max)
      if (claimed.length > 0) return claimed
      return await this.#readNew(max, waitMs)
    } catch (e) {
      // close() cut the blocking read: nothing was taken that is not still pending in the group
      if (this.#closed) return []
      throw this.#failure(e)
    }
  }

  async ack(messages: readonly StreamMessage[]): Promise<void> {
    if (messages.length === 0) return
    const ids = messages.map((m) => m.id)
    await this.#guard(() =>
      this.#writer.send(['XACK', this.source.stream, this.source.consumerGroup, ...ids]),
    )
  }

  /** Adds `id`, `reason` and `payload` (the payload field's bytes, or the entry's fields as JSON) to `<stream>:dead`, then acknowledges. */
  async deadLetter(message: StreamMessage, reason: string): Promise<void> {
    const payload =
      message.payload instanceof Uint8Array ? Buffer.from(message.payload) : JSON.stringify(message.payload)
    await this.#guard(() => this.#bury(message.id, reason, payload))
  }

  /** `pending` is the group's `lag` (undefined when Redis cannot tell, after deletions), `unacknowledged` its `pending`. */
  async lag(): Promise<ConsumerLag> {
    let groups: unknown[][]
    try {
      groups = (await this.#writer.send(['XINFO', 'GROUPS', this.source.stream])) as unknown[][]
    } catch (e) {
      // the key was deleted: the group comes back with the next read
      if (e instanceof Error && /no such key/i.test(e.message))
        return { pending: undefined, unacknowledged: undefined }
      throw this.#failure(e)
    }
    for (const flat of groups) {
      const info = pairs<unknown>(flat)
      if (String(info.get('name')) !== this.source.consumerGroup) continue
      return { pending: optionalNumber(info.get('lag')), unacknowledged: optionalNumber(info.get('pending')) }
    }
    return { pending: undefined, unacknowledged: undefined }
  }

  async close(): Promise<void> {
    this.#closed = true
    await Promise.all([this.#reader.close(), this.#writer.close()])
  }

  async #ensureGroup(): Promise<void> {
    const { stream, consumerGroup } = this.source
    try {
      await this.#writer.send(['XGROUP', 'CREATE', stream, consumerGroup, '0', 'MKSTREAM'])
    } catch (e) {
      if (errorCode(e) === 'BUSYGROUP') return
      if (errorCode(e) === 'WRONGTYPE') {
        throw new LarderError(
          'DATA_SOURCE',
          `the Redis key "${stream}" of RedisStreamSource "${this.source.name}" holds something else than a stream (at ${this.#writer.where})`,
          { hint: 'name another key in the source\'s "stream", or delete that key', cause: e },
        )
      }
      throw e
    }
  }

  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (e) {
      throw this.#failure(e)
    }
  }

  /** An error reply of Redis as a LarderError naming the stream (a LarderError passes as it is). */
  #failure(e: unknown): LarderError {
    if (isLarderError(e)) return e
    const { stream, name } = this.source
    return new LarderError(
      'DATA_SOURCE',
      `Redis stream "${stream}" of RedisStreamSource "${name}" at ${this.#writer.where}: ${(e as Error).message ?? e}`,
      { hint: `check the stream and its group with XINFO GROUPS ${stream}`, cause: e },
    )
  }

  /** The next of this member's own pending entries (delivered before a restart); none left ends the phase. */
  async #readOwn(max: number): Promise<StreamMessage[]> {
    const entries = await this.#group(this.#writer, ['COUNT', String(max)], this.#ownCursor!)
    if (entries.length === 0) {
      this.#ownCursor = undefined
      return []
    }
    this.#ownCursor = entries.at(-1)![0].toString()
    return this.#toMessages(entries, await this.#deliveries(entries))
  }

  /** Entries of any member idle longer than `claimAfterMs`, taken over by this one. */
  async #claim(max: number): Promise<StreamMessage[]> {
    if (Date.now() < this.#nextClaimScan) return []
    const { stream, consumerGroup } = this.source
    const [next, claimed] = (await this.#writer.send([
      'XAUTOCLAIM',
      stream,
      consumerGroup,
      this.#member,
      String(this.#claimAfterMs),
      this.#claimCursor,
      'COUNT',
      String(max),
    ])) as [Buffer, RawEntry[]]
    this.#claimCursor = next.toString()
    if (this.#claimCursor === '0-0') this.#nextClaimScan = Date.now() + this.#claimAfterMs / 2
    // Redis 7 drops deleted entries from the pending list itself; 6.2 returns them with null fields
    const entries = claimed.filter((e) => e[1] !== null)
    return this.#toMessages(entries, await this.#deliveries(entries))
  }

  async #readNew(max: number, waitMs: number): Promise<StreamMessage[]> {
    const block = waitMs > 0 ? ['BLOCK', String(Math.ceil(waitMs))] : []
    const entries = await this.#group(this.#reader, ['COUNT', String(max), ...block], '>')
    return this.#toMessages(entries, new Map())
  }

  /**
   * XREADGROUP of this member from `id`, recreating the group once when it is gone (the stream's key
   * was deleted since the consumer opened).
   */
  async #group(client: RedisStreamClient, options: string[], id: string): Promise<RawEntry[]> {
    const { stream, consumerGroup } = this.source
    const command = ['XREADGROUP', 'GROUP', consumerGroup, this.#member, ...options, 'STREAMS', stream, id]
    let reply: [Buffer, RawEntry[]][] | null
    try {
      reply = (await client.send(command)) as typeof reply
    } catch (e) {
      if (errorCode(e) !== 'NOGROUP') throw e
      await this.#ensureGroup()
      reply = (await client.send(command)) as typeof reply
    }
    return reply?.[0]?.[1] ?? []
  }

  /** The group's delivery count of each entry (they are pending for this member), from XPENDING. */
  async #deliveries(entries: readonly RawEntry[]): Promise<Map<string, number>> {
    const { stream, consumerGroup } = this.source
    const counts = new Map<string, number>()
    await Promise.all(
      entries.map(async ([raw]) => {
        const id = raw.toString()
        const rows = (await this.#writer.send(['XPENDING', stream, consumerGroup, id, id, '1'])) as [
          Buffer,
          Buffer,
          number,
          number,
        ][]
        if (rows[0]) counts.set(id, Number(rows[0][3]))
      }),
    )
    return counts
  }

  /**
   * Messages of the entries: entries deleted while pending are acknowledged, entries without the
   * payload field dead-lettered. `deliveries` without an entry means a first delivery.
   */
  async #toMessages(entries: readonly RawEntry[], deliveries: Map<string, number>): Promise<StreamMessage[]> {
    const messages: StreamMessage[] = []
    const deleted: string[] = []
    const { payloadField } = this.source
    for (const [rawId, fields] of entries) {
      const id = rawId.toString()
      if (fields === null) {
        deleted.push(id)
        continue
      }
      let payload: StreamMessage['payload']
      if (payloadField === '') {
        payload = entryText(fields)
      } else {
        const bytes = pairs<Buffer>(fields).get(payloadField)
        if (bytes === undefined) {
          const text = entryText(fields)
          await this.#bury(id, `the entry has no field "${payloadField}"`, JSON.stringify(text))
          continue
        }
        payload = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      }
      messages.push({ id, order: entryOrder(id), payload, deliveries: deliveries.get(id) ?? 1 })
    }
    if (deleted.length > 0) {
      await this.#writer.send(['XACK', this.source.stream, this.source.consumerGroup, ...deleted])
    }
    return messages
  }

  async #bury(id: string, reason: string, payload: Buffer | string): Promise<void> {
    const { stream, consumerGroup } = this.source
    await this.#writer.send(['XADD', `${stream}:dead`, '*', 'id', id, 'reason', reason, 'payload', payload])
    await this.#writer.send(['XACK', stream, consumerGroup, id])
  }
}

/**
 * A stream entry id as a string that sorts in stream order: milliseconds padded to 15 digits, then
 * the sequence padded to 10.
 *
 * @example entryOrder('1733356800000-1') // '0017333568000000000000001'
 */
export function entryOrder(id: string): string {
  const dash = id.indexOf('-')
  return id.slice(0, dash).padStart(15, '0') + id.slice(dash + 1).padStart(10, '0')
}

/** An entry's flat `[field, value, field, value…]` bytes as text by field (a repeated field: its last value). */
function entryText(flat: readonly Buffer[]): Record<string, string> {
  const entries: [string, string][] = []
  for (let i = 0; i + 1 < flat.length; i += 2)
    entries.push([flat[i]!.toString('utf8'), flat[i + 1]!.toString('utf8')])
  return Object.fromEntries(entries)
}

/** A flat `[key, value, key, value…]` reply as a map by key. */
function pairs<V>(flat: readonly unknown[]): Map<string, V> {
  const map = new Map<string, V>()
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]), flat[i + 1] as V)
  return map
}

function optionalNumber(value: unknown): number | undefined {
  if (value === null || value === undefined) return undefined
  const n = Number(Buffer.isBuffer(value) ? value.toString() : value)
  return Number.isFinite(n) ? n : undefined
}

/** The code of a Redis error reply (`NOGROUP`, `BUSYGROUP`…), or undefined for other errors. */
function errorCode(e: unknown): string | undefined {
  if (!(e instanceof Error) || isLarderError(e)) return undefined
  return /^([A-Z]+) /.exec(e.message)?.[1]
}
