import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type pg from 'pg'
import copyStreams from 'pg-copy-streams'
import type { Micros } from '../../core/index.js'
import type {
  Abortable,
  InfraPlan,
  OnlineReadRequest,
  OnlineReadResult,
  OnlineRow,
  OnlineStore,
  OnlineStoreCapabilities,
  OnlineWriteBatch,
  OnlineWriteRow,
  ViewRef,
  WriteStats,
} from '../online-store.js'
import {
  asBuffer,
  bytesId,
  checkAborted,
  checkRows,
  missingStorage,
  newestPerKey,
  positions,
  quoteIdent,
  tableName,
  valueText,
} from '../store-support.js'
import type { StoredTile, TileApplyStats, TileStore, TileViewRef, TileWrite } from '../tile-store.js'
import { PostgresTiles } from './postgres-tiles.js'

/** Feature rows from which a write goes through COPY into a staging table instead of one INSERT. */
const COPY_FROM_FEATURE_ROWS = 2000
/** Keys per SELECT. */
const MAX_KEYS = 10_000
const EMPTY = new Uint8Array(0)
const STAGE = 'larder_online_stage'
const PG_EPOCH_MICROS = 946_684_800_000_000

interface Table {
  readonly name: string
  /** Tables from Feast before value_text have no such column. */
  readonly withText: boolean
}

interface MutableRow {
  eventTs: Micros
  readonly values: (Uint8Array | undefined)[]
}

/** How the store stops a statement on the server. */
export interface PostgresStoreOptions {
  /**
   * Cancels the statement the server process `processId` is running (`pg_cancel_backend` over a
   * connection of its own). Given, an aborted read or write stops on the server too; without it, an
   * aborted call only stops waiting and issues no further statement.
   */
  readonly cancel?: (processId: number) => Promise<void>
}

/**
 * Feast's Postgres online store: a table `"<project>_<view>"` per view in `db_schema`, one row per
 * (entity key, feature) with BYTEA keys and values and TIMESTAMPTZ times (kept to the microsecond).
 *
 * Newer wins: the upsert (`INSERT … ON CONFLICT (entity_key, feature_name) DO UPDATE … WHERE`)
 * replaces a stored row only when the new event timestamp is at least the stored one (Feast upserts
 * unconditionally). Small batches go in one INSERT from `unnest` arrays; from 2,000 feature rows a
 * batch is streamed with binary COPY into a temporary table and upserted from there, in one
 * transaction either way. Reads use `entity_key = ANY($1)`, as prepared statements.
 *
 * Tiles of stream feature views (`TileStore`, see `postgres-tiles.ts`) live in two more tables per
 * view in `db_schema`, `"<project>_<view>__tiles"` (entity_key BYTEA, tile BIGINT, newest_ts BIGINT,
 * states TEXT: a JSON array of state texts) and `"<project>_<view>__tile_marks"` (id TEXT PRIMARY
 * KEY, marked_at BIGINT), created on first use; each `applyTiles` is one transaction that marks the
 * ids and locks the tiles in sorted order. `teardown` and `update` (for dropped views) drop them too.
 */
export class PostgresOnlineStore implements OnlineStore, TileStore {
  readonly type = 'postgres'
  readonly capabilities: OnlineStoreCapabilities = Object.freeze({
    newerWins: true,
    nativeTtl: false,
    timestampResolutionMicros: 1,
  })
  readonly #pool: pg.Pool
  readonly #schema: string
  readonly #where: string
  readonly #tables = new Map<string, Table>()
  readonly #tiles: PostgresTiles
  readonly #cancel: ((processId: number) => Promise<void>) | undefined

  /**
   * Takes ownership of a connected pool; `where` names the server in messages; `options.cancel` stops
   * the statements of aborted calls on the server.
   */
  constructor(pool: pg.Pool, schema: string, where: string, options: PostgresStoreOptions = {}) {
    this.#pool = pool
    this.#schema = schema
    this.#where = where
    this.#cancel = options.cancel
    this.#tiles = new PostgresTiles(pool, schema, where)
  }

  async update(plan: InfraPlan, opts?: Abortable): Promise<void> {
    checkAborted(opts)
    if (plan.drop.length > 0) await this.#tiles.drop(plan.drop)
    await this.#transaction(async (client) => {
      if (plan.keep.length > 0) {
        const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.#schema])
        if (exists.rowCount === 0)
          await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.#schema)}`)
      }
      for (const view of plan.drop) await client.query(`DROP TABLE IF EXISTS ${this.#qualified(view)}`)
      for (const view of plan.keep) {
        const table = this.#qualified(view)
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${table} (entity_key BYTEA, feature_name TEXT, value BYTEA, ` +
            'value_text TEXT NULL, vector_value BYTEA NULL, event_ts TIMESTAMPTZ, created_ts TIMESTAMPTZ, ' +
            'PRIMARY KEY(entity_key, feature_name))',
        )
        await client.query(
          `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${tableName(view)}_ek`)} ON ${table} (entity_key)`,
        )
      }
    })
    this.#tables.clear()
  }

  async write(view: ViewRef, rows: OnlineWriteBatch, opts?: Abortable): Promise<WriteStats> {
    checkAborted(opts)
    checkRows(view, rows)
    if (rows.length === 0) return { written: 0, skipped: 0 }
    const table = await this.#table(view)
    const newest = newestPerKey(rows).rows
    let written = 0
    try {
      await this.#transaction(async (client) => {
        written =
          newest.length * view.features.length >= COPY_FROM_FEATURE_ROWS
            ? await this.#copyUpsert(client, view, table, newest, opts)
            : await this.#insertUpsert(client, view, table, newest)
      }, opts)
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
    return this.#read(view, keys, features, opts)
  }

  async readMany(requests: readonly OnlineReadRequest[], opts?: Abortable): Promise<OnlineReadResult[]> {
    checkAborted(opts)
    return Promise.all(requests.map((r) => this.#read(r.view, r.keys, r.features, opts)))
  }

  async hasRows(view: ViewRef, opts?: Abortable): Promise<boolean> {
    checkAborted(opts)
    try {
      const { rows } = await this.#pool.query(`SELECT 1 FROM ${this.#qualified(view)} LIMIT 1`)
      return rows.length > 0
    } catch (e) {
      if ((e as { code?: string })?.code === '42P01') return false
      throw e
    }
  }

  /** Drops the views' tables and their tile tables. */
  async teardown(plan: InfraPlan, opts?: Abortable): Promise<void> {
    await this.update({ keep: [], drop: [...plan.keep, ...plan.drop] }, opts)
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
    await this.#pool.end()
  }

  /**
   * Reads in SELECTs of up to MAX_KEYS keys on one connection. Once `opts.signal` fires, the SELECT in
   * flight is cancelled on the server and no further one is sent (see `#withClient`).
   */
  async #read(
    view: ViewRef,
    keys: readonly Uint8Array[],
    features: readonly string[],
    opts?: Abortable,
  ): Promise<OnlineReadResult> {
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
        ? undefined
        : [...featureAt.keys()]
    const text =
      'SELECT entity_key, feature_name, value, (EXTRACT(EPOCH FROM event_ts) * 1000000)::int8 ' +
      `FROM ${this.#qualified(view)} WHERE entity_key = ANY($1::bytea[])` +
      (filter ? ' AND feature_name = ANY($2::text[])' : '')
    const name = statementName(text)
    const found = new Map<string, MutableRow>()
    try {
      await this.#withClient(opts, async (client) => {
        for (let start = 0; start < unique.length; start += MAX_KEYS) {
          checkAborted(opts)
          const chunk = unique.slice(start, start + MAX_KEYS)
          const { rows } = await client.query<[Buffer, string, Buffer | null, string | null]>({
            name,
            text,
            values: filter ? [chunk, filter] : [chunk],
            rowMode: 'array',
          })
          for (const [entityKey, featureName, value, eventTs] of rows) {
            const id = entityKey.toString('latin1')
            let row = found.get(id)
            if (!row) {
              row = { eventTs: Number.NEGATIVE_INFINITY, values: new Array(features.length).fill(undefined) }
              found.set(id, row)
            }
            const at = featureAt.get(featureName)
            if (at) for (const i of at) row.values[i] = value ?? EMPTY
            const ts = eventTs === null ? 0 : Number(eventTs)
            if (ts > row.eventTs) row.eventTs = ts
          }
        }
      })
    } catch (e) {
      throw this.#translate(e, view)
    }
    for (const [id, row] of found) for (const i of keyAt.get(id)!) result[i] = row
    return result
  }

  /** Upserts from `unnest` arrays in one statement; returns the number of entity rows applied. */
  async #insertUpsert(
    client: pg.PoolClient,
    view: ViewRef,
    table: Table,
    rows: OnlineWriteRow[],
  ): Promise<number> {
    const keys: Buffer[] = []
    const names: string[] = []
    const values: Buffer[] = []
    const texts: (string | null)[] = []
    const events: string[] = []
    const created: (string | null)[] = []
    for (const row of rows) {
      const key = asBuffer(row.entityKey)
      const createdTs = row.createdTs === undefined ? null : String(row.createdTs)
      view.features.forEach((f, i) => {
        const value = asBuffer(row.values[i]!)
        keys.push(key)
        names.push(f.name)
        values.push(value)
        texts.push(table.withText ? valueText(value) : null)
        events.push(String(row.eventTs))
        created.push(createdTs)
      })
    }
    const source =
      'SELECT u.k, u.f, u.v, u.x, ' +
      "TIMESTAMPTZ 'epoch' + u.e * INTERVAL '1 microsecond', TIMESTAMPTZ 'epoch' + u.c * INTERVAL '1 microsecond' " +
      'FROM unnest($1::bytea[], $2::text[], $3::bytea[], $4::text[], $5::int8[], $6::int8[]) AS u(k, f, v, x, e, c)'
    const result = await client.query<{ written: number }>(this.#upsert(view, table, source), [
      keys,
      names,
      values,
      texts,
      events,
      created,
    ])
    return result.rows[0]!.written
  }

  /** Streams the rows with binary COPY into a temporary table and upserts from it. */
  async #copyUpsert(
    client: pg.PoolClient,
    view: ViewRef,
    table: Table,
    rows: OnlineWriteRow[],
    opts: Abortable | undefined,
  ): Promise<number> {
    await client.query(
      `CREATE TEMP TABLE IF NOT EXISTS ${STAGE} (entity_key BYTEA, feature_name TEXT, value BYTEA, ` +
        'value_text TEXT, event_ts TIMESTAMPTZ, created_ts TIMESTAMPTZ) ON COMMIT DELETE ROWS',
    )
    const copy = client.query(copyStreams.from(`COPY ${STAGE} FROM STDIN (FORMAT binary)`))
    await pipeline(Readable.from(binaryCopy(view, table, rows, opts)), copy)
    const source = `SELECT entity_key, feature_name, value, value_text, event_ts, created_ts FROM ${STAGE}`
    const result = await client.query<{ written: number }>(this.#upsert(view, table, source))
    return result.rows[0]!.written
  }

  /** The newer-wins upsert of `source`'s rows, counting the distinct entity keys it applied. */
  #upsert(view: ViewRef, table: Table, source: string): string {
    const columns = table.withText
      ? 'entity_key, feature_name, value, value_text, event_ts, created_ts'
      : 'entity_key, feature_name, value, event_ts, created_ts'
    const select = table.withText
      ? source
      : `SELECT s.entity_key, s.feature_name, s.value, s.event_ts, s.created_ts FROM (${source}) AS s(entity_key, feature_name, value, value_text, event_ts, created_ts)`
    return (
      `WITH up AS (INSERT INTO ${this.#qualified(view)} AS t (${columns}) ${select} ` +
      'ON CONFLICT (entity_key, feature_name) DO UPDATE SET value = EXCLUDED.value, ' +
      `${table.withText ? 'value_text = EXCLUDED.value_text, ' : ''}` +
      'event_ts = EXCLUDED.event_ts, created_ts = EXCLUDED.created_ts ' +
      'WHERE t.event_ts IS NULL OR t.event_ts <= EXCLUDED.event_ts RETURNING entity_key) ' +
      'SELECT count(DISTINCT entity_key)::int AS written FROM up'
    )
  }

  async #table(view: ViewRef): Promise<Table> {
    const name = tableName(view)
    let table = this.#tables.get(name)
    if (table) return table
    const { rows } = await this.#pool.query<{ column_name: string }>(
      'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
      [this.#schema, name],
    )
    if (rows.length === 0) throw missingStorage(view, this.#where)
    table = { name, withText: rows.some((r) => r.column_name === 'value_text') }
    this.#tables.set(name, table)
    return table
  }

  /**
   * Runs `body` in a transaction on one connection, rolled back when it fails; an abort of
   * `opts.signal` cancels the statement in flight (see `#withClient`), so the transaction rolls back.
   */
  async #transaction(body: (client: pg.PoolClient) => Promise<void>, opts?: Abortable): Promise<void> {
    await this.#withClient(opts, async (client) => {
      try {
        await client.query('BEGIN')
        await body(client)
        await client.query('COMMIT')
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {})
        throw e
      }
    })
  }

  /**
   * Runs `work` on a connection of the pool. When `opts.signal` fires meanwhile, the statement the
   * connection runs is cancelled on the server (through `options.cancel`) and the call rejects with
   * the signal's reason; that connection is then closed rather than reused, after the cancel is done,
   * so a late cancel can never reach another caller's statement.
   */
  async #withClient<T>(opts: Abortable | undefined, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const signal = opts?.signal
    checkAborted(opts)
    const client = await this.#pool.connect()
    let cancelled: Promise<void> | undefined
    const onAbort = () => {
      const processId = (client as { processID?: number }).processID
      cancelled = processId && this.#cancel ? this.#cancel(processId).catch(() => {}) : Promise.resolve()
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      checkAborted(opts)
      return await work(client)
    } catch (e) {
      checkAborted(opts)
      throw e
    } finally {
      signal?.removeEventListener('abort', onAbort)
      if (cancelled) await cancelled
      client.release(cancelled !== undefined)
    }
  }

  #qualified(view: ViewRef): string {
    return `${quoteIdent(this.#schema)}.${quoteIdent(tableName(view))}`
  }

  #translate(e: unknown, view: ViewRef): unknown {
    if ((e as { code?: string })?.code === '42P01') {
      this.#tables.delete(tableName(view))
      return missingStorage(view, this.#where, e)
    }
    return e
  }
}

/** A prepared statement name for a query text (Postgres names are at most 63 bytes). */
function statementName(text: string): string {
  return `larder_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`
}

/** The rows in PostgreSQL's binary COPY format, about 1,000 tuples per chunk. */
function* binaryCopy(
  view: ViewRef,
  table: Table,
  rows: readonly OnlineWriteRow[],
  opts: Abortable | undefined,
): Generator<Buffer> {
  yield Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)])
  const names = view.features.map((f) => Buffer.from(f.name, 'utf8'))
  for (let start = 0; start < rows.length; start += 1000) {
    checkAborted(opts)
    const chunk = rows.slice(start, start + 1000)
    const texts = chunk.map((row) =>
      row.values.map((v) => {
        const text = table.withText ? valueText(v) : null
        return text === null ? null : Buffer.from(text, 'utf8')
      }),
    )
    let size = 0
    chunk.forEach((row, r) => {
      for (let i = 0; i < names.length; i++) {
        const text = texts[r]![i]!
        size += 2 + 4 + row.entityKey.length + 4 + names[i]!.length + 4 + row.values[i]!.length
        size += 4 + (text === null ? 0 : text.length) + 12 + 4 + (row.createdTs === undefined ? 0 : 8)
      }
    })
    const out = Buffer.allocUnsafe(size)
    let pos = 0
    const field = (bytes: Uint8Array) => {
      pos = out.writeInt32BE(bytes.length, pos)
      out.set(bytes, pos)
      pos += bytes.length
    }
    const timestamp = (micros: Micros | undefined) => {
      if (micros === undefined) {
        pos = out.writeInt32BE(-1, pos)
        return
      }
      const since = micros - PG_EPOCH_MICROS
      const hi = Math.floor(since / 4294967296)
      pos = out.writeInt32BE(8, pos)
      pos = out.writeInt32BE(hi, pos)
      pos = out.writeUInt32BE(since - hi * 4294967296, pos)
    }
    chunk.forEach((row, r) => {
      for (let i = 0; i < names.length; i++) {
        pos = out.writeInt16BE(6, pos)
        field(row.entityKey)
        field(names[i]!)
        field(row.values[i]!)
        const text = texts[r]![i]!
        if (text === null) pos = out.writeInt32BE(-1, pos)
        else field(text)
        timestamp(row.eventTs)
        timestamp(row.createdTs)
      }
    })
    yield out
  }
  yield Buffer.from([0xff, 0xff])
}
