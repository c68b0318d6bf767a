import {
  type Abortable,
  kindOf,
  LarderError,
  type PushSource,
  type StreamSource,
  throwIfAborted,
} from '../core/index.js'
import type { ConsumerIdentity, ConsumerModule, StreamConsumer } from './consumer.js'
import type { StreamProcessorOptions } from './stream-config.js'

/** How to load one broker's consumer folder: its module (imports the driver) and the npm packages it needs. */
export interface ConsumerBackend {
  readonly load: () => Promise<ConsumerModule<never>>
  /** npm packages the module imports, for the install hint when one is missing. */
  readonly packages: readonly string[]
}

/** The consumer folders by source kind. Each is imported only when a source of its kind is consumed. */
export const CONSUMER_BACKENDS: Readonly<Record<string, ConsumerBackend>> = Object.freeze({
  RedisStreamSource: { load: () => import('./redis/index.js'), packages: ['redis'] },
  NatsSource: {
    load: () => import('./nats/index.js'),
    packages: ['@nats-io/transport-node', '@nats-io/jetstream'],
  },
  KafkaSource: { load: () => import('./kafka/index.js'), packages: ['@platformatic/kafka'] },
})

export interface OpenStreamConsumerOptions extends Abortable {
  /** The consumer folders to choose from; defaults to {@link CONSUMER_BACKENDS}. */
  readonly backends?: Readonly<Record<string, ConsumerBackend>>
}

/**
 * Opens a consumer of a stream source in its group, with the folder of the source's broker (Redis
 * stream, NATS JetStream, Kafka), imported on first use. Fails with MISSING_DEPENDENCY and the
 * `npm install` command when the broker's client is not installed, with UNSUPPORTED for a Kinesis
 * source (no consumer here) or a push source (it is pushed to, never consumed), and with whatever the
 * folder reports (BACKEND_UNAVAILABLE when the broker cannot be reached).
 *
 * @example const consumer = await openStreamConsumer(view.source, settings, { member: 'worker-1', claimAfterMs: 30_000 })
 */
export async function openStreamConsumer(
  source: StreamSource | PushSource,
  options: StreamProcessorOptions,
  identity: ConsumerIdentity,
  opts: OpenStreamConsumerOptions = {},
): Promise<StreamConsumer> {
  const kind = kindOf(source) ?? typeof source
  if (kind === 'PushSource') {
    throw new LarderError('UNSUPPORTED', `PushSource "${source.name}" is not consumed from a broker`, {
      hint: 'push to it with POST /push on the feature server (`larder serve`) or store.push() from code',
    })
  }
  if (kind === 'KinesisSource') {
    throw new LarderError('UNSUPPORTED', `KinesisSource "${source.name}": Larder has no Kinesis consumer`, {
      hint: 'read the stream with a Kinesis client and push its events (POST /push, store.push()), or use a Kafka, NATS or Redis stream source',
    })
  }
  const backends = opts.backends ?? CONSUMER_BACKENDS
  const backend = Object.hasOwn(backends, kind) ? backends[kind] : undefined
  if (!backend) {
    throw new LarderError('UNSUPPORTED', `${kind} "${source.name}" is not a stream source Larder consumes`, {
      hint: 'use a KafkaSource, NatsSource or RedisStreamSource',
    })
  }
  let module: ConsumerModule<never>
  try {
    module = await backend.load()
  } catch (cause) {
    const missing = backend.packages.find((p) => isMissingPackage(cause, p))
    if (missing === undefined) throw cause
    throw new LarderError(
      'MISSING_DEPENDENCY',
      `${kind} "${source.name}" needs the npm package "${missing}", which is not installed`,
      { hint: `npm install ${backend.packages.join(' ')}`, cause },
    )
  }
  throwIfAborted(opts.signal)
  return module.openConsumer(source as never, options, identity, { signal: opts.signal })
}

function isMissingPackage(error: unknown, pkg: string): boolean {
  const e = error as NodeJS.ErrnoException
  return (
    (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') &&
    (e.message.includes(`'${pkg}'`) || e.message.includes(`"${pkg}"`))
  )
}
