import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  eventState,
  type FeastType,
  Float64,
  firstTileOfWindow,
  Int64,
  type Micros,
  oldestLiveTile,
  String as Str,
  serializeEntityKey,
  type TileAggregation,
  type TileFunction,
  tileFunction,
  tileIndex,
  ValueType,
} from '../core/index.js'
import { decodeValue } from '../core/value-codec.js'
import {
  aggregate,
  T0 as CASE_T0,
  type Column,
  type Event,
  expectClose,
  SECOND,
  type WindowCase,
  windowCaseArb,
  windowEvents,
} from '../offline/__fixtures__/window-cases.js'
import type { StoredTile, TileStore, TileViewRef, TileWrite } from '../online/tile-store.js'
import { windowValues } from '../online/tile-store.js'
import { uniqueProject } from './online-conformance.js'

/** One open handle on a tile store, as one process holds it. */
export interface TileStoreHandle {
  readonly store: TileStore
  /** Closes the handle (its connections); the suite calls it once per handle it opened. */
  close(): Promise<void>
}

export interface TileStoreConformanceOptions {
  /** Random window cases checked against the reference (default: env LARDER_AGG_RUNS, else 50). */
  readonly runs?: number
}

const T0: Micros = 1_767_225_600_000_000 // 2026-01-01T00:00:00Z

/** The serialized key of entity `k` (one INT64 join key `k`). */
function keyOf(k: number): Uint8Array {
  return serializeEntityKey([{ joinKey: 'k', valueType: ValueType.INT64, value: k }])
}

/** A tile view of `project` over the key `k` with these aggregations (each over one column). */
function tileView(
  project: string,
  name: string,
  hopMicros: number,
  aggs: readonly (readonly [TileFunction, number, FeastType])[],
): TileViewRef {
  const aggregations = aggs.map(
    ([fn, hops, outputType], i): TileAggregation => ({ fn, name: `a${i}_${fn}`, hops, outputType }),
  )
  return {
    project,
    name,
    joinKeys: [{ name: 'k', valueType: ValueType.INT64 }],
    hopMicros,
    aggregations,
    maxHops: Math.max(...aggregations.map((a) => a.hops)),
  }
}

/** One event as a tile write: `values` holds the event's value for each aggregation of the view. */
function tileWrite(
  view: TileViewRef,
  e: { id: string; k: number; ts: Micros; values: readonly unknown[]; created?: number; order?: string },
): TileWrite {
  const event = { ts: e.ts, created: e.created ?? -Infinity, order: e.order ?? e.id.padStart(12, '0') }
  return {
    id: e.id,
    entityKey: keyOf(e.k),
    tile: tileIndex(e.ts, view.hopMicros),
    eventTs: e.ts,
    states: view.aggregations.map((a, i) => eventState(a, e.values[i], event)),
  }
}

/** The decoded values of every aggregation of the view read at `t` from these tiles. */
function valuesAt(view: TileViewRef, tiles: readonly StoredTile[], t: Micros): unknown[] | undefined {
  return windowValues(
    view,
    tiles,
    t,
    view.aggregations.map((_, i) => i),
  )?.values.map((v) => decodeValue(v))
}

/**
 * Registers the tile store conformance suite: the behaviour every `TileStore` must have (merge and
 * finish per function, idempotent redelivery, expiry, concurrent writers, drop, and parity with the
 * windowed-aggregation reference of `src/offline/__fixtures__/window-cases.ts`), run against a real
 * backend through the `TileStore` interface only. `open` is called once per handle the suite needs
 * (two handles act as two processes); each run uses its own project name, and the suite drops the
 * tiles of every view it used and closes the handles.
 *
 * @example describeTileStoreConformance('sqlite', async () => { const s = await open(); return { store: s, close: () => s.close() } })
 */
export function describeTileStoreConformance(
  name: string,
  open: () => Promise<TileStoreHandle>,
  options: TileStoreConformanceOptions = {},
): void {
  const runs = options.runs ?? Number(process.env.LARDER_AGG_RUNS ?? 50)
  // short: PostgreSQL keeps 63 bytes of `<project>_<view>__tile_marks_at`
  const project = uniqueProject('tiles')
  const used: TileViewRef[] = []
  let viewNumber = 0
  /** A fresh view of the suite's project (dropped after the suite). */
  const newView = (hopMicros: number, aggs: readonly (readonly [TileFunction, number, FeastType])[]) => {
    const view = tileView(project, `tv${viewNumber++}`, hopMicros, aggs)
    used.push(view)
    return view
  }

  describe(`${name}: TileStore conformance`, () => {
    let first: TileStoreHandle
    let second: TileStoreHandle
    let store: TileStore

    beforeAll(async () => {
      first = await open()
      second = await open()
      store = first.store
    })

    afterAll(async () => {
      if (first) for (const view of used) await first.store.dropTiles(view)
      await first?.close()
      await second?.close()
    })

    it('merges every function per tile and finishes the window values', async () => {
      const view = newView(SECOND, [
        ['sum', 2, Int64],
        ['count', 2, Int64],
        ['min', 2, Float64],
        ['max', 2, Float64],
        ['avg', 2, Float64],
        ['std', 2, Float64],
        ['var', 2, Float64],
        ['count_distinct', 2, Int64],
        ['last', 2, Str],
      ])
      const event = (
        id: string,
        k: number,
        ts: Micros,
        n: number | null,
        x: number | null,
        s: string | null,
      ) => tileWrite(view, { id, k, ts, values: [n, n, x, x, x, x, x, x, s] })
      const writes = [
        event('e1', 1, T0 + 100, 4, 1.5, 'a'),
        event('e2', 1, T0 + 900_000, -2, 3.5, 'b'),
        event('e3', 1, T0 + 500, null, null, null), // nothing but `last`, which is not the latest
        event('e4', 1, T0 + SECOND + 1, 10, -1, 'c'), // the next tile
        event('e5', 2, T0 + 7, 5, 2, null), // another entity: its latest value is null
      ]
      expect(await store.applyTiles(view, writes, T0)).toEqual({ applied: 5, duplicates: 0, expired: 0 })
      const [one, two, none] = await store.readTiles(
        view,
        [keyOf(1), keyOf(2), keyOf(3)],
        tileIndex(T0, SECOND),
      )
      expect(one!.map((t) => [t.tile, t.newestTs])).toEqual([
        [tileIndex(T0, SECOND), T0 + 900_000],
        [tileIndex(T0, SECOND) + 1, T0 + SECOND + 1],
      ])
      expect(none).toEqual([])
      // the first tile alone
      const sd = Math.sqrt(2)
      const firstTile = valuesAt(view, one!.slice(0, 1), T0 + SECOND - 1)!
      expect(firstTile.slice(0, 5)).toEqual([2, 2, 1.5, 3.5, 2.5])
      expect(firstTile[5]).toBeCloseTo(sd, 12)
      expect(firstTile[6]).toBeCloseTo(2, 12)
      expect(firstTile.slice(7)).toEqual([2, 'b'])
      // both tiles: the window of 2 hops read in the second
      const both = valuesAt(view, one!, T0 + SECOND + 5)!
      expect(both.slice(0, 5)).toEqual([12, 3, -1, 3.5, 4 / 3])
      const mean = 4 / 3
      const variance = ((1.5 - mean) ** 2 + (3.5 - mean) ** 2 + (-1 - mean) ** 2) / 2
      expect(both[6]).toBeCloseTo(variance, 12)
      expect(both[5]).toBeCloseTo(Math.sqrt(variance), 12)
      expect(both.slice(7)).toEqual([3, 'c'])
      // a read two hops later sees only the second tile
      expect(valuesAt(view, one!, T0 + 2 * SECOND)!.slice(0, 2)).toEqual([10, 1])
      // one event: var and std are null, last is the null the latest event carried
      expect(valuesAt(view, two!, T0 + 10)).toEqual([5, 1, 2, 2, 2, null, null, 1, null])
      expect(windowValues(view, none!, T0, [0])).toBeUndefined()
    })

    it('orders last by event time, then created time, then stream order', async () => {
      const view = newView(SECOND, [['last', 1, Int64]])
      const at = (id: string, ts: Micros, v: number, created?: number, order?: string) =>
        tileWrite(view, { id, k: 1, ts, values: [v], created, order })
      await store.applyTiles(
        view,
        [
          at('a', T0 + 50, 1, T0 + 9),
          at('b', T0 + 50, 2, T0 + 10, '000000000002'),
          at('c', T0 + 50, 3, T0 + 10, '000000000001'),
          at('d', T0 + 40, 4, T0 + 99),
          at('e', T0 + 50, 5),
        ],
        T0,
      )
      const [tiles] = await store.readTiles(view, [keyOf(1)], tileIndex(T0, SECOND))
      expect(valuesAt(view, tiles!, T0 + 60)).toEqual([2])
    })

    it('reads the keys in request order, duplicates included; a view never written reads empty', async () => {
      const view = newView(SECOND, [['count', 1, Int64]])
      expect(await store.readTiles(view, [keyOf(1), keyOf(2)], 0)).toEqual([[], []])
      await store.applyTiles(
        view,
        [1, 2, 2].map((k, i) => tileWrite(view, { id: `r${i}`, k, ts: T0, values: [1] })),
        T0,
      )
      const got = await store.readTiles(view, [keyOf(2), keyOf(9), keyOf(1), keyOf(2)], 0)
      expect(got.map((tiles) => valuesAt(view, tiles, T0))).toEqual([[2], undefined, [1], [2]])
      expect(await store.readTiles(view, [], 0)).toEqual([])
    })

    it('keeps tile indexes beyond 2^31 and before the epoch', async () => {
      const view = newView(1000, [['sum', 3, Int64]])
      const late = T0 + 123_456 // tile ≈ 1.77e12
      const early = -5 * SECOND - 1 // tile -5001
      await store.applyTiles(
        view,
        [
          tileWrite(view, { id: 'late', k: 1, ts: late, values: [7] }),
          tileWrite(view, { id: 'early', k: 2, ts: early, values: [3] }),
        ],
        early,
      )
      const [one, two] = await store.readTiles(view, [keyOf(1), keyOf(2)], tileIndex(early, 1000) - 1)
      expect(one!.map((t) => [t.tile, t.newestTs])).toEqual([[tileIndex(late, 1000), late]])
      expect(tileIndex(late, 1000)).toBeGreaterThan(2 ** 31)
      expect(two!.map((t) => [t.tile, t.newestTs])).toEqual([[tileIndex(early, 1000), early]])
      expect(valuesAt(view, one!, late)).toEqual([7])
      expect(valuesAt(view, two!, early)).toEqual([3])
    })

    it('applies a redelivered batch, whole or in part, only once', async () => {
      const view = newView(SECOND, [
        ['sum', 1, Int64],
        ['count_distinct', 1, Int64],
      ])
      const batch = [1, 2, 3, 4, 5].map((v) =>
        tileWrite(view, { id: `m${v}`, k: 1, ts: T0 + v, values: [v, v] }),
      )
      const read = async () => (await store.readTiles(view, [keyOf(1)], 0))[0]!
      expect(await store.applyTiles(view, batch, T0)).toEqual({ applied: 5, duplicates: 0, expired: 0 })
      const before = await read()
      expect(valuesAt(view, before, T0 + 10)).toEqual([15, 5])
      expect(await store.applyTiles(view, batch, T0)).toEqual({ applied: 0, duplicates: 5, expired: 0 })
      expect(await read()).toEqual(before)
      const fresh = [6, 7].map((v) => tileWrite(view, { id: `m${v}`, k: 1, ts: T0 + v, values: [v, v] }))
      expect(await store.applyTiles(view, [batch[1]!, fresh[0]!, batch[3]!, fresh[1]!], T0)).toEqual({
        applied: 2,
        duplicates: 2,
        expired: 0,
      })
      expect(valuesAt(view, await read(), T0 + 10)).toEqual([28, 7])
      // an id twice in one batch applies once
      const twice = tileWrite(view, { id: 'm8', k: 1, ts: T0 + 8, values: [8, 8] })
      expect(await store.applyTiles(view, [twice, twice], T0)).toEqual({
        applied: 1,
        duplicates: 1,
        expired: 0,
      })
      expect(valuesAt(view, await read(), T0 + 10)).toEqual([36, 8])
    })

    it('forgets released marks: the same ids apply again after releaseMarks', async () => {
      const view = newView(SECOND, [['count', 1, Int64]])
      const batch = [1, 2, 3].map((v) => tileWrite(view, { id: `r${v}`, k: 1, ts: T0 + v, values: [v] }))
      await store.applyTiles(view, batch, T0)
      await store.releaseMarks(view, batch.slice(0, 2))
      expect(await store.applyTiles(view, batch, T0)).toEqual({ applied: 2, duplicates: 1, expired: 0 })
      const [tiles] = await store.readTiles(view, [keyOf(1)], 0)
      expect(valuesAt(view, tiles!, T0 + 10)).toEqual([5])
      await store.releaseMarks(view, [])
    })

    it('skips events of expired tiles and removes expired tiles on a later apply', async () => {
      const view = newView(SECOND, [['sum', 2, Int64]])
      const at = (id: string, k: number, s: number) =>
        tileWrite(view, { id, k, ts: T0 + s * SECOND, values: [1] })
      const now = T0 + 10 * SECOND
      expect(oldestLiveTile(now, SECOND, 2)).toBe(tileIndex(T0, SECOND) + 9)
      expect(await store.applyTiles(view, [at('x1', 1, 5), at('x2', 1, 9), at('x3', 1, 10)], now)).toEqual({
        applied: 2,
        duplicates: 0,
        expired: 1,
      })
      const [stored] = await store.readTiles(view, [keyOf(1)], 0)
      expect(stored!.map((t) => t.tile - tileIndex(T0, SECOND))).toEqual([9, 10])
      const later = T0 + 20 * SECOND
      expect(await store.applyTiles(view, [at('x4', 1, 20)], later)).toEqual({
        applied: 1,
        duplicates: 0,
        expired: 0,
      })
      const [left] = await store.readTiles(view, [keyOf(1)], 0)
      expect(left!.map((t) => t.tile - tileIndex(T0, SECOND))).toEqual([20])
    })

    it('loses no update between two handles applying to the same tile concurrently', async () => {
      const view = newView(SECOND, [
        ['sum', 1, Int64],
        ['count', 1, Int64],
        ['max', 1, Int64],
      ])
      const batches = Array.from({ length: 40 }, (_, b) =>
        Array.from({ length: 10 }, (_, i) =>
          tileWrite(view, { id: `c${b}_${i}`, k: 1, ts: T0 + b * 10 + i, values: [1, 1, b * 10 + i] }),
        ),
      )
      const stats = await Promise.all(
        batches.map((batch, b) => (b % 2 === 0 ? first : second).store.applyTiles(view, batch, T0)),
      )
      expect(stats.reduce((n, s) => n + s.applied, 0)).toBe(400)
      // the same batch from both handles at once applies once
      const again = await Promise.all(
        batches
          .slice(0, 10)
          .flatMap((batch) => [first, second].map((h) => h.store.applyTiles(view, batch, T0))),
      )
      expect(again.reduce((n, s) => n + s.applied, 0)).toBe(0)
      expect(again.reduce((n, s) => n + s.duplicates, 0)).toBe(200)
      const extra = batches.map((_, b) =>
        tileWrite(view, { id: `d${b}`, k: 1, ts: T0 + b, values: [1, 1, 0] }),
      )
      const racing = await Promise.all(
        [first, second].flatMap((h) => extra.map((w) => h.store.applyTiles(view, [w], T0))),
      )
      expect(racing.reduce((n, s) => n + s.applied, 0)).toBe(40)
      const [tiles] = await second.store.readTiles(view, [keyOf(1)], 0)
      expect(tiles!.length).toBe(1)
      expect(valuesAt(view, tiles!, T0 + 500)).toEqual([440, 440, 399])
    })

    it('drops the tiles and marks of a view', async () => {
      const view = newView(SECOND, [['count', 1, Int64]])
      const batch = [1, 2].map((k) => tileWrite(view, { id: `p${k}`, k, ts: T0, values: [1] }))
      await store.applyTiles(view, batch, T0)
      await store.dropTiles(view)
      expect(await store.readTiles(view, [keyOf(1), keyOf(2)], 0)).toEqual([[], []])
      await store.dropTiles(view)
      expect(await store.applyTiles(view, batch, T0)).toEqual({ applied: 2, duplicates: 0, expired: 0 })
      await store.dropTiles(newView(SECOND, [['count', 1, Int64]]))
    })

    it('rejects calls whose signal is already aborted', async () => {
      const view = newView(SECOND, [['count', 1, Int64]])
      const controller = new AbortController()
      controller.abort()
      const signal = controller.signal
      const batch = [tileWrite(view, { id: 'a1', k: 1, ts: T0, values: [1] })]
      await expect(store.applyTiles(view, batch, T0, { signal })).rejects.toThrow(/abort/i)
      await expect(store.readTiles(view, [keyOf(1)], 0, { signal })).rejects.toThrow(/abort/i)
      await expect(store.releaseMarks(view, batch, { signal })).rejects.toThrow(/abort/i)
      await expect(store.dropTiles(view, { signal })).rejects.toThrow(/abort/i)
      expect(await store.applyTiles(view, batch, T0)).toEqual({ applied: 1, duplicates: 0, expired: 0 })
    })

    it(`matches the windowed-aggregation reference on ${runs} random cases, redeliveries included`, async () => {
      await fc.assert(
        fc.asyncProperty(
          windowCaseArb.map((c) => ({ ...c, asOfKnownTime: false })),
          deliveryArb,
          async (c, delivery) => {
            const view = tileView(
              project,
              `case${viewNumber++}`,
              c.hop * SECOND,
              c.aggregations.map((a) => {
                const fn = tileFunction(a.written)
                return [fn, a.hops, outputType(fn, a.column)] as const
              }),
            )
            try {
              await checkCase(store, view, c, delivery)
            } finally {
              await store.dropTiles(view)
            }
          },
        ),
        { numRuns: runs },
      )
    }, 600_000)
  })
}

/** How a case's writes are delivered: batch sizes, and redeliveries of earlier batches (whole or in part). */
interface Delivery {
  readonly sizes: readonly number[]
  readonly redeliveries: readonly { readonly at: number; readonly batch: number; readonly mask: number }[]
}

const deliveryArb: fc.Arbitrary<Delivery> = fc.record({
  sizes: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 8 }),
  // mask 0 redelivers the whole batch; otherwise the writes whose bit (place mod 16) is set
  redeliveries: fc.array(fc.record({ at: fc.nat(), batch: fc.nat(), mask: fc.nat({ max: 0xffff }) }), {
    maxLength: 6,
  }),
})

/** The output type of a case's aggregation: Int64 for counts and sums of n, Float64 for x and means, the column's type for min, max and last. */
function outputType(fn: TileFunction, column: Column): FeastType {
  if (fn === 'count' || fn === 'count_distinct') return Int64
  if (fn === 'avg' || fn === 'std' || fn === 'var') return Float64
  return { n: Int64, x: Float64, s: Str }[column]
}

/** Applies the case's events as `delivery` says, then checks every entity row against the reference. */
async function checkCase(store: TileStore, view: TileViewRef, c: WindowCase, delivery: Delivery) {
  const h = view.hopMicros
  const events = c.events.filter((ev): ev is Event & { k: number } => ev.k !== null)
  const writes = events.map((ev) =>
    tileWrite(view, {
      id: String(ev.id),
      k: ev.k,
      ts: CASE_T0 + ev.ts,
      values: c.aggregations.map((a) => ev[a.column]),
      created: ev.created === null ? -Infinity : CASE_T0 + ev.created,
    }),
  )
  // `now` at the earliest event keeps every tile live
  const now = events.length === 0 ? CASE_T0 : Math.min(...events.map((ev) => CASE_T0 + ev.ts))
  const batches: TileWrite[][] = []
  for (let i = 0, b = 0; i < writes.length; b++) {
    const size = delivery.sizes[b % delivery.sizes.length]!
    batches.push(writes.slice(i, i + size))
    i += size
  }
  const seen = new Set<string>()
  for (const [b, batch] of batches.entries()) {
    const again = delivery.redeliveries
      .filter((r) => r.at % batches.length === b)
      .flatMap((r) => batches[r.batch % (b + 1)]!.filter((_, i) => r.mask === 0 || (r.mask >> (i % 16)) & 1))
    const sent = [...again, ...batch]
    const fresh = new Set(sent.map((w) => w.id).filter((id) => !seen.has(id)))
    const stats = await store.applyTiles(view, sent, now)
    expect(stats).toEqual({ applied: fresh.size, duplicates: sent.length - fresh.size, expired: 0 })
    for (const id of fresh) seen.add(id)
  }
  const entities = c.entities.filter((e): e is { k: number; ts: number } => e.k !== null)
  for (const e of entities) {
    // the end of e's tile: the newest tile read holds every event that arrived for it
    const t = (tileIndex(CASE_T0 + e.ts, h) + 1) * h - 1
    const row = { k: e.k, ts: t - CASE_T0 }
    const [tiles] = await store.readTiles(view, [keyOf(e.k)], firstTileOfWindow(t, h, view.maxHops))
    const got = windowValues(
      view,
      tiles!,
      t,
      view.aggregations.map((_, i) => i),
    )
    const where = `k=${e.k}, t=${t}`
    const inWindow = windowEvents(c, row, view.maxHops)
    if (events.every((ev) => ev.k !== e.k)) expect(got, `${where}: an entity with no event`).toBeUndefined()
    if (got === undefined) {
      expect(inWindow, `${where}: no tile read`).toEqual([])
      continue
    }
    expect(got.newestTs, `${where}: newest event time`).toBe(
      inWindow.reduce((newest, ev) => Math.max(newest, CASE_T0 + ev.ts), 0),
    )
    c.aggregations.forEach((a, j) => {
      const evs = windowEvents(c, row, a.hops)
      expectClose(
        a,
        decodeValue(got.values[j]!),
        aggregate(a, evs),
        evs,
        `${where}: a${j} = ${a.written}(${a.column}) over ${a.hops} hops of ${c.hop}s`,
      )
    })
  }
}
