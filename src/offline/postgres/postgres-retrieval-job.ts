import { join } from 'node:path'
import { type Abortable, type FileFormat, LarderError } from '../../core/index.js'
import { DEFAULT_BATCH_ROWS, readBatches, readRows } from '../local/batches.js'
import { copyOptions, writeAtomically } from '../local/files.js'
import { sqlString } from '../local/quote.js'
import {
  stageTransformed,
  TRANSFORMED_TABLE,
  transformedRows,
  withRange,
  writeTransformed,
} from '../local/results.js'
import { BatchedRetrievalJob, type JoinRead, type RetrievalOutput } from '../local/retrieval-job.js'
import type { EventRange, ResultTransform, Row, WriteResult } from '../offline-store.js'
import { ENTITY_TS } from '../pit/spec.js'
import { buildPitQuery, type JoinStrategy } from '../pit/sql.js'
import { postgresDialect } from './postgres-dialect.js'
import { ENTITY_TABLE } from './postgres-entities.js'
import type { ClosableSessions, Sessions } from './postgres-session.js'
import { checkCodecs, copyOutStatement, readCsvRelation, stageCsv } from './postgres-transfer.js'
import type { PgColumn } from './postgres-types.js'

/** Everything a job needs to run, decided when it was planned. */
export interface PlannedPgRetrieval extends RetrievalOutput {
  /** The join's feature columns in output order, with their PostgreSQL types. */
  readonly featureColumns: readonly PgColumn[]
  readonly timestampColumn: string
  /** Creates the prepared entity table (`ENTITY_TABLE`) in the PostgreSQL session's transaction. */
  readonly loadEntities: (s: Sessions) => Promise<void>
  /** For entity-less range retrieval, the range's start and end: what the writes report as `eventRange`. */
  readonly eventRange?: EventRange | undefined
  readonly asOfKnownTime: boolean
  readonly strategy: JoinStrategy
}

/**
 * Opens the sessions of one operation; `close` releases them and removes the staging directory. With
 * `local`, no PostgreSQL connection is taken (`pg` is then unusable), so an operation that holds a
 * local session while a nested one streams from PostgreSQL needs only one connection of the pool.
 */
export type OpenSessions = (signal: AbortSignal | undefined, local?: boolean) => Promise<ClosableSessions>

const q = postgresDialect.ident

const FAILED = (message: string) =>
  new LarderError('DATA_SOURCE', `historical retrieval failed in PostgreSQL: ${message}`, {
    hint: 'check that the join keys of the entity table and the sources have comparable types',
  })

/**
 * A point-in-time join run in PostgreSQL. Each method runs the join anew: the entity rows are loaded
 * into a temporary table, the join's rows leave the server through one `COPY ... TO STDOUT` streamed to
 * a staging file, and the local DuckDB turns that file into Arrow batches, Parquet or CSV. Memory holds
 * one batch at a time, whatever the result's size.
 */
export class PostgresRetrievalJob extends BatchedRetrievalJob {
  readonly #open: OpenSessions
  readonly #plan: PlannedPgRetrieval

  constructor(open: OpenSessions, plan: PlannedPgRetrieval) {
    super(plan)
    this.#open = open
    this.#plan = plan
  }

  async toRows(limit?: number, opts: Abortable = {}): Promise<Row[]> {
    if (this.transform) return transformedRows(this.stream(opts), limit)
    const s = await this.#open(opts.signal)
    try {
      return await readRows(s.duck, `SELECT * FROM ${(await this.#stage(s, limit)).relation}`, FAILED)
    } finally {
      await s.close()
    }
  }

  /**
   * Creates the table from the join in PostgreSQL (`CREATE TABLE … AS`, in the transaction that loads
   * the entity rows). With a transform, the rewritten batches are staged locally and copied in, the
   * table's columns typed as the rewritten batches are.
   */
  async toTable(table: string, opts: Abortable = {}): Promise<WriteResult> {
    const fail = (message: string) =>
      new LarderError('DATA_SOURCE', `writing the retrieval to table ${table} failed: ${message}`, {
        hint: 'choose a table name that does not exist yet, in a schema the user may create tables in',
      })
    if (this.transform) return this.#tableTransformed(table, this.transform, fail, opts)
    const s = await this.#open(opts.signal)
    try {
      const { sql, eventRange } = await this.#join(s)
      const created = await s.pg.query(`CREATE TABLE ${table} AS ${sql}`, [], fail)
      await s.pg.commit()
      return withRange(created.rowCount ?? 0, eventRange)
    } finally {
      await s.close()
    }
  }

  async #tableTransformed(
    table: string,
    transform: ResultTransform,
    fail: (message: string) => LarderError,
    opts: Abortable,
  ): Promise<WriteResult> {
    const local = await this.#open(opts.signal, true)
    try {
      const joined = await this.read(opts)
      let rows: number
      try {
        rows = await stageTransformed(local.duck, joined.read, transform)
      } finally {
        await joined.close()
      }
      const file = join(local.dir, 'transformed.csv')
      const columns = await stageCsv(local.duck, TRANSFORMED_TABLE, file)
      const target = await this.#open(opts.signal)
      try {
        await target.pg.begin()
        await target.pg.query(
          `CREATE TABLE ${table} (${columns.map((c) => `${q(c.name)} ${c.type}`).join(', ')})`,
          [],
          fail,
        )
        await target.pg.copyIn(`COPY ${table} FROM STDIN (FORMAT csv)`, file, fail)
        await target.pg.commit()
      } finally {
        await target.close()
      }
      return withRange(rows, joined.eventRange)
    } finally {
      await local.close()
    }
  }

  protected async copy(path: string, format: FileFormat, opts: Abortable): Promise<WriteResult> {
    const transform = this.transform
    if (transform) {
      // the local sink takes no PostgreSQL connection, so the join needs only one of the pool
      const sink = await this.#open(opts.signal, true)
      try {
        const joined = await this.read(opts)
        try {
          const { rows } = await writeTransformed(sink.duck, joined.read, transform, { path, format }, FAILED)
          return withRange(rows, joined.eventRange)
        } finally {
          await joined.close()
        }
      } finally {
        await sink.close()
      }
    }
    const s = await this.#open(opts.signal)
    try {
      const { relation, eventRange } = await this.#stage(s)
      let rows = 0
      await writeAtomically(path, async (tmp) => {
        const result = await s.duck.run(
          `COPY (SELECT * FROM ${relation}) TO ${sqlString(tmp)} ${copyOptions(format)}`,
          FAILED,
        )
        rows = Number((await result.getRows())[0]?.[0] ?? 0)
      })
      return withRange(rows, eventRange)
    } finally {
      await s.close()
    }
  }

  /** Opens an operation and runs the join; closing the read closes the operation's sessions. */
  protected async read(opts: Abortable): Promise<JoinRead> {
    const s = await this.#open(opts.signal)
    try {
      const { relation, eventRange } = await this.#stage(s)
      const read = await readBatches(s.duck, `SELECT * FROM ${relation}`, DEFAULT_BATCH_ROWS, FAILED)
      return { read, eventRange, close: () => s.close() }
    } catch (error) {
      await s.close()
      throw error
    }
  }

  /**
   * Runs the join in PostgreSQL (entity table loaded, source rows pruned to its time span) and streams
   * its rows into a staging file; returns the DuckDB relation reading that file as typed columns, and
   * the entity rows' event range.
   */
  async #stage(
    s: Sessions,
    limit?: number,
  ): Promise<{ relation: string; eventRange: EventRange | undefined }> {
    const { sql, eventRange } = await this.#join(s, limit)
    const entity = await s.pg.describe(
      `SELECT ${this.#plan.entityColumns.map(q).join(', ')} FROM ${q(ENTITY_TABLE)}`,
      FAILED,
    )
    checkCodecs(entity, 'the entity table')
    const columns: PgColumn[] = [...entity, ...this.#plan.featureColumns]
    const file = join(s.dir, 'result.csv')
    await s.pg.copyOut(copyOutStatement(sql, columns), file, FAILED)
    await s.pg.commit()
    return { relation: readCsvRelation(file, columns), eventRange }
  }

  /**
   * Opens a transaction, loads the entity table into it and returns the join's SQL, pruned to the
   * entity rows' time span, and that span as the event range (the plan's for range retrieval); the
   * caller commits.
   */
  async #join(s: Sessions, limit?: number): Promise<{ sql: string; eventRange: EventRange | undefined }> {
    const plan = this.#plan
    await s.pg.begin()
    // the lateral form is one small index lookup per entity row: compiling it (JIT) costs more than
    // it saves, about a third of the join at 100k entity rows
    await s.pg.query('SET LOCAL jit = off')
    await plan.loadEntities(s)
    const span = await s.pg.query<{ lo: string | null; hi: string | null }>(
      `SELECT (extract(epoch FROM min(${q(ENTITY_TS)})) * 1000000)::bigint AS lo, ` +
        `(extract(epoch FROM max(${q(ENTITY_TS)})) * 1000000)::bigint AS hi FROM ${q(ENTITY_TABLE)}`,
    )
    const { lo, hi } = span.rows[0]!
    const bounds = lo === null || hi === null ? undefined : { min: Number(lo), max: Number(hi) }
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
      postgresDialect,
      { strategy: plan.strategy, limit },
    )
    return { sql, eventRange: plan.eventRange ?? bounds }
  }
}
