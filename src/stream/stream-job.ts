import type { JobLogLine, JobProgress, JobRecord } from '../registry/index.js'
import {
  type RunStreamOptions,
  runStreamProcessor,
  type SourceHealth,
  type StreamLog,
  type StreamMetrics,
  type StreamProcessor,
  type StreamTarget,
} from './processor.js'

/**
 * The bookkeeping of the stored job a processor runs as: `JobTracker` of `materialize/` is one (it
 * beats, stores progress and log lines, and fires `signal` when the job is cancelled from any process).
 */
export interface StreamJobTracker {
  readonly job: JobRecord
  /** Fires when the job is cancelled. */
  readonly signal: AbortSignal
  /** The latest progress, stored at the next beat. */
  progress(progress: JobProgress): void
  /** A line for `larder jobs logs`, stored at the next beat. */
  log(level: JobLogLine['level'], message: string): void
  /** Stores the outcome: succeeded with `result`, else cancelled (after a cancel) or failed with `error`. */
  finish(outcome: { readonly result: unknown } | { readonly error: unknown }): Promise<JobRecord>
}

/** A processor running as a stored job of kind `stream`. */
export interface StreamJob extends StreamProcessor {
  /** The job as stored when the processor started. */
  readonly job: JobRecord
  /**
   * Stops the processor as {@link StreamProcessor.stop} does and resolves once the job's outcome is
   * stored: succeeded, or failed with `failure` when given (the caller could not go on, e.g. its status
   * server could not listen), which `done` then resolves with rather than rejects.
   */
  stop(failure?: unknown): Promise<void>
}

/**
 * Runs {@link runStreamProcessor} as `tracker`'s job. Its progress counts, per view, the events written
 * (`rowsDone`; no total, a stream has none), and the views as tasks, done once their processor stopped
 * after finishing its batches in hand. Its log holds the start (consumer and views), the processor's
 * lines (consuming, retried failures, dead letters, stopped) and the outcome. A cancel of the job stops
 * the processor as `stop()` does (the batches in hand are written and acknowledged), and `done` then
 * resolves with the job cancelled; a stop ends it succeeded, with each source's events (failed, when
 * the caller stops it with a failure); a processor that fails (at start, or later) ends it failed with
 * the error, which is rethrown.
 */
export async function runStreamJob(
  target: StreamTarget,
  options: RunStreamOptions,
  tracker: StreamJobTracker,
): Promise<StreamJob> {
  const written = new Map<string, number>()
  let views: readonly string[] = []
  const report = (stopped: boolean) => tracker.progress(streamProgress(views, written, stopped))
  const log = (line: StreamLog) => {
    tracker.log(line.level, logText(line))
    options.onLog?.(line)
  }
  const outer = options.metrics
  const metrics: StreamMetrics = {
    batch: (view, events, seconds) => {
      written.set(view, (written.get(view) ?? 0) + events)
      report(false)
      outer?.batch(view, events, seconds)
    },
    deadLettered: (source, events) => outer?.deadLettered(source, events),
    error: (source, kind) => outer?.error(source, kind),
    lag: (source, pending, unacknowledged) => outer?.lag(source, pending, unacknowledged),
  }
  let processor: StreamProcessor
  try {
    processor = await runStreamProcessor(target, { ...options, metrics, onLog: log })
  } catch (error) {
    await tracker.finish({ error })
    throw error
  }
  const sources = processor.health().sources
  views = sources.flatMap((s) => s.views)
  report(false)
  tracker.log(
    'info',
    `started as consumer "${options.member}": ${sources.map((s) => `source "${s.source}" -> ${s.views.join(', ')}`).join('; ')}`,
  )
  const onCancel = () => {
    log({ level: 'info', msg: 'stopping after the batches in hand', reason: 'the job was cancelled' })
    void processor.stop().catch(() => undefined)
  }
  if (tracker.signal.aborted) onCancel()
  else tracker.signal.addEventListener('abort', onCancel, { once: true })
  let failure: { readonly error: unknown } | undefined
  const done = processor.done.then(
    async () => {
      tracker.signal.removeEventListener('abort', onCancel)
      report(true)
      await tracker.finish(
        failure ??
          (tracker.signal.aborted
            ? { error: tracker.signal.reason }
            : { result: { sources: processor.health().sources.map(sourceResult) } }),
      )
    },
    async (error: unknown) => {
      tracker.signal.removeEventListener('abort', onCancel)
      await tracker.finish({ error })
      throw error
    },
  )
  return {
    job: tracker.job,
    health: () => processor.health(),
    stop: async (error?: unknown) => {
      if (error !== undefined) failure ??= { error }
      await processor.stop().catch(() => undefined)
      await done
    },
    done,
  }
}

/** The job's progress: events written per view, the views as tasks (done once stopped). */
function streamProgress(
  views: readonly string[],
  written: ReadonlyMap<string, number>,
  stopped: boolean,
): JobProgress {
  const tasksDone = stopped ? 1 : 0
  const perView = Object.fromEntries(
    views.map((v) => [v, { rowsDone: written.get(v) ?? 0, rowsTotal: undefined, tasksDone, tasksTotal: 1 }]),
  )
  return {
    rowsDone: views.reduce((sum, v) => sum + (written.get(v) ?? 0), 0),
    rowsTotal: undefined,
    tasksDone: tasksDone * views.length,
    tasksTotal: views.length,
    views: perView,
  }
}

/** A processor's log line as a job's: the message, then its fields as `key=value` (JSON for non-text). */
function logText({ level: _level, msg, ...fields }: StreamLog): string {
  const shown = Object.entries(fields).map(
    ([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`,
  )
  return [msg, ...shown].join(' ')
}

/** What a source did, as the succeeded job's result shows it. */
function sourceResult(s: SourceHealth) {
  return { source: s.source, views: s.views, events: s.events, dead_lettered: s.deadLettered }
}
