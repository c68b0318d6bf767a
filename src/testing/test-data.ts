import { mkdirSync } from 'node:fs'
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import {
  type BatchSource,
  type FeatureView,
  type FileSource,
  isKind,
  kindOf,
  knownNames,
  LarderError,
  type PushSource,
  type StreamSource,
} from '../core/index.js'
import { duckdbTypeOf } from '../offline/duckdb/duckdb-types.js'
import { copyOptions } from '../offline/local/files.js'
import { type ColumnBuffer, createTable, writeInputColumns } from '../offline/local/load-columns.js'
import { ident, sqlString } from '../offline/local/quote.js'
import { Session } from '../offline/local/session.js'
import type { RepoDefinitions } from '../repo/load-repo.js'
import type { TestRows } from './test-store.js'

/** A column type some definition declares, and which definition, for messages. */
interface Declared {
  readonly type: string
  readonly by: string
}

/** One batch source to write: where, the views reading it, the columns they declare, and its rows. */
interface SourcePlan {
  readonly source: FileSource
  readonly path: string
  readonly readers: readonly FeatureView[]
  readonly declared: ReadonlyMap<string, Declared>
  readonly timestamps: ReadonlySet<string>
  rows: TestRows | undefined
  /** The `data` key the rows were given under. */
  key: string | undefined
}

const INTEGER_TYPES = new Set(['TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT'])
const TABLE = '__larder_test_rows'

/**
 * Writes the file of every `FileSource` a feature view or stream feature view reads, under
 * `repoPath` at the source's own relative path, from the rows `data` gives for it (by source name, by
 * the name of a push or stream source over it, or by the name of a view reading it). Each column gets
 * the type the views declare for it (entity keys, features, `Float32` as FLOAT, timestamps as
 * TIMESTAMPTZ), other columns the type of their values; a Parquet source without rows gets an empty
 * file with the declared columns (a CSV source needs rows: a CSV file carries no types). A glob path
 * gets one file its pattern matches.
 *
 * Throws INVALID_ARGUMENT naming the key, source, row, column and value for a data key that names
 * nothing, two keys for one source, a value that does not fit its declared type, a view without a
 * schema (or a CSV source) whose source has no rows, and a source path that is absolute or leaves the directory;
 * UNSUPPORTED for a view over a source DuckDB cannot stand in for (PostgreSQL).
 */
export async function writeTestData(
  defs: RepoDefinitions,
  data: Readonly<Record<string, TestRows>>,
  repoPath: string,
): Promise<void> {
  const plans = sourcePlans(defs, repoPath)
  for (const [key, rows] of Object.entries(data)) {
    const plan = plans.get(sourceNameFor(defs, key))
    if (plan === undefined) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `createTestStore: data has rows for "${key}", but no feature view reads that source`,
        { hint: 'give rows for a source that a feature view or stream feature view reads' },
      )
    }
    if (plan.key !== undefined) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `createTestStore: data gives rows for source "${plan.source.name}" twice, as "${plan.key}" and as "${key}"`,
        { hint: 'give each source its rows under one key' },
      )
    }
    plan.rows = rows
    plan.key = key
  }
  if (plans.size === 0) return
  const instance = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  })
  try {
    const session = await Session.open(instance, undefined)
    try {
      for (const plan of plans.values()) await writeSource(session, plan, repoPath)
    } finally {
      session.close()
    }
  } finally {
    instance.closeSync()
  }
}

/** The batch source a `data` key names: a batch source, a push or stream source over one, or a view. */
function sourceNameFor(defs: RepoDefinitions, key: string): string {
  const source = defs.dataSources.find((s) => s.name === key)
  const views = [...defs.featureViews, ...defs.streamFeatureViews.map((v) => v.storageView)]
  const view = views.find((v) => v.name === key)
  const batchOf = (s: typeof source): BatchSource | undefined =>
    s === undefined
      ? undefined
      : isKind(s, 'FileSource') || isKind(s, 'PostgreSQLSource')
        ? (s as BatchSource)
        : (s as PushSource | StreamSource).batchSource
  const fromSource = batchOf(source)
  const fromView = view?.batchSource
  if (fromSource && fromView && fromSource.name !== fromView.name) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `createTestStore: data key "${key}" names both source "${key}" and feature view "${key}", which reads source "${fromView.name}"`,
      { hint: `give the rows under the source's name: "${fromSource.name}" or "${fromView.name}"` },
    )
  }
  const found = fromSource ?? fromView
  if (found) return found.name
  if (source || view) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `createTestStore: data key "${key}" names ${source ? 'a source' : 'a feature view'} without a batch source`,
      { hint: 'give rows for the batch source (FileSource) the views read offline' },
    )
  }
  throw new LarderError(
    'INVALID_ARGUMENT',
    `createTestStore: data key "${key}" names no source or feature view of the definitions`,
    {
      hint: `use a source name (${knownNames(defs.dataSources.map((s) => s.name))}) or a feature view name (${knownNames(views.map((v) => v.name))})`,
    },
  )
}

/** Every batch source a view reads, with its readers, declared columns and file path. */
function sourcePlans(defs: RepoDefinitions, repoPath: string): Map<string, SourcePlan> {
  const readers = new Map<string, { source: BatchSource; views: FeatureView[] }>()
  const views = [...defs.featureViews, ...defs.streamFeatureViews.map((v) => v.storageView)]
  for (const view of views) {
    const source = view.batchSource
    if (source === undefined) continue
    const entry = readers.get(source.name) ?? { source, views: [] }
    entry.views.push(view)
    readers.set(source.name, entry)
  }
  const plans = new Map<string, SourcePlan>()
  for (const { source, views: readBy } of readers.values()) {
    if (!isKind(source, 'FileSource')) {
      throw new LarderError(
        'UNSUPPORTED',
        `createTestStore: feature view "${readBy[0]!.name}" reads ${kindOf(source)} "${source.name}", and the test store reads sources with DuckDB from files`,
        { hint: 'define the view over a FileSource (Parquet or CSV) to test it with createTestStore' },
      )
    }
    const file = source as FileSource
    const declared = new Map<string, Declared>()
    const declare = (column: string, type: string | undefined, by: string) => {
      if (type !== undefined && !declared.has(column)) declared.set(column, { type, by })
    }
    const timestamps = new Set<string>()
    for (const column of [file.timestampField, file.createdTimestampColumn]) {
      if (column === '') continue
      timestamps.add(file.sourceColumn(column))
      declare(file.sourceColumn(column), 'TIMESTAMPTZ', `source "${file.name}" reads it as a timestamp`)
    }
    for (const view of readBy) {
      for (const entity of view.entities) {
        const dtype = view.schema?.find((f) => f.name === entity.joinKey)?.dtype ?? entity.valueType
        const type = dtype === undefined ? undefined : duckdbTypeOf(dtype)
        declare(file.sourceColumn(entity.joinKey), type, `entity "${entity.name}" has type ${dtype?.name}`)
      }
      for (const f of view.features) {
        const type = duckdbTypeOf(f.dtype)
        if (type === 'TIMESTAMPTZ') timestamps.add(file.sourceColumn(f.name))
        declare(file.sourceColumn(f.name), type, `feature view "${view.name}" declares ${f.dtype.name}`)
      }
    }
    plans.set(file.name, {
      source: file,
      path: filePath(file, repoPath),
      readers: readBy,
      declared,
      timestamps,
      rows: undefined,
      key: undefined,
    })
  }
  return plans
}

/** Where the file of a source goes: its relative path, with a glob's wildcards filled in. */
function filePath(source: FileSource, repoPath: string): string {
  if (isAbsolute(source.path)) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `createTestStore: FileSource "${source.name}" has the absolute path ${source.path}, and the test store writes its rows into a temporary directory`,
      { hint: "give the source a path relative to the feature repo, e.g. 'data/driver_stats.parquet'" },
    )
  }
  const plain = source.path
    .replaceAll('**/', '')
    .replaceAll('**', 'data')
    .replaceAll('*', 'data')
    .replaceAll('?', 'x')
  const path = resolve(repoPath, plain)
  const inside = relative(repoPath, path)
  if (/[[{]/.test(plain) || inside === '' || inside.startsWith(`..${sep}`) || inside === '..') {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `createTestStore: cannot write the rows of FileSource "${source.name}" at its path ${JSON.stringify(source.path)}`,
      {
        hint: "give the source a path inside the feature repo: a file, a directory or a glob with * only, e.g. 'data/*.parquet'",
      },
    )
  }
  return path
}

/** Writes one source's file: the rows given, typed as declared, or no rows with the declared columns. */
async function writeSource(session: Session, plan: SourcePlan, repoPath: string): Promise<void> {
  const what = `createTestStore: data for source "${plan.source.name}"`
  const columns: ColumnBuffer[] =
    plan.rows === undefined ? [] : writeInputColumns(plan.rows, plan.timestamps, what)
  const given = new Set(columns.map((c) => c.name))
  const missing = [...plan.declared.keys()].filter((name) => !given.has(name))
  if (columns.length === 0) {
    if (plan.source.fileFormat === 'csv') {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `createTestStore: data has no rows for the CSV source "${plan.source.name}", and a CSV file without rows has no column types to check the views against`,
        { hint: `give it at least one row: data: { ${plan.source.name}: [...] }` },
      )
    }
    const schemaless = plan.readers.find((v) => v.schema === undefined)
    if (schemaless) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `createTestStore: feature view "${schemaless.name}" declares no schema and data has no rows for its source "${plan.source.name}"`,
        {
          hint: `give rows for it (data: { ${plan.source.name}: [...] }), from which apply infers the schema, or declare the view's schema`,
        },
      )
    }
  }
  const select: string[] = []
  if (columns.length > 0) {
    await createTable(session.connection, TABLE, columns)
    for (const c of columns) {
      const declared = plan.declared.get(c.name)
      if (declared) await checkFits(session, c, declared, what)
      select.push(`CAST(${ident(c.name)} AS ${declared?.type ?? c.type.toString()}) AS ${ident(c.name)}`)
    }
  }
  for (const name of missing) select.push(`CAST(NULL AS ${plan.declared.get(name)!.type}) AS ${ident(name)}`)
  const query =
    columns.length > 0
      ? `SELECT ${select.join(', ')} FROM ${ident(TABLE)}`
      : `SELECT ${select.join(', ')} LIMIT 0`
  mkdirSync(dirname(plan.path), { recursive: true })
  await session.run(
    `COPY (${query}) TO ${sqlString(plan.path)} ${copyOptions(plan.source.fileFormat)}`,
    (message) =>
      new LarderError('INVALID_ARGUMENT', `${what} could not be written: ${message}`, {
        hint: 'give each column values of one type, matching the types the views declare',
        details: { file: relative(repoPath, plan.path) },
      }),
  )
}

/** Throws naming the first row whose value in `column` does not fit the declared type. */
async function checkFits(session: Session, column: ColumnBuffer, declared: Declared, what: string) {
  const given = column.type.toString()
  if (given === declared.type) return
  const c = ident(column.name)
  const fraction = given === 'DOUBLE' && INTEGER_TYPES.has(declared.type) ? ` OR ${c} <> floor(${c})` : ''
  const result = await session.run(
    `SELECT r, CAST(${c} AS VARCHAR) FROM (SELECT row_number() OVER () - 1 AS r, ${c} FROM ${ident(TABLE)}) ` +
      `WHERE ${c} IS NOT NULL AND (TRY_CAST(${c} AS ${declared.type}) IS NULL${fraction}) ORDER BY r LIMIT 1`,
  )
  const bad = (await result.getRows())[0]
  if (bad === undefined) return
  const value = column.type.toString() === 'VARCHAR' ? JSON.stringify(bad[1]) : String(bad[1])
  throw new LarderError(
    'INVALID_ARGUMENT',
    `${what} has ${value} in row ${bad[0]} of column "${column.name}", which is not a ${declared.type} (${declared.by})`,
    {
      hint: `give "${column.name}" values of its declared type, or change the definition`,
      details: { column: column.name, row: Number(bad[0]), value },
    },
  )
}
