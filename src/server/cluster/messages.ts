// The IPC messages between the primary of `larder serve --workers N` and its workers. Each carries a
// `larder` tag, so they never mix with other IPC messages (prom-client's are tagged `type`).

/** What a worker says about itself once it listens: its URLs and how it answers. */
export interface WorkerListening {
  readonly url: string
  readonly metricsUrl: string | undefined
  readonly grpcUrl: string | undefined
  readonly auth: string
  readonly allowedHosts: readonly string[]
}

/** An error as it crosses the process boundary: enough to report it as the worker would have. */
export interface SentError {
  readonly code: string | undefined
  readonly message: string
  readonly hint: string | undefined
}

export type WorkerMessage =
  | { readonly larder: 'ready'; readonly listening: WorkerListening }
  | { readonly larder: 'failed'; readonly error: SentError }
  /** Asks the primary for the metrics of the whole cluster; answered with their text. */
  | { readonly larder: 'metrics'; readonly id: number }
  /**
   * This worker was asked to reload the registry (`POST /registry/refresh`): answered once the primary
   * checked it and every worker serves the version found.
   */
  | { readonly larder: 'refresh'; readonly id: number }
  /** Replies to the primary's `collect` (this worker's `getMetricsAsJSON()`) or `reload` (undefined). */
  | { readonly larder: 'reply'; readonly id: number; readonly value?: readonly unknown[] }

export type PrimaryMessage =
  /** Answers a worker's `metrics` (with `text`) or `refresh`, or says why it failed. */
  | { readonly larder: 'answer'; readonly id: number; readonly text?: string; readonly error?: string }
  | { readonly larder: 'collect'; readonly id: number }
  /** The registry changed: reload it, then reply. */
  | { readonly larder: 'reload'; readonly id: number; readonly version: string }
  /** Drain and stop (sent instead of a signal, which the worker may have had from its terminal already). */
  | { readonly larder: 'stop' }

/** Whether an IPC message is one of Larder's (and not, e.g., prom-client's). */
export function isLarderMessage<T extends { larder: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as T).larder === 'string'
}
