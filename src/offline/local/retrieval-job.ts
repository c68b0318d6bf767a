import type { RecordBatch, Table } from 'apache-arrow'
import type { Abortable, FileFormat } from '../../core/index.js'
import type { EventRange, ResultTransform, RetrievalJob, Row, WriteResult } from '../offline-store.js'
import type { PitView } from '../pit/spec.js'
import { viewOutputColumns } from '../pit/sql.js'
import type { BatchStream } from './batches.js'
import { collectTable } from './results.js'

/** The join's result read as batches (not rewritten), and what reading it holds until `close`. */
export interface JoinRead {
  readonly read: BatchStream
  /** The entity rows' least and greatest timestamp, or the range's ends for entity-less retrieval. */
  readonly eventRange: EventRange | undefined
  close(): void | Promise<void>
}

/** What {@link BatchedRetrievalJob} needs of a job's plan. */
export interface RetrievalOutput {
  readonly entityColumns: readonly string[]
  readonly views: readonly PitView[]
  readonly notices: readonly string[]
  readonly transform?: ResultTransform | undefined
}

/**
 * The half of a retrieval job that is the same on every engine: its columns (rewritten by the plan's
 * transform when there is one) and notices; `toArrow` and `stream` over the engine's `read`, each batch
 * rewritten by the transform; `toParquet` and `toCsv` through the engine's `copy`. Each call runs the
 * join anew and releases what it held when it ends, or when a stream is left early.
 */
export abstract class BatchedRetrievalJob implements RetrievalJob {
  readonly columns: readonly string[]
  readonly notices: readonly string[]
  protected readonly transform: ResultTransform | undefined

  constructor(output: RetrievalOutput) {
    const joined = [...output.entityColumns, ...output.views.flatMap(viewOutputColumns)]
    this.columns = Object.freeze(output.transform ? output.transform.columns(joined) : joined)
    this.notices = Object.freeze([...output.notices])
    this.transform = output.transform
  }

  /** Runs the join and reads its result; the caller closes the read. */
  protected abstract read(opts: Abortable): Promise<JoinRead>

  /** Writes the result (rewritten by the transform) to a file at `path`, atomically. */
  protected abstract copy(path: string, format: FileFormat, opts: Abortable): Promise<WriteResult>

  abstract toRows(limit?: number, opts?: Abortable): Promise<Row[]>

  async toArrow(opts: Abortable = {}): Promise<Table> {
    const join = await this.read(opts)
    try {
      return await collectTable(join.read, this.transform)
    } finally {
      await join.close()
    }
  }

  toParquet(path: string, opts: Abortable = {}): Promise<WriteResult> {
    return this.copy(path, 'parquet', opts)
  }

  toCsv(path: string, opts: Abortable = {}): Promise<WriteResult> {
    return this.copy(path, 'csv', opts)
  }

  async *stream(opts: Abortable = {}): AsyncIterable<RecordBatch> {
    const join = await this.read(opts)
    try {
      const transform = this.transform
      for await (const b of join.read.batches) yield transform ? transform.apply(b) : b
    } finally {
      await join.close()
    }
  }
}
