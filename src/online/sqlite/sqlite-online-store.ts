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
} from '../store-support.js'
import type { StoredTile, TileApplyStats, TileStore, TileViewRef, TileWrite } from '../tile-store.js'
import type { SqliteDatabase, SqliteStatement } from './sqlite-database.js'
import { SqliteTiles } from './sqlite-tiles.js'

const SEC = 1_000_000
/** Keys per SELECT; key lists are padded to a power of two so few statements are prepared. */
const MAX_KEYS = 512
const EMPTY = new Uint8Array(0)

interface Select {
  readonly statement: SqliteStatement
  readonly arrays: boolean
  /** Whether the rows start with their entity key (queries of more than one key). */
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
 */
export class SqliteOnlineStore implements OnlineStore, TileStore {
  readonly type = 'sqlite'
  readonly capabilities: OnlineStoreCapabilities = Object.freeze({
    newerWins: true,
    nativeTtl: false,
    timestampResolutionMicros: SEC,
  })
  readonly #db: SqliteDatabase
  readonly #where: string
  readonly #selects = new Map<string, Select>()
  readonly #inserts = new Map<string, Insert>()
  readonly #tiles: SqliteTiles

  /** Takes ownership of an open database (better-sqlite3 or `node:sqlite`); `path` is for messages. */
  constructor(db: SqliteDatabase, path: string) {
    this.#db = db
    this.#where = `the SQLite database ${path}`
    db.exec('PRAGMA journal_mode = WAL')
    db.exec('PRAGMA synchronous = NORMAL')
    db.exec('PRAGMA busy_timeout = 5000')
    this.#tiles = new SqliteTiles(db, this.#where)
  }

  async update(plan: InfraPlan, opts?: Abortable): Promise<void> {
    checkAborted(opts)
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
      }
      for (const view of plan.keep) {
        const table = quoteIdent(tableName(view))
        this.#db.exec(
          `CREATE TABLE IF NOT EXISTS ${table} (entity_key BLOB, feature_name TEXT, value BLOB, value_text TEXT, ` +
            'vector_value BLOB, event_ts timestamp, created_ts timestamp, PRIMARY KEY(entity_key, feature_name))',
        )
        this.#db.exec(
          `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${tableName(view)}_ek`)} ON ${table} (entity_key)`,
        )
      }
    })
    this.#forgetStatements()
  }

  async write(view: ViewRef, rows: OnlineWriteBatch, opts?: Abortable): Promise<WriteStats> {
    checkAborted(opts)
    checkRows(view, rows)
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
    return this.#read(view, keys, features)
  }

  async readMany(requests: readonly OnlineReadRequest[], opts?: Abortable): Promise<OnlineReadResult[]> {
    checkAborted(opts)
    return requests.map((r) => this.#read(r.view, r.keys, r.features))
  }

  async hasRows(view: ViewRef, opts?: Abortable): Promise<boolean> {
    checkAborted(opts)
    try {
      return this.#db.prepare(`SELECT 1 FROM ${quoteIdent(tableName(view))} LIMIT 1`).get() !== undefined
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
    this.#transaction(() => {
      for (const view of [...plan.keep, ...plan.drop]) {
        this.#db.exec(`DROP TABLE IF EXISTS ${quoteIdent(tableName(view))}`)
        this.#tiles.drop(view)
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
    return this.#tiles.applyTiles(view, writes, now, opts)
  }

  releaseMarks(view: TileViewRef, writes: readonly TileWrite[], opts?: Abortable): Promise<void> {
    return this.#tiles.releaseMarks(view, writes, opts)
  }

  readTiles(
    view: TileViewRef,
    keys: readonly Uint8Array[],
    fromTile: number,
    opts?: Abortable,
  ): Promise<(readonly StoredTile[])[]> {
    return this.#tiles.readTiles(view, keys, fromTile, opts)
  }

  dropTiles(view: TileViewRef, opts?: Abortable): Promise<void> {
    return this.#tiles.dropTiles(view, opts)
  }

  async close(): Promise<void> {
    this.#forgetStatements()
    this.#db.close()
  }

  #read(view: ViewRef, keys: readonly Uint8Array[], features: readonly string[]): OnlineReadResult {
    const result: (OnlineRow | undefined)[] = new Array(keys.length).fill(undefined)
    if (keys.length === 0) return result
    const keyAt = new Map<string, number[]>()
    const unique: Buffer[] = []
    keys.forEach((key, i) => {
      const id = bytesId(key)
      const at = keyAt.get(id)
      if (at) at.push(i)
      else {
        keyAt.set(id, [i])
        unique.push(asBuffer(key))
      }
    })
    const featureAt = positions(features)
    const viewNames = new Set(view.features.map((f) => f.name))
    const filter =
      features.length === 0 ||
      (featureAt.size === viewNames.size && [...featureAt.keys()].every((f) => viewNames.has(f)))
        ? []
        : [...featureAt.keys()]
    const found = new Map<string, MutableRow>()
    // SQLite returns the rows of one key together: compare with the previous key before hashing
    let lastKey: Buffer | undefined
    let row: MutableRow | undefined
    try {
      for (let start = 0; start < unique.length; start += MAX_KEYS) {
        const chunk = unique.slice(start, start + MAX_KEYS)
        const select = this.#select(
          view,
          bucket(chunk.length),
          filter.length === 0 ? 0 : bucket(filter.length),
        )
        const params: unknown[] = pad(chunk, bucket(chunk.length))
        if (filter.length > 0) params.push(...pad(filter, bucket(filter.length)))
        // a one-key query does not select the key (copying it out of every row costs as much as the read)
        const first = select.keyed ? 1 : 0
        for (const raw of select.statement.all(...params)) {
          const columns = (select.arrays ? raw : Object.values(raw as object)) as unknown[]
          const key = select.keyed ? asBuffer(columns[0] as Uint8Array) : chunk[0]!
          const featureName = columns[first] as string
          const value = columns[first + 1] as Uint8Array | null
          const eventTs = columns[first + 2]
          if (row === undefined || !key.equals(lastKey!)) {
            const id = bytesId(key)
            row = found.get(id)
            if (!row) {
              row = { eventTs: Number.NEGATIVE_INFINITY, values: new Array(features.length).fill(undefined) }
              found.set(id, row)
            }
            lastKey = key
          }
          const at = featureAt.get(featureName)
          if (at) for (const i of at) row.values[i] = value ?? EMPTY
          const ts = eventMicros(eventTs)
          if (ts > row.eventTs) row.eventTs = ts
        }
      }
    } catch (e) {
      throw this.#translate(e, view)
    }
    for (const [id, stored] of found) for (const i of keyAt.get(id)!) result[i] = stored
    return result
  }

  #select(view: ViewRef, keyCount: number, featureCount: number): Select {
    const table = quoteIdent(tableName(view))
    const keyed = keyCount > 1
    const sql =
      (keyed
        ? `SELECT entity_key, feature_name, value, event_ts FROM ${table} WHERE entity_key IN (${marks(keyCount)})`
        : `SELECT feature_name, value, event_ts FROM ${table} WHERE entity_key = ?`) +
      (featureCount > 0 ? ` AND feature_name IN (${marks(featureCount)})` : '')
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
    const columns = this.#db.prepare(`PRAGMA table_info(${quoteIdent(name)})`).all() as { name: string }[]
    if (columns.length === 0) throw missingStorage(view, this.#where)
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

function pad<T>(items: readonly T[], size: number): T[] {
  const out = items.slice()
  while (out.length < size) out.push(items[items.length - 1]!)
  return out
}

function marks(n: number): string {
  return new Array(n).fill('?').join(', ')
}
