import type { RecordBatch, Table } from 'apache-arrow'
import { type Abortable, LarderError } from '../../core/index.js'
import { type BatchStream, DEFAULT_BATCH_ROWS, readBatches, readRows } from '../local/batches.js'
import { ENTITY_TABLE } from '../local/entities.js'
import { copyOptions, writeAtomically } from '../local/files.js'
import { sqlString } from '../local/quote.js'
import { collectTable, transformedRows, withRange, writeTransformed } from '../local/results.js'
import type { Session } from '../local/session.js'
import type { EventRange, ResultTransform, RetrievalJob, Row, WriteResult } from '../offline-store.js'
import { ENTITY_TS, type PitView } from '../pit/spec.js'
import { buildPitQuery, type JoinStrategy, viewOutputColumns } from '../pit/sql.js'
import { duckdbDialect } from './duckdb-dialect.js'

/** Everything a job needs to run, decided when it was planned. */
export interface PlannedRetrieval {
  readonly views: readonly PitView[]
  readonly entityColumns: readonly string[]
  readonly timestampColumn: string
  /** Creates the prepared entity table (`ENTITY_TABLE`) on the session. */
  readonly loadEntities: (session: Session) => Promise<void>
  /** For entity-less range retrieval, the range's start and end: what the writes report as `eventRange`. */
  readonly eventRange?: EventRange | undefined
  readonly asOfKnownTime: boolean
  readonly strategy: JoinStrategy
  readonly notices: readonly string[]
  /** Rewrites each result batch (on-demand views); files are then written from the rewritten batches. */
  readonly transform?: ResultTransform | undefined
}

/** Opens a DuckDB session of the store that created the job. */
export type OpenSession = (signal: AbortSignal | undefined) => Promise<Session>

const FAILED = (message: string) =>
  new LarderError('DATA_SOURCE', `historical retrieval failed in DuckDB: ${message}`, {
    hint: 'check that the join keys of the entity table and the sources have comparable types',
  })

/** A point-in-time join over DuckDB, run anew by each method on its own connection. */
export class DuckDBRetrievalJob implements RetrievalJob {
  readonly columns: readonly string[]
  readonly notices: readonly string[]
  readonly #open: OpenSession
  readonly #plan: PlannedRetrieval

  constructor(open: OpenSession, plan: PlannedRetrieval) {
    this.#open = open
    this.#plan = plan
    const joined = [...plan.entityColumns, ...plan.views.flatMap(viewOutputColumns)]
    this.columns = Object.freeze(plan.transform ? plan.transform.columns(joined) : joined)
    this.notices = Object.freeze([...plan.notices])
  }

  async toArrow(opts: Abortable = {}): Promise<Table> {
    const { read, session } = await this.#read(opts)
    try {
      return await collectTable(read, this.#plan.transform)
    } finally {
      session.close()
    }
  }

  toParquet(path: string, opts: Abortable = {}): Promise<WriteResult> {
    return this.#copy(path, 'parquet', opts)
  }

  toCsv(path: string, opts: Abortable = {}): Promise<WriteResult> {
    return this.#copy(path, 'csv', opts)
  }

  async toRows(limit?: number, opts: Abortable = {}): Promise<Row[]> {
    if (this.#plan.transform) return transformedRows(this.stream(opts), limit)
    const session = await this.#open(opts.signal)
    try {
      return await readRows(session, (await this.#query(session, limit)).sql, FAILED)
    } finally {
      session.close()
    }
  }

  async *stream(opts: Abortable = {}): AsyncIterable<RecordBatch> {
    const { read, session } = await this.#read(opts)
    try {
      const transform = this.#plan.transform
      if (!transform) yield* read.batches
      else for await (const b of read.batches) yield transform.apply(b)
    } finally {
      session.close()
    }
  }

  async #copy(path: string, format: 'parquet' | 'csv', opts: Abortable): Promise<WriteResult> {
    const transform = this.#plan.transform
    if (transform) {
      // the join streams on one connection while the rewritten batches are loaded on another
      const sink = await this.#open(opts.signal)
      try {
        const { read, session, eventRange } = await this.#read(opts)
        try {
          const { rows } = await writeTransformed(sink, read, transform, { path, format }, FAILED)
          return withRange(rows, eventRange)
        } finally {
          session.close()
        }
      } finally {
        sink.close()
      }
    }
    const session = await this.#open(opts.signal)
    try {
      const { sql, eventRange } = await this.#query(session)
      let rows = 0
      await writeAtomically(path, async (tmp) => {
        const result = await session.run(`COPY (${sql}) TO ${sqlString(tmp)} ${copyOptions(format)}`, FAILED)
        rows = Number((await result.getRows())[0]?.[0] ?? 0)
      })
      return withRange(rows, eventRange)
    } finally {
      session.close()
    }
  }

  /**
   * Runs the join on a new session and reads it as batches (not rewritten), with the entity rows' event
   * range; the caller closes the session.
   */
  async #read(
    opts: Abortable,
  ): Promise<{ read: BatchStream; session: Session; eventRange: EventRange | undefined }> {
    const session = await this.#open(opts.signal)
    try {
      const { sql, eventRange } = await this.#query(session)
      return { read: await readBatches(session, sql, DEFAULT_BATCH_ROWS, FAILED), session, eventRange }
    } catch (error) {
      session.close()
      throw error
    }
  }

  /**
   * Loads the entity table on the session and returns the join's SQL, pruned to the entity rows' time
   * span, and that span as the event range (the plan's for range retrieval).
   */
  async #query(
    session: Session,
    limit?: number,
  ): Promise<{ sql: string; eventRange: EventRange | undefined }> {
    const plan = this.#plan
    await plan.loadEntities(session)
    const q = duckdbDialect.ident
    const span = await session.run(
      `SELECT epoch_us(min(${q(ENTITY_TS)})), epoch_us(max(${q(ENTITY_TS)})) FROM ${q(ENTITY_TABLE)}`,
    )
    const [min, max] = (await span.getRows())[0] as [bigint | null, bigint | null]
    const bounds = min === null || max === null ? undefined : { min: Number(min), max: Number(max) }
    const sql = buildPitQuery(
      {
        entity: {
          relation: q(ENTITY_TABLE),
          columns: plan.entityColumns,
          timestampColumn: plan.timestampColumn,
          bounds,
        },
        views: plan.views,
        asOfKnownTime: plan.asOfKnownTime,
      },
      duckdbDialect,
      { strategy: plan.strategy, limit },
    )
    return { sql, eventRange: plan.eventRange ?? bounds }
  }
}
