import { mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import type { RecordBatch } from 'apache-arrow'
import type pg from 'pg'
import {
  type Abortable,
  type BatchSource,
  type FeatureView,
  formatMicros,
  isKind,
  kindOf,
  knownNames,
  LarderError,
  type PostgreSQLSource,
  throwIfAborted,
} from '../../core/index.js'
import { DEFAULT_BATCH_ROWS, readBatches } from '../local/batches.js'
import { sha256Lines } from '../local/digest.js'
import { Lazy } from '../local/lazy.js'
import { createTable, writeInputColumns } from '../local/load-columns.js'
import { Session } from '../local/session.js'
import type {
  DigestTableOptions,
  HistoricalRequest,
  OfflineStore,
  PullOptions,
  RetrievalJob,
  SourceColumn,
  TableDigest,
  TableFingerprint,
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
import { EVENT_TIMESTAMP, type PitView, SOURCE_POSITION } from '../pit/spec.js'
import {
  buildLatestCountQuery,
  buildLatestQuery,
  buildRangeEntityQuery,
  type JoinStrategy,
} from '../pit/sql.js'
import type { PostgresOfflineOptions } from './postgres-config.js'
import { postgresDialect } from './postgres-dialect.js'
import { loadDriver, openPool, type PgDriver } from './postgres-driver.js'
import { describePgEntities, ENTITY_TABLE } from './postgres-entities.js'
import { type OpenSessions, type PlannedPgRetrieval, PostgresRetrievalJob } from './postgres-retrieval-job.js'
import { type ClosableSessions, Operation, PgSession, type Sessions } from './postgres-session.js'
import { checkCodecs, copyOutStatement, readCsvRelation, stageCsv } from './postgres-transfer.js'
import { feastTypeOfPg, type PgColumn, pgInstant, tieOrderExpr } from './postgres-types.js'

export interface PostgresOfflineStoreOptions extends PostgresOfflineOptions {
  /** `temp_directory` resolves against this directory. */
  readonly repoPath: string
}

const q = postgresDialect.ident
const WRITE_TABLE = '__larder_write'
const STAGE_TABLE = '__larder_stage'
/** The keys of idempotent appends (see `WriteOptions.idempotencyKey`), in the store's schema. */
const APPENDS_TABLE = 'larder_offline_appends'

/** Creates the appends table unless it exists; two processes creating it at once both succeed. */
async function ensureAppendsTable(pg: PgSession, fail: (message: string) => LarderError): Promise<void> {
  const exists = async () =>
    (await pg.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [APPENDS_TABLE])).rows[0]?.t != null
  if (await exists()) return
  try {
    await pg.query(
      `CREATE TABLE IF NOT EXISTS ${q(APPENDS_TABLE)} (append_key TEXT PRIMARY KEY, table_name TEXT NOT NULL, appended_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    )
  } catch (error) {
    // a concurrent CREATE ... IF NOT EXISTS can still collide on the catalog's unique indexes
    if (!(await exists())) throw fail((error as Error).message)
  }
}

/** Why the operations still running when the store is closed reject. */
const STORE_CLOSED = new LarderError(
  'ABORTED',
  'the postgres offline store was closed while the operation ran',
  {
    hint: 'close the store after its operations have finished',
  },
)

/**
 * The offline store over PostgreSQL, reading `PostgreSQLSource`s (a table or a query). The
 * point-in-time join of `src/offline/pit` runs in PostgreSQL through `postgresDialect`, as one
 * `LEFT JOIN LATERAL (… ORDER BY … LIMIT 1)` per view, which an index on the source's (join keys,
 * event timestamp) serves. Entity rows are uploaded with `COPY ... FROM STDIN` into a temporary table;
 * results leave with `COPY ... TO STDOUT` into a staging file that a local DuckDB reads as Arrow,
 * Parquet or CSV, so memory stays bounded. Sessions work in UTC; the driver (`pg`, `pg-copy-streams`)
 * is imported on first use. Closing the store cancels the operations still running (their statements
 * on the server too) and releases their connections.
 *
 * Tie rule: PostgreSQL tables have no stable row order (`ctid` changes with updates and `VACUUM FULL`;
 * a query has none), so rows tied on the event timestamp and the created timestamp go to the row whose
 * values, compared column by column in the source's column order, are greatest (`ROW(...) DESC`: text
 * and types btree cannot order compare as the UTF-8 bytes of their text, a NULL above any value). This
 * is the `SOURCE_POSITION` of a PostgreSQL relation.
 *
 * @example const store = new PostgresOfflineStore({ repoPath: '.', host: '127.0.0.1', port: 5432, database: 'feast', user: 'feast', ... })
 */
export class PostgresOfflineStore implements OfflineStore {
  readonly type = 'postgres'
  readonly #options: PostgresOfflineStoreOptions
  readonly #connection = new Lazy(() => this.#connect())
  readonly #duck = new Lazy(() => this.#createDuck())
  readonly #operations = new Set<Operation>()
  #closed = false

  constructor(options: PostgresOfflineStoreOptions) {
    this.#options = Object.freeze({ ...options })
  }

  async getHistoricalFeatures(req: HistoricalRequest, opts: Abortable = {}): Promise<RetrievalJob> {
    const range = requestRange(req)
    const planned = planViews(req.features, req.fullFeatureNames ?? false)
    const s = await this.#sessions(opts.signal)
    try {
      const typed: TypedView[] = []
      for (const p of planned) typed.push(await this.#viewRelation(s.pg, p))
      const views = typed.map((t) => t.view)
      const base = {
        views,
        featureColumns: typed.flatMap(({ view, types }) => [
          ...view.features.map((f) => ({ name: f.output, type: types.get(f.source)! })),
          ...(view.windows?.aggregations ?? []).map((a) => ({
            name: a.output,
            type: a.cast === undefined ? types.get(a.source)! : postgresDialect.types[a.cast],
          })),
        ]),
        transform: req.transform,
        asOfKnownTime: req.asOfKnownTime ?? false,
        strategy: (this.#options.point_in_time_join ?? 'auto') as JoinStrategy,
      }
      let plan: PlannedPgRetrieval
      if (range === undefined) {
        const entity = await describePgEntities(s, req.entities!)
        const { timestampColumn, notices } = planEntity(entity.columns, planned)
        plan = {
          ...base,
          entityColumns: entity.columns.map((c) => c.name),
          timestampColumn,
          loadEntities: entity.prepare(timestampColumn),
          notices,
        }
      } else {
        const keys = rangeEntityKeys(planned)
        planEntity(
          [
            ...keys.map((name) => ({ name, isTimestamp: false })),
            { name: EVENT_TIMESTAMP, isTimestamp: true },
          ],
          planned,
        )
        const sql =
          `CREATE TEMP TABLE ${q(ENTITY_TABLE)} ON COMMIT DROP AS ` +
          buildRangeEntityQuery(views, keys, range, postgresDialect)
        plan = {
          ...base,
          entityColumns: [...keys, EVENT_TIMESTAMP],
          timestampColumn: EVENT_TIMESTAMP,
          eventRange: { min: range.start, max: range.end },
          loadEntities: async (sessions: Sessions) => {
            await sessions.pg.query(sql)
            await sessions.pg.query(`ANALYZE ${q(ENTITY_TABLE)}`)
          },
          notices: [],
        }
      }
      const open: OpenSessions = (signal, local) => this.#sessions(signal, local)
      return new PostgresRetrievalJob(open, plan)
    } finally {
      await s.close()
    }
  }

  /**
   * The latest row per key in the window, found by PostgreSQL (`DISTINCT ON`, ties as in the join) and
   * streamed out through a staging file, so neither the server's result nor the window's size is held
   * in memory here. The count for `onRowCount` and the rows are read in one `REPEATABLE READ`
   * transaction, so they agree while other sessions write to the source.
   */
  async *pullLatest(view: FeatureView, range: TimeRange, opts: PullOptions = {}): AsyncIterable<RecordBatch> {
    const { planned, columns } = planLatest(view)
    const span = planRange(range.start, range.end, 'start', 'end')
    const batchSize = opts.batchSize ?? DEFAULT_BATCH_ROWS
    if (!Number.isInteger(batchSize) || batchSize <= 0) {
      throw new LarderError('INVALID_ARGUMENT', `batchSize must be a positive integer, got ${batchSize}`)
    }
    const fail = (message: string) =>
      new LarderError(
        'DATA_SOURCE',
        `reading the latest rows of feature view "${view.name}" failed: ${message}`,
        {
          hint: 'check its source',
        },
      )
    const s = await this.#sessions(opts.signal)
    try {
      const { view: v, types } = await this.#viewRelation(s.pg, planned)
      await s.pg.begin('REPEATABLE READ')
      if (opts.onRowCount) {
        const counted = await s.pg.query<{ n: string }>(
          buildLatestCountQuery(v, span, postgresDialect, opts.part),
          [],
          fail,
        )
        opts.onRowCount(Number(counted.rows[0]!.n))
      }
      const sql = buildLatestQuery(v, span, columns, postgresDialect, opts.part)
      const instant = 'timestamp with time zone'
      const described: PgColumn[] = [
        ...v.keys.map((k) => ({ name: k.entity, type: types.get(k.source)! })),
        ...v.features.map((f) => ({ name: f.output, type: types.get(f.source)! })),
        { name: columns.eventTimestamp, type: instant },
        ...(v.created === undefined ? [] : [{ name: columns.createdTimestamp ?? v.created, type: instant }]),
      ]
      const file = join(s.dir, 'latest.csv')
      await s.pg.copyOut(copyOutStatement(sql, described), file, fail)
      await s.pg.commit()
      const { batches } = await readBatches(
        s.duck,
        `SELECT * FROM ${readCsvRelation(file, described)}`,
        batchSize,
        fail,
      )
      yield* batches
    } finally {
      await s.close()
    }
  }

  /**
   * Appends rows to the view's source table in one transaction: the rows are checked against the view's
   * declared types and the table's columns first, staged with `COPY` into a temporary table of the
   * table's types (a value the column type refuses is INVALID_ARGUMENT naming the column, the row
   * counted from 0 and the value), then inserted; `opts.beforeCommit` runs before the commit, after
   * which the signal no longer cancels anything. Any failure before the commit leaves the table as it was.
   */
  async writeRows(view: FeatureView, rows: WriteInput, opts: WriteOptions = {}): Promise<void> {
    const where = `feature view "${view.name}"`
    const source = pgSourceOf(view.batchSource, where)
    if (source.table === '') {
      throw new LarderError(
        'UNSUPPORTED',
        `${sourceLabel(source)} is a query; rows can be appended to a table`,
        {
          hint: `give the PostgreSQLSource of ${where} a table to write to`,
        },
      )
    }
    const what = `rows for ${where}`
    const timestamps = new Set([source.timestampField, source.createdTimestampColumn].filter((c) => c !== ''))
    const given = writeInputColumns(rows, timestamps, what)
    if ((given[0]?.values.length ?? 0) === 0) {
      await opts.beforeCommit?.()
      return
    }
    for (const required of [source.timestampField, ...view.joinKeys]) {
      if (!given.some((c) => c.name === required)) {
        throw new LarderError('INVALID_ARGUMENT', `${what} have no column "${required}"`, {
          hint: `give every row its join keys and its timestamp field; columns given: ${knownNames(given.map((c) => c.name))}`,
        })
      }
    }
    const mapped = given.map((c) => ({ ...c, name: source.sourceColumn(c.name) }))
    // the caller's signal cancels the staging, never the commit that follows `beforeCommit`
    const staging = new AbortController()
    const forward = () => staging.abort(opts.signal?.reason)
    if (opts.signal?.aborted) forward()
    else opts.signal?.addEventListener('abort', forward, { once: true })
    const detach = () => opts.signal?.removeEventListener('abort', forward)
    const s = await this.#sessions(staging.signal).catch((error) => {
      detach()
      throw error
    })
    try {
      const table = await this.#describeSource(s.pg, source)
      for (const c of mapped) {
        if (!table.some((t) => t.name === c.name)) {
          throw new LarderError(
            'INVALID_ARGUMENT',
            `${what} have the column "${c.name}", which ${sourceLabel(source)} does not have`,
            { hint: `its columns: ${knownNames(table.map((t) => t.name))}` },
          )
        }
      }
      for (const f of view.features) {
        const column = table.find((t) => t.name === source.sourceColumn(f.name))
        if (column === undefined || !mapped.some((c) => c.name === column.name)) continue
        const stored = feastTypeOfPg(column.type)
        if (stored.name !== f.dtype.name) {
          throw new LarderError(
            'INVALID_ARGUMENT',
            `feature "${f.name}" of ${where} is declared ${f.dtype.name}, but column "${column.name}" of ${sourceLabel(source)} has type ${column.type} (${stored.name})`,
            { hint: 'make the declaration and the table agree before writing; nothing was written' },
          )
        }
      }
      await createTable(s.duck.connection, WRITE_TABLE, mapped)
      const file = join(s.dir, 'write.csv')
      await stageCsv(s.duck, WRITE_TABLE, file)
      const names = mapped.map((c) => q(c.name)).join(', ')
      const fail = (message: string) =>
        new LarderError('DATA_SOURCE', `writing ${what} to ${sourceLabel(source)} failed: ${message}`, {
          hint: 'check that the values fit the types of the table; nothing was written',
        })
      if (opts.idempotencyKey !== undefined) await ensureAppendsTable(s.pg, fail)
      await s.pg.begin()
      if (opts.idempotencyKey !== undefined) {
        const taken = await s.pg.query(
          `INSERT INTO ${q(APPENDS_TABLE)} (append_key, table_name) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING append_key`,
          [opts.idempotencyKey, source.table],
          fail,
        )
        if (taken.rows.length === 0) {
          detach()
          await opts.beforeCommit?.()
          return // appended before; closing the session rolls back
        }
      }
      await s.pg.query(
        `CREATE TEMP TABLE ${q(STAGE_TABLE)} ON COMMIT DROP AS SELECT ${names} FROM ${source.table} WHERE false`,
        [],
        fail,
      )
      try {
        await s.pg.copyIn(`COPY ${q(STAGE_TABLE)} (${names}) FROM STDIN (FORMAT csv)`, file, fail)
        await s.pg.query(
          `INSERT INTO ${source.table} (${names}) SELECT ${names} FROM ${q(STAGE_TABLE)}`,
          [],
          fail,
        )
      } catch (error) {
        throw refusedValue(error, what, view.name, source, mapped, given) ?? error
      }
      detach()
      await opts.beforeCommit?.()
      try {
        await s.pg.commit()
      } catch (error) {
        // a deferred constraint is checked only now
        throw refusedValue(error, what, view.name, source, mapped, given) ?? error
      }
    } finally {
      detach()
      await s.close()
    }
  }

  /**
   * The columns of a PostgreSQL source with their Feast types. A table that does not exist or a query
   * that fails is reported with PostgreSQL's message and the source's name, at apply time.
   */
  async describeSource(source: BatchSource, opts: Abortable = {}): Promise<SourceColumn[]> {
    const pgSource = pgSourceOf(source, `source "${source.name}"`)
    const s = await this.#sessions(opts.signal)
    try {
      const columns = await this.#describeSource(s.pg, pgSource)
      return columns.map((c) => ({ name: c.name, type: feastTypeOfPg(c.type), sourceType: c.type }))
    } finally {
      await s.close()
    }
  }

  /**
   * The row count and newest event timestamp of a table or query source, read in one statement. Weak
   * (see {@link TableFingerprint}): PostgreSQL keeps no content version of a table.
   */
  async fingerprintSource(source: BatchSource, opts: Abortable = {}): Promise<TableFingerprint> {
    const pgSource = pgSourceOf(source, `source "${source.name}"`)
    const s = await this.#sessions(opts.signal)
    try {
      const columns = await this.#describeSource(s.pg, pgSource)
      const column = pgSource.sourceColumn(pgSource.timestampField)
      const type = columns.find((c) => c.name === column)?.type
      const instant = type === undefined ? undefined : pgInstant(q(column), type)
      const newest =
        instant === undefined ? 'NULL' : `(extract(epoch FROM max(${instant})) * 1000000)::bigint`
      const result = await s.pg.query<{ n: string; hi: string | null }>(
        `SELECT count(*) AS n, ${newest} AS hi FROM ${sourceFrom(pgSource)} AS ${q('__larder_t')}`,
        [],
        (message) =>
          new LarderError('DATA_SOURCE', `${sourceLabel(pgSource)} cannot be counted: ${message}`, {
            hint: 'check that the source can be read',
            details: { source: pgSource.name },
          }),
      )
      const { n, hi } = result.rows[0]!
      return {
        kind: 'table',
        relation: pgSource.table !== '' ? pgSource.table : pgSource.query,
        rows: Number(n),
        maxTimestamp: hi === null ? null : formatMicros(Number(hi)),
        weak: true,
      }
    } finally {
      await s.close()
    }
  }

  /**
   * The digest of a table (see {@link TableDigest}): its rows' text forms leave the server sorted by
   * byte order (`COLLATE "C"`, the same on every server) through one `COPY ... TO STDOUT` into a staging
   * file, hashed as it is read back. With `drop`, the table is dropped in the same transaction.
   */
  async digestTable(table: string, opts: DigestTableOptions = {}): Promise<TableDigest> {
    const fail = (message: string) =>
      new LarderError('DATA_SOURCE', `table ${table} cannot be digested: ${message}`, {
        hint: 'check that the table exists and that the user may read it',
        details: { table },
      })
    const s = await this.#sessions(opts.signal)
    try {
      await s.pg.begin()
      const columns = await s.pg.describe(`SELECT * FROM ${table}`, fail)
      const file = join(s.dir, 'digest.txt')
      const row = `(${q('__larder_t')}::text)`
      await s.pg.copyOut(
        `COPY (SELECT ${row} FROM ${table} AS ${q('__larder_t')} ORDER BY ${row} COLLATE "C") TO STDOUT`,
        file,
        fail,
      )
      const header = columns.map((c) => `${c.name} ${c.type}\n`).join('')
      const { sha256, lines } = await sha256Lines(`${header}\n`, file, opts)
      if (opts.drop) await s.pg.query(`DROP TABLE ${table}`, [], fail)
      await s.pg.commit()
      return { columns: columns.map((c) => c.name), rows: lines, sha256 }
    } finally {
      await s.close()
    }
  }

  /**
   * Cancels the operations still running (their statements on the server with `pg_cancel_backend`,
   * their local queries by interrupting them), which then reject with ABORTED; releases their
   * connections, then closes the pool and the local DuckDB.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const running = [...this.#operations]
    for (const op of running) op.abort(STORE_CLOSED)
    await Promise.all(running.map((op) => op.close()))
    // an operation still opening gets its connection only now that the others were released
    await Promise.allSettled(running.map((op) => op.opening))
    await Promise.all(running.map((op) => op.close()))
    const connection = await this.#connection.take()
    await connection?.pool.end()
    const duck = await this.#duck.take()
    duck?.closeSync()
  }

  /**
   * Opens the sessions of one operation: a pooled PostgreSQL connection (none when `local`), a local
   * DuckDB session and a staging directory, tied to `signal` and to the store's closing. Whatever fails
   * to open, what was opened is released.
   */
  async #sessions(signal: AbortSignal | undefined, local = false): Promise<ClosableSessions> {
    if (this.#closed) {
      throw new LarderError('INVALID_ARGUMENT', 'the offline store is closed', { hint: 'open a new store' })
    }
    const op = new Operation(signal, () => this.#operations.delete(op))
    this.#operations.add(op)
    op.opening = this.#open(op, local)
    try {
      await op.opening
      throwIfAborted(op.signal)
      return op.sessions()
    } catch (error) {
      await op.close()
      throw error
    }
  }

  async #open(op: Operation, local: boolean): Promise<void> {
    const { driver, pool } = await this.#connection.get()
    if (!local) op.pg = await PgSession.open(pool, driver, op.signal)
    op.duck = await Session.open(await this.#duck.get(), op.signal)
    op.dir = this.#stagingDirectory()
  }

  /** A new directory for one operation's staging files, in `temp_directory` (created if missing). */
  #stagingDirectory(): string {
    const base = this.#tempDirectory() ?? tmpdir()
    try {
      mkdirSync(base, { recursive: true })
      return mkdtempSync(join(base, 'larder-pg-'))
    } catch (cause) {
      throw new LarderError(
        'INVALID_CONFIG',
        `the postgres offline store cannot create a staging directory in ${base}: ${(cause as Error).message}`,
        { cause, hint: 'set temp_directory in feature_store.yaml to a directory the process may write to' },
      )
    }
  }

  async #createDuck(): Promise<DuckDBInstance> {
    const temp = this.#tempDirectory()
    try {
      return await DuckDBInstance.create(':memory:', {
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
        ...(temp === undefined ? {} : { temp_directory: temp }),
      })
    } catch (cause) {
      throw new LarderError(
        'INVALID_CONFIG',
        `the local DuckDB of the postgres offline store cannot start: ${(cause as Error).message}`,
        { cause, hint: 'check temp_directory in feature_store.yaml' },
      )
    }
  }

  #tempDirectory(): string | undefined {
    const t = this.#options.temp_directory
    return t === undefined ? undefined : isAbsolute(t) ? t : resolve(this.#options.repoPath, t)
  }

  async #connect(): Promise<{ driver: PgDriver; pool: pg.Pool }> {
    const driver = await loadDriver()
    return { driver, pool: await openPool(driver, this.#options) }
  }

  async #describeSource(pg: PgSession, source: PostgreSQLSource): Promise<PgColumn[]> {
    return pg.describe(
      `SELECT * FROM ${sourceFrom(source)} AS ${q('__larder_t')}`,
      (message) =>
        new LarderError('DATA_SOURCE', `${sourceLabel(source)} cannot be read: ${message}`, {
          hint:
            source.table !== ''
              ? `check that the table exists in database "${this.#options.database}" on ${this.#options.host}:${this.#options.port} (unqualified names are looked up in db_schema "${this.#options.db_schema}", then public)`
              : 'fix the query of the source; it runs in PostgreSQL',
          details: { source: source.name, table: source.table, query: source.query },
        }),
    )
  }

  /**
   * The view's source as a relation whose timestamp columns are instants, with `SOURCE_POSITION` (the
   * tie order, see the class comment), after checking every column it reads.
   */
  async #viewRelation(pg: PgSession, p: PlannedView): Promise<TypedView> {
    const source = pgSourceOf(p.source, p.where)
    const label = sourceLabel(source)
    const columns = await this.#describeSource(pg, source)
    const names = columns.map((c) => c.name)
    for (const use of p.columns) {
      if (!names.includes(use.column)) {
        throw new LarderError(
          'DATA_SOURCE',
          `${label} has no column "${use.column}", the ${use.role} of ${p.where}`,
          {
            hint: `its columns: ${names.join(', ') || '(none)'}; fix the definition, or map a column with fieldMapping`,
            details: { source: source.name, column: use.column },
          },
        )
      }
    }
    const converted = new Map<string, string>()
    for (const column of [p.view.timestamp, p.view.created]) {
      if (column === undefined) continue
      const type = columns.find((c) => c.name === column)!.type
      const instant = pgInstant(q(column), type)
      if (instant === undefined) {
        throw new LarderError(
          'DATA_SOURCE',
          `${label}: column "${column}" has type ${type}, which is not a timestamp`,
          {
            hint: 'store event and created times as timestamptz columns (or ISO-8601 text)',
            details: { source: source.name, column },
          },
        )
      }
      if (instant !== q(column)) converted.set(column, instant)
    }
    checkCodecs(
      columns.filter(
        (c) =>
          p.view.features.some((f) => f.source === c.name) ||
          p.view.keys.some((k) => k.source === c.name) ||
          (p.view.windows?.aggregations ?? []).some((a) => a.source === c.name),
      ),
      label,
    )
    const select = columns.map((c) =>
      converted.has(c.name) ? `${converted.get(c.name)} AS ${q(c.name)}` : q(c.name),
    )
    const tie = columns.map((c) => tieOrderExpr(q(c.name), c.type))
    const relation =
      `(SELECT ${select.join(', ')}, ROW(${tie.join(', ')}) AS ${q(SOURCE_POSITION)} ` +
      `FROM ${sourceFrom(source)} AS ${q('__larder_t')}) AS ${q('__larder_s')}`
    const types = new Map(
      columns.map((c) => [c.name, converted.has(c.name) ? 'timestamp with time zone' : c.type]),
    )
    return { view: { ...p.view, relation }, types }
  }
}

/** A view's relation and the types of its relation's columns, by source column name. */
interface TypedView {
  readonly view: PitView
  readonly types: ReadonlyMap<string, string>
}

/**
 * A PostgreSQL data error (SQLSTATE class 22: out of range, bad text for the type, too long, ...) or
 * constraint violation (class 23) raised while staging or inserting appended rows, as the
 * INVALID_ARGUMENT the caller can fix: naming the column, the row (counted from 0, the line of the
 * staged COPY) and the value when PostgreSQL says them. Undefined for any other error.
 */
function refusedValue(
  error: unknown,
  what: string,
  view: string,
  source: PostgreSQLSource,
  mapped: readonly { name: string }[],
  given: readonly { name: string }[],
): LarderError | undefined {
  const pgError = (error as { cause?: { code?: unknown; where?: unknown; message?: unknown } }).cause
  const code = typeof pgError?.code === 'string' ? pgError.code : ''
  if (!code.startsWith('22') && !code.startsWith('23')) return undefined
  const at = /COPY [^,]+, line (\d+)(?:, column ([^:]+))?(?:: "([\s\S]*)")?/.exec(
    typeof pgError?.where === 'string' ? pgError.where : '',
  )
  const row = at ? Number(at[1]) - 1 : undefined
  const column = at?.[2]
  const name =
    column === undefined ? undefined : (given[mapped.findIndex((c) => c.name === column)]?.name ?? column)
  const value = at?.[3]
  const place = [
    name === undefined ? undefined : `column "${name}"`,
    row === undefined ? undefined : `row ${row}`,
    value === undefined ? undefined : JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value),
  ].filter((p) => p !== undefined)
  return new LarderError(
    'INVALID_ARGUMENT',
    `${what}: ${place.length > 0 ? `${place.join(', ')}: ` : ''}${sourceLabel(source)} refused the value: ${String(pgError?.message)}`,
    {
      cause: error,
      hint: "give values the table's column types and constraints accept; nothing was written",
      details: {
        view,
        ...(name === undefined ? {} : { column: name }),
        ...(row === undefined ? {} : { row }),
        ...(value === undefined ? {} : { value }),
        sqlState: code,
      },
    },
  )
}
/** The FROM item of a source: its table as written (as Feast inserts it), or its query in parentheses. */
function sourceFrom(source: PostgreSQLSource): string {
  return source.table !== '' ? source.table : `(${source.query})`
}

function sourceLabel(source: PostgreSQLSource): string {
  return source.table !== ''
    ? `PostgreSQLSource "${source.name}" (table ${source.table})`
    : `PostgreSQLSource "${source.name}" (query)`
}

function pgSourceOf(source: BatchSource | undefined, where: string): PostgreSQLSource {
  if (source === undefined) {
    throw new LarderError('INVALID_ARGUMENT', `${where} has no batch source`, {
      hint: 'give its PushSource a batchSource (e.g. a PostgreSQLSource)',
    })
  }
  if (!isKind(source, 'PostgreSQLSource')) {
    throw new LarderError(
      'UNSUPPORTED',
      `${where} reads ${kindOf(source)} "${source.name}", which the postgres offline store cannot read`,
      {
        hint: 'use a PostgreSQLSource with the postgres offline store, or the duckdb offline store for files',
      },
    )
  }
  return source as PostgreSQLSource
}
