import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import type { DuckDBType } from '@duckdb/node-api'
import { type FileFormat, LarderError } from '../../core/index.js'
import { sqlString } from './quote.js'
import type { Session } from './session.js'

/** Where the rows of a file source or an entity file are: one file, a directory of files, or a glob. */
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
        details: { path: loc.path, emptyDirectory: loc.kind === 'dir' && existsSync(loc.path) },
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

/** The DuckDB COPY options writing a file of this format. */
export function copyOptions(format: FileFormat): string {
  return format === 'csv' ? '(FORMAT csv, HEADER true)' : '(FORMAT parquet)'
}
