/** Helpers shared by the online store backends; not part of the public API. */
import { decodeValue, LarderError, ValueType, valueTypeOf } from '../core/index.js'
import type { Abortable, OnlineWriteBatch, OnlineWriteRow, ViewRef } from './online-store.js'

/** Feast's online table name of a view: `<project>_<view>`. */
export function tableName(view: ViewRef): string {
  return `${view.project}_${view.name}`
}

/** A double-quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** The bytes as a Buffer, without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** A string that is equal for equal bytes, to key maps by entity key. */
export function bytesId(bytes: Uint8Array): string {
  return asBuffer(bytes).toString('latin1')
}

/**
 * Lets the event loop run (other requests, timers, an abort) between the batches of a long read whose
 * driver works synchronously; call `checkAborted` after it.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** Rejects with the signal's reason when it was aborted. */
export function checkAborted(opts: Abortable | undefined): void {
  opts?.signal?.throwIfAborted()
}

/** Throws INVALID_ARGUMENT unless every row has one Value per feature of the view and integral timestamps. */
export function checkRows(view: ViewRef, rows: OnlineWriteBatch): void {
  const n = view.features.length
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!
    if (row.values.length !== n) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `row ${i} for feature view "${view.name}" has ${row.values.length} values; the view has ${n} features`,
        {
          hint: `give one encoded value per feature, in this order: ${view.features.map((f) => f.name).join(', ')}`,
        },
      )
    }
    if (
      !Number.isSafeInteger(row.eventTs) ||
      (row.createdTs !== undefined && !Number.isSafeInteger(row.createdTs))
    ) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `row ${i} for feature view "${view.name}" has a timestamp that is not an integer of microseconds`,
        { hint: 'convert times with toMicros()' },
      )
    }
  }
}

/**
 * The newest row per entity key (ties: the later row), in first-seen order, and how many rows were
 * left out. Stores whose upsert cannot touch a row twice in one statement write this.
 */
export function newestPerKey(rows: OnlineWriteBatch): { rows: OnlineWriteRow[]; dropped: number } {
  const byKey = new Map<string, number>()
  const out: OnlineWriteRow[] = []
  for (const row of rows) {
    const id = bytesId(row.entityKey)
    const at = byKey.get(id)
    if (at === undefined) {
      byKey.set(id, out.length)
      out.push(row)
    } else if (row.eventTs >= out[at]!.eventTs) out[at] = row
  }
  return { rows: out, dropped: rows.length - out.length }
}

/**
 * Feast's `value_text` column: the text of a STRING, INT32 or INT64 value, otherwise null. (Feast also
 * fills it for floats and bools with Python's formatting; it never reads the column back.)
 */
export function valueText(bytes: Uint8Array): string | null {
  const type = valueTypeOf(bytes)
  if (type !== ValueType.STRING && type !== ValueType.INT32 && type !== ValueType.INT64) return null
  const v = decodeValue(bytes)
  return v === null ? null : String(v)
}

/** Maps each distinct name to every position it has in `names`. */
export function positions(names: readonly string[]): Map<string, number[]> {
  const out = new Map<string, number[]>()
  names.forEach((name, i) => {
    const at = out.get(name)
    if (at) at.push(i)
    else out.set(name, [i])
  })
  return out
}

/** NOT_FOUND for a view whose online storage does not exist in `where`. */
export function missingStorage(view: ViewRef, where: string, cause?: unknown): LarderError {
  return new LarderError(
    'NOT_FOUND',
    `the online table "${tableName(view)}" of feature view "${view.name}" does not exist in ${where}`,
    { hint: 'run `larder apply` to create it, then materialize', cause, details: { view: view.name } },
  )
}

/** BACKEND_UNAVAILABLE for a service that could not be reached. */
export function unreachable(service: string, where: string, cause: unknown, hint: string): LarderError {
  const reason = describeCause(cause)
  return new LarderError(
    'BACKEND_UNAVAILABLE',
    `cannot connect to ${service} at ${where}${reason ? `: ${reason}` : ''}`,
    {
      hint,
      cause,
    },
  )
}

function describeCause(cause: unknown): string {
  if (cause instanceof AggregateError && cause.errors.length > 0) return describeCause(cause.errors[0])
  if (cause instanceof Error) return cause.message || (cause as NodeJS.ErrnoException).code || cause.name
  return cause === undefined ? '' : String(cause)
}
