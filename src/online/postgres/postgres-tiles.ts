import type pg from 'pg'
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
  sortedIds,
  splitExpired,
  tileDeltas,
  tileTables,
} from '../tile-support.js'

/** Keys per SELECT of `readTiles`. */
const MAX_KEYS = 10_000
/** PostgreSQL cuts longer identifiers (NAMEDATALEN − 1 bytes). */
const MAX_IDENTIFIER_BYTES = 63
/** Attempts of a transaction PostgreSQL aborted to break a deadlock (40P01). */
const DEADLOCK_ATTEMPTS = 5

interface Names {
  readonly tiles: string
  readonly marks: string
  /** The tables, schema-qualified and quoted. */
  readonly t: string
  readonly m: string
}

type Row = [Buffer, string, string, string]

/**
 * The tiles of the PostgreSQL online store, in two tables per stream view in `db_schema`, created on
 * first use (under an advisory lock, so two processes starting together do not collide):
 * `"<project>_<view>__tiles"` (entity_key BYTEA, tile BIGINT, newest_ts BIGINT, states TEXT — a JSON
 * array of each aggregation's state in its text form or null; PRIMARY KEY (entity_key, tile); an index
 * on tile) and `"<project>_<view>__tile_marks"` (id TEXT PRIMARY KEY, marked_at BIGINT, the `now` of
 * the apply; an index on marked_at).
 *
 * Each `applyTiles` is one transaction: `INSERT … ON CONFLICT DO NOTHING RETURNING id` into the marks
 * (ids in sorted order) decides which events are new; their tiles are inserted when absent (sorted by
 * entity key and tile, `ON CONFLICT DO NOTHING RETURNING`), the others locked with `SELECT … ORDER BY
 * entity_key, tile FOR UPDATE`, merged in JS and updated. Every process takes marks, then tiles, each
 * in one order, so none deadlocks with another or loses an update; a transaction PostgreSQL still
 * aborts as a deadlock is retried whole (its marks rolled back with it). Expired tiles and marks older
 * than `MARK_RETENTION_MICROS` are deleted in a statement of their own, once per tile boundary.
 */
export class PostgresTiles implements TileStore {
  readonly #pool: pg.Pool
  readonly #schema: string
  readonly #where: string
  /** Tile tables this store has created or seen. */
  readonly #ready = new Set<string>()
  /** The oldest live tile each view's tables were last cleaned up to. */
  readonly #cleaned = new Map<string, number>()

  /** Uses the store's pool; `where` names the server and schema in messages. */
  constructor(pool: pg.Pool, schema: string, where: string) {
    this.#pool = pool
    this.#schema = schema
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
    const names = this.#names(view, true)!
    const { live, expired, oldest } = splitExpired(view, writes, now)
    if (live.length === 0) return { applied: 0, duplicates: 0, expired }
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#ensure(names)
        await this.#cleanup(names, now, oldest)
        const applied = await this.#retrying(() =>
          this.#transaction((client) => this.#apply(client, view, names, live, now)),
        )
        return { applied, duplicates: live.length - applied, expired }
      } catch (e) {
        // another process dropped the tables since this one created them
        if (attempt > 1 || code(e) !== '42P01') throw e
        this.#forget(names)
      }
    }
  }

  async releaseMarks(view: TileViewRef, writes: readonly TileWrite[], opts?: Abortable): Promise<void> {
    checkAborted(opts)
    const names = this.#names(view, true)!
    if (writes.length === 0) return
    try {
      await this.#retrying(() =>
        this.#pool.query(`DELETE FROM ${names.m} WHERE id = ANY($1::text[])`, [sortedIds(writes)]),
      )
    } catch (e) {
      if (code(e) !== '42P01') throw e
      this.#forget(names)
    }
  }

  async readTiles(
    view: TileViewRef,
    keys: readonly Uint8Array[],
    fromTile: number,
    opts?: Abortable,
  ): Promise<(readonly StoredTile[])[]> {
    checkAborted(opts)
    const names = this.#names(view, true)!
    const found = new Map<string, StoredTile[]>()
    const unique = [...new Map(keys.map((k) => [bytesId(k), asBuffer(k)])).values()]
    try {
      for (let start = 0; start < unique.length; start += MAX_KEYS) {
        const { rows } = await this.#pool.query<Row>({
          text:
            `SELECT entity_key, tile, newest_ts, states FROM ${names.t} ` +
            'WHERE entity_key = ANY($1::bytea[]) AND tile >= $2::int8 ORDER BY entity_key, tile',
          values: [unique.slice(start, start + MAX_KEYS), String(fromTile)],
          rowMode: 'array',
        })
        for (const row of rows) {
          const id = bytesId(row[0])
          let list = found.get(id)
          if (list === undefined) {
            list = []
            found.set(id, list)
          }
          list.push(storedTile(view, row))
        }
      }
    } catch (e) {
      if (code(e) !== '42P01') throw e
      this.#forget(names)
    }
    return keys.map((k) => found.get(bytesId(k)) ?? [])
  }

  async dropTiles(view: TileViewRef, opts?: Abortable): Promise<void> {
    checkAborted(opts)
    await this.drop([view])
  }

  /**
   * Drops the tile tables of these views when they exist (also for `ViewRef`s of the same views), in
   * one transaction. A view whose tile table names would be too long has none, and is passed over.
   */
  async drop(views: readonly { readonly project: string; readonly name: string }[]): Promise<void> {
    const all = views.map((v) => this.#names(v, false)).filter((n) => n !== undefined)
    if (all.length === 0) return
    await this.#transaction(async (client) => {
      for (const names of all) await client.query(`DROP TABLE IF EXISTS ${names.t}, ${names.m}`)
    })
    for (const names of all) this.#forget(names)
  }

  /** Applies the live writes in the caller's transaction; returns the number of new ids applied. */
  async #apply(
    client: pg.PoolClient,
    view: TileViewRef,
    names: Names,
    live: readonly TileWrite[],
    now: Micros,
  ): Promise<number> {
    const marked = await client.query<[string]>({
      text:
        `INSERT INTO ${names.m} (id, marked_at) SELECT u.id, $2::int8 ` +
        'FROM unnest($1::text[]) WITH ORDINALITY AS u(id, n) ORDER BY u.n ON CONFLICT DO NOTHING RETURNING id',
      values: [sortedIds(live), String(now)],
      rowMode: 'array',
    })
    const fresh = new Set(marked.rows.map((r) => r[0]))
    const deltas = tileDeltas(view, firstOfEachId(live, fresh))
    if (deltas.length === 0) return 0
    const inserted = await client.query<[Buffer, string]>({
      text:
        `INSERT INTO ${names.t} (entity_key, tile, newest_ts, states) SELECT u.k, u.t, u.n, u.s ` +
        'FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::text[]) WITH ORDINALITY AS u(k, t, n, s, o) ' +
        'ORDER BY u.o ON CONFLICT DO NOTHING RETURNING entity_key, tile',
      values: [
        deltas.map((d) => d.entityKey),
        deltas.map((d) => String(d.tile)),
        deltas.map((d) => String(d.newestTs)),
        deltas.map((d) => encodeTileStates(d.states)),
      ],
      rowMode: 'array',
    })
    const done = new Set(inserted.rows.map(([k, t]) => `${t}:${bytesId(k)}`))
    const rest = deltas.filter((d) => !done.has(`${d.tile}:${bytesId(d.entityKey)}`))
    if (rest.length === 0) return fresh.size
    const locked = await client.query<Row>({
      text:
        `SELECT t.entity_key, t.tile, t.newest_ts, t.states FROM ${names.t} AS t ` +
        'JOIN unnest($1::bytea[], $2::int8[]) AS u(k, i) ON t.entity_key = u.k AND t.tile = u.i ' +
        'ORDER BY t.entity_key, t.tile FOR UPDATE OF t',
      values: [rest.map((d) => d.entityKey), rest.map((d) => String(d.tile))],
      rowMode: 'array',
    })
    const stored = new Map(locked.rows.map((row) => [`${row[1]}:${bytesId(row[0])}`, storedTile(view, row)]))
    const merged = rest.map((d) => mergeTile(view, stored.get(`${d.tile}:${bytesId(d.entityKey)}`), d))
    await client.query(
      `UPDATE ${names.t} AS t SET newest_ts = u.n, states = u.s ` +
        'FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::text[]) AS u(k, i, n, s) ' +
        'WHERE t.entity_key = u.k AND t.tile = u.i',
      [
        rest.map((d) => d.entityKey),
        merged.map((t) => String(t.tile)),
        merged.map((t) => String(t.newestTs)),
        merged.map((t) => encodeTileStates(t.states)),
      ],
    )
    return fresh.size
  }

  /**
   * Deletes the view's expired tiles and forgotten marks when the oldest live tile moved since this
   * store last did; a deadlock leaves it to the next apply.
   */
  async #cleanup(names: Names, now: Micros, oldest: number): Promise<void> {
    if ((this.#cleaned.get(names.tiles) ?? Number.NEGATIVE_INFINITY) >= oldest) return
    try {
      await this.#pool.query(`DELETE FROM ${names.t} WHERE tile < $1::int8`, [String(oldest)])
      await this.#pool.query(`DELETE FROM ${names.m} WHERE marked_at < $1::int8`, [
        String(now - MARK_RETENTION_MICROS),
      ])
      this.#cleaned.set(names.tiles, oldest)
    } catch (e) {
      if (code(e) !== '40P01') throw e
    }
  }

  /**
   * Creates the schema and the tile tables unless they exist. DDL runs only for missing tables, under
   * an advisory lock: concurrent `CREATE … IF NOT EXISTS` can collide in the catalog, and
   * `CREATE INDEX IF NOT EXISTS` on a table in use would lock it against the applies using it.
   */
  async #ensure(names: Names): Promise<void> {
    if (this.#ready.has(names.tiles)) return
    const missing = async (client: pg.PoolClient | pg.Pool) => {
      const { rows } = await client.query<[string | null, string | null]>({
        text: 'SELECT to_regclass($1), to_regclass($2)',
        values: [names.t, names.m],
        rowMode: 'array',
      })
      return { tiles: rows[0]![0] === null, marks: rows[0]![1] === null }
    }
    const create = () =>
      this.#transaction(async (client) => {
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`larder tiles ${this.#schema}`])
        const schema = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.#schema])
        if (schema.rowCount === 0)
          await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.#schema)}`)
        const absent = await missing(client)
        if (absent.tiles) {
          await client.query(
            `CREATE TABLE ${names.t} (entity_key BYTEA NOT NULL, tile BIGINT NOT NULL, ` +
              'newest_ts BIGINT NOT NULL, states TEXT NOT NULL, PRIMARY KEY (entity_key, tile))',
          )
          await client.query(`CREATE INDEX ${quoteIdent(`${names.tiles}_tile`)} ON ${names.t} (tile)`)
        }
        if (absent.marks) {
          await client.query(
            `CREATE TABLE ${names.m} (id TEXT NOT NULL PRIMARY KEY, marked_at BIGINT NOT NULL)`,
          )
          await client.query(`CREATE INDEX ${quoteIdent(`${names.marks}_at`)} ON ${names.m} (marked_at)`)
        }
      })
    const absent = await missing(this.#pool)
    if (absent.tiles || absent.marks) {
      try {
        await create()
      } catch (e) {
        // the schema was created at the same time by a process not holding the lock (`update`)
        if (!['23505', '42P06'].includes(code(e) ?? '')) throw e
        await create()
      }
    }
    this.#ready.add(names.tiles)
  }

  /**
   * The view's tile table names; when one would be longer than PostgreSQL keeps, INVALID_DEFINITION
   * (`strict`) or undefined.
   */
  #names(view: { readonly project: string; readonly name: string }, strict: boolean): Names | undefined {
    const { tiles, marks } = tileTables(view)
    const longest = `${marks}_at`
    if (Buffer.byteLength(longest) > MAX_IDENTIFIER_BYTES) {
      if (!strict) return undefined
      const room =
        MAX_IDENTIFIER_BYTES - Buffer.byteLength(longest) + Buffer.byteLength(`${view.project}_${view.name}`)
      throw new LarderError(
        'INVALID_DEFINITION',
        `the tile tables of stream feature view "${view.name}" in project "${view.project}" would need names longer than ${MAX_IDENTIFIER_BYTES} bytes in ${this.#where}`,
        {
          hint: `shorten the project and view names to at most ${room} bytes together (with the "_" between them)`,
        },
      )
    }
    const schema = quoteIdent(this.#schema)
    return { tiles, marks, t: `${schema}.${quoteIdent(tiles)}`, m: `${schema}.${quoteIdent(marks)}` }
  }

  #forget(names: Names): void {
    this.#ready.delete(names.tiles)
    this.#cleaned.delete(names.tiles)
  }

  /** Runs `body` again when PostgreSQL aborted it to break a deadlock. */
  async #retrying<T>(body: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await body()
      } catch (e) {
        if (attempt >= DEADLOCK_ATTEMPTS || code(e) !== '40P01') throw e
      }
    }
  }

  async #transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect()
    try {
      await client.query('BEGIN')
      const result = await body(client)
      await client.query('COMMIT')
      return result
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {})
      throw e
    } finally {
      client.release()
    }
  }
}

function storedTile(view: TileViewRef, [, tile, newestTs, states]: Row): StoredTile {
  return { tile: Number(tile), newestTs: Number(newestTs), states: decodeTileStates(view, states) }
}

function code(e: unknown): string | undefined {
  return (e as { code?: string } | undefined)?.code
}
