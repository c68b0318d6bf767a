import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import type { DuckDBType } from '@duckdb/node-api'
import { type FileFormat, type FileSource, LarderError } from '../../core/index.js'
import { SOURCE_POSITION } from '../pit/spec.js'
import { duckdbDialect, sqlString } from './duckdb-dialect.js'
import type { Session } from './duckdb-session.js'

/** Where a file source's rows are: one file, a directory of files, or a glob. */
export interface FileLocation {
  /** Absolute path as declared (the directory or glob itself for those kinds). */
  readonly path: string
  readonly kind: 'file' | 'dir' | 'glob'
  readonly format: FileFormat
  /** A short description for messages: `FileSource "x" (/abs/path)`. */
  readonly label: string
  /** What a relative path was resolved against, for hints: `the feature repo /repo`. */
  readonly base: string
}

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

/** Resolves an entity-table path against the current directory; its format follows its extension. */
export function locateEntityFile(path: string): FileLocation {
  const abs = resolve(path)
  const format: FileFormat = /\.csv(\.gz)?$/i.test(abs) ? 'csv' : 'parquet'
  const kind = /[*?[{]/.test(path) ? 'glob' : existsSync(abs) && statSync(abs).isDirectory() ? 'dir' : 'file'
  return {
    path: abs,
    kind,
    format,
    label: `entity file ${abs}`,
    base: `the working directory ${process.cwd()}`,
  }
}

/** The DuckDB table function reading the location (files of a directory are found recursively). */
export function readExpression(loc: FileLocation): string {
  const pattern = loc.kind === 'dir' ? join(loc.path, '**', `*.${loc.format}`) : loc.path
  const many = loc.kind === 'file' ? '' : ', union_by_name = true'
  return loc.format === 'csv'
    ? `read_csv(${sqlString(pattern)}, header = true${many})`
    : `read_parquet(${sqlString(pattern)}${many})`
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

/** True when the location holds at least one file to read. */
export function hasFiles(loc: FileLocation): boolean {
  if (loc.kind === 'file') return existsSync(loc.path)
  if (loc.kind === 'dir') {
    const ext = `.${loc.format}`
    return readdirSync(loc.path, { recursive: true }).some((f) => String(f).endsWith(ext))
  }
  return true
}

/** The column names and types of a location, without reading its rows. */
export async function describeLocation(
  session: Session,
  loc: FileLocation,
): Promise<{ names: string[]; types: DuckDBType[] }> {
  if (!hasFiles(loc)) {
    throw new LarderError(
      'DATA_SOURCE',
      `${loc.label}: ${loc.kind === 'dir' ? `no .${loc.format} files in the directory` : 'no such file'}`,
      {
        hint: `check the path; a relative path is resolved against ${loc.base}`,
        details: { path: loc.path },
      },
    )
  }
  const result = await session.run(`SELECT * FROM ${readExpression(loc)} LIMIT 0`, (message) =>
    message.includes('No files found')
      ? new LarderError('DATA_SOURCE', `${loc.label}: no files match the path`, {
          hint: `check the path; a relative path is resolved against ${loc.base}`,
          details: { path: loc.path },
        })
      : new LarderError('DATA_SOURCE', `${loc.label} cannot be read: ${message}`, {
          hint: `check that it is a valid ${loc.format === 'csv' ? 'CSV file with a header row' : 'Parquet file'}`,
          details: { path: loc.path },
        }),
  )
  return { names: result.columnNames(), types: result.columnTypes() }
}

/**
 * Writes a file by writing a temporary file next to it and renaming it into place, so a reader sees
 * the old file or the new one, never a partial one. The temporary file is removed on failure.
 */
export async function writeAtomically(path: string, write: (tmp: string) => Promise<void>): Promise<void> {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = join(dirname(path), `.${basename(path)}.${randomUUID().slice(0, 8)}.tmp`)
  try {
    await write(tmp)
    renameSync(tmp, path)
  } catch (error) {
    rmSync(tmp, { force: true })
    throw error
  }
}

let lastPartMillis = 0

/**
 * A new, unique part-file name for appending to a directory source. Names start with the time in
 * milliseconds, strictly increasing within a process, so a later append sorts after an earlier one and
 * its rows come later in source order (see `sourceFiles`).
 */
export function newPartFile(loc: FileLocation): string {
  lastPartMillis = Math.max(Date.now(), lastPartMillis + 1)
  return join(loc.path, `part-${lastPartMillis}-${randomUUID().slice(0, 8)}.${loc.format}`)
}

/** The DuckDB COPY options writing a file of this format. */
export function copyOptions(format: FileFormat): string {
  return format === 'csv' ? '(FORMAT csv, HEADER true)' : '(FORMAT parquet)'
}
