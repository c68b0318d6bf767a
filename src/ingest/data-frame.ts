import { knownNames, LarderError } from '../core/index.js'

/**
 * Rows to ingest: columnar (`{ driver_id: [1001, 1002], conv_rate: [0.5, 0.7] }`, Feast's JSON `df`,
 * every column the same length) or an array of row objects.
 */
export type DataFrame =
  | Readonly<Record<string, readonly unknown[]>>
  | readonly Readonly<Record<string, unknown>>[]

/** A data frame checked and held by column. */
export interface Frame {
  readonly rows: number
  readonly columns: ReadonlyMap<string, readonly unknown[]>
}

/**
 * Checks a data frame and returns it by column. Throws INVALID_ARGUMENT for a column that is not an
 * array, columns of different lengths, or row objects that are not objects.
 */
export function toFrame(df: DataFrame): Frame {
  if (Array.isArray(df)) {
    const rows = df as readonly Readonly<Record<string, unknown>>[]
    const columns = new Map<string, unknown[]>()
    rows.forEach((row, i) => {
      if (row === null || typeof row !== 'object' || Array.isArray(row)) {
        throw new LarderError('INVALID_ARGUMENT', `row ${i} of the data frame is not an object`, {
          hint: 'give rows as objects ({column: value}) or the frame as columns ({column: [values]})',
        })
      }
      for (const name of Object.keys(row)) {
        let column = columns.get(name)
        if (!column) {
          column = new Array<unknown>(rows.length).fill(null)
          columns.set(name, column)
        }
        column[i] = row[name]
      }
    })
    return { rows: rows.length, columns }
  }
  if (df === null || typeof df !== 'object') {
    throw new LarderError(
      'INVALID_ARGUMENT',
      'the data frame must be {column: [values]} or an array of rows',
      {
        hint: 'e.g. df: { driver_id: [1001], event_timestamp: ["2026-11-22T10:00:00Z"], conv_rate: [0.5] }',
      },
    )
  }
  const columns = new Map<string, readonly unknown[]>()
  let rows: number | undefined
  let first = ''
  for (const [name, column] of Object.entries(df as Record<string, unknown>)) {
    if (!Array.isArray(column)) {
      throw new LarderError('INVALID_ARGUMENT', `column "${name}" of the data frame is not an array`, {
        hint: `give one value per row, e.g. "${name}": [...]`,
        details: { column: name },
      })
    }
    if (rows !== undefined && column.length !== rows) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `column "${name}" of the data frame has ${column.length} values but "${first}" has ${rows}`,
        { hint: 'give every column one value per row', details: { column: name } },
      )
    }
    if (rows === undefined) first = name
    rows = column.length
    columns.set(name, column)
  }
  return { rows: rows ?? 0, columns }
}

/** The column's values, or INVALID_ARGUMENT naming the column, what needs it and the columns given. */
export function requireColumn(frame: Frame, name: string, neededBy: string): readonly unknown[] {
  const column = frame.columns.get(name)
  if (column) return column
  throw new LarderError(
    'INVALID_ARGUMENT',
    `the data frame has no column "${name}", which ${neededBy} needs`,
    {
      hint: `columns given: ${knownNames(frame.columns.keys())}`,
      details: { column: name },
    },
  )
}
