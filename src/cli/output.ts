import { styleText } from 'node:util'
import Table from 'cli-table3'

type Style = Parameters<typeof styleText>[0]

/** Where the CLI writes; tests swap in buffers. Colour only on a TTY and without NO_COLOR. */
export interface Output {
  out(text: string): void
  err(text: string): void
  readonly color: boolean
  readonly isTTY: boolean
}

export function processOutput(): Output {
  const isTTY = Boolean(process.stdout.isTTY)
  return {
    out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
    err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
    color: isTTY && !process.env.NO_COLOR,
    isTTY,
  }
}

export function paint(output: Output, style: Style, text: string): string {
  return output.color ? styleText(style, text) : text
}

/** Prints rows as a table, or as JSON with `--json`. Columns are the keys of the first row. */
export function printRows(
  output: Output,
  rows: readonly Record<string, unknown>[],
  json: boolean,
  empty: string,
): void {
  if (json) {
    output.out(JSON.stringify(rows, jsonReplacer, 2))
    return
  }
  if (rows.length === 0) {
    output.out(empty)
    return
  }
  const head = Object.keys(rows[0]!)
  const table = new Table({
    head: head.map((h) => paint(output, 'bold', columnTitle(h))),
    style: { head: [], border: [] },
  })
  for (const row of rows) table.push(head.map((h) => cell(row[h])))
  output.out(table.toString())
}

/** A column title from a row key: `materializedUntil` and `join_key` become `MATERIALIZED UNTIL`, `JOIN KEY`. */
function columnTitle(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replaceAll('_', ' ')
    .toUpperCase()
}

function cell(v: unknown): string {
  if (v === undefined || v === null) return ''
  if (Array.isArray(v)) return v.join(', ')
  if (typeof v === 'object')
    return Object.entries(v)
      .map(([k, x]) => `${k}=${String(x)}`)
      .join(', ')
  return String(v)
}

/** JSON.stringify replacer that prints bigints as strings (exact) and bytes as base64. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64')
  return value
}
