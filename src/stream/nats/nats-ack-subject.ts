/** What a JetStream message's reply (ack) subject says about its delivery. */
export interface AckSubjectInfo {
  /** The message's sequence in its stream. */
  readonly streamSequence: number
  /** How many times the consumer delivered it, this delivery included. */
  readonly deliveries: number
}

/**
 * Reads the delivery of a JetStream message from its ack subject, in either form the server uses:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>` or, with a
 * domain and account, `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<stream seq>...`
 * (12 tokens or more). Undefined for any other subject (a status message, a plain NATS reply).
 *
 * @example parseAckSubject('$JS.ACK.TRIPS.larder.2.41.57.1733356800000000000.0') // { streamSequence: 41, deliveries: 2 }
 */
export function parseAckSubject(subject: string | undefined): AckSubjectInfo | undefined {
  if (!subject?.startsWith('$JS.ACK.')) return undefined
  const tokens = subject.split('.')
  const first = tokens.length === 9 ? 4 : tokens.length >= 12 ? 6 : -1
  if (first < 0) return undefined
  const deliveries = Number(tokens[first])
  const streamSequence = Number(tokens[first + 1])
  if (!Number.isSafeInteger(deliveries) || !Number.isSafeInteger(streamSequence)) return undefined
  return { streamSequence, deliveries }
}

/**
 * A stream sequence as a string that sorts in stream order (20 digits, enough for any 64-bit sequence).
 *
 * @example sequenceOrder(41) // '00000000000000000041'
 */
export function sequenceOrder(sequence: number): string {
  return String(sequence).padStart(20, '0')
}
