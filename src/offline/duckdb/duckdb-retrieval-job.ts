import type { DuckDBValue } from '@duckdb/node-api'
import {
  type Data,
  DataType,
  type RecordBatch,
  type Schema,
  Table,
  type Timestamp,
  TimeUnit,
} from 'apache-arrow'
import { type Abortable, formatMicros, LarderError } from '../../core/index.js'
import type { ResultTransform, RetrievalJob, Row, WriteResult } from '../offline-store.js'
import { ENTITY_TS, type PitView } from '../pit/spec.js'
import { buildPitQuery, type JoinStrategy } from '../pit/sql.js'
import { arrowSchema, rowValue, toRecordBatch } from './duckdb-arrow.js'
import { duckdbDialect, sqlString } from './duckdb-dialect.js'
import { ENTITY_TABLE } from './duckdb-entities.js'
import { copyOptions, writeAtomically } from './duckdb-files.js'
import { appendTable, arrowToColumns, createTable } from './duckdb-load.js'
import type { Session } from './duckdb-session.js'

/** Rows per Arrow record batch yielded by `stream()` and `pullLatest`. */
export const DEFAULT_BATCH_ROWS = 65_536

/** Everything a job needs to run, decided when it was planned. */
export interface PlannedRetrieval {
  readonly views: readonly PitView[]
  readonly entityColumns: readonly string[]
  readonly timestampColumn: string
  /** Creates the prepared entity table (`ENTITY_TABLE`) on the session. */
  readonly loadEntities: (session: Session) => Promise<void>
  readonly asOfKnownTime: boolean
  readonly strategy: JoinStrategy
  readonly notices: readonly string[]
  /** Rewrites each result batch (on-demand views); files are then written from the rewritten batches. */
  readonly transform?: ResultTransform | undefined
}

const TRANSFORMED_TABLE = '__larder_transformed'

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
    const joined = [...plan.entityColumns, ...plan.views.flatMap((v) => v.features.map((f) => f.output))]
    this.columns = Object.freeze(plan.transform ? plan.transform.columns(joined) : joined)
    this.notices = Object.freeze([...plan.notices])
  }

  async toArrow(opts: Abortable = {}): Promise<Table> {
    if (this.#plan.transform) {
      const all: RecordBatch[] = []
      for await (const b of this.stream(opts)) all.push(b)
      if (all.length > 0) return new Table(all)
    }
    const session = await this.#open(opts.signal)
    try {
      const { schema, batches } = await readBatches(
        session,
        await this.#query(session),
        DEFAULT_BATCH_ROWS,
        FAILED,
      )
      const all: RecordBatch[] = []
      for await (const b of batches) all.push(b)
      return all.length === 0 ? new Table(schema) : new Table(all)
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
      const result = await session.run(await this.#query(session, limit), FAILED)
      const names = result.columnNames()
      const rows = await result.getRows()
      return rows.map((r) => Object.fromEntries(names.map((n, i) => [n, rowValue(r[i] ?? null)])))
    } finally {
      session.close()
    }
  }

  async *stream(opts: Abortable = {}): AsyncIterable<RecordBatch> {
    const session = await this.#open(opts.signal)
    try {
      const { batches } = await readBatches(session, await this.#query(session), DEFAULT_BATCH_ROWS, FAILED)
      const transform = this.#plan.transform
      if (!transform) yield* batches
      else for await (const b of batches) yield transform.apply(b)
    } finally {
      session.close()
    }
  }

  async #copy(path: string, format: 'parquet' | 'csv', opts: Abortable): Promise<WriteResult> {
    if (this.#plan.transform) return this.#copyTransformed(path, format, opts)
    const session = await this.#open(opts.signal)
    try {
      const sql = await this.#query(session)
      let rows = 0
      await writeAtomically(path, async (tmp) => {
        const result = await session.run(`COPY (${sql}) TO ${sqlString(tmp)} ${copyOptions(format)}`, FAILED)
        rows = Number((await result.getRows())[0]?.[0] ?? 0)
      })
      return { rows }
    } finally {
      session.close()
    }
  }

  /**
   * Writes rewritten batches through a temporary DuckDB table, so DuckDB still writes the file (same
   * types and CSV formatting as without a transform) and JS holds one batch at a time, as columns.
   */
  async #copyTransformed(path: string, format: 'parquet' | 'csv', opts: Abortable): Promise<WriteResult> {
    const sink = await this.#open(opts.signal)
    try {
      let rows = 0
      let created = false
      for await (const batch of this.stream(opts)) {
        const columns = arrowToColumns(new Table([batch]), new Set(), 'on-demand result')
        if (created) await appendTable(sink.connection, TRANSFORMED_TABLE, columns)
        else await createTable(sink.connection, TRANSFORMED_TABLE, columns)
        created = true
        rows += batch.numRows
      }
      const q = duckdbDialect.ident
      const source = created
        ? q(TRANSFORMED_TABLE)
        : `(SELECT ${this.columns.map((c) => `NULL AS ${q(c)}`).join(', ')} LIMIT 0)`
      await writeAtomically(path, async (tmp) => {
        await sink.run(`COPY (SELECT * FROM ${source}) TO ${sqlString(tmp)} ${copyOptions(format)}`, FAILED)
      })
      return { rows }
    } finally {
      sink.close()
    }
  }

  /** Loads the entity table on the session and returns the join's SQL, pruned to its time span. */
  async #query(session: Session, limit?: number): Promise<string> {
    const plan = this.#plan
    await plan.loadEntities(session)
    const q = duckdbDialect.ident
    const span = await session.run(
      `SELECT epoch_us(min(${q(ENTITY_TS)})), epoch_us(max(${q(ENTITY_TS)})) FROM ${q(ENTITY_TABLE)}`,
    )
    const [min, max] = (await span.getRows())[0] as [bigint | null, bigint | null]
    const bounds = min === null || max === null ? undefined : { min: Number(min), max: Number(max) }
    return buildPitQuery(
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
  }
}

/**
 * Runs a query and reads it as Arrow record batches of `batchRows` rows (the last may be shorter); only
 * the batch being built is held in memory. The schema is known before the first batch.
 */
export async function readBatches(
  session: Session,
  sql: string,
  batchRows: number,
  fail: (message: string) => LarderError,
): Promise<{ schema: Schema; batches: AsyncGenerator<RecordBatch> }> {
  const result = await session.stream(sql, fail)
  const types = result.columnTypes()
  const schema = arrowSchema(result.columnNames(), types)
  async function* batches(): AsyncGenerator<RecordBatch> {
    let pending: DuckDBValue[][] = types.map(() => [])
    for (;;) {
      const chunk = await session.fetch(result, fail)
      if (chunk === null) break
      for (let i = 0; i < types.length; i++) pending[i]!.push(...chunk.getColumnValues(i))
      while (pending[0]!.length >= batchRows) {
        yield toRecordBatch(
          schema,
          types,
          pending.map((c) => c.slice(0, batchRows)),
        )
        pending = pending.map((c) => c.slice(batchRows))
      }
    }
    if (types.length > 0 && pending[0]!.length > 0) yield toRecordBatch(schema, types, pending)
  }
  return { schema, batches: batches() }
}

/**
 * The first `limit` rows of rewritten batches as objects, in the same forms as `toRows` without a
 * transform: timestamps as RFC 3339 UTC text with microseconds, 64-bit integers as numbers when exact.
 */
export async function transformedRows(
  batches: AsyncIterable<RecordBatch>,
  limit: number | undefined,
): Promise<Row[]> {
  const rows: Row[] = []
  for await (const batch of batches) {
    const fields = batch.schema.fields
    const columns = fields.map((_, j) => batch.getChildAt(j)!)
    for (let i = 0; i < batch.numRows; i++) {
      if (limit !== undefined && rows.length >= limit) return rows
      const row: Row = {}
      fields.forEach((f, j) => {
        const column = columns[j]!
        if (!column.isValid(i)) row[f.name] = null
        else if (DataType.isTimestamp(f.type)) row[f.name] = timestampText(column.data[0]!, i)
        else row[f.name] = plain(column.get(i))
      })
      rows.push(row)
    }
  }
  return rows
}

function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v
  return v ?? null
}

/** Reads the raw stored value, because `Vector.get` rounds timestamps to milliseconds. */
function timestampText(data: Data<Timestamp>, i: number): string {
  const raw = BigInt((data.values as unknown as BigInt64Array)[data.offset + i]!)
  const scale: Record<number, (v: bigint) => bigint> = {
    [TimeUnit.SECOND]: (v) => v * 1_000_000n,
    [TimeUnit.MILLISECOND]: (v) => v * 1000n,
    [TimeUnit.MICROSECOND]: (v) => v,
    [TimeUnit.NANOSECOND]: (v) => v / 1000n,
  }
  return formatMicros(Number(scale[data.type.unit]!(raw)))
}
