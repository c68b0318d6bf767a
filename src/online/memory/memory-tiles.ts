import type { Micros } from '../../core/index.js'
import type { Abortable } from '../online-store.js'
import { bytesId, checkAborted } from '../store-support.js'
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
  firstOfEachId,
  mergeTile,
  splitExpired,
  tileDeltas,
  tileTables,
} from '../tile-support.js'

interface ViewTiles {
  /** Entity key (as `bytesId`) → tile index → tile. */
  readonly tiles: Map<string, Map<number, StoredTile>>
  /** Applied id → the `now` it was marked at. */
  readonly marks: Map<string, Micros>
}

/**
 * The tiles of the memory online store: per view (keyed like the SQL stores' `<project>_<view>__tiles`),
 * a map of entity key to tile index to tile and a map of applied ids to when they were marked. Calls
 * run to completion one at a time (no await inside), so each `applyTiles` is atomic.
 */
export class MemoryTiles implements TileStore {
  readonly #views = new Map<string, ViewTiles>()

  async applyTiles(
    view: TileViewRef,
    writes: readonly TileWrite[],
    now: Micros,
    opts?: Abortable,
  ): Promise<TileApplyStats> {
    checkAborted(opts)
    checkTileWrites(view, writes)
    const { live, expired, oldest } = splitExpired(view, writes, now)
    const name = tileTables(view).tiles
    let stored = this.#views.get(name)
    if (stored === undefined) {
      stored = { tiles: new Map(), marks: new Map() }
      this.#views.set(name, stored)
    }
    for (const [id, markedAt] of stored.marks)
      if (markedAt < now - MARK_RETENTION_MICROS) stored.marks.delete(id)
    for (const [key, tiles] of stored.tiles) {
      for (const tile of tiles.keys()) if (tile < oldest) tiles.delete(tile)
      if (tiles.size === 0) stored.tiles.delete(key)
    }
    const fresh = new Set<string>()
    for (const w of live) {
      if (stored.marks.has(w.id)) continue
      stored.marks.set(w.id, now)
      fresh.add(w.id)
    }
    for (const delta of tileDeltas(view, firstOfEachId(live, fresh))) {
      const key = bytesId(delta.entityKey)
      let tiles = stored.tiles.get(key)
      if (tiles === undefined) {
        tiles = new Map()
        stored.tiles.set(key, tiles)
      }
      tiles.set(delta.tile, mergeTile(view, tiles.get(delta.tile), delta))
    }
    return { applied: fresh.size, duplicates: live.length - fresh.size, expired }
  }

  async releaseMarks(view: TileViewRef, writes: readonly TileWrite[], opts?: Abortable): Promise<void> {
    checkAborted(opts)
    const marks = this.#views.get(tileTables(view).tiles)?.marks
    if (marks) for (const w of writes) marks.delete(w.id)
  }

  async readTiles(
    view: TileViewRef,
    keys: readonly Uint8Array[],
    fromTile: number,
    opts?: Abortable,
  ): Promise<(readonly StoredTile[])[]> {
    checkAborted(opts)
    const stored = this.#views.get(tileTables(view).tiles)?.tiles
    return keys.map((key) => {
      const tiles = stored?.get(bytesId(key))
      if (tiles === undefined) return []
      return [...tiles.values()].filter((t) => t.tile >= fromTile).sort((a, b) => a.tile - b.tile)
    })
  }

  async dropTiles(view: TileViewRef, opts?: Abortable): Promise<void> {
    checkAborted(opts)
    this.drop(view)
  }

  /** Forgets the view's tiles and marks (also for a `ViewRef` of the same view). */
  drop(view: { readonly project: string; readonly name: string }): void {
    this.#views.delete(tileTables(view).tiles)
  }

  /** Forgets every view's tiles. */
  clear(): void {
    this.#views.clear()
  }
}
