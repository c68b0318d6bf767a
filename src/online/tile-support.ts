/** Helpers the online stores share to keep tiles (see `tile-store.ts`); not part of the public API. */
import {
  decodeState,
  encodeState,
  LarderError,
  type Micros,
  mergeStates,
  oldestLiveTile,
  type TileState,
} from '../core/index.js'
import { asBuffer } from './store-support.js'
import type { StoredTile, TileViewRef, TileWrite } from './tile-store.js'

/**
 * The names of a view's tile tables (or maps): `<project>_<view>__tiles` and
 * `<project>_<view>__tile_marks`. Tile views and `ViewRef`s of the same view give the same names.
 */
export function tileTables(view: { readonly project: string; readonly name: string }): {
  readonly tiles: string
  readonly marks: string
} {
  const base = `${view.project}_${view.name}`
  return { tiles: `${base}__tiles`, marks: `${base}__tile_marks` }
}

/** Throws INVALID_ARGUMENT unless every write has an integral tile and time and one state per aggregation. */
export function checkTileWrites(view: TileViewRef, writes: readonly TileWrite[]): void {
  const n = view.aggregations.length
  writes.forEach((w, i) => {
    if (w.states.length !== n) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `tile write ${i} (id ${JSON.stringify(w.id)}) for stream feature view "${view.name}" has ${w.states.length} states; the view has ${n} aggregations`,
        {
          hint: `give one state per aggregation, in this order: ${view.aggregations.map((a) => a.name).join(', ')}`,
        },
      )
    }
    if (!Number.isSafeInteger(w.tile) || !Number.isSafeInteger(w.eventTs)) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `tile write ${i} (id ${JSON.stringify(w.id)}) for stream feature view "${view.name}" has a tile or event time that is not an integer`,
        { hint: 'compute the tile with tileIndex(eventTs, view.hopMicros) from a time in microseconds' },
      )
    }
  })
}

/**
 * The writes whose tiles are still live at `now` (in their order), how many were not, and the oldest
 * live tile: tiles below it may be removed.
 */
export function splitExpired(
  view: TileViewRef,
  writes: readonly TileWrite[],
  now: Micros,
): { readonly live: TileWrite[]; readonly expired: number; readonly oldest: number } {
  const oldest = oldestLiveTile(now, view.hopMicros, view.maxHops)
  const live = writes.filter((w) => w.tile >= oldest)
  return { live, expired: writes.length - live.length, oldest }
}

/** The distinct ids of the writes, sorted (the order stores take marks in, so that no two deadlock). */
export function sortedIds(writes: readonly TileWrite[]): string[] {
  return [...new Set(writes.map((w) => w.id))].sort()
}

/** The first write of each id in `fresh`, in the writes' order: what a batch applies once its new ids are known. */
export function firstOfEachId(writes: readonly TileWrite[], fresh: ReadonlySet<string>): TileWrite[] {
  const taken = new Set<string>()
  return writes.filter((w) => {
    if (!fresh.has(w.id) || taken.has(w.id)) return false
    taken.add(w.id)
    return true
  })
}

/** What a batch adds to one tile of one entity. */
export interface TileDelta {
  readonly entityKey: Buffer
  readonly tile: number
  readonly newestTs: Micros
  readonly states: readonly (TileState | undefined)[]
}

/**
 * The writes merged per (entity key, tile), sorted by entity key bytes then tile (the order stores
 * lock tiles in, so that no two deadlock).
 */
export function tileDeltas(view: TileViewRef, writes: readonly TileWrite[]): TileDelta[] {
  const byTile = new Map<
    string,
    { entityKey: Buffer; tile: number; newestTs: Micros; states: (TileState | undefined)[] }
  >()
  for (const w of writes) {
    const entityKey = asBuffer(w.entityKey)
    const id = `${w.tile}:${entityKey.toString('latin1')}`
    const delta = byTile.get(id)
    if (delta === undefined) {
      byTile.set(id, { entityKey, tile: w.tile, newestTs: w.eventTs, states: [...w.states] })
      continue
    }
    if (w.eventTs > delta.newestTs) delta.newestTs = w.eventTs
    view.aggregations.forEach((a, i) => {
      delta.states[i] = mergeStates(a.fn, delta.states[i], w.states[i])
    })
  }
  return [...byTile.values()].sort((a, b) => Buffer.compare(a.entityKey, b.entityKey) || a.tile - b.tile)
}

/** The stored tile with the delta merged in (the delta alone when nothing is stored). */
export function mergeTile(view: TileViewRef, stored: StoredTile | undefined, delta: TileDelta): StoredTile {
  if (stored === undefined) return { tile: delta.tile, newestTs: delta.newestTs, states: delta.states }
  return {
    tile: delta.tile,
    newestTs: Math.max(stored.newestTs, delta.newestTs),
    states: view.aggregations.map((a, i) => mergeStates(a.fn, stored.states[i], delta.states[i])),
  }
}

/** The SQL stores' `states` column: a JSON array of each state's text form, null for no state. */
export function encodeTileStates(states: readonly (TileState | undefined)[]): string {
  return JSON.stringify(states.map((s) => (s === undefined ? null : encodeState(s))))
}

/** Reads a `states` column back; throws DATA_SOURCE when it is not one state (or null) per aggregation. */
export function decodeTileStates(view: TileViewRef, text: string): (TileState | undefined)[] {
  let texts: unknown
  try {
    texts = JSON.parse(text)
  } catch {
    texts = undefined
  }
  if (
    !Array.isArray(texts) ||
    texts.length !== view.aggregations.length ||
    !texts.every((t) => t === null || typeof t === 'string')
  ) {
    throw new LarderError(
      'DATA_SOURCE',
      `a stored tile of stream feature view "${view.name}" does not hold one state per aggregation: ${JSON.stringify(text.slice(0, 80))}`,
      {
        hint: "the view's aggregations changed since its tiles were written; drop its tiles (larder teardown, or re-apply) and replay the stream",
      },
    )
  }
  return texts.map((t: string | null, i) =>
    t === null ? undefined : decodeState(view.aggregations[i]!.fn, t),
  )
}
