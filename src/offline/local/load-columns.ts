import {
  BIGINT,
  BLOB,
  BOOLEAN,
  blobValue,
  DATE,
  DOUBLE,
  type DuckDBConnection,
  DuckDBDataChunk,
  type DuckDBType,
  type DuckDBValue,
  DuckDBVector,
  dateValue,
  FLOAT,
  INTEGER,
  LIST,
  listValue,
  SMALLINT,
  TIMESTAMP,
  TIMESTAMPTZ,
  TINYINT,
  timestampTZValue,
  timestampValue,
  UBIGINT,
  UINTEGER,
  USMALLINT,
  UTINYINT,
  VARCHAR,
} from '@duckdb/node-api'
import {
  type Data,
  DataType,
  isArrowRecordBatch,
  isArrowTable,
  Table,
  type Timestamp,
  TimeUnit,
  type Vector,
} from 'apache-arrow'
import { LarderError, toMicros } from '../../core/index.js'
import type { Row, WriteInput } from '../offline-store.js'
import type { EntityColumn } from '../pit/plan.js'
import { ident } from './quote.js'

/** A column of JS data on its way into DuckDB. */
export interface ColumnBuffer {
  readonly name: string
  readonly type: DuckDBType
  readonly values: readonly DuckDBValue[]
}

/** Column names of JS rows in first-seen order, and whether each holds only `Date`s. */
export function describeRows(rows: readonly Row[]): EntityColumn[] {
  const names = rowColumnNames(rows)
  return names.map((name) => {
    let sawDate = false
    let onlyDates = true
    for (const row of rows) {
      const v = row[name]
      if (v === null || v === undefined) continue
      if (v instanceof Date) sawDate = true
      else onlyDates = false
    }
    return { name, isTimestamp: sawDate && onlyDates }
  })
}

function rowColumnNames(rows: readonly Row[]): string[] {
  const names = new Set<string>()
  for (const row of rows) for (const k of Object.keys(row)) names.add(k)
  return [...names]
}

/**
 * Converts JS rows to typed columns. Columns in `timestamps` become TIMESTAMPTZ, each value parsed as
 * an instant (`Date`, ISO string — no offset means UTC — or epoch milliseconds). Other columns take the
 * type of their values: integers BIGINT, other numbers DOUBLE, bigints BIGINT, strings VARCHAR, booleans
 * BOOLEAN, `Date`s TIMESTAMPTZ, byte arrays BLOB, arrays lists; a column of nulls is VARCHAR.
 */
export function rowsToColumns(
  rows: readonly Row[],
  timestamps: ReadonlySet<string>,
  what: string,
): ColumnBuffer[] {
  return rowColumnNames(rows).map((name) => {
    const raw = rows.map((r) => r[name])
    if (timestamps.has(name))
      return { name, type: TIMESTAMPTZ, values: raw.map((v, i) => instant(v, name, i, what)) }
    const { type, convert } = jsType(raw, `${what} column "${name}"`, name)
    return { name, type, values: raw.map((v) => (v === null || v === undefined ? null : convert(v))) }
  })
}

function instant(v: unknown, column: string, row: number, what: string): DuckDBValue {
  if (v === null || v === undefined) return null
  try {
    return timestampTZValue(BigInt(toMicros(v as Date | string | number)))
  } catch (cause) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `${what} column "${column}" holds ${v instanceof Date ? 'an invalid Date' : JSON.stringify(v)} in row ${row + 1}, which is not a timestamp`,
      {
        cause,
        hint: "give timestamps as Date objects, ISO-8601 strings such as '2026-11-22T10:00:00Z', or epoch milliseconds",
      },
    )
  }
}

interface JsType {
  readonly type: DuckDBType
  readonly convert: (v: unknown) => DuckDBValue
}

/** The DuckDB type of a column of JS values; `column` (a top-level column, not list elements) names rows in errors. */
function jsType(values: readonly unknown[], where: string, column?: string): JsType {
  const kinds = new Set<string>()
  for (const v of values) {
    if (v === null || v === undefined) continue
    if (typeof v === 'number') kinds.add(Number.isInteger(v) ? 'int' : 'float')
    else if (v instanceof Uint8Array) kinds.add('bytes')
    else if (v instanceof Date) kinds.add('date')
    else if (Array.isArray(v)) kinds.add('list')
    else kinds.add(typeof v)
  }
  const only = (...allowed: string[]) => [...kinds].every((k) => allowed.includes(k))
  if (kinds.size === 0 || only('string')) return { type: VARCHAR, convert: (v) => v as string }
  if (only('int', 'bigint')) return { type: BIGINT, convert: (v) => BigInt(v as number | bigint) }
  if (only('int', 'float', 'bigint')) return { type: DOUBLE, convert: (v) => Number(v) }
  if (only('boolean')) return { type: BOOLEAN, convert: (v) => v as boolean }
  if (only('bytes')) return { type: BLOB, convert: (v) => blobValue(v as Uint8Array) }
  if (only('date'))
    return { type: TIMESTAMPTZ, convert: (v) => timestampTZValue(BigInt(toMicros(v as Date))) }
  if (only('list')) {
    const element = jsType(
      (values as unknown[][]).flatMap((v) => v ?? []),
      `${where} (list element)`,
    )
    return {
      type: LIST(element.type),
      convert: (v) =>
        listValue((v as unknown[]).map((x) => (x === null || x === undefined ? null : element.convert(x)))),
    }
  }
  const family = (v: unknown) =>
    typeof v === 'number' || typeof v === 'bigint'
      ? 'number'
      : v instanceof Uint8Array
        ? 'bytes'
        : v instanceof Date
          ? 'date'
          : Array.isArray(v)
            ? 'list'
            : typeof v
  const first = values.findIndex((v) => v !== null && v !== undefined)
  const row =
    column === undefined
      ? -1
      : values.findIndex((v) => v !== null && v !== undefined && family(v) !== family(values[first]))
  const shown = (v: unknown) =>
    typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : String(v)
  throw new LarderError(
    'INVALID_ARGUMENT',
    `${where} mixes values of types ${[...kinds].sort().join(', ')}${row < 0 ? '' : `: row ${row} holds ${shown(values[row])}, row ${first} holds ${shown(values[first])}`}`,
    {
      hint: 'give every value of a column the same type (numbers, strings, booleans, Dates, byte arrays or arrays)',
      details: row < 0 ? {} : { column, row, value: shown(values[row]) },
    },
  )
}

/** Column names of an Arrow table, and whether each is timestamp-typed. */
export function describeArrow(table: Table): EntityColumn[] {
  return table.schema.fields.map((f) => ({ name: f.name, isTimestamp: DataType.isTimestamp(f.type) }))
}

/**
 * Converts an Arrow table to typed columns, keeping microseconds of timestamps exactly. A naive Arrow
 * timestamp stays naive (TIMESTAMP, read as UTC) unless its column is in `timestamps`, which become
 * TIMESTAMPTZ (strings in those columns are parsed as instants).
 */
export function arrowToColumns(table: Table, timestamps: ReadonlySet<string>, what: string): ColumnBuffer[] {
  return table.schema.fields.map((field, j) => {
    const column = table.getChildAt(j)!
    const where = `${what} column "${field.name}"`
    if (DataType.isTimestamp(field.type)) {
      const zoned = timestamps.has(field.name) || Boolean((field.type as Timestamp).timezone)
      const values = timestampValues(column as Vector<Timestamp>).map((m) =>
        m === null ? null : zoned ? timestampTZValue(m) : timestampValue(m),
      )
      return { name: field.name, type: zoned ? TIMESTAMPTZ : TIMESTAMP, values }
    }
    const plain = Array.from({ length: column.length }, (_, i) =>
      column.isValid(i) ? (column.get(i) as unknown) : null,
    )
    if (timestamps.has(field.name)) {
      return {
        name: field.name,
        type: TIMESTAMPTZ,
        values: plain.map((v, i) => instant(v, field.name, i, what)),
      }
    }
    const { type, convert } = arrowType(field.type, where)
    return { name: field.name, type, values: plain.map((v) => (v === null ? null : convert(v))) }
  })
}

function timestampValues(column: Vector<Timestamp>): (bigint | null)[] {
  const out: (bigint | null)[] = []
  for (const data of column.data as Data<Timestamp>[]) {
    const scale = UNIT_TO_MICROS[data.type.unit]!
    const values = data.values as unknown as BigInt64Array
    for (let i = 0; i < data.length; i++) {
      if (!data.getValid(i)) out.push(null)
      else out.push(scale.mul ? values[i]! * scale.mul : values[i]! / scale.div!)
    }
  }
  return out
}

const UNIT_TO_MICROS: Record<number, { mul?: bigint; div?: bigint }> = {
  [TimeUnit.SECOND]: { mul: 1_000_000n },
  [TimeUnit.MILLISECOND]: { mul: 1000n },
  [TimeUnit.MICROSECOND]: { mul: 1n },
  [TimeUnit.NANOSECOND]: { div: 1000n },
}

function arrowType(t: DataType, where: string): JsType {
  if (DataType.isBool(t)) return { type: BOOLEAN, convert: (v) => v as boolean }
  if (DataType.isInt(t)) {
    const sized: Record<number, [DuckDBType, DuckDBType]> = {
      8: [TINYINT, UTINYINT],
      16: [SMALLINT, USMALLINT],
      32: [INTEGER, UINTEGER],
      64: [BIGINT, UBIGINT],
    }
    const type = sized[t.bitWidth]![t.isSigned ? 0 : 1]
    return t.bitWidth === 64
      ? { type, convert: (v) => BigInt(v as bigint) }
      : { type, convert: (v) => v as number }
  }
  if (DataType.isFloat(t)) return { type: t.precision === 2 ? DOUBLE : FLOAT, convert: (v) => v as number }
  if (DataType.isUtf8(t) || DataType.isLargeUtf8(t)) return { type: VARCHAR, convert: (v) => v as string }
  if (DataType.isDictionary(t) && (DataType.isUtf8(t.valueType) || DataType.isLargeUtf8(t.valueType))) {
    return { type: VARCHAR, convert: (v) => v as string }
  }
  if (DataType.isBinary(t) || DataType.isLargeBinary(t)) {
    return { type: BLOB, convert: (v) => blobValue(v as Uint8Array) }
  }
  if (DataType.isDate(t))
    return { type: DATE, convert: (v) => dateValue(Math.floor((v as number) / 86_400_000)) }
  if (DataType.isList(t) && !DataType.isTimestamp(t.valueType)) {
    const element = arrowType(t.valueType, `${where} (list element)`)
    return {
      type: LIST(element.type),
      convert: (v) =>
        listValue([...(v as Iterable<unknown>)].map((x) => (x === null ? null : element.convert(x)))),
    }
  }
  throw new LarderError('UNSUPPORTED', `${where} has the Arrow type ${t}, which Larder cannot load`, {
    hint: 'use integers, floats, strings, booleans, binary, dates, timestamps or lists of those',
  })
}

/**
 * Converts the rows of a write (JS rows, an Arrow table or a record batch) to typed columns, as
 * `rowsToColumns` and `arrowToColumns` do; columns in `timestamps` become TIMESTAMPTZ.
 */
export function writeInputColumns(
  rows: WriteInput,
  timestamps: ReadonlySet<string>,
  what: string,
): ColumnBuffer[] {
  if (isArrowRecordBatch(rows)) return arrowToColumns(new Table(rows), timestamps, what)
  if (isArrowTable(rows)) return arrowToColumns(rows, timestamps, what)
  return rowsToColumns(rows as readonly Row[], timestamps, what)
}

/** Creates a temporary table holding the columns, appended in bulk (vector-sized chunks), not row by row. */
export async function createTable(
  conn: DuckDBConnection,
  name: string,
  columns: readonly ColumnBuffer[],
): Promise<void> {
  const q = ident
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE ${q(name)} (${columns.map((c) => `${q(c.name)} ${c.type}`).join(', ')})`,
  )
  await appendTable(conn, name, columns)
}

/** Appends the columns to a temporary table made by `createTable` with the same columns, in vector-sized chunks. */
export async function appendTable(
  conn: DuckDBConnection,
  name: string,
  columns: readonly ColumnBuffer[],
): Promise<void> {
  const length = columns[0]?.values.length ?? 0
  const appender = await conn.createAppender(name, null, 'temp')
  try {
    const size = DuckDBVector.standardSize()
    for (let start = 0; start < length; start += size) {
      const n = Math.min(size, length - start)
      const chunk = DuckDBDataChunk.create(
        columns.map((c) => c.type),
        n,
      )
      for (const [i, c] of columns.entries()) chunk.setColumnValues(i, c.values.slice(start, start + n))
      appender.appendDataChunk(chunk)
    }
    appender.flushSync()
  } finally {
    appender.closeSync()
  }
}
