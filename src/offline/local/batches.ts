import type { DuckDBValue } from '@duckdb/node-api'
import type { RecordBatch, Schema } from 'apache-arrow'
import type { LarderError } from '../../core/index.js'
import type { Row } from '../offline-store.js'
import { arrowSchema, rowValue, toRecordBatch } from './arrow.js'
import type { Session } from './session.js'

/** Rows per Arrow record batch yielded by `stream()` and `pullLatest`. */
export const DEFAULT_BATCH_ROWS = 65_536

/** A result read as Arrow record batches, in order; its schema is known before the first batch. */
export interface BatchStream {
  readonly schema: Schema
  readonly batches: AsyncGenerator<RecordBatch>
}

/**
 * Runs a query and reads it as Arrow record batches of `batchRows` rows (the last may be shorter); only
 * the batch being built is held in memory.
 */
export async function readBatches(
  session: Session,
  sql: string,
  batchRows: number,
  fail: (message: string) => LarderError,
): Promise<BatchStream> {
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
 * Runs a query and returns its rows as objects keyed by column name, values in `toRows`' forms
 * (`rowValue`: timestamps as RFC 3339 UTC text with microseconds, 64-bit integers as numbers when exact).
 */
export async function readRows(
  session: Session,
  sql: string,
  fail: (message: string) => LarderError,
): Promise<Row[]> {
  const result = await session.run(sql, fail)
  const names = result.columnNames()
  const rows = await result.getRows()
  return rows.map((r) => Object.fromEntries(names.map((n, i) => [n, rowValue(r[i] ?? null)])))
}
