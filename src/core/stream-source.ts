import { type Branded, definitionKind, kindOf } from './brand.js'
import {
  type BatchSource,
  COMMON_SOURCE_KEYS,
  type CommonSourceOptions,
  checkFieldMapping,
  isBatchSource,
  PushSource,
  type PushSourceOptions,
  SourceBase,
} from './data-source.js'
import { type DurationInput, parseDuration } from './duration.js'
import { LarderError } from './errors.js'
import { checkKnownKeys, optionalString } from './validate.js'

/**
 * How a stream's messages are encoded, as Feast's `StreamFormat`: JSON (optionally with a JSON schema),
 * Avro with its schema, or Protobuf with the message's class path.
 */
export type MessageFormat =
  | { readonly type: 'json'; readonly schemaJson: string }
  | { readonly type: 'avro'; readonly schemaJson: string }
  | { readonly type: 'proto'; readonly classPath: string }

/** A message format as a definition writes it: `'json'`, or the format with its schema. */
export type MessageFormatInput =
  | 'json'
  | { type: 'json'; schemaJson?: string }
  | { type: 'avro'; schemaJson: string }
  | { type: 'proto'; classPath: string }

/** Options shared by the stream sources. */
export interface StreamSourceOptions extends CommonSourceOptions {
  name: string
  /** The field of each message with the event's time. */
  timestampField?: string
  /** The field with the time the event was written; breaks ties between events with equal event times. */
  createdTimestampColumn?: string
  /** Renames message fields to feature names: `{ message_field: 'feature_name' }`. */
  fieldMapping?: Record<string, string>
  /**
   * Where the stream's events are kept offline: historical retrieval and materialization read it, and
   * the stream processor appends to it. A stream feature view needs one.
   */
  batchSource?: BatchSource
}

const STREAM_KEYS = [
  ...COMMON_SOURCE_KEYS,
  'timestampField',
  'createdTimestampColumn',
  'fieldMapping',
  'batchSource',
] as const

abstract class StreamSourceBase extends SourceBase {
  readonly timestampField: string
  readonly createdTimestampColumn: string
  readonly fieldMapping: Readonly<Record<string, string>>
  readonly batchSource: BatchSource | undefined

  protected constructor(kind: string, options: StreamSourceOptions, timestampRequired: boolean) {
    super(kind, options.name, options)
    const where = `${kind} "${this.name}"`
    this.timestampField = optionalString(where, 'timestampField', options.timestampField)
    if (timestampRequired && this.timestampField === '') {
      throw new LarderError('INVALID_DEFINITION', `${where} has no timestampField`, {
        hint: "name the field of each message that holds the event's time, e.g. timestampField: 'event_timestamp'",
      })
    }
    this.createdTimestampColumn = optionalString(
      where,
      'createdTimestampColumn',
      options.createdTimestampColumn,
    )
    if (this.timestampField !== '' && this.timestampField === this.createdTimestampColumn) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where} uses "${this.timestampField}" as both timestampField and createdTimestampColumn`,
        {
          hint: 'the created timestamp breaks ties between events; use another field for it, or leave it out',
        },
      )
    }
    this.fieldMapping = checkFieldMapping(where, options.fieldMapping)
    if (options.batchSource !== undefined && !isBatchSource(options.batchSource)) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where} has a batchSource of kind ${kindOf(options.batchSource) ?? typeof options.batchSource}, which is not a batch source`,
        { hint: 'pass a FileSource or PostgreSQLSource' },
      )
    }
    this.batchSource = options.batchSource
  }
}

export interface KafkaSourceOptions extends StreamSourceOptions {
  /** The event-time field; Feast requires it for Kafka. */
  timestampField: string
  /** The brokers, `host:port[,host:port...]` (Feast's `kafka_bootstrap_servers`). */
  kafkaBootstrapServers?: string
  topic: string
  /** Default JSON. */
  messageFormat?: MessageFormatInput
  /** How late an event may arrive and still be counted (Feast's `watermark_delay_threshold`). */
  watermarkDelayThreshold?: DurationInput
}

/**
 * A Kafka topic, stored as Feast's `KafkaSource` (type `STREAM_KAFKA`, `kafka_options`).
 *
 * @example new KafkaSource({ name: 'driver_stats_stream', topic: 'drivers', timestampField: 'event_timestamp',
 *   kafkaBootstrapServers: 'localhost:9092', batchSource: driverStatsSource })
 */
export class KafkaSource extends StreamSourceBase implements Branded<'KafkaSource'> {
  readonly [definitionKind] = 'KafkaSource' as const
  readonly kafkaBootstrapServers: string
  readonly topic: string
  readonly messageFormat: MessageFormat
  /** Seconds, or undefined when not set. */
  readonly watermarkDelayThreshold: number | undefined

  constructor(options: KafkaSourceOptions) {
    checkKnownKeys('KafkaSource', options, [
      ...STREAM_KEYS,
      'kafkaBootstrapServers',
      'topic',
      'messageFormat',
      'watermarkDelayThreshold',
    ])
    super('KafkaSource', options, true)
    const where = `KafkaSource "${this.name}"`
    this.kafkaBootstrapServers = optionalString(where, 'kafkaBootstrapServers', options.kafkaBootstrapServers)
    this.topic = requiredString(where, 'topic', options.topic, "topic: 'driver_stats'")
    this.messageFormat = checkMessageFormat(where, 'messageFormat', options.messageFormat ?? 'json')
    this.watermarkDelayThreshold =
      options.watermarkDelayThreshold === undefined
        ? undefined
        : parseDuration(options.watermarkDelayThreshold, `${where} watermarkDelayThreshold`)
    Object.freeze(this)
  }
}

export interface KinesisSourceOptions extends StreamSourceOptions {
  /** The AWS region of the stream. */
  region: string
  streamName: string
  /** Default JSON. */
  recordFormat?: MessageFormatInput
}

/** An AWS Kinesis stream, stored as Feast's `KinesisSource` (type `STREAM_KINESIS`, `kinesis_options`). */
export class KinesisSource extends StreamSourceBase implements Branded<'KinesisSource'> {
  readonly [definitionKind] = 'KinesisSource' as const
  readonly region: string
  readonly streamName: string
  readonly recordFormat: MessageFormat

  constructor(options: KinesisSourceOptions) {
    checkKnownKeys('KinesisSource', options, [...STREAM_KEYS, 'region', 'streamName', 'recordFormat'])
    super('KinesisSource', options, false)
    const where = `KinesisSource "${this.name}"`
    this.region = requiredString(where, 'region', options.region, "region: 'eu-west-1'")
    this.streamName = requiredString(where, 'streamName', options.streamName, "streamName: 'driver_stats'")
    this.recordFormat = checkMessageFormat(where, 'recordFormat', options.recordFormat ?? 'json')
    Object.freeze(this)
  }
}

export interface RedisStreamSourceOptions extends StreamSourceOptions {
  timestampField: string
  /** The stream's key. */
  stream: string
  /** The consumer group the stream processors share (`XREADGROUP`); default `larder`. */
  consumerGroup?: string
  /**
   * The entry field that holds the whole event, encoded as `messageFormat`. Without it, the entry's
   * own fields are the event's fields (their text read as the view's schema types).
   */
  payloadField?: string
  /** How `payloadField` is encoded (default JSON); only with `payloadField`. */
  messageFormat?: MessageFormatInput
}

/** The consumer group a Redis stream or NATS consumer uses when the source names none. */
export const DEFAULT_CONSUMER_GROUP = 'larder'

/**
 * A Redis stream (Larder's own source, read with `XREADGROUP`). Feast has no Redis stream source: the
 * registry stores it as a push source with its batch source, so Feast loads it as a `PushSource` (its
 * views serve, materialize and take pushes in Feast), and Larder's options travel beside it.
 *
 * @example new RedisStreamSource({ name: 'trips_stream', stream: 'trips', timestampField: 'event_timestamp',
 *   batchSource: tripsFileSource })
 */
export class RedisStreamSource extends StreamSourceBase implements Branded<'RedisStreamSource'> {
  readonly [definitionKind] = 'RedisStreamSource' as const
  readonly stream: string
  readonly consumerGroup: string
  /** Empty when the entry's fields are the event's fields. */
  readonly payloadField: string
  /** The payload's encoding; undefined without a payload field. */
  readonly messageFormat: MessageFormat | undefined

  constructor(options: RedisStreamSourceOptions) {
    checkKnownKeys('RedisStreamSource', options, [
      ...STREAM_KEYS,
      'stream',
      'consumerGroup',
      'payloadField',
      'messageFormat',
    ])
    super('RedisStreamSource', options, true)
    const where = `RedisStreamSource "${this.name}"`
    this.stream = requiredString(where, 'stream', options.stream, "stream: 'trips'")
    this.consumerGroup = nonEmpty(where, 'consumerGroup', options.consumerGroup, DEFAULT_CONSUMER_GROUP)
    this.payloadField = optionalString(where, 'payloadField', options.payloadField)
    if (this.payloadField === '' && options.messageFormat !== undefined) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where} has a messageFormat but no payloadField, so there is no payload to decode`,
        {
          hint: "name the entry field holding the encoded event, e.g. payloadField: 'data', or leave messageFormat out to read the entry's fields",
        },
      )
    }
    this.messageFormat =
      this.payloadField === ''
        ? undefined
        : checkMessageFormat(where, 'messageFormat', options.messageFormat ?? 'json')
    Object.freeze(this)
  }
}

export interface NatsSourceOptions extends StreamSourceOptions {
  timestampField: string
  /** The subject the events are published on. */
  subject: string
  /** The JetStream stream that stores the subject; empty to look it up by subject. */
  stream?: string
  /** The durable consumer the stream processors share; default `larder`. */
  consumer?: string
  /** Default JSON. */
  messageFormat?: MessageFormatInput
}

/**
 * A NATS JetStream subject read through a durable consumer (Larder's own source). Stored like
 * {@link RedisStreamSource}: a push source with its batch source for Feast, Larder's options beside it.
 *
 * @example new NatsSource({ name: 'trips_nats', subject: 'trips.events', stream: 'TRIPS',
 *   timestampField: 'event_timestamp', batchSource: tripsFileSource })
 */
export class NatsSource extends StreamSourceBase implements Branded<'NatsSource'> {
  readonly [definitionKind] = 'NatsSource' as const
  readonly subject: string
  readonly stream: string
  readonly consumer: string
  readonly messageFormat: MessageFormat

  constructor(options: NatsSourceOptions) {
    checkKnownKeys('NatsSource', options, [...STREAM_KEYS, 'subject', 'stream', 'consumer', 'messageFormat'])
    super('NatsSource', options, true)
    const where = `NatsSource "${this.name}"`
    this.subject = requiredString(where, 'subject', options.subject, "subject: 'trips.events'")
    this.stream = optionalString(where, 'stream', options.stream)
    this.consumer = nonEmpty(where, 'consumer', options.consumer, DEFAULT_CONSUMER_GROUP)
    this.messageFormat = checkMessageFormat(where, 'messageFormat', options.messageFormat ?? 'json')
    Object.freeze(this)
  }
}

/** A source of events that arrive continuously: a broker topic or stream, with its batch source. */
export type StreamSource = KafkaSource | KinesisSource | RedisStreamSource | NatsSource

const STREAM_SOURCE_KINDS: ReadonlySet<string> = new globalThis.Set([
  'KafkaSource',
  'KinesisSource',
  'RedisStreamSource',
  'NatsSource',
])

/** True when `value` is a stream source (Kafka, Kinesis, Redis stream, NATS), from any copy of the package. */
export function isStreamSource(value: unknown): value is StreamSource {
  return STREAM_SOURCE_KINDS.has(kindOf(value) ?? '')
}

const REBUILD: Readonly<Record<string, (options: never) => StreamSource | PushSource>> = {
  KafkaSource: (o: KafkaSourceOptions) => new KafkaSource(o),
  KinesisSource: (o: KinesisSourceOptions) => new KinesisSource(o),
  RedisStreamSource: (o: RedisStreamSourceOptions) => new RedisStreamSource(o),
  NatsSource: (o: NatsSourceOptions) => new NatsSource(o),
  PushSource: (o: PushSourceOptions) => new PushSource(o),
}

/**
 * The same stream or push source with another batch source (used when apply completes the batch
 * source, and when the registry holds a stream view's batch source beside its stream source).
 */
export function withBatchSource<S extends StreamSource | PushSource>(source: S, batchSource: BatchSource): S {
  const rebuild = REBUILD[kindOf(source) ?? ''] as ((options: object) => S) | undefined
  if (!rebuild) {
    throw new LarderError(
      'INVALID_DEFINITION',
      `${kindOf(source) ?? typeof source} "${source.name}" is not a stream or push source`,
      {
        hint: 'pass a KafkaSource, KinesisSource, RedisStreamSource, NatsSource or PushSource',
      },
    )
  }
  return rebuild({ ...source, batchSource })
}

/** Checks a message format as written in a definition and returns it with every part filled in. */
export function checkMessageFormat(where: string, field: string, input: unknown): MessageFormat {
  const format = input === 'json' ? { type: 'json' } : input
  const bad = () =>
    new LarderError(
      'INVALID_DEFINITION',
      `${where}: ${field} ${JSON.stringify(input)} is not a message format`,
      {
        hint: "write 'json', { type: 'avro', schemaJson: '...' } or { type: 'proto', classPath: 'package.Message' }",
      },
    )
  if (typeof format !== 'object' || format === null) throw bad()
  const f = format as { type?: unknown; schemaJson?: unknown; classPath?: unknown }
  switch (f.type) {
    case 'json':
      return Object.freeze({
        type: 'json',
        schemaJson: optionalString(where, `${field}.schemaJson`, f.schemaJson),
      })
    case 'avro':
      return Object.freeze({
        type: 'avro',
        schemaJson: requiredString(where, `${field}.schemaJson`, f.schemaJson, "the Avro schema's JSON text"),
      })
    case 'proto':
      return Object.freeze({
        type: 'proto',
        classPath: requiredString(where, `${field}.classPath`, f.classPath, "classPath: 'package.Message'"),
      })
    default:
      throw bad()
  }
}

function requiredString(where: string, field: string, value: unknown, example: string): string {
  const text = optionalString(where, field, value)
  if (text === '') {
    throw new LarderError('INVALID_DEFINITION', `${where} has no ${field}`, {
      hint: `give it, e.g. ${example}`,
    })
  }
  return text
}

function nonEmpty(where: string, field: string, value: unknown, fallback: string): string {
  const text = optionalString(where, field, value, fallback)
  if (text === '') {
    throw new LarderError('INVALID_DEFINITION', `${where}: ${field} is empty`, {
      hint: `leave it out to use "${fallback}"`,
    })
  }
  return text
}
