import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { LarderError } from '../core/index.js'
import type { StreamMetrics, StreamProcessor } from '../stream/index.js'

const BATCH_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * The stream processor's Prometheus metrics, in a registry of their own (plus Node's process metrics):
 * - `larder_stream_events_total{feature_view}`: events written
 * - `larder_stream_batch_duration_seconds{feature_view}`: a micro-batch from read to acknowledgement
 * - `larder_stream_dead_lettered_total{source}`: events moved to the dead-letter stream
 * - `larder_stream_errors_total{source,kind}`: retried failures (`broker` or `write`)
 * - `larder_stream_lag_messages{source,state}`: `pending` (not yet delivered) and `unacknowledged`
 */
export class StreamServerMetrics implements StreamMetrics {
  readonly registry = new Registry()
  readonly #events: Counter<'feature_view'>
  readonly #batches: Histogram<'feature_view'>
  readonly #dead: Counter<'source'>
  readonly #errors: Counter<'source' | 'kind'>
  readonly #lag: Gauge<'source' | 'state'>

  constructor() {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    this.#events = new Counter({
      name: 'larder_stream_events_total',
      help: 'Events written by the stream processor, by feature view',
      labelNames: ['feature_view'],
      registers,
    })
    this.#batches = new Histogram({
      name: 'larder_stream_batch_duration_seconds',
      help: 'Duration of a micro-batch from read to acknowledgement, by feature view',
      labelNames: ['feature_view'],
      buckets: BATCH_BUCKETS,
      registers,
    })
    this.#dead = new Counter({
      name: 'larder_stream_dead_lettered_total',
      help: 'Events moved to the dead-letter stream, by source',
      labelNames: ['source'],
      registers,
    })
    this.#errors = new Counter({
      name: 'larder_stream_errors_total',
      help: 'Failures retried by the stream processor, by source and kind (broker or write)',
      labelNames: ['source', 'kind'],
      registers,
    })
    this.#lag = new Gauge({
      name: 'larder_stream_lag_messages',
      help: 'Messages of the consumer group not yet delivered (pending) or not yet acknowledged, by source',
      labelNames: ['source', 'state'],
      registers,
    })
  }

  batch(view: string, events: number, seconds: number): void {
    this.#events.inc({ feature_view: view }, events)
    this.#batches.observe({ feature_view: view }, seconds)
  }

  deadLettered(source: string, events: number): void {
    this.#dead.inc({ source }, events)
  }

  error(source: string, kind: 'broker' | 'write'): void {
    this.#errors.inc({ source, kind })
  }

  lag(source: string, pending: number | undefined, unacknowledged: number | undefined): void {
    if (pending !== undefined) this.#lag.set({ source, state: 'pending' }, pending)
    if (unacknowledged !== undefined) this.#lag.set({ source, state: 'unacknowledged' }, unacknowledged)
  }
}

/** A listening status server. */
export interface StreamStatusServer {
  readonly url: string
  close(): Promise<void>
}

/**
 * Serves a stream processor's `GET /health` (200 when every source is running, else 503; the body
 * lists each source's state, last error, events and dead letters) and `GET /metrics` (Prometheus
 * text). Rejects with BACKEND_UNAVAILABLE when the port cannot be bound.
 */
export async function serveStreamStatus(
  processor: StreamProcessor,
  metrics: StreamServerMetrics,
  options: { host?: string; port?: number } = {},
): Promise<StreamStatusServer> {
  const host = options.host ?? '127.0.0.1'
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (req.method === 'GET' && path === '/health') {
      const health = processor.health()
      res.writeHead(health.healthy ? 200 : 503, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ status: health.healthy ? 'ok' : 'degraded', sources: health.sources }))
      return
    }
    if (req.method === 'GET' && path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (error: Error) => res.writeHead(500).end(error.message),
      )
      return
    }
    res.writeHead(404, { 'content-type': 'application/json' })
    res.end(
      JSON.stringify({
        status_code: 404,
        error_type: 'NOT_FOUND',
        detail: 'routes: GET /health, GET /metrics',
      }),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new LarderError(
          'BACKEND_UNAVAILABLE',
          `cannot listen on ${host}:${options.port ?? 0}: ${error.message}`,
          {
            hint: 'choose another port with --port',
          },
        ),
      ),
    )
    server.listen(options.port ?? 0, host, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
