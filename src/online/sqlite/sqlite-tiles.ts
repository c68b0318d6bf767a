import { LarderError, type Micros } from '../../core/index.js'
import type { Abortable } from '../online-store.js'
import { asBuffer, bytesId, checkAborted, quoteIdent } from '../store-support.js'
import {
  MARK_RETENTION_MICROS,
  type StoredTile,
  type TileApplyStats,
  type TileStore,
  type TileViewRef,
  type TileWrite,
} from '../tile-store.js'
import {
  checkTileWrites,
  decodeTileStates,
  encodeTileStates,
  firstOfEachId,
  mergeTile,
  splitExpired,
  tileDeltas,
  tileTables,
} from '../tile-support.js'
import type { SqliteDatabase } from './sqlite-database.js'

/** Keys per SELECT of `readTiles`. */
const MAX_KEYS = 500

/**
 * The tiles of the SQLite online store, in two tables per stream view, created on first use:
 * `"<project>_<view>__tiles"` (entity_key BLOB, tile INTEGER, newest_ts INTEGER, states TEXT — a JSON
 * array of each aggregation's state in its text form or null; PRIMARY KEY (entity_key, tile); an index
 * on tile for expiry) and `"<project>_<view>__tile_marks"` (id TEXT PRIMARY KEY, marked_at INTEGER, the
 * `now` of the apply; an index on marked_at). Tile indexes and times are 64-bit integers.
 *
 * Each `applyTiles` is one IMMEDIATE transaction (SQLite's single writer): it removes expired tiles and
 * marks, inserts the marks of the batch (`INSERT OR IGNORE`: an id already marked is a duplicate),
 * merges the new events into their tiles in JS and upserts them, so another process never sees a
 * half-applied batch and never loses an update.
 */
export class SqliteTiles implements TileStore {
  readonly #db: SqliteDatabase
  readonly #where: string
  /** Tile tables this connection has created or seen. */
  readonly #ready = new Set<string>()

  /** Uses the store's open database; `where` names it in messages. */
  constructor(db: SqliteDatabase, where: string) {
    this.#db = db
    this.#where = where
  }

  async applyTiles(
    view: TileViewRef,
    writes: readonly TileWrite[],
    now: Micros,
    opts?: Abortable,
  ): Promise<TileApplyStats> {
    checkAborted(opts)
    checkTileWrites(view, writes)
    const { live, expired, oldest } = splitExpired(view, writes, now)
    if (live.length === 0) return { applied: 0, duplicates: 0, expired }
    try {
      return { ...this.#apply(view, live, now, oldest), expired }
    } catch (e) {
      if (!isMissingTable(e)) throw e
      // another connection dropped the tables since this one created them
      this.#ready.clear()
      return { ...this.#apply(view, live, now, oldest), expired }
    }
  }

  async releaseMarks(view: TileViewRef, writes: readonly TileWrite[], opts?: Abortable): Promise<void> {
    checkAborted(opts)
    if (writes.length === 0) return
    const marks = quoteIdent(tileTables(view).marks)
    try {
      const remove = this.#db.prepare(`DELETE FROM ${marks} WHERE id = ?`)
      this.#transaction(() => {
        for (const id of new Set(writes.map((w) => w.id))) remove.run(id)
      })
    } catch (e) {
      if (!isMissingTable(e)) throw e
    }
  }

  async readTiles(
    view: TileViewRef,
    keys: readonly Uint8Array[],
    fromTile: number,
    opts?: Abortable,
  ): Promise<(readonly StoredTile[])[]> {
    checkAborted(opts)
    const found = new Map<string, StoredTile[]>()
    const unique = [...new Map(keys.map((k) => [bytesId(k), asBuffer(k)])).values()]
    const tiles = quoteIdent(tileTables(view).tiles)
    try {
      for (let start = 0; start < unique.length; start += MAX_KEYS) {
        const chunk = unique.slice(start, start + MAX_KEYS)
        const rows = this.#db
          .prepare(
            `SELECT entity_key, tile, newest_ts, states FROM ${tiles} ` +
              `WHERE entity_key IN (${chunk.map(() => '?').join(', ')}) AND tile >= ? ORDER BY entity_key, tile`,
          )
          .all(...chunk, fromTile) as {
          entity_key: Uint8Array
          tile: number
          newest_ts: number
          states: string
        }[]
        for (const row of rows) {
          const id = bytesId(row.entity_key)
          let list = found.get(id)
          if (list === undefined) {
            list = []
            found.set(id, list)
          }
          list.push({
            tile: Number(row.tile),
            newestTs: Number(row.newest_ts),
            states: decodeTileStates(view, row.states),
          })
        }
      }
    } catch (e) {
      if (!isMissingTable(e)) throw e
      this.#ready.delete(tileTables(view).tiles)
    }
    return keys.map((k) => found.get(bytesId(k)) ?? [])
  }

  async dropTiles(view: TileViewRef, opts?: Abortable): Promise<void> {
    checkAborted(opts)
    this.#transaction(() => this.drop(view))
  }

  /** Drops the view's tile tables when they exist (also for a `ViewRef` of the same view), in the caller's transaction. */
  drop(view: { readonly project: string; readonly name: string }): void {
    const { tiles, marks } = tileTables(view)
    this.#db.exec(`DROP TABLE IF EXISTS ${quoteIdent(tiles)}`)
    this.#db.exec(`DROP TABLE IF EXISTS ${quoteIdent(marks)}`)
    this.#ready.delete(tiles)
  }

  #apply(
    view: TileViewRef,
    live: readonly TileWrite[],
    now: Micros,
    oldest: number,
  ): { applied: number; duplicates: number } {
    const { tiles, marks } = tileTables(view)
    const [t, m] = [quoteIdent(tiles), quoteIdent(marks)]
    let fresh = new Set<string>()
    this.#transaction(() => {
      this.#create(tiles, marks)
      this.#db.prepare(`DELETE FROM ${t} WHERE tile < ?`).run(oldest)
      this.#db.prepare(`DELETE FROM ${m} WHERE marked_at < ?`).run(now - MARK_RETENTION_MICROS)
      const mark = this.#db.prepare(`INSERT OR IGNORE INTO ${m} (id, marked_at) VALUES (?, ?)`)
      fresh = new Set(live.filter((w) => Number(mark.run(w.id, now).changes) > 0).map((w) => w.id))
      const select = this.#db.prepare(`SELECT newest_ts, states FROM ${t} WHERE entity_key = ? AND tile = ?`)
      const upsert = this.#db.prepare(
        `INSERT INTO ${t} (entity_key, tile, newest_ts, states) VALUES (?, ?, ?, ?) ` +
          'ON CONFLICT (entity_key, tile) DO UPDATE SET newest_ts = excluded.newest_ts, states = excluded.states',
      )
      for (const delta of tileDeltas(view, firstOfEachId(live, fresh))) {
        const row = select.get(delta.entityKey, delta.tile) as
          | { newest_ts: number; states: string }
          | undefined
        const stored = row && {
          tile: delta.tile,
          newestTs: Number(row.newest_ts),
          states: decodeTileStates(view, row.states),
        }
        const merged = mergeTile(view, stored, delta)
        upsert.run(delta.entityKey, delta.tile, merged.newestTs, encodeTileStates(merged.states))
      }
    })
    return { applied: fresh.size, duplicates: live.length - fresh.size }
  }

  /** Creates the tile tables unless this connection knows they exist (inside the apply's transaction). */
  #create(tiles: string, marks: string): void {
    if (this.#ready.has(tiles)) return
    if (tiles.toLowerCase().startsWith('sqlite_')) {
      throw new LarderError(
        'INVALID_CONFIG',
        `cannot create the tile table "${tiles}" in ${this.#where}: SQLite reserves table names starting with "sqlite_"`,
        { hint: 'rename the project, or choose another online store' },
      )
    }
    this.#db.exec(
      `CREATE TABLE IF NOT EXISTS ${quoteIdent(tiles)} (entity_key BLOB NOT NULL, tile INTEGER NOT NULL, ` +
        'newest_ts INTEGER NOT NULL, states TEXT NOT NULL, PRIMARY KEY (entity_key, tile))',
    )
    this.#db.exec(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${tiles}_tile`)} ON ${quoteIdent(tiles)} (tile)`)
    this.#db.exec(
      `CREATE TABLE IF NOT EXISTS ${quoteIdent(marks)} (id TEXT NOT NULL PRIMARY KEY, marked_at INTEGER NOT NULL)`,
    )
    this.#db.exec(
      `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${marks}_at`)} ON ${quoteIdent(marks)} (marked_at)`,
    )
    this.#ready.add(tiles)
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
}

function isMissingTable(e: unknown): boolean {
  return e instanceof Error && /no such table/i.test(e.message)
}
