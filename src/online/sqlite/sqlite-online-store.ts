import { closeSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import { LarderError, type Micros, toMicros } from '../../core/index.js'
import type {
  Abortable,
  InfraPlan,
  OnlineReadRequest,
  OnlineReadResult,
  OnlineRow,
  OnlineStore,
  OnlineStoreCapabilities,
  OnlineWriteBatch,
  ViewRef,
  WriteStats,
} from '../online-store.js'
import {
  asBuffer,
  bytesId,
  checkAborted,
  checkRows,
  missingStorage,
  positions,
  quoteIdent,
  tableName,
  valueText,
  yieldToEventLoop,
} from '../store-support.js'
import type { StoredTile, TileApplyStats, TileStore, TileViewRef, TileWrite } from '../tile-store.js'
import type { SqliteDatabase, SqliteStatement } from './sqlite-database.js'
import { SqliteTiles } from './sqlite-tiles.js'

const SEC = 1_000_000

/**
 * How often, at most, a read looks at the database file to see whether it was deleted or replaced
 * (one `stat`); writes, `update` and `teardown` look every time.
 */
export const FILE_CHECK_INTERVAL_MS = 1000

/** How the store follows its database file; see {@link SqliteOnlineStore}. */
export interface SqliteStoreOptions {
  /**
   * Opens the database at the store's path again. Given, a deleted file is recreated (empty) and a
   * replaced one reopened; without it, every call after the file was deleted or replaced fails.
   */
  readonly open?: () => SqliteDatabase
  /** Most milliseconds between two checks of the file by reads; default {@link FILE_CHECK_INTERVAL_MS}. */
  readonly fileCheckIntervalMs?: number
}

/** The identity of the file a connection has open. */
interface FileId {
  readonly dev: number
  readonly ino: number
}
/** Keys per SELECT; key lists are padded to a power of two so few statements are prepared. */
const MAX_KEYS = 512
/** Rows a read takes from SQLite (which answers synchronously) before it lets the event loop run. */
const ROWS_PER_SLICE = 8192
const EMPTY = new Uint8Array(0)

interface Select {
  readonly statement: SqliteStatement
  readonly arrays: boolean
  /** Whether the rows start with their key's place in the query (queries of more than one key). */
  readonly keyed: boolean
}

interface Insert {
  readonly statement: SqliteStatement
  /** Tables from Feast before value_text have no such column. */
  readonly withText: boolean
}

interface MutableRow {
  eventTs: Micros
  readonly values: (Uint8Array | undefined)[]
}

/**
 * Feast's SQLite online store: one table `"<project>_<view>"` per view with one row per (entity key,
 * feature), Value bytes in `value`, and `event_ts`/`created_ts` as INTEGER epoch seconds like Feast
 * 0.42+, so Feast reads what Larder writes and the other way round. Sub-second precision is lost
 * there, as in Feast. Rows Feast wrote before 0.42, with ISO text timestamps, are read too.
 *
 * Newer wins: an upsert replaces a stored feature row only when its event timestamp is at least the
 * stored one (Feast upserts unconditionally), so re-running an older window cannot clobber newer
 * pushed values. Each `write` is one transaction. The database uses WAL so readers never block.
 *
 * Tiles of stream feature views (`TileStore`, see `sqlite-tiles.ts`) live in two more tables per view,
 * `"<project>_<view>__tiles"` (entity_key BLOB, tile INTEGER, newest_ts INTEGER, states TEXT: a JSON
 * array of state texts) and `"<project>_<view>__tile_marks"` (id TEXT PRIMARY KEY, marked_at INTEGER),
 * created on first use; each `applyTiles` is one IMMEDIATE transaction. `teardown` and `update` (for dropped views) drop them too.
 *
 * The store follows its file. An open connection keeps a deleted file's inode, where writes would
 * vanish; so the store compares the file at its path (device and inode, one `stat`) with the one it
 * opened, before every write, `update` and `teardown`, and before reads at most once per
 * `fileCheckIntervalMs` (default 1 s; the feature server's health check is such a read).
 * - **Deleted**: the call that notices fails with BACKEND_UNAVAILABLE naming the file and saying the
 *   values written before are gone. The store has already created a new, empty database at the path
 *   (removing the deleted database's `-wal` and `-shm` files first, so the new one cannot mix with
 *   them) with the tables of the views this process used; later calls work on it, and a write of a
 *   view whose table is missing there creates it. The user re-materializes the views to refill it.
 * - **Replaced** (a file renamed over the path): the store checkpoints its old connection's WAL,
 *   closes it and reopens the new file, without error; its views' missing tables are created. To swap
 *   in a database safely, rename a checkpointed file (no `-wal` of its own).
 */
export class SqliteOnlineStore implements OnlineStore, TileStore {
  readonly type = 'sqlite'
  readonly capabilities: OnlineStoreCapabilities = Object.freeze({
    newerWins: true,
    nativeTtl: false,
    timestampResolutionMicros: SEC,
  })
  #db: SqliteDatabase
  readonly #path: string
  readonly #where: string
  readonly #selects = new Map<string, Select>()
  readonly #inserts = new Map<string, Insert>()
  #tiles: SqliteTiles
  readonly #open: (() => SqliteDatabase) | undefined
  readonly #checkEveryMs: number
  /** The file the connection has open; null while none is (reopening failed); undefined for `:memory:`. */
  #file: FileId | null | undefined
  #checkedAt = 0
  /** Online tables this store created, wrote or read: recreated in a new file after a deletion. */
  readonly #tables = new Set<string>()
  /** The open file is one this store created after the previous one was deleted. */
  #recreated = false

  /**
   * Takes ownership of an open database (better-sqlite3 or `node:sqlite`) at `path` (named in
   * messages, and the file the store follows; `:memory:` is not followed).
   */
  constructor(db: SqliteDatabase, path: string, options: SqliteStoreOptions = {}) {
    this.#db = db
    this.#path = path
    this.#where = `the SQLite database ${path}`
    this.#open = options.open
    this.#checkEveryMs = options.fileCheckIntervalMs ?? FILE_CHECK_INTERVAL_MS
    configure(db)
    this.#tiles = new SqliteTiles(db, this.#where)
    this.#file = path === ':memory:' || path === '' ? undefined : existingFileId(path)
    this.#checkedAt = Date.now()
  }

  async update(plan: InfraPlan, opts?: Abortable): Promise<void> {
    checkAborted(opts)
    this.#checkFile(true)
    for (const view of plan.keep) {
      if (tableName(view).toLowerCase().startsWith('sqlite_')) {
        throw new LarderError(
          'INVALID_CONFIG',
          `project "${view.project}" cannot use the SQLite online store: SQLite reserves table names starting with "sqlite_"`,
          { hint: 'rename the project, or choose another online store' },
        )
      }
    }
    this.#transaction(() => {
      for (const view of plan.drop) {
        this.#db.exec(`DROP TABLE IF EXISTS ${quoteIdent(tableName(view))}`)
        this.#tiles.drop(view)
        this.#tables.delete(tableName(view))
      }
      for (const view of plan.keep) this.#createTable(tableName(view))
    })
    this.#forgetStatements()
  }

  async write(view: ViewRef, rows: OnlineWriteBatch, opts?: Abortable): Promise<WriteStats> {
    checkAborted(opts)
    checkRows(view, rows)
    this.#checkFile(true)
    if (rows.length === 0) return { written: 0, skipped: 0 }
    const { statement, withText } = this.#insert(view)
    const names = view.features.map((f) => f.name)
    let written = 0
    try {
      this.#transaction(() => {
        for (let r = 0; r < rows.length; r++) {
          if ((r & 1023) === 1023) checkAborted(opts)
          const row = rows[r]!
          const key = asBuffer(row.entityKey)
          const eventTs = Math.trunc(row.eventTs / SEC)
          const createdTs = row.createdTs === undefined ? null : Math.trunc(row.createdTs / SEC)
          let changes = 0
          for (let i = 0; i < names.length; i++) {
            const value = asBuffer(row.values[i]!)
            const result = withText
              ? statement.run(key, names[i], value, valueText(value), eventTs, createdTs)
              : statement.run(key, names[i], value, eventTs, createdTs)
            changes += Number(result.changes)
          }
          if (changes > 0) written++
        }
      })
    } catch (e) {
      throw this.#translate(e, view)
    }
    return { written, skipped: rows.length - written }
  }

  async read(
    view: ViewRef,
    keys: readonly Uint8Array[],
    features: readonly string[],
    opts?: Abortable,
  ): Promise<OnlineReadResult> {
    checkAborted(opts)
    this.#checkFile(false)
    return this.#read(view, keys, features, opts)
  }

  async readMany(requests: readonly OnlineReadRequest[], opts?: Abortable): Promise<OnlineReadResult[]> {
    checkAborted(opts)
    this.#checkFile(false)
    const results: OnlineReadResult[] = []
    for (const r of requests) results.push(await this.#read(r.view, r.keys, r.features, opts))
    return results
  }

  async hasRows(view: ViewRef, opts?: Abortable): Promise<boolean> {
    checkAborted(opts)
    this.#checkFile(false)
    try {
      const found =
        this.#db.prepare(`SELECT 1 FROM ${quoteIdent(tableName(view))} LIMIT 1`).get() !== undefined
      this.#tables.add(tableName(view))
      return found
    } catch (e) {
      if (e instanceof Error && /no such table/i.test(e.message)) return false
      throw e
    }
  }

  /**
   * Drops the views' tables and tile tables; unlike Feast, which deletes the whole file, other
   * projects' tables stay.
   */
  async teardown(plan: InfraPlan, opts?: Abortable): Promise<void> {
    checkAborted(opts)
    this.#checkFile(true)
    this.#transaction(() => {
      for (const view of [...plan.keep, ...plan.drop]) {
        this.#db.exec(`DROP TABLE IF EXISTS ${quoteIdent(tableName(view))}`)
        this.#tiles.drop(view)
        this.#tables.delete(tableName(view))
      }
    })
    this.#forgetStatements()
  }

  applyTiles(
    view: TileViewRef,
    writes: readonly TileWrite[],
    now: Micros,
    opts?: Abortable,
  ): Promise<TileApplyStats> {
    this.#checkFile(true)
    return this.#tiles.applyTiles(view, writes, now, opts)
  }

  releaseMarks(view: TileViewRef, writes: readonly TileWrite[], opts?: Abortable): Promise<void> {
    this.#checkFile(true)
    return this.#tiles.releaseMarks(view, writes, opts)
  }

  readTiles(
    view: TileViewRef,
    keys: readonly Uint8Array[],
    fromTile: number,
    opts?: Abortable,
  ): Promise<(readonly StoredTile[])[]> {
    this.#checkFile(false)
    return this.#tiles.readTiles(view, keys, fromTile, opts)
  }

  dropTiles(view: TileViewRef, opts?: Abortable): Promise<void> {
    this.#checkFile(true)
    return this.#tiles.dropTiles(view, opts)
  }

  async close(): Promise<void> {
    this.#forgetStatements()
    if (this.#file !== null) this.#db.close()
    this.#file = undefined
  }

  /**
   * Compares the file at the path with the one open (always when `always`, else at most once per
   * interval) and follows a deletion or replacement; see the class comment. Throws BACKEND_UNAVAILABLE
   * after a deletion (once, the store having recreated the file), and while the file cannot be opened.
   */
  #checkFile(always: boolean): void {
    if (this.#file === undefined) return
    const now = Date.now()
    if (!always && this.#file !== null && now - this.#checkedAt < this.#checkEveryMs) return
    this.#checkedAt = now
    let found: FileId | undefined
    try {
      found = fileId(this.#path)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw this.#unavailable('cannot be looked at', e)
    }
    if (found && this.#file && found.dev === this.#file.dev && found.ino === this.#file.ino) return
    if (!this.#open) {
      throw this.#unavailable(
        found ? 'was replaced by another file while it was open' : 'was deleted while it was open',
        undefined,
        'restart the process to open the file now at the path',
      )
    }
    if (found) {
      this.#reopen(false)
      return
    }
    this.#reopen(this.#createEmpty())
    throw new LarderError(
      'BACKEND_UNAVAILABLE',
      `the SQLite online store ${this.#path} was deleted while it was open: the values written to it are gone. ` +
        'Larder created a new, empty database there (with the tables of the views this process uses) and writes to it from now on',
      {
        hint: 'materialize the views again to refill it (`larder materialize <start> <end>`: incremental materialization skips the windows it already recorded), and find what deleted the file',
        // `reason`: what a server may tell its callers, who are not shown the path
        details: {
          path: this.#path,
          reason: 'its file was deleted while it was open; a new, empty one replaces it',
        },
      },
    )
  }

  /**
   * Creates the empty file of a new database at the path, unless another process did first (false),
   * and removes the deleted database's `-wal` and `-shm` files so the new database cannot mix with
   * them. Throws BACKEND_UNAVAILABLE when the file cannot be created.
   */
  #createEmpty(): boolean {
    try {
      mkdirSync(dirname(this.#path), { recursive: true })
      closeSync(openSync(this.#path, 'wx'))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
      this.#closeOld(false)
      throw this.#unavailable('was deleted while it was open and cannot be created again', e)
    }
    for (const suffix of ['-wal', '-shm']) {
      try {
        unlinkSync(`${this.#path}${suffix}`)
      } catch {
        // absent
      }
    }
    return true
  }

  /** Closes the old connection and opens the file now at the path, creating the tables of the views in use. */
  #reopen(recreated: boolean): void {
    this.#closeOld(!recreated)
    let db: SqliteDatabase | undefined
    try {
      db = this.#open!()
      configure(db)
      const file = fileId(this.#path)
      this.#db = db
      this.#tiles = new SqliteTiles(db, this.#where)
      this.#recreated = recreated
      this.#transaction(() => {
        for (const table of this.#tables) this.#createTable(table)
      })
      this.#file = file
    } catch (e) {
      try {
        db?.close()
      } catch {
        // already unusable
      }
      throw this.#unavailable('was replaced by a file that cannot be opened', e)
    }
  }

  /**
   * Closes the connection to the file that is gone from the path (SQLite then neither checkpoints into
   * nor deletes the files at the path). With `checkpoint`, first empties its WAL, in case that WAL is
   * still the one at the path that the new file would otherwise read.
   */
  #closeOld(checkpoint: boolean): void {
    if (this.#file === null) return
    this.#forgetStatements()
    try {
      if (checkpoint) this.#db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
    } catch {
      // busy with other processes' readers: they follow the file too
    }
    try {
      this.#db.close()
    } catch {
      // closing is best effort: the file is gone
    }
    this.#file = null
  }

  #unavailable(what: string, cause?: unknown, hint?: string): LarderError {
    const reason = cause instanceof Error ? `: ${cause.message}` : ''
    return new LarderError('BACKEND_UNAVAILABLE', `the SQLite online store ${this.#path} ${what}${reason}`, {
      hint: hint ?? 'check online_store.path in feature_store.yaml and the file and its directory',
      cause,
      // `reason`: what a server may tell its callers, who are not shown the path
      details: { path: this.#path, reason: `its file ${what}` },
    })
  }

  /** Creates an online table in Feast's layout unless it exists (inside the caller's transaction). */
  #createTable(name: string): void {
    const table = quoteIdent(name)
    this.#db.exec(
      `CREATE TABLE IF NOT EXISTS ${table} (entity_key BLOB, feature_name TEXT, value BLOB, value_text TEXT, ` +
        'vector_value BLOB, event_ts timestamp, created_ts timestamp, PRIMARY KEY(entity_key, feature_name))',
    )
    this.#db.exec(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${name}_ek`)} ON ${table} (entity_key)`)
    this.#tables.add(name)
  }

  /**
   * Reads in SELECTs of up to MAX_KEYS keys. SQLite answers synchronously, so after every
   * ROWS_PER_SLICE rows the read lets the event loop run; once `opts.signal` fired, no further SELECT
   * runs and the read rejects with the signal's reason.
   */
  async #read(
    view: ViewRef,
    keys: readonly Uint8Array[],
    features: readonly string[],
    opts?: Abortable,
  ): Promise<OnlineReadResult> {
    const result: (OnlineRow | undefined)[] = new Array(keys.length).fill(undefined)
    if (keys.length === 0) return result
    // each distinct key once, with the positions of the request that asked for it
    const unique: Buffer[] = []
    const askedAt: number[][] = []
    const seen = new Map<string, number>()
    keys.forEach((key, i) => {
      const id = bytesId(key)
      const u = seen.get(id)
      if (u === undefined) {
        seen.set(id, unique.length)
        unique.push(asBuffer(key))
        askedAt.push([i])
      } else askedAt[u]!.push(i)
    })
    const featureAt = positions(features)
    const viewNames = new Set(view.features.map((f) => f.name))
    const filter =
      features.length === 0 ||
      (featureAt.size === viewNames.size && [...featureAt.keys()].every((f) => viewNames.has(f)))
        ? []
        : [...featureAt.keys()]
    const found: (MutableRow | undefined)[] = new Array(unique.length)
    let sinceYield = 0
    try {
      for (let start = 0; start < unique.length; start += MAX_KEYS) {
        if (sinceYield >= ROWS_PER_SLICE) {
          sinceYield = 0
          await yieldToEventLoop()
        }
        if (start > 0) checkAborted(opts)
        const chunk = unique.slice(start, start + MAX_KEYS)
        const select = this.#select(
          view,
          bucket(chunk.length),
          filter.length === 0 ? 0 : bucket(filter.length),
        )
        // padding keys are NULL, which matches no row
        const params: unknown[] = chunk.length === 1 ? chunk : padWith(chunk, bucket(chunk.length), null)
        if (filter.length > 0) params.push(...padWith(filter, bucket(filter.length), filter.at(-1)))
        // a row of a query of several keys starts with its key's place in the chunk
        const first = select.keyed ? 1 : 0
        const rows = select.statement.all(...params)
        sinceYield += rows.length
        for (const raw of rows) {
          const columns = (select.arrays ? raw : Object.values(raw as object)) as unknown[]
          const u = start + (select.keyed ? (columns[0] as number) : 0)
          let row = found[u]
          if (row === undefined) {
            row = { eventTs: Number.NEGATIVE_INFINITY, values: new Array(features.length).fill(undefined) }
            found[u] = row
          }
          const at = featureAt.get(columns[first] as string)
          const value = columns[first + 1] as Uint8Array | null
          if (at) for (const i of at) row.values[i] = value ?? EMPTY
          const ts = eventMicros(columns[first + 2])
          if (ts > row.eventTs) row.eventTs = ts
        }
      }
    } catch (e) {
      throw this.#translate(e, view)
    }
    this.#tables.add(tableName(view))
    found.forEach((stored, u) => {
      if (stored) for (const i of askedAt[u]!) result[i] = stored
    })
    return result
  }

  /**
   * The SELECT of `keyCount` keys (and `featureCount` feature names, 0 for all). Several keys are
   * joined from a VALUES list of (place, key), so a row names its key by place instead of copying the
   * key's bytes out of SQLite; CROSS JOIN keeps the list as the outer loop, one index lookup per key.
   */
  #select(view: ViewRef, keyCount: number, featureCount: number): Select {
    const table = quoteIdent(tableName(view))
    const keyed = keyCount > 1
    const places = Array.from({ length: keyCount }, (_, i) => `(${i}, ?)`).join(', ')
    const sql =
      (keyed
        ? `WITH k(place, key) AS (VALUES ${places}) SELECT k.place, t.feature_name, t.value, t.event_ts FROM k CROSS JOIN ${table} AS t ON t.entity_key = k.key`
        : `SELECT feature_name, value, event_ts FROM ${table} AS t WHERE entity_key = ?`) +
      (featureCount > 0 ? ` AND t.feature_name IN (${marks(featureCount)})` : '')
    let select = this.#selects.get(sql)
    if (!select) {
      const statement = this.#prepare(sql, view)
      const arrays = typeof statement.raw === 'function'
      if (arrays) statement.raw!(true)
      select = { statement, arrays, keyed }
      this.#selects.set(sql, select)
    }
    return select
  }

  #insert(view: ViewRef): Insert {
    const name = tableName(view)
    let insert = this.#inserts.get(name)
    if (insert) return insert
    let columns = this.#db.prepare(`PRAGMA table_info(${quoteIdent(name)})`).all() as { name: string }[]
    if (columns.length === 0 && this.#recreated) {
      // a database this store created after the previous file was deleted: its tables come with writes
      this.#transaction(() => this.#createTable(name))
      columns = this.#db.prepare(`PRAGMA table_info(${quoteIdent(name)})`).all() as { name: string }[]
    }
    if (columns.length === 0) throw missingStorage(view, this.#where)
    this.#tables.add(name)
    const withText = columns.some((c) => c.name === 'value_text')
    const table = quoteIdent(name)
    const storedSeconds =
      `CASE WHEN typeof(${table}.event_ts) = 'text' ` +
      `THEN CAST(strftime('%s', ${table}.event_ts) AS INTEGER) ELSE ${table}.event_ts END`
    const sql =
      `INSERT INTO ${table} (entity_key, feature_name, value, ${withText ? 'value_text, ' : ''}event_ts, created_ts) ` +
      `VALUES (?, ?, ?, ${withText ? '?, ' : ''}?, ?) ` +
      'ON CONFLICT (entity_key, feature_name) DO UPDATE SET value = excluded.value, ' +
      `${withText ? 'value_text = excluded.value_text, ' : ''}event_ts = excluded.event_ts, created_ts = excluded.created_ts ` +
      `WHERE ${table}.event_ts IS NULL OR excluded.event_ts >= ${storedSeconds}`
    insert = { statement: this.#prepare(sql, view), withText }
    this.#inserts.set(name, insert)
    return insert
  }

  #prepare(sql: string, view: ViewRef): SqliteStatement {
    try {
      return this.#db.prepare(sql)
    } catch (e) {
      throw this.#translate(e, view)
    }
  }

  #transaction(body: () => void): void {
    this.#db.exec('BEGIN IMMEDIATE')
    try {
      body()
      this.#db.exec('COMMIT')
    } catch (e) {
      this.#db.exec('ROLLBACK')
      throw e
    }
  }

  #translate(e: unknown, view: ViewRef): unknown {
    if (e instanceof Error && /no such table/i.test(e.message)) {
      this.#forgetStatements()
      return missingStorage(view, this.#where, e)
    }
    return e
  }

  #forgetStatements(): void {
    this.#selects.clear()
    this.#inserts.clear()
  }
}

/** Opens a connection as the store uses it: WAL (readers never block), NORMAL sync, 5 s busy timeout. */
function configure(db: SqliteDatabase): void {
  db.exec('PRAGMA journal_mode = WAL')
  db.exec('PRAGMA synchronous = NORMAL')
  db.exec('PRAGMA busy_timeout = 5000')
}

function fileId(path: string): FileId {
  const stats = statSync(path)
  return { dev: stats.dev, ino: stats.ino }
}

/** The file's identity, or undefined (not followed) when there is no file at the path. */
function existingFileId(path: string): FileId | undefined {
  try {
    return fileId(path)
  } catch {
    return undefined
  }
}

/** `event_ts` as Feast stores it (INTEGER seconds since 0.42, ISO text before) in microseconds. */
function eventMicros(value: unknown): Micros {
  if (typeof value === 'number') return Math.round(value * SEC)
  if (typeof value === 'bigint') return Number(value) * SEC
  if (typeof value === 'string') {
    return /^-?\d+(\.\d+)?$/.test(value) ? Math.round(Number(value) * SEC) : toMicros(value, 'event_ts')
  }
  return 0
}

function bucket(n: number): number {
  let b = 1
  while (b < n) b *= 2
  return Math.min(b, MAX_KEYS)
}

/** `items` followed by `filler` up to `size` items. */
function padWith<T, F>(items: readonly T[], size: number, filler: F): (T | F)[] {
  const out: (T | F)[] = items.slice()
  while (out.length < size) out.push(filler)
  return out
}

function marks(n: number): string {
  return new Array(n).fill('?').join(', ')
}
