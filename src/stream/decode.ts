import { LarderError, type PushSource, type StreamSource } from '../core/index.js'
import type { StreamMessage } from './consumer.js'
import type { DecodedEvent } from './view-sink.js'

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Throws UNSUPPORTED at start-up for a source whose messages Larder cannot decode: JSON payloads and
 * Redis entry fields are read; Avro and Protobuf payloads are not yet.
 */
export function checkDecodable(source: StreamSource | PushSource): void {
  const format =
    'messageFormat' in source
      ? source.messageFormat
      : 'recordFormat' in source
        ? source.recordFormat
        : undefined
  if (format === undefined || format.type === 'json') return
  throw new LarderError(
    'UNSUPPORTED',
    `stream source "${source.name}" sends ${format.type} messages, which larder stream does not decode yet`,
    { hint: 'send JSON events (messageFormat: json), or decode them upstream' },
  )
}

/**
 * The event of a message, with the source's field mapping applied (message field → feature name):
 * a JSON object payload, or a Redis entry's own fields as text. Throws INVALID_ARGUMENT naming the
 * message when the payload is not a JSON object.
 */
export function decodeMessage(source: StreamSource | PushSource, message: StreamMessage): DecodedEvent {
  const mapping = 'fieldMapping' in source ? source.fieldMapping : {}
  const { payload } = message
  let fields: Record<string, unknown>
  let text = false
  if (payload instanceof Uint8Array) {
    const field =
      'payloadField' in source && source.payloadField !== ''
        ? `field "${source.payloadField}" of message ${message.id}`
        : `the payload of message ${message.id}`
    let text: string
    let parsed: unknown
    try {
      text = utf8.decode(payload)
    } catch (error) {
      throw new LarderError('INVALID_ARGUMENT', `${field} is not UTF-8 text: ${(error as Error).message}`)
    }
    try {
      parsed = JSON.parse(text)
    } catch (error) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `${field} is not JSON (${JSON.stringify(text.slice(0, 80))}): ${(error as Error).message}`,
      )
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `${field} is JSON ${parsed === null ? 'null' : Array.isArray(parsed) ? 'array' : typeof parsed} (${JSON.stringify(text.slice(0, 80))}), not an object of event fields`,
      )
    }
    fields = parsed as Record<string, unknown>
  } else {
    fields = { ...payload }
    text = true
  }
  for (const [from, to] of Object.entries(mapping)) {
    if (Object.hasOwn(fields, from)) {
      fields[to] = fields[from]
      delete fields[from]
    }
  }
  return { message, fields, text }
}
