import { type Data, DataType, RecordBatch, Table, type Timestamp, TimeUnit } from 'apache-arrow'
import { type FileFormat, formatMicros, type LarderError } from '../../core/index.js'
import type { EventRange, ResultTransform, Row, WriteResult } from '../offline-store.js'
import type { BatchStream } from './batches.js'
import { copyOptions, writeAtomically } from './files.js'
import { appendTable, arrowToColumns, createTable } from './load-columns.js'
import { ident, sqlString } from './quote.js'
import type { Session } from './session.js'

/** The temporary table a job stages its rewritten (on-demand) result in, to write it as a file or table. */
export const TRANSFORMED_TABLE = '__larder_transformed'

/** A write's result: the rows written, and the entity rows' event range when there is one. */
export function withRange(rows: number, eventRange: EventRange | undefined): WriteResult {
  return eventRange === undefined ? { rows } : { rows, eventRange }
}

/**
 * The whole result as one Arrow table, each batch rewritten by `transform` when there is one. An empty
 * result keeps the output's schema: the result's own, or the one `transform` gives an empty batch of it.
 */
export async function collectTable(
  read: BatchStream,
  transform: ResultTransform | undefined,
): Promise<Table> {
  const all: RecordBatch[] = []
  for await (const batch of read.batches) all.push(transform ? transform.apply(batch) : batch)
  if (all.length > 0) return new Table(all)
  return new Table(transform ? emptyTransformed(read, transform).schema : read.schema)
}

/**
 * Loads the result, each batch rewritten by `transform`, into the temporary table `TRANSFORMED_TABLE`
 * of `sink` one batch at a time, its columns typed as the rewritten batches are (an empty result gives
 * an empty table of the types `transform` gives an empty batch). Returns the number of rows loaded.
 */
export async function stageTransformed(
  sink: Session,
  read: BatchStream,
  transform: ResultTransform,
): Promise<number> {
  const columns = (batch: RecordBatch) => arrowToColumns(new Table([batch]), new Set(), 'on-demand result')
  let rows = 0
  let created = false
  for await (const batch of read.batches) {
    const rewritten = columns(transform.apply(batch))
    if (created) await appendTable(sink.connection, TRANSFORMED_TABLE, rewritten)
    else await createTable(sink.connection, TRANSFORMED_TABLE, rewritten)
    created = true
    rows += batch.numRows
  }
  if (!created)
    await createTable(sink.connection, TRANSFORMED_TABLE, columns(emptyTransformed(read, transform)))
  return rows
}

/**
 * Writes the result, rewritten by `transform`, to a Parquet or CSV file through `TRANSFORMED_TABLE`, so
 * DuckDB still writes the file (the same types and CSV forms as without a transform) and JS holds one
 * batch at a time, as columns. The file is written atomically.
 */
export async function writeTransformed(
  sink: Session,
  read: BatchStream,
  transform: ResultTransform,
  target: { readonly path: string; readonly format: FileFormat },
  fail: (message: string) => LarderError,
): Promise<WriteResult> {
  const rows = await stageTransformed(sink, read, transform)
  await writeAtomically(target.path, async (tmp) => {
    await sink.run(
      `COPY ${ident(TRANSFORMED_TABLE)} TO ${sqlString(tmp)} ${copyOptions(target.format)}`,
      fail,
    )
  })
  return { rows }
}

/** What `transform` makes of an empty batch of the result: the output's schema, with no rows. */
function emptyTransformed(read: BatchStream, transform: ResultTransform): RecordBatch {
  return transform.apply(new RecordBatch(read.schema, undefined))
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
