import {
  finishState,
  firstTileOfWindow,
  type JoinKey,
  LarderError,
  type Micros,
  mergeStates,
  type StreamFeatureView,
  type TileAggregation,
  type TileState,
  tileFunction,
  tileIndex,
} from '../core/index.js'
import type { Abortable } from './online-store.js'

/**
 * What an online store needs to know to keep a stream feature view's windowed aggregations as tiles.
 * `name` is the stream view's name; tiles live apart from the view's latest-value rows (which are
 * stored under the same name as an ordinary view's).
 */
export interface TileViewRef {
  readonly project: string
  readonly name: string
  readonly joinKeys: readonly JoinKey[]
  /** The tile width (the view's `tilingHopSize`) in microseconds. */
  readonly hopMicros: number
  /** Every aggregation of the view, in declaration order; a tile holds one state per aggregation. */
  readonly aggregations: readonly TileAggregation[]
  /** The longest window in hops: tiles older than `oldestLiveTile(now, hopMicros, maxHops)` may be removed. */
  readonly maxHops: number
}

/**
 * The tile view of a stream feature view whose schema is known.
 *
 * @example tileViewRef('demo', tripStats).aggregations.map((a) => a.name) // ['sum_fare_3600s']
 */
export function tileViewRef(project: string, view: StreamFeatureView): TileViewRef {
  const outputs = view.aggregatedFeatures
  const hopMicros = Math.round(view.tilingHopSize * 1_000_000)
  const aggregations = view.aggregations.map(
    (a, i): TileAggregation =>
      Object.freeze({
        fn: tileFunction(a.function),
        name: outputs[i]!.name,
        hops: Math.round((a.timeWindow * 1_000_000) / hopMicros),
        outputType: outputs[i]!.dtype,
      }),
  )
  if (aggregations.length === 0) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `stream feature view "${view.name}" has no aggregations to tile`,
      {
        hint: 'its features are stored as latest values; read them as a feature view',
      },
    )
  }
  return Object.freeze({
    project,
    name: view.name,
    joinKeys: joinKeysOf(view),
    hopMicros,
    aggregations: Object.freeze(aggregations),
    maxHops: Math.max(...aggregations.map((a) => a.hops)),
  })
}

/** The view's join keys with the types of its entity columns (else the entities' declared types). */
function joinKeysOf(view: StreamFeatureView): readonly JoinKey[] {
  const columns = new Map(view.entityColumns.map((f) => [f.name, f.dtype]))
  return Object.freeze(
    view.entities.map((e) =>
      Object.freeze({ name: e.joinKey, valueType: (columns.get(e.joinKey) ?? e.valueType)!.valueType }),
    ),
  )
}

/**
 * One event's contribution to a tile. `id` identifies the event across redeliveries (the broker's
 * message id): a store applies an id at most once while its mark is kept.
 */
export interface TileWrite {
  readonly id: string
  /** Entity key bytes, as for the view's latest-value rows. */
  readonly entityKey: Uint8Array
  /** The tile index, `tileIndex(eventTs, hopMicros)`. */
  readonly tile: number
  readonly eventTs: Micros
  /** One state per aggregation of the view (undefined: the event adds nothing to it). */
  readonly states: readonly (TileState | undefined)[]
}

/** One stored tile of an entity: its index, the newest event time it holds, and a state per aggregation. */
export interface StoredTile {
  readonly tile: number
  readonly newestTs: Micros
  readonly states: readonly (TileState | undefined)[]
}

export interface TileApplyStats {
  /** Events merged into tiles. */
  readonly applied: number
  /** Events skipped because their id was already marked as applied (a redelivery). */
  readonly duplicates: number
  /** Events skipped because their tile had already expired out of every window at `now`. */
  readonly expired: number
}

/**
 * An online store's tiles. Every built-in online store implements it; the conformance suite in
 * `src/testing/tile-store-conformance.ts` defines the behaviour.
 */
export interface TileStore {
  /**
   * Merges the events into their tiles atomically with marking their ids applied: an event whose id
   * is marked is skipped, so a redelivered batch, whole or in part, changes nothing. Concurrent
   * callers (other processes too) never lose an update. Tiles older than `oldestLiveTile(now, …)`
   * are removed along the way and events for them are skipped. Creates the view's tile storage on
   * first use.
   */
  applyTiles(
    view: TileViewRef,
    writes: readonly TileWrite[],
    now: Micros,
    opts?: Abortable,
  ): Promise<TileApplyStats>
  /**
   * Forgets the applied marks of these ids, once the broker has acknowledged them (so no redelivery
   * can come). Marks left by a crash between the two are forgotten after `MARK_RETENTION_MICROS`.
   */
  releaseMarks(view: TileViewRef, writes: readonly TileWrite[], opts?: Abortable): Promise<void>
  /**
   * The live tiles (index ≥ `fromTile`) of each key, in request order, each entity's tiles in
   * ascending index order; an empty array when the key has none.
   */
  readTiles(
    view: TileViewRef,
    keys: readonly Uint8Array[],
    fromTile: number,
    opts?: Abortable,
  ): Promise<(readonly StoredTile[])[]>
  /** Removes the view's tiles and marks (teardown, or a view whose aggregations changed). */
  dropTiles(view: TileViewRef, opts?: Abortable): Promise<void>
}

/** The aggregations' values read at `t` from an entity's tiles, and the newest event time they include. */
export interface WindowValues {
  /** Value bytes per requested aggregation, in request order (zero bytes for null). */
  readonly values: readonly Uint8Array[]
  /** The newest event time among the tiles read; 0 when the windows hold no tile. */
  readonly newestTs: Micros
}

/**
 * Combines an entity's stored tiles into the values of the aggregations `wanted` (indexes into
 * `view.aggregations`) read at `t`: each merges the tiles of its window (tiles
 * `firstTileOfWindow(t, hop, hops)` … `tileIndex(t, hop)`; later tiles are ignored) and finishes the
 * state. Undefined when the entity has no tile at all (the key is not found).
 */
export function windowValues(
  view: TileViewRef,
  tiles: readonly StoredTile[],
  t: Micros,
  wanted: readonly number[],
): WindowValues | undefined {
  if (tiles.length === 0) return undefined
  const last = tileIndex(t, view.hopMicros)
  let newestTs = 0
  const values = wanted.map((i) => {
    const agg = view.aggregations[i]!
    const first = firstTileOfWindow(t, view.hopMicros, agg.hops)
    let state: TileState | undefined
    for (const tile of tiles) {
      if (tile.tile < first || tile.tile > last) continue
      state = mergeStates(agg.fn, state, tile.states[i])
      if (tile.newestTs > newestTs) newestTs = tile.newestTs
    }
    return finishState(agg, state)
  })
  return { values, newestTs }
}

/** How long an applied mark is kept when its release never came (a crash between ack and release). */
export const MARK_RETENTION_MICROS = 24 * 3600 * 1_000_000

/** True when the online store keeps tiles. */
export function hasTiles<T extends object>(store: T): store is T & TileStore {
  return typeof (store as Partial<TileStore>).applyTiles === 'function'
}
