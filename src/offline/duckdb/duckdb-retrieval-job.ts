import { type Abortable, type FileFormat, LarderError } from '../../core/index.js'
import { DEFAULT_BATCH_ROWS, readBatches, readRows } from '../local/batches.js'
import { ENTITY_TABLE } from '../local/entities.js'
import { copyOptions, writeAtomically } from '../local/files.js'
import { sqlString } from '../local/quote.js'
import { transformedRows, withRange, writeTransformed } from '../local/results.js'
import { BatchedRetrievalJob, type JoinRead, type RetrievalOutput } from '../local/retrieval-job.js'
import type { Session } from '../local/session.js'
import type { EventRange, Row, WriteResult } from '../offline-store.js'
import { ENTITY_TS } from '../pit/spec.js'
import { buildPitQuery, type JoinStrategy } from '../pit/sql.js'
import { duckdbDialect } from './duckdb-dialect.js'

/**
 * Everything a job needs to run, decided when it was planned. Its `transform` (on-demand views)
 * rewrites each result batch; files are then written from the rewritten batches.
 */
export interface PlannedRetrieval extends RetrievalOutput {
  readonly timestampColumn: string
  /** Creates the prepared entity table (`ENTITY_TABLE`) on the session. */
  readonly loadEntities: (session: Session) => Promise<void>
  /** For entity-less range retrieval, the range's start and end: what the writes report as `eventRange`. */
  readonly eventRange?: EventRange | undefined
  readonly asOfKnownTime: boolean
  readonly strategy: JoinStrategy
}

/** Opens a DuckDB session of the store that created the job. */
export type OpenSession = (signal: AbortSignal | undefined) => Promise<Session>

const FAILED = (message: string) =>
  new LarderError('DATA_SOURCE', `historical retrieval failed in DuckDB: ${message}`, {
    hint: 'check that the join keys of the entity table and the sources have comparable types',
  })

/** A point-in-time join over DuckDB, run anew by each method on its own connection. */
export class DuckDBRetrievalJob extends BatchedRetrievalJob {
  readonly #open: OpenSession
  readonly #plan: PlannedRetrieval

  constructor(open: OpenSession, plan: PlannedRetrieval) {
    super(plan)
    this.#open = open
    this.#plan = plan
  }

  async toRows(limit?: number, opts: Abortable = {}): Promise<Row[]> {
    if (this.transform) return transformedRows(this.stream(opts), limit)
    const session = await this.#open(opts.signal)
    try {
      return await readRows(session, (await this.#query(session, limit)).sql, FAILED)
    } finally {
      session.close()
    }
  }

  protected async copy(path: string, format: FileFormat, opts: Abortable): Promise<WriteResult> {
    const transform = this.transform
    if (transform) {
      // the join streams on one connection while the rewritten batches are loaded on another
      const sink = await this.#open(opts.signal)
      try {
        const join = await this.read(opts)
        try {
          const { rows } = await writeTransformed(sink, join.read, transform, { path, format }, FAILED)
          return withRange(rows, join.eventRange)
        } finally {
          await join.close()
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

  /** Runs the join on a new session, which closing the read closes. */
  protected async read(opts: Abortable): Promise<JoinRead> {
    const session = await this.#open(opts.signal)
    try {
      const { sql, eventRange } = await this.#query(session)
      const read = await readBatches(session, sql, DEFAULT_BATCH_ROWS, FAILED)
      return { read, eventRange, close: () => session.close() }
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
