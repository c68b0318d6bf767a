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
  ViewRef,
  WriteStats,
} from '../online-store.js'
import { bytesId, checkAborted, checkRows, missingStorage, tableName } from '../store-support.js'
import type { StoredTile, TileApplyStats, TileStore, TileViewRef, TileWrite } from '../tile-store.js'
import { MemoryTiles } from './memory-tiles.js'

interface StoredRow {
  readonly eventTs: Micros
  readonly values: ReadonlyMap<string, Uint8Array>
  /** Wall-clock milliseconds after which the row is gone; Infinity keeps it. */
  readonly expiresAt: number
}

/**
 * An online store in this process's memory, for tests and a user's test harness. Each instance is
 * empty when created and forgets everything when the process ends. Newer values win, like the other
 * stores; `storageTtl` expires rows on read.
 *
 * Tiles of stream feature views (`TileStore`) live apart from the rows, per view a map of entity key
 * to tile index to tile and a map of applied event ids (see `memory-tiles.ts`); `teardown` and `update` (for dropped views) drop them
 * with the view's rows.
 *
 * @example const store = new MemoryOnlineStore(); await store.update({ keep: [view], drop: [] })
 */
export class MemoryOnlineStore implements OnlineStore, TileStore {
  readonly type = 'memory'
  readonly capabilities: OnlineStoreCapabilities = Object.freeze({
    newerWins: true,
    nativeTtl: true,
    timestampResolutionMicros: 1,
  })
  readonly #tables = new Map<string, Map<string, StoredRow>>()
  readonly #now: () => number
  readonly #tiles = new MemoryTiles()

  /** `now` gives wall-clock milliseconds for `storageTtl`; tests may pass a fake clock. */
  constructor(now: () => number = Date.now) {
    this.#now = now
  }

  async update(plan: InfraPlan, opts?: Abortable): Promise<void> {
    checkAborted(opts)
    for (const view of plan.drop) {
      this.#tables.delete(tableName(view))
      this.#tiles.drop(view)
    }
    for (const view of plan.keep) {
      const name = tableName(view)
      if (!this.#tables.has(name)) this.#tables.set(name, new Map())
    }
  }

  async write(view: ViewRef, rows: OnlineWriteBatch, opts?: Abortable): Promise<WriteStats> {
    checkAborted(opts)
    checkRows(view, rows)
    const table = this.#table(view)
    const expiresAt = view.storageTtl > 0 ? this.#now() + view.storageTtl * 1000 : Number.POSITIVE_INFINITY
    let written = 0
    for (const row of rows) {
      const id = bytesId(row.entityKey)
      const stored = this.#live(table, id)
      if (stored && row.eventTs < stored.eventTs) continue
      const values = new Map<string, Uint8Array>()
      for (let i = 0; i < view.features.length; i++) values.set(view.features[i]!.name, row.values[i]!)
      table.set(id, { eventTs: row.eventTs, values, expiresAt })
      written++
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
    const table = this.#table(view)
    return keys.map((key): OnlineRow | undefined => {
      const stored = this.#live(table, bytesId(key))
      return stored && { eventTs: stored.eventTs, values: features.map((f) => stored.values.get(f)) }
    })
  }

  async readMany(requests: readonly OnlineReadRequest[], opts?: Abortable): Promise<OnlineReadResult[]> {
    return Promise.all(requests.map((r) => this.read(r.view, r.keys, r.features, opts)))
  }

  async hasRows(view: ViewRef, opts?: Abortable): Promise<boolean> {
    checkAborted(opts)
    const table = this.#tables.get(tableName(view))
    if (!table) return false
    for (const id of table.keys()) if (this.#live(table, id)) return true
    return false
  }

  async teardown(plan: InfraPlan, opts?: Abortable): Promise<void> {
    checkAborted(opts)
    for (const view of [...plan.keep, ...plan.drop]) {
      this.#tables.delete(tableName(view))
      this.#tiles.drop(view)
    }
  }

  async close(): Promise<void> {
    this.#tables.clear()
    this.#tiles.clear()
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

  #table(view: ViewRef): Map<string, StoredRow> {
    const table = this.#tables.get(tableName(view))
    if (!table) throw missingStorage(view, 'the memory online store')
    return table
  }

  #live(table: Map<string, StoredRow>, id: string): StoredRow | undefined {
    const stored = table.get(id)
    if (stored && stored.expiresAt <= this.#now()) {
      table.delete(id)
      return undefined
    }
    return stored
  }
}
