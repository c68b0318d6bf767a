import { createHash, randomUUID } from 'node:crypto'
import { existsSync, statSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import type { FileSource } from '../../core/index.js'
import type { FileLocation } from '../local/files.js'
import { sqlString } from '../local/quote.js'
import type { Session } from '../local/session.js'
import { SOURCE_POSITION } from '../pit/spec.js'
import { duckdbDialect } from './duckdb-dialect.js'

/** Resolves a file source's path against the repo and tells a file from a directory or glob. */
export function locateFileSource(source: FileSource, repoPath: string): FileLocation {
  const path = isAbsolute(source.path) ? source.path : resolve(repoPath, source.path)
  const kind = /[*?[{]/.test(source.path)
    ? 'glob'
    : existsSync(path) && statSync(path).isDirectory()
      ? 'dir'
      : 'file'
  return {
    path,
    kind,
    format: source.fileFormat,
    label: `FileSource "${source.name}" (${path})`,
    base: `the feature repo ${repoPath}`,
  }
}

/**
 * The files of a location in source order: full paths in code-point order (DuckDB's own glob lists a
 * directory's files before those of its subdirectories), so rows are numbered the same way on every run.
 */
export async function sourceFiles(session: Session, loc: FileLocation): Promise<string[]> {
  if (loc.kind === 'file') return [loc.path]
  const pattern = loc.kind === 'dir' ? join(loc.path, '**', `*.${loc.format}`) : loc.path
  const rows = await (await session.run(`SELECT file FROM glob(${sqlString(pattern)})`)).getRows()
  return rows.map((r) => String(r[0])).sort()
}

/**
 * The location's rows with the column `SOURCE_POSITION` (see `pit/spec.ts`): files in the order given,
 * rows in their order in the file. Parquet numbers rows with the reader's `file_index` and
 * `file_row_number` (so filters still reach the scan); CSV, or a Parquet file with its own column of
 * one of those names, takes `row_number() OVER ()`, which DuckDB computes in scan order.
 */
export function positionedRead(
  loc: FileLocation,
  files: readonly string[],
  columns: readonly string[],
): string {
  const list = `[${files.map(sqlString).join(', ')}]`
  const many = files.length > 1 ? ', union_by_name = true' : ''
  const read =
    loc.format === 'csv' ? `read_csv(${list}, header = true${many})` : `read_parquet(${list}${many})`
  const virtual =
    loc.format === 'parquet' && !columns.some((c) => c === 'file_index' || c === 'file_row_number')
  const position = virtual ? '(file_index::BIGINT << 40) + file_row_number' : 'row_number() OVER ()'
  return `(SELECT *, ${position} AS ${duckdbDialect.ident(SOURCE_POSITION)} FROM ${read})`
}

let lastPartMillis = 0

/**
 * A new, unique part-file name for appending to a directory source: `part-<ms>-<pid>-<random>`, so
 * appends by several processes never share a file and none rewrites another's. Names start with the
 * time in milliseconds (13 digits until the year 2286), strictly increasing within a process, so a
 * later append sorts after an earlier one and its rows come later in source order (see `sourceFiles`);
 * appends of two processes in the same millisecond sort by pid. With an idempotency key the name is
 * `part-<key>` (the key's SHA-256 when it holds other characters than letters, digits, `_`, `.`, `-`),
 * so an append done again replaces its own file; keys that sort in append order keep source order.
 */
export function newPartFile(loc: FileLocation, idempotencyKey?: string): string {
  if (idempotencyKey !== undefined) {
    const name = /^[\w.-]{1,120}$/.test(idempotencyKey)
      ? idempotencyKey
      : createHash('sha256').update(idempotencyKey).digest('hex')
    return join(loc.path, `part-${name}.${loc.format}`)
  }
  lastPartMillis = Math.max(Date.now(), lastPartMillis + 1)
  return join(loc.path, `part-${lastPartMillis}-${process.pid}-${randomUUID().slice(0, 8)}.${loc.format}`)
}
