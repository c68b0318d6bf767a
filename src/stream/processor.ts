import { createHash } from 'node:crypto'
import type { RepoConfig } from '../config/index.js'
import {
  type BatchTransform,
  isLarderError,
  isStreamSource,
  knownNames,
  LarderError,
  type Micros,
  nowMicros,
  type RowTransform,
  type StreamFeatureView,
  type StreamSource,
} from '../core/index.js'
import type { OfflineStore } from '../offline/index.js'
import type { OnlineStore } from '../online/online-store.js'
import { hasTiles } from '../online/tile-store.js'
import type { Registry } from '../registry/index.js'
import type { ConsumerIdentity, StreamConsumer, StreamMessage } from './consumer.js'
import { openStreamConsumer } from './consumer-loader.js'
import { checkDecodable, decodeMessage } from './decode.js'
import { type StreamProcessorOptions, streamProcessorSchema } from './stream-config.js'
import {
  type DecodedEvent,
  latestRows,
  type PreparedEvent,
  type RefusedEvent,
  ViewSink,
} from './view-sink.js'

/** What the processor needs from a feature store; `FeatureStore` is one. */
export interface StreamTarget {
  readonly config: RepoConfig
  readonly registry: Registry
  online(): Promise<OnlineStore>
  offline(): Promise<OfflineStore>
  /** The deployed definitions' stream views, whose transformations run (the registry keeps only their text). */
  deployedStreamViews?(): Promise<ReadonlyMap<string, StreamFeatureView>>
}

/** Counters and gauges the processor reports; the CLI backs them with Prometheus metrics. */
export interface StreamMetrics {
  /** A micro-batch of a view was written: its events and how long the batch took from read to ack. */
  batch(view: string, events: number, seconds: number): void
  /** Events of a source moved to its dead-letter stream. */
  deadLettered(source: string, events: number): void
  /** A failure that was retried: `broker` (read, ack, connect) or `write` (online or offline store). */
  error(source: string, kind: 'broker' | 'write'): void
  /** Messages of a source's group not yet delivered, and delivered but not acknowledged. */
  lag(source: string, pending: number | undefined, unacknowledged: number | undefined): void
}

/** A log line of the processor. */
export interface StreamLog {
  readonly level: 'info' | 'warn' | 'error'
  readonly msg: string
  readonly [field: string]: unknown
}

export interface RunStreamOptions {
  /** The stream views to run (default: every stream feature view of the project with a broker source). */
  readonly views?: readonly string[]
  /** This process's name in the consumer groups; stable across restarts so a restart resumes its own messages. */
  readonly member: string
  readonly metrics?: StreamMetrics
  readonly onLog?: (line: StreamLog) => void
  /** The clock tiles are expired by (default: now). */
  readonly now?: () => Micros
}

/** The state of one source's consumer, for the health route. */
export interface SourceHealth {
  readonly source: string
  readonly views: readonly string[]
  /** `starting` until the broker answered, `running`, `retrying` after a failure, `stopped`. */
  readonly state: 'starting' | 'running' | 'retrying' | 'stopped'
  /** The last failure, while retrying. */
  readonly error: string | undefined
  readonly events: number
  readonly deadLettered: number
  /** When the last batch was written (epoch ms), or undefined. */
  readonly lastBatchAt: number | undefined
}

/** A running processor. */
export interface StreamProcessor {
  /** Healthy when every source is running. */
  health(): { readonly healthy: boolean; readonly sources: readonly SourceHealth[] }
  /** Stops reading, finishes and acknowledges the batch in hand, closes the consumers. */
  stop(): Promise<void>
  /** Settles when the processor has stopped (after `stop`). */
  readonly done: Promise<void>
}

const BACKOFF_START_MS = 250
const BACKOFF_MAX_MS = 15_000

/**
 * Starts `larder stream`'s work: one consumer per stream source (in the source's consumer group, as
 * `member`), each reading micro-batches and, for every view fed by the source, checking and
 * transforming each event, then writing the batch offline (appended to the view's batch source under
 * an idempotency key, when the view has `offline: true`), online (latest values, newer wins) and into
 * the view's tiles (each event id applied once), and only then acknowledging it. A bad event goes to
 * the source's dead-letter stream with its reason; a broker or store failure is retried with backoff
 * (shown by `health()`), never acknowledged. Throws at start for an unknown view, a view without a
 * broker source, a transformation the deployed repo lacks, or a bad `stream_processor` block.
 */
export async function runStreamProcessor(
  target: StreamTarget,
  options: RunStreamOptions,
): Promise<StreamProcessor> {
  const settings = streamSettings(target.config)
  const catalog = (await target.registry.load()).catalog(target.config.project)
  const all = [...catalog.streamFeatureViews.values()]
  const consumable = all.filter((v) => isStreamSource(v.source))
  const chosen = options.views ?? consumable.map((v) => v.name)
  if (chosen.length === 0) {
    throw new LarderError(
      'NOT_FOUND',
      `project "${target.config.project}" has no stream feature view over a broker`,
      {
        hint: 'define a StreamFeatureView over a RedisStreamSource, NatsSource or KafkaSource, and apply',
      },
    )
  }
  const deployed = all.some((v) => v.transformation && !v.transformation.fn)
    ? await target.deployedStreamViews?.()
    : undefined
  const sinks = chosen.map((name) => {
    const view = catalog.streamFeatureViews.get(name)
    if (view === undefined) {
      throw new LarderError(
        'NOT_FOUND',
        `stream feature view "${name}" not found in project "${target.config.project}"`,
        {
          hint: `known stream feature views: ${knownNames(all.map((v) => v.name))}`,
        },
      )
    }
    if (!isStreamSource(view.source)) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `stream feature view "${name}" reads push source "${view.source.name}", which no broker feeds`,
        {
          hint: 'push to it with `larder push` or POST /push; larder stream consumes Redis streams, NATS subjects and Kafka topics',
        },
      )
    }
    checkDecodable(view.source)
    const fn = view.transformation?.fn ?? deployed?.get(name)?.transformation?.fn
    return new ViewSink(target.config, view, fn as RowTransform | BatchTransform | undefined)
  })
  const online = await target.online()
  if (sinks.some((s) => s.tiles) && !hasTiles(online)) {
    throw new LarderError(
      'UNSUPPORTED',
      `the online store "${online.type}" keeps no tiles for windowed aggregations`,
      {
        hint: 'use a built-in online store (sqlite, redis, postgres, memory)',
      },
    )
  }
  const bySource = new Map<string, ViewSink[]>()
  for (const sink of sinks)
    bySource.set(sink.view.source.name, [...(bySource.get(sink.view.source.name) ?? []), sink])
  const runners = [...bySource.values()].map(
    (group) => new SourceRunner(target, online, settings, group, options),
  )
  const done = Promise.all(runners.map((r) => r.run())).then(() => undefined)
  return {
    health: () => {
      const sources = runners.map((r) => r.health())
      return { healthy: sources.every((s) => s.state === 'running'), sources }
    },
    stop: async () => {
      for (const r of runners) r.stop()
      await done
    },
    done,
  }
}

/** The `stream_processor` block with its defaults; INVALID_CONFIG names the key. */
export function streamSettings(config: RepoConfig): StreamProcessorOptions {
  const parsed = streamProcessorSchema.safeParse(config.streamProcessor)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  const key = issue.path.join('.')
  throw new LarderError(
    'INVALID_CONFIG',
    `feature_store.yaml: stream_processor${key ? `.${key}` : ''}: ${issue.message}`,
    { hint: `known keys: ${knownNames(Object.keys(streamProcessorSchema.shape))}` },
  )
}

/** Reads one source and writes its views, until stopped. */
class SourceRunner {
  readonly #target: StreamTarget
  readonly #online: OnlineStore
  readonly #settings: StreamProcessorOptions
  readonly #sinks: readonly ViewSink[]
  readonly #source: StreamSource
  readonly #options: RunStreamOptions
  readonly #stopping = new AbortController()
  #consumer: StreamConsumer | undefined
  #state: SourceHealth['state'] = 'starting'
  #error: string | undefined
  #events = 0
  #deadLettered = 0
  #lastBatchAt: number | undefined
  /** The release of the last acknowledged batch's tile marks, running in the background. */
  #releasing: Promise<void> = Promise.resolve()
  /** The kinds of work (reads, writes) whose last attempt failed. */
  readonly #failing = new Set<'broker' | 'write'>()
  /** The writes of the batch in hand: true once acknowledged, false when a stop cut them short. */
  #writing: Promise<boolean> = Promise.resolve(true)

  constructor(
    target: StreamTarget,
    online: OnlineStore,
    settings: StreamProcessorOptions,
    sinks: readonly ViewSink[],
    options: RunStreamOptions,
  ) {
    this.#target = target
    this.#online = online
    this.#settings = settings
    this.#sinks = sinks
    this.#source = sinks[0]!.view.source as StreamSource
    this.#options = options
  }

  health(): SourceHealth {
    return {
      source: this.#source.name,
      views: this.#sinks.map((s) => s.view.name),
      state: this.#state,
      error: this.#error,
      events: this.#events,
      deadLettered: this.#deadLettered,
      lastBatchAt: this.#lastBatchAt,
    }
  }

  stop(): void {
    this.#stopping.abort()
  }

  async run(): Promise<void> {
    const signal = this.#stopping.signal
    const identity: ConsumerIdentity = {
      member: this.#options.member,
      claimAfterMs: this.#settings.claim_after_ms,
    }
    try {
      this.#consumer = await this.#retrying('broker', () =>
        openStreamConsumer(this.#source, this.#settings, identity, { signal }),
      )
      if (this.#consumer === undefined) return
      this.#log('info', 'consuming', { views: this.#sinks.map((s) => s.view.name) })
      let lagAt = 0
      while (!signal.aborted) {
        // the next batch is read and prepared while the previous one is written (#writing)
        const read = await this.#retrying('broker', async () => {
          // a consumer whose broker could not be reached is opened anew: its client may have given up
          // reconnecting (Redis stops after about 30 s), and a new one connects once the broker is back
          this.#consumer ??= await openStreamConsumer(this.#source, this.#settings, identity, { signal })
          const consumer = this.#consumer
          try {
            return {
              consumer,
              messages: await consumer.read(this.#settings.batch_size, this.#settings.max_wait_ms, {
                signal,
              }),
            }
          } catch (error) {
            if (isLarderError(error) && error.code === 'BACKEND_UNAVAILABLE') {
              this.#consumer = undefined
              // the batch being written acknowledges through this consumer: it finishes first
              await this.#writing
              await consumer.close().catch(() => undefined)
            }
            throw error
          }
        })
        if (read === undefined) break
        if (read.messages.length > 0) {
          const batch = this.#prepare(read.consumer, read.messages)
          // batches are written in stream order: this one starts when the previous one is acknowledged
          if (!(await this.#writing)) break
          // a batch in hand is finished even when a stop comes meanwhile: written, then acknowledged
          this.#writing = this.#retrying('write', () => this.#write(batch), true).then((w) => w !== undefined)
        }
        if (Date.now() - lagAt > 1000) {
          lagAt = Date.now()
          const lag = await read.consumer.lag().catch(() => undefined)
          if (lag) this.#options.metrics?.lag(this.#source.name, lag.pending, lag.unacknowledged)
        }
      }
    } finally {
      await this.#writing
      await this.#releasing
      await this.#consumer?.close().catch(() => undefined)
      this.#state = 'stopped'
      this.#log('info', 'stopped')
    }
  }

  /**
   * Decodes, checks and transforms a batch read from `consumer` for every view: what `#write` writes
   * and acknowledges, and the events refused (with every view's reason).
   */
  #prepare(consumer: StreamConsumer, messages: readonly StreamMessage[]): PreparedBatch {
    const started = performance.now()
    const refused = new Map<string, RefusedEvent>()
    const decoded: DecodedEvent[] = []
    for (const message of messages) {
      try {
        decoded.push(decodeMessage(this.#source, message))
      } catch (error) {
        // no view could read it: the reason names them all, as a view's own refusals do
        const views = this.#sinks.map((s) => `"${s.view.name}"`).join(', ')
        const reason = `${(error as Error).message}, for stream feature view${this.#sinks.length > 1 ? 's' : ''} ${views}`
        refused.set(message.id, { message, reason })
      }
    }
    const perView = this.#sinks.map((sink) => {
      const { prepared, refused: bad } = sink.prepare(decoded)
      for (const r of bad) {
        const seen = refused.get(r.message.id)
        refused.set(r.message.id, seen ? { message: r.message, reason: `${seen.reason}; ${r.reason}` } : r)
      }
      return { sink, prepared }
    })
    const good = perView.map(({ sink, prepared }) => ({
      sink,
      events: prepared.filter((p) => !refused.has(p.message.id)),
    }))
    const acked = messages.filter((m) => !refused.has(m.id))
    return { consumer, started, good, acked, refused }
  }

  /**
   * Writes a prepared batch offline, online and into the tiles, dead-letters its refused events, then
   * acknowledges it; its tile marks are released in the background.
   */
  async #write(batch: PreparedBatch): Promise<true> {
    const { consumer, started, good, acked, refused } = batch
    // dead letters first, all sent at once: they reach the broker before the next batch is read, so
    // the dead-letter stream stays in stream order with what a consumer itself moves there on reading
    await Promise.all(
      [...refused.values()].map(async (r) => {
        await consumer.deadLetter(r.message, r.reason)
        this.#log('warn', 'event dead-lettered', { id: r.message.id, reason: r.reason })
      }),
    )
    const offline = good.filter(({ sink, events }) => sink.view.offline && events.length > 0)
    if (offline.length > 0) {
      const key = appendKey(acked)
      const store = await this.#target.offline()
      const appended = new Set<string>()
      for (const { sink, events } of offline) {
        const batchSource = sink.view.batchSource.name
        if (appended.has(batchSource)) continue
        appended.add(batchSource)
        await store.writeRows(
          sink.view.storageView,
          events.map((e) => e.offline!),
          { idempotencyKey: key },
        )
      }
    }
    const now = this.#options.now?.() ?? nowMicros()
    for (const { sink, events } of good) {
      if (events.length === 0 || !sink.view.online) continue
      // latest values and tiles are kept apart (other rows, other keys): written side by side
      const online = this.#online
      await Promise.all([
        online.write(sink.ref, latestRows(events)),
        sink.tiles && hasTiles(online)
          ? online.applyTiles(
              sink.tiles,
              events.map((e) => e.tile!),
              now,
            )
          : undefined,
      ])
    }
    if (acked.length > 0) await consumer.ack(acked)
    // the acknowledged events' marks are forgotten while the next batch is read (one release in
    // flight: the next waits for it, and so does the runner before it ends); a release that fails
    // leaves marks that expire on their own
    const online = this.#online
    const releases = good.filter(({ sink, events }) => sink.tiles && events.length > 0)
    if (releases.length > 0 && hasTiles(online)) {
      await this.#releasing
      this.#releasing = Promise.all(
        releases.map(({ sink, events }) =>
          online.releaseMarks(
            sink.tiles!,
            events.map((e) => e.tile!),
          ),
        ),
      ).then(
        () => undefined,
        () => undefined,
      )
    }
    const seconds = (performance.now() - started) / 1000
    for (const { sink, events } of good) this.#options.metrics?.batch(sink.view.name, events.length, seconds)
    if (refused.size > 0) this.#options.metrics?.deadLettered(this.#source.name, refused.size)
    this.#events += acked.length
    this.#deadLettered += refused.size
    this.#lastBatchAt = Date.now()
    return true
  }

  /**
   * Runs `f` until it succeeds, retrying failures with exponential backoff (shown in health, counted
   * in metrics). Undefined when a stop came first; with `finish` (a batch in hand) a stop does not cut
   * the retries short, so the batch is written and acknowledged before the processor ends.
   */
  async #retrying<T>(kind: 'broker' | 'write', f: () => Promise<T>, finish = false): Promise<T | undefined> {
    let delay = BACKOFF_START_MS
    for (;;) {
      if (this.#stopping.signal.aborted && !finish) return undefined
      try {
        const result = await f()
        // reads and writes run side by side: the source is running once neither is failing
        this.#failing.delete(kind)
        if (this.#failing.size > 0) return result
        if (this.#state !== 'running') this.#log('info', 'running')
        this.#state = 'running'
        this.#error = undefined
        return result
      } catch (error) {
        if (this.#stopping.signal.aborted && (!finish || isAbort(error))) return undefined
        this.#failing.add(kind)
        this.#state = 'retrying'
        this.#error = isLarderError(error) ? error.message : String((error as Error)?.message ?? error)
        this.#options.metrics?.error(this.#source.name, kind)
        this.#log('error', `${kind === 'broker' ? 'broker' : 'store'} failure; retrying in ${delay} ms`, {
          error: this.#error,
        })
        const waited = await sleep(delay, finish ? undefined : this.#stopping.signal)
        if (!waited) return undefined
        delay = Math.min(delay * 2, BACKOFF_MAX_MS)
      }
    }
  }

  #log(level: StreamLog['level'], msg: string, fields: Record<string, unknown> = {}): void {
    this.#options.onLog?.({ level, msg, source: this.#source.name, ...fields })
  }
}

/** A batch read and prepared, waiting for its writes. */
interface PreparedBatch {
  /** The consumer it was read from, which acknowledges it. */
  readonly consumer: StreamConsumer
  /** When its preparation started (performance.now()), for the batch latency. */
  readonly started: number
  /** Each view's events that every view accepted. */
  readonly good: readonly { readonly sink: ViewSink; readonly events: readonly PreparedEvent[] }[]
  /** The messages acknowledged once written. */
  readonly acked: readonly StreamMessage[]
  /** The messages to dead-letter, by id, with their reasons. */
  readonly refused: ReadonlyMap<string, RefusedEvent>
}

/**
 * The idempotency key of a batch's offline append: the first message's stream position and a hash of
 * every id, so the same batch read again (a restart resuming its unacknowledged messages) replaces its
 * own append, and keys sort in stream order.
 */
function appendKey(messages: readonly StreamMessage[]): string {
  const hash = createHash('sha256')
  for (const m of messages) hash.update(m.id).update('\0')
  return `stream-${messages[0]?.order ?? ''}-${hash.digest('hex').slice(0, 16)}`
}

function isAbort(error: unknown): boolean {
  return (error as Error)?.name === 'AbortError' || (isLarderError(error) && error.code === 'ABORTED')
}

/** Waits `ms`; false when the signal aborted first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve(true)
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      resolve(false)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
