import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { OnlineFeaturesResponse } from '../serving/index.js'

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const JOB_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600]

/**
 * The feature server's Prometheus metrics, in a registry of their own (plus Node's process metrics).
 *
 * - `larder_http_requests_total{route,method,status}` and `larder_http_request_duration_seconds{…}`
 * - `larder_online_read_duration_seconds{store}`: one `readMany` of the online store
 * - `larder_online_feature_statuses_total{status}`: values returned, by status
 * - `larder_push_rows_total{push_source,to}`
 * - `larder_materialized_rows_total{feature_view}`, `larder_materialization_duration_seconds{feature_view,status}`
 * - `larder_feature_freshness_seconds{feature_view}`: the age of the newest event materialized (from
 *   the run history), else of the end of the view's last materialized window, computed when scraped
 */
export class ServerMetrics {
  readonly registry = new Registry()
  readonly #requests: Counter<'route' | 'method' | 'status'>
  readonly #latency: Histogram<'route' | 'method' | 'status'>
  readonly #onlineRead: Histogram<'store'>
  readonly #statuses: Counter<'status'>
  readonly #pushRows: Counter<'push_source' | 'to'>
  readonly #materializedRows: Counter<'feature_view'>
  readonly #materialization: Histogram<'feature_view' | 'status'>
  #aggregated: (() => Promise<string>) | undefined

  /** @param freshness returns, when scraped, each view's seconds since its newest materialized instant. */
  constructor(freshness: () => ReadonlyMap<string, number> | Promise<ReadonlyMap<string, number>>) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    this.#requests = new Counter({
      name: 'larder_http_requests_total',
      help: 'HTTP requests answered, by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    })
    this.#latency = new Histogram({
      name: 'larder_http_request_duration_seconds',
      help: 'Time from request to response, by route, method and status',
      labelNames: ['route', 'method', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    })
    this.#onlineRead = new Histogram({
      name: 'larder_online_read_duration_seconds',
      help: 'Duration of one online store read (all views of a request), by store type',
      labelNames: ['store'],
      buckets: LATENCY_BUCKETS,
      registers,
    })
    this.#statuses = new Counter({
      name: 'larder_online_feature_statuses_total',
      help: 'Feature values returned by online reads, by status',
      labelNames: ['status'],
      registers,
    })
    this.#pushRows = new Counter({
      name: 'larder_push_rows_total',
      help: 'Rows received by push, by push source and target',
      labelNames: ['push_source', 'to'],
      registers,
    })
    this.#materializedRows = new Counter({
      name: 'larder_materialized_rows_total',
      help: 'Entity rows loaded into the online store by materialization, by feature view',
      labelNames: ['feature_view'],
      registers,
    })
    this.#materialization = new Histogram({
      name: 'larder_materialization_duration_seconds',
      help: 'Duration of materialization runs, by feature view and outcome',
      labelNames: ['feature_view', 'status'],
      buckets: JOB_BUCKETS,
      registers,
    })
    new Gauge({
      name: 'larder_feature_freshness_seconds',
      help: 'Age in seconds of the newest event materialized (else of the end of the last materialized window), by feature view',
      labelNames: ['feature_view'],
      registers,
      // every worker of a cluster reports the same ages: aggregating must not add them up
      aggregator: 'max',
      async collect() {
        const ages = await freshness()
        this.reset()
        for (const [view, seconds] of ages) this.set({ feature_view: view }, seconds)
      },
    })
  }

  request(route: string, method: string, status: number, seconds: number): void {
    const labels = { route, method, status: String(status) }
    this.#requests.inc(labels)
    this.#latency.observe(labels, seconds)
  }

  onlineRead(store: string, seconds: number): void {
    this.#onlineRead.observe({ store }, seconds)
  }

  /** Counts the statuses of the feature columns of a response (join-key columns are not features). */
  statuses(response: OnlineFeaturesResponse, joinKeyColumns: number): void {
    const counts = new Map<string, number>()
    for (let i = joinKeyColumns; i < response.results.length; i++) {
      for (const s of response.results[i]!.statuses) counts.set(s, (counts.get(s) ?? 0) + 1)
    }
    for (const [status, n] of counts) this.#statuses.inc({ status }, n)
  }

  pushRows(pushSource: string, to: string, rows: number): void {
    this.#pushRows.inc({ push_source: pushSource, to }, rows)
  }

  materialization(view: string, status: 'succeeded' | 'failed', rows: number, seconds: number): void {
    if (rows > 0) this.#materializedRows.inc({ feature_view: view }, rows)
    this.#materialization.observe({ feature_view: view, status }, seconds)
  }

  /**
   * Makes `render()` answer the text `source` gives instead of this registry's: in a worker of
   * `larder serve --workers N`, the metrics of every worker aggregated by the primary (see
   * `server/cluster/`), so a scrape sees the whole server whichever worker answers it.
   */
  aggregateWith(source: () => Promise<string>): void {
    this.#aggregated = source
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; text: string }> {
    const text = await (this.#aggregated ? this.#aggregated() : this.registry.metrics())
    return { contentType: this.registry.contentType, text }
  }
}
