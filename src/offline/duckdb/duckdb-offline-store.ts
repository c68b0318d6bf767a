import { mkdirSync, rmSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { DuckDBInstance, DuckDBTypeId } from '@duckdb/node-api'
import type { RecordBatch } from 'apache-arrow'
import {
  type Abortable,
  type BatchSource,
  type FeatureView,
  type FileSource,
  isKind,
  isLarderError,
  knownNames,
  LarderError,
  throwIfAborted,
} from '../../core/index.js'
import { DEFAULT_BATCH_ROWS, readBatches } from '../local/batches.js'
import { sourceFileDigests } from '../local/digest.js'
import { describeEntities, ENTITY_TABLE } from '../local/entities.js'
import { withFileLock } from '../local/file-lock.js'
import {
  copyOptions,
  describeLocation,
  type FileLocation,
  hasFiles,
  readExpression,
  writeAtomically,
} from '../local/files.js'
import { Lazy } from '../local/lazy.js'
import { type ColumnBuffer, createTable, writeInputColumns } from '../local/load-columns.js'
import { sqlString } from '../local/quote.js'
import { Session } from '../local/session.js'
import { toUtcTimestamp } from '../local/timestamps.js'
import type {
  FilesFingerprint,
  HistoricalRequest,
  OfflineStore,
  PullOptions,
  RetrievalJob,
  SourceColumn,
  TimeRange,
  WriteInput,
  WriteOptions,
} from '../offline-store.js'
import {
  type PlannedView,
  planEntity,
  planLatest,
  planRange,
  planViews,
  rangeEntityKeys,
  requestRange,
} from '../pit/plan.js'
import { EVENT_TIMESTAMP, type PitView } from '../pit/spec.js'
import {
  buildLatestCountQuery,
  buildLatestQuery,
  buildRangeCountQuery,
  buildRangeEntityQuery,
  type JoinStrategy,
  subPart,
} from '../pit/sql.js'
import { duckdbDialect } from './duckdb-dialect.js'
import { locateFileSource, newPartFile, positionedRead, sourceFiles } from './duckdb-files.js'
import {
  DEFAULT_LATEST_ROWS_LIMIT_CAP,
  defaultMemoryLimit,
  defaultTempDirectory,
  LatestRowsMemory,
} from './duckdb-memory.js'
import { DuckDBRetrievalJob, type PlannedRetrieval } from './duckdb-retrieval-job.js'
import { duckdbTypeOf, feastTypeOf } from './duckdb-types.js'

export interface DuckDBOfflineStoreOptions {
  /** Relative source paths (and `tempDirectory`) resolve against this directory. */
  readonly repoPath: string
  /** Worker threads; DuckDB's default is one per core. */
  readonly threads?: number
  /**
   * DuckDB's memory limit, e.g. `'4GB'`; default `defaultMemoryLimit()` (a share of memory, at most
   * 256 MiB, and at most 1 GiB while a materialization reads latest rows).
   */
  readonly memoryLimit?: string
  /** Where DuckDB spills when a join exceeds memory; default a directory of the store's own in the system temp directory. */
  readonly tempDirectory?: string
  /** `window` forces the range-join form everywhere (for cross-checks); default `auto`. */
  readonly pointInTimeJoin?: JoinStrategy
  /**
   * The most source rows one pass of a latest-row read (materialization) takes in, default 1,000,000:
   * DuckDB holds a pass's rows to find their latest (about 100 bytes a row for ten features), so a
   * larger window is read in passes over disjoint parts of its keys, which bounds the memory of
   * materializing whatever the window's size.
   */
  readonly latestRowsPerPass?: number
}

const q = duckdbDialect.ident
const LATEST_ROWS_PER_PASS = 1_000_000
const WRITE_TABLE = '__larder_write'

/**
 * The offline store over DuckDB, reading `FileSource`s (Parquet or CSV: a file, a directory of files or
 * a glob). DuckDB runs in memory, never downloads extensions, and works in UTC. Each operation uses its
 * own connection, so jobs may run concurrently.
 *
 * @example const store = new DuckDBOfflineStore({ repoPath: './feature_repo' })
 *   const job = await store.getHistoricalFeatures({ entities, features: [{ projection: stats.projection, features: ['conv_rate'] }] })
 *   await job.toParquet('training.parquet')
 */
export class DuckDBOfflineStore implements OfflineStore {
  readonly type = 'duckdb'
  readonly #options: DuckDBOfflineStoreOptions
  readonly #instance = new Lazy(() => this.#createInstance())
  readonly #sessions = new Set<Session>()
  /** The default limits, when the options set none. */
  readonly #latestRowsMemory: LatestRowsMemory | undefined
  readonly #writes = new Map<string, Promise<void>>()
  /** Where DuckDB spills: the configured directory, else one of this store's own, removed on close. */
  readonly #tempDirectory: string
  readonly #ownsTempDirectory: boolean
  #closed = false

  constructor(options: DuckDBOfflineStoreOptions) {
    this.#options = Object.freeze({ ...options })
    this.#latestRowsMemory =
      options.memoryLimit === undefined
        ? new LatestRowsMemory(
            defaultMemoryLimit(),
            defaultMemoryLimit(undefined, DEFAULT_LATEST_ROWS_LIMIT_CAP),
          )
        : undefined
    const temp = options.tempDirectory
    this.#ownsTempDirectory = temp === undefined
    this.#tempDirectory =
      temp === undefined ? defaultTempDirectory() : isAbsolute(temp) ? temp : resolve(options.repoPath, temp)
  }

  async getHistoricalFeatures(req: HistoricalRequest, opts: Abortable = {}): Promise<RetrievalJob> {
    const range = requestRange(req)
    const planned = planViews(req.features, req.fullFeatureNames ?? false)
    const session = await this.#session(opts.signal)
    try {
      const views: PitView[] = []
      for (const p of planned) views.push(await this.#viewRelation(session, p))
      const base = {
        views,
        transform: req.transform,
        asOfKnownTime: req.asOfKnownTime ?? false,
        strategy: this.#options.pointInTimeJoin ?? 'auto',
      }
      let plan: PlannedRetrieval
      if (range === undefined) {
        const entity = await describeEntities(session, req.entities!)
        const { timestampColumn, notices } = planEntity(entity.columns, planned)
        const loadEntities = entity.prepare(timestampColumn)
        plan = {
          ...base,
          entityColumns: entity.columns.map((c) => c.name),
          timestampColumn,
          loadEntities,
          notices,
        }
      } else {
        const keys = rangeEntityKeys(planned)
        const columns = [
          ...keys.map((name) => ({ name, isTimestamp: false })),
          { name: EVENT_TIMESTAMP, isTimestamp: true },
        ]
        planEntity(columns, planned)
        const sql = `CREATE OR REPLACE TEMP TABLE ${q(ENTITY_TABLE)} AS ${buildRangeEntityQuery(views, keys, range, duckdbDialect)}`
        const loadEntities = async (s: Session) => {
          await s.run(sql)
        }
        plan = {
          ...base,
          entityColumns: [...keys, EVENT_TIMESTAMP],
          timestampColumn: EVENT_TIMESTAMP,
          eventRange: { min: range.start, max: range.end },
          loadEntities,
          notices: [],
        }
      }
      return new DuckDBRetrievalJob((signal) => this.#session(signal), plan)
    } finally {
      this.#release(session)
    }
  }

  async *pullLatest(view: FeatureView, range: TimeRange, opts: PullOptions = {}): AsyncIterable<RecordBatch> {
    const { planned, columns } = planLatest(view)
    const span = planRange(range.start, range.end, 'start', 'end')
    const batchSize = opts.batchSize ?? DEFAULT_BATCH_ROWS
    if (!Number.isInteger(batchSize) || batchSize <= 0) {
      throw new LarderError('INVALID_ARGUMENT', `batchSize must be a positive integer, got ${batchSize}`)
    }
    const session = await this.#session(opts.signal)
    const memory = this.#latestRowsMemory
    const run = (sql: string) => session.run(sql)
    try {
      await memory?.raise(run)
      const v = await this.#viewRelation(session, planned)
      const fail = (message: string) =>
        new LarderError(
          'DATA_SOURCE',
          `reading the latest rows of feature view "${view.name}" failed: ${message}`,
          {
            hint: 'check its source',
          },
        )
      const count = async (sql: string) => Number((await (await session.run(sql, fail)).getRows())[0]![0])
      if (opts.onRowCount)
        opts.onRowCount(await count(buildLatestCountQuery(v, span, duckdbDialect, opts.part)))
      const passes =
        v.keys.length === 0
          ? 1
          : Math.max(
              1,
              Math.ceil(
                (await count(buildRangeCountQuery(v, span, duckdbDialect, opts.part))) /
                  (this.#options.latestRowsPerPass ?? LATEST_ROWS_PER_PASS),
              ),
            )
      for (let index = 0; index < passes; index++) {
        const sql = buildLatestQuery(v, span, columns, duckdbDialect, subPart(opts.part, index, passes))
        const { batches } = await readBatches(session, sql, batchSize, fail)
        yield* batches
      }
    } finally {
      await memory?.lower(run)
      this.#release(session)
    }
  }

  /**
   * Appends rows to the view's file source: a directory gets a new part file of its own (no other
   * file is touched, so appends by many processes never lose each other's rows); a single file is
   * rewritten with the rows added, under a lock file shared by every process (`../local/file-lock.ts`).
   * Every value is checked against the column types of the existing files (or, for the first file, the
   * view's declared types) first: a value that does not fit is INVALID_ARGUMENT naming the column, the
   * row (counted from 0), the value and the type, and nothing is written. The new file is written
   * aside and renamed into place, after `opts.beforeCommit` ran.
   */
  async writeRows(view: FeatureView, rows: WriteInput, opts: WriteOptions = {}): Promise<void> {
    const source = fileSourceOf(view.batchSource, `feature view "${view.name}"`)
    const loc = locateFileSource(source, this.#options.repoPath)
    if (loc.kind === 'glob') {
      throw new LarderError(
        'UNSUPPORTED',
        `${loc.label} is a glob; rows can be appended to a file or a directory`,
        {
          hint: 'point the source at a directory of files to append new files to it',
        },
      )
    }
    const what = `rows for feature view "${view.name}"`
    const timestamps = new Set([source.timestampField, source.createdTimestampColumn].filter((c) => c !== ''))
    const columns = writeInputColumns(rows, timestamps, what)
    if ((columns[0]?.values.length ?? 0) === 0) {
      await opts.beforeCommit?.()
      return
    }
    for (const required of [source.timestampField, ...view.joinKeys]) {
      if (!columns.some((c) => c.name === required)) {
        throw new LarderError('INVALID_ARGUMENT', `${what} have no column "${required}"`, {
          hint: `give every row its join keys and its timestamp field; columns given: ${knownNames(columns.map((c) => c.name))}`,
        })
      }
    }
    const mapped = columns.map((c) => ({ ...c, name: source.sourceColumn(c.name), given: c.name }))
    let committing = false
    const staged: WriteOptions = {
      ...opts,
      beforeCommit: async () => {
        committing = true
        await opts.beforeCommit?.()
      },
    }
    const append = async () => {
      const session = await this.#session(opts.signal)
      try {
        await this.#append(session, loc, mapped, declaredColumns(view, source), view.name, what, staged)
      } catch (error) {
        // the appender and table loads run outside the session's guard: an interrupt is an abort
        if (!committing) throwIfAborted(opts.signal)
        throw error
      } finally {
        this.#release(session)
      }
    }
    if (loc.kind === 'dir') {
      await append()
      return
    }
    // a single file is read, extended and renamed: one writer at a time, in this process and across processes
    mkdirSync(dirname(loc.path), { recursive: true })
    await this.#serialized(loc.path, () =>
      withFileLock(loc.path, append, { signal: opts.signal, label: loc.label }),
    )
  }

  async describeSource(source: BatchSource, opts: Abortable = {}): Promise<SourceColumn[]> {
    const file = fileSourceOf(source, `source "${source.name}"`)
    const session = await this.#session(opts.signal)
    try {
      const { names, types } = await describeLocation(session, locateFileSource(file, this.#options.repoPath))
      return names.map((name, i) => ({
        name,
        type: feastTypeOf(types[i]!),
        sourceType: types[i]!.toString(),
      }))
    } finally {
      this.#release(session)
    }
  }

  /**
   * The files a file source resolves to now (in source order, as the join reads them), each with its
   * size and SHA-256; an empty list when none match.
   */
  async fingerprintSource(source: BatchSource, opts: Abortable = {}): Promise<FilesFingerprint> {
    const file = fileSourceOf(source, `source "${source.name}"`)
    const loc = locateFileSource(file, this.#options.repoPath)
    let files: string[] = []
    if (hasFiles(loc)) {
      const session = await this.#session(opts.signal)
      try {
        files = await sourceFiles(session, loc)
      } finally {
        this.#release(session)
      }
    }
    return {
      kind: 'files',
      location: file.path,
      files: await sourceFileDigests(files, this.#options.repoPath, opts),
      weak: false,
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const s of this.#sessions) {
      s.connection.interrupt()
      s.close()
    }
    this.#sessions.clear()
    const instance = await this.#instance.take()
    instance?.closeSync()
    if (this.#ownsTempDirectory) rmSync(this.#tempDirectory, { recursive: true, force: true })
  }

  async #session(signal: AbortSignal | undefined): Promise<Session> {
    if (this.#closed) {
      throw new LarderError('INVALID_ARGUMENT', 'the offline store is closed', { hint: 'open a new store' })
    }
    const session = await Session.open(await this.#instance.get(), signal)
    this.#sessions.add(session)
    return session
  }

  #release(session: Session): void {
    if (this.#sessions.delete(session)) session.close()
  }

  async #createInstance(): Promise<DuckDBInstance> {
    const o = this.#options
    const config: Record<string, string> = {
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    }
    if (o.threads !== undefined) config.threads = String(o.threads)
    config.memory_limit = o.memoryLimit ?? this.#latestRowsMemory!.normal
    config.temp_directory = this.#tempDirectory
    try {
      return await DuckDBInstance.create(':memory:', config)
    } catch (cause) {
      throw new LarderError(
        'INVALID_CONFIG',
        `DuckDB rejected the offline_store options: ${(cause as Error).message}`,
        {
          cause,
          hint: 'check threads, memory_limit and temp_directory in feature_store.yaml',
        },
      )
    }
  }

  /**
   * The view's source as a relation with naive-UTC timestamps and each row's `SOURCE_POSITION`, after
   * checking every column it reads.
   */
  async #viewRelation(session: Session, p: PlannedView): Promise<PitView> {
    const source = fileSourceOf(p.source, p.where)
    const loc = locateFileSource(source, this.#options.repoPath)
    const { names, types } = await describeLocation(session, loc)
    for (const use of p.columns) {
      if (!names.includes(use.column)) {
        throw new LarderError(
          'DATA_SOURCE',
          `${loc.label} has no column "${use.column}", the ${use.role} of ${p.where}`,
          {
            hint: `its columns: ${names.join(', ') || '(none)'}; fix the definition, or map a column with fieldMapping`,
            details: { path: loc.path, column: use.column },
          },
        )
      }
    }
    const replaced: string[] = []
    for (const column of [p.view.timestamp, p.view.created]) {
      if (column === undefined) continue
      const type = types[names.indexOf(column)]!
      const normal = toUtcTimestamp(q(column), type, 'strict')
      if (normal === undefined) {
        throw new LarderError(
          'DATA_SOURCE',
          `${loc.label}: column "${column}" has type ${type}, which is not a timestamp`,
          {
            hint: 'store event and created times as TIMESTAMP columns (or ISO-8601 strings)',
            details: { path: loc.path, column },
          },
        )
      }
      if (normal !== q(column)) replaced.push(`${normal} AS ${q(column)}`)
    }
    const read = positionedRead(loc, await sourceFiles(session, loc), names)
    const relation = replaced.length === 0 ? read : `(SELECT * REPLACE (${replaced.join(', ')}) FROM ${read})`
    return { ...p.view, relation }
  }

  /**
   * Appends the columns to the location: cast to the types of the existing files, or for the first file
   * to the view's declared columns (`declared`, undefined when the view has no schema yet). Every value
   * is checked to fit its column's type before anything is written; the file is written aside, then
   * `opts.beforeCommit` runs, then the file is renamed into place.
   */
  async #append(
    session: Session,
    loc: FileLocation,
    columns: readonly WriteColumn[],
    declared: readonly DeclaredColumn[] | undefined,
    view: string,
    what: string,
    opts: WriteOptions,
  ): Promise<void> {
    await createTable(session.connection, WRITE_TABLE, columns)
    const existing = hasFiles(loc) ? await describeLocation(session, loc) : undefined
    const target: readonly DeclaredColumn[] = existing
      ? existing.names.map((name, i) => ({ name, type: existing.types[i]!.toString() }))
      : (declared ?? columns.map((c) => ({ name: c.name, type: undefined })))
    const unknown = columns.find((c) => !target.some((t) => t.name === c.name))
    if (unknown) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `${what} have the column "${unknown.given}", which ${existing ? loc.label : 'the feature view'} does not have`,
        { hint: `its columns: ${target.map((t) => t.name).join(', ')}; nothing was written` },
      )
    }
    for (const t of target) {
      const given = columns.find((c) => c.name === t.name)
      if (given && t.type !== undefined) await checkFits(session, given, t.type, view, what, loc)
    }
    const select = target.map(({ name, type }) => {
      const given = columns.find((c) => c.name === name)
      const cast = type ?? given?.type.toString() ?? 'VARCHAR'
      return `CAST(${given ? q(name) : 'NULL'} AS ${cast}) AS ${q(name)}`
    })
    const fresh = `SELECT ${select.join(', ')} FROM ${q(WRITE_TABLE)}`
    const fail = (message: string) =>
      new LarderError('DATA_SOURCE', `writing ${what} to ${loc.label} failed: ${message}`, {
        hint: 'check that the values fit the types of the existing columns; nothing was written',
      })
    const path = loc.kind === 'dir' ? newPartFile(loc, opts.idempotencyKey) : loc.path
    const content =
      loc.kind === 'file' && existing ? `SELECT * FROM ${readExpression(loc)} UNION ALL ${fresh}` : fresh
    await writeAtomically(path, async (tmp) => {
      await session.run(`COPY (${content}) TO ${sqlString(tmp)} ${copyOptions(loc.format)}`, fail)
      await opts.beforeCommit?.()
    })
  }

  /** Runs writes to one path one after another (within this process). */
  async #serialized(path: string, write: () => Promise<void>): Promise<void> {
    const previous = this.#writes.get(path) ?? Promise.resolve()
    const next = previous.catch(() => undefined).then(write)
    this.#writes.set(path, next)
    try {
      await next
    } finally {
      if (this.#writes.get(path) === next) this.#writes.delete(path)
    }
  }
}

function fileSourceOf(source: BatchSource | undefined, where: string): FileSource {
  if (source === undefined) {
    throw new LarderError('INVALID_ARGUMENT', `${where} has no batch source`, {
      hint: 'give its PushSource a batchSource (e.g. a FileSource)',
    })
  }
  if (!isKind(source, 'FileSource')) {
    throw new LarderError(
      'UNSUPPORTED',
      `${where} reads PostgreSQLSource "${source.name}", which the duckdb offline store cannot read`,
      {
        hint: 'use a FileSource (Parquet or CSV) with the duckdb offline store',
      },
    )
  }
  return source as FileSource
}

/** A column of rows being appended, under its source name; `given` is its name in the rows. */
interface WriteColumn extends ColumnBuffer {
  readonly given: string
}

const INTEGER_TYPES: ReadonlySet<DuckDBTypeId> = new Set([
  DuckDBTypeId.TINYINT,
  DuckDBTypeId.SMALLINT,
  DuckDBTypeId.INTEGER,
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.HUGEINT,
  DuckDBTypeId.UTINYINT,
  DuckDBTypeId.USMALLINT,
  DuckDBTypeId.UINTEGER,
  DuckDBTypeId.UBIGINT,
  DuckDBTypeId.UHUGEINT,
])

/**
 * Throws INVALID_ARGUMENT naming the first row (counted from 0) whose value of `column` does not fit
 * `type`: DuckDB cannot cast it (out of range, not a number, ...), a list element cannot be cast, or a
 * fractional number would be rounded into an integer column.
 */
async function checkFits(
  session: Session,
  column: WriteColumn,
  type: string,
  view: string,
  what: string,
  loc: FileLocation,
): Promise<void> {
  const c = q(column.name)
  const cast = `TRY_CAST(${c} AS ${type})`
  const conditions = [`${cast} IS NULL`]
  if (column.type.typeId === DuckDBTypeId.LIST) conditions.push(`list_count(${cast}) <> list_count(${c})`)
  if (column.type.typeId === DuckDBTypeId.DOUBLE && INTEGER_TYPES.has(typeIdOf(type))) {
    conditions.push(`${cast} <> ${c}`)
  }
  let bad: unknown[] | undefined
  try {
    const sql = `SELECT rowid, CAST(${c} AS VARCHAR) FROM ${q(WRITE_TABLE)} WHERE ${c} IS NOT NULL AND (${conditions.join(' OR ')}) ORDER BY rowid LIMIT 1`
    bad = (await (await session.run(sql)).getRows())[0]
  } catch (error) {
    if (isLarderError(error) && error.code === 'ABORTED') throw error
    // a cast DuckDB cannot even plan (e.g. a list into a number) fails for the first value
    const first = `SELECT rowid, CAST(${c} AS VARCHAR) FROM ${q(WRITE_TABLE)} WHERE ${c} IS NOT NULL ORDER BY rowid LIMIT 1`
    bad = (await (await session.run(first)).getRows())[0]
  }
  if (bad === undefined) return
  const row = Number(bad[0])
  const text = bad[1] === undefined || bad[1] === null ? undefined : String(bad[1])
  const shown =
    text === undefined
      ? `a ${column.type} value`
      : column.type.typeId === DuckDBTypeId.VARCHAR
        ? JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)
        : text
  throw new LarderError(
    'INVALID_ARGUMENT',
    `${what}: column "${column.given}", row ${row}: ${shown} does not fit the type ${type} of column "${column.name}" in ${loc.label}`,
    {
      hint: `give values of type ${type} (the offline source's column type), or change the source's column type; nothing was written`,
      details: { view, column: column.given, row, value: text ?? null, sourceType: type },
    },
  )
}

/** The DuckDB type id of a type name as DuckDB prints it (`INTEGER`, `FLOAT[]`, ...); INVALID when unknown. */
function typeIdOf(type: string): DuckDBTypeId {
  const id = (DuckDBTypeId as unknown as Record<string, DuckDBTypeId>)[type.toUpperCase()]
  return id ?? DuckDBTypeId.INVALID
}

/** A column of a file written by `writeRows`: its source name and DuckDB type (undefined: as given). */
interface DeclaredColumn {
  readonly name: string
  readonly type: string | undefined
}

/**
 * The columns a new file of the view gets, under source names: join keys, timestamp field, created
 * column, features; undefined when the view has no schema yet.
 */
function declaredColumns(view: FeatureView, source: FileSource): DeclaredColumn[] | undefined {
  if (view.schema === undefined) return undefined
  return [
    ...view.entities.map((e) => ({
      name: source.sourceColumn(e.joinKey),
      type: e.valueType === undefined ? undefined : duckdbTypeOf(e.valueType),
    })),
    { name: source.sourceColumn(source.timestampField), type: 'TIMESTAMPTZ' },
    ...(source.createdTimestampColumn === ''
      ? []
      : [{ name: source.sourceColumn(source.createdTimestampColumn), type: 'TIMESTAMPTZ' }]),
    ...view.features.map((f) => ({ name: source.sourceColumn(f.name), type: duckdbTypeOf(f.dtype) })),
  ]
}
