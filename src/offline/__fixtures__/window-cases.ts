import { Int64, Table, Utf8, vectorFromArray } from 'apache-arrow'
import fc from 'fast-check'
import { expect } from 'vitest'
import type { BatchSource } from '../../core/index.js'
import {
  Aggregation,
  Entity,
  Field,
  Float64 as Float64Type,
  formatMicros,
  Int64 as Int64Type,
  PushSource,
  StreamFeatureView,
  String as StringType,
  toMicros,
} from '../../core/index.js'
import type { FeatureSelection, Row } from '../offline-store.js'

// A brute-force reference of windowed aggregations, written from the semantics of `PitWindows`
// (../pit/spec.ts) over the event list, without SQL, and random cases built to hit the edges: events
// exactly on tile and window edges to the microsecond, late and out-of-order events (source order is
// not time order), duplicates, null values and keys, created-timestamp ties, empty windows, several
// entities, every function. Shared by both engines' window-property tests.

export const SECOND = 1_000_000
/** The cases' time origin: tile-aligned for hops of 1, 2 and 5 s, not for 7 s (tiles count from the epoch). */
export const T0 = toMicros('2026-03-01T00:00:00Z')

/** One event of the source, in source order; `id` is its place in the source (0-based). */
export interface Event {
  readonly k: number | null
  /** Microseconds after T0. */
  readonly ts: number
  readonly created: number | null
  readonly id: number
  readonly n: number | null
  readonly x: number | null
  readonly s: string | null
}

export type Column = 'n' | 'x' | 's'
export type Fn = 'sum' | 'count' | 'min' | 'max' | 'avg' | 'std' | 'var' | 'count_distinct' | 'last'

export interface AggCase {
  readonly fn: Fn
  /** The function's name as written in the definition (aliases included). */
  readonly written: string
  readonly column: Column
  /** Window length in hops. */
  readonly hops: number
}

export interface EntityRow {
  readonly k: number | null
  readonly ts: number
}

export interface WindowCase {
  /** Seconds. */
  readonly hop: number
  readonly created: boolean
  readonly asOfKnownTime: boolean
  readonly aggregations: readonly AggCase[]
  readonly events: readonly Event[]
  readonly entities: readonly EntityRow[]
}

/** Floor division, also for negative numbers. */
function floorDiv(a: number, b: number): number {
  return Math.floor(a / b)
}

/**
 * The events of `e`'s key in the window of `hops` hops ending at `e.ts` (all events at or before it
 * when `hops` is undefined), per `PitWindows`: event ts in [(⌊t/h⌋ + 1 − W/h)·h, t], absolute times.
 */
export function windowEvents(c: WindowCase, e: EntityRow, hops: number | undefined): Event[] {
  const h = c.hop * SECOND
  const t = T0 + e.ts
  const start = hops === undefined ? -Infinity : (floorDiv(t, h) + 1 - hops) * h
  return c.events.filter(
    (ev) =>
      ev.k !== null &&
      ev.k === e.k &&
      T0 + ev.ts <= t &&
      T0 + ev.ts >= start &&
      (!c.asOfKnownTime || !c.created || (ev.created !== null && ev.created <= e.ts)),
  )
}

/** The latest of the events: greatest ts, then created (null lowest), then place in the source. */
export function latest(events: readonly Event[]): Event | undefined {
  const rank = (ev: Event): [number, number, number] => [ev.ts, ev.created ?? -Infinity, ev.id]
  return events.reduce<Event | undefined>((best, ev) => {
    if (best === undefined) return ev
    const [a, b] = [rank(ev), rank(best)]
    for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]! ? ev : best
    return best
  }, undefined)
}

/** The reference value of one aggregation over the events of its window. */
export function aggregate(a: AggCase, events: readonly Event[]): number | string | null {
  if (a.fn === 'last') return latest(events)?.[a.column] ?? null
  const values = events.map((ev) => ev[a.column]).filter((v) => v !== null)
  const nums = values as number[]
  const sum = () => nums.reduce((s, v) => s + v, 0)
  const variance = () => {
    const mean = sum() / nums.length
    return nums.reduce((s, v) => s + (v - mean) ** 2, 0) / (nums.length - 1)
  }
  const answers: Record<Exclude<Fn, 'last'>, () => number | string | null> = {
    count: () => values.length,
    count_distinct: () => new Set(values).size,
    sum: () => (nums.length === 0 ? null : sum()),
    min: () => (nums.length === 0 ? null : Math.min(...nums)),
    max: () => (nums.length === 0 ? null : Math.max(...nums)),
    avg: () => (nums.length === 0 ? null : sum() / nums.length),
    var: () => (nums.length < 2 ? null : variance()),
    std: () => (nums.length < 2 ? null : Math.sqrt(variance())),
  }
  return answers[a.fn]()
}

/**
 * The stated tolerance of floating-point results: sums and means of Float64 values within
 * 1e-9 · (1 + Σ|x|) of the reference; a variance within 1e-9 · (1 + Σx²); a standard deviation
 * compared by its square, as a variance (a square root would magnify the error of a near-zero
 * variance). Everything else (counts, integer sums, min, max, last) is exact.
 */
export function expectClose(
  a: AggCase,
  got: unknown,
  want: number | string | null,
  events: Event[],
  label: string,
) {
  const floating = a.fn === 'avg' || a.fn === 'std' || a.fn === 'var' || (a.fn === 'sum' && a.column === 'x')
  if (want === null || typeof want !== 'number' || !floating) {
    expect(got, label).toEqual(want)
    return
  }
  expect(typeof got, label).toBe('number')
  const xs = events.map((ev) => ev[a.column]).filter((v): v is number => typeof v === 'number')
  const abs = xs.reduce((s, v) => s + Math.abs(v), 0)
  const squares = xs.reduce((s, v) => s + v * v, 0)
  if (a.fn === 'std') {
    expect(Math.abs((got as number) ** 2 - want ** 2), label).toBeLessThanOrEqual(1e-9 * (1 + squares))
  } else if (a.fn === 'var') {
    expect(Math.abs((got as number) - want), label).toBeLessThanOrEqual(1e-9 * (1 + squares))
  } else {
    expect(Math.abs((got as number) - want), label).toBeLessThanOrEqual(1e-9 * (1 + abs))
  }
}

const FUNCTIONS: Record<Column, Fn[]> = {
  n: ['sum', 'count', 'min', 'max', 'avg', 'std', 'var', 'count_distinct', 'last'],
  x: ['sum', 'count', 'min', 'max', 'avg', 'std', 'var', 'count_distinct', 'last'],
  s: ['count', 'count_distinct', 'last'],
}
const ALIASES: Partial<Record<Fn, string[]>> = {
  avg: ['avg', 'mean', 'AVG'],
  std: ['std', 'stddev'],
  var: ['var', 'variance'],
}

const aggArb: fc.Arbitrary<AggCase> = fc
  .record({
    column: fc.constantFrom<Column>('n', 'x', 's'),
    pick: fc.nat(),
    alias: fc.nat(),
    hops: fc.integer({ min: 1, max: 6 }),
  })
  .map(({ column, pick, alias, hops }) => {
    const fns = FUNCTIONS[column]
    const fn = fns[pick % fns.length]!
    const names = ALIASES[fn] ?? [fn]
    return { fn, written: names[alias % names.length]!, column, hops }
  })

/** Where an event falls: on a tile edge, a microsecond either side, or anywhere in a tile. */
const place = fc.record({
  tile: fc.integer({ min: -2, max: 14 }),
  within: fc.oneof(fc.constantFrom<'edge' | 'after' | 'before'>('edge', 'edge', 'after', 'before'), fc.nat()),
})

const eventArb = fc.record({
  k: fc.option(fc.integer({ min: 0, max: 2 }), { freq: 10 }),
  place,
  created: fc.option(fc.constantFrom(0, 0, 1, 5 * SECOND, 30 * SECOND), { freq: 4 }),
  n: fc.option(fc.integer({ min: -1000, max: 1000 }), { freq: 6 }),
  x: fc.option(
    fc
      .oneof(fc.constantFrom(0, 0.1, -2.5, 1e6, 3.3333), fc.double({ min: -1e3, max: 1e3, noNaN: true }))
      // -0 and 0 are one value to SQL's DISTINCT, min and max; keep the comparison about the windows
      .map((v) => (v === 0 ? 0 : v)),
    { freq: 6 },
  ),
  s: fc.option(fc.constantFrom('a', 'b', 'c'), { freq: 6 }),
  /** Repeat the previous event (same ts, keys and created) with these values: a duplicate or a tie. */
  repeat: fc.boolean(),
})

const entityArb = fc.record({
  k: fc.option(fc.integer({ min: 0, max: 3 }), { freq: 10 }),
  place,
  anchor: fc.option(
    fc.record({
      event: fc.nat(),
      agg: fc.nat(),
      // relative to an event: the event itself, a µs either side, and the last and first instants its
      // window edge covers it (t = ts + W − h is the earliest tile whose window starts at the event's tile)
      delta: fc.constantFrom('same', 'plus1', 'minus1', 'w-h', 'w-1', 'w', 'w+1'),
    }),
    { freq: 2, nil: undefined },
  ),
})

export const windowCaseArb: fc.Arbitrary<WindowCase> = fc
  .record({
    hop: fc.constantFrom(1, 2, 5, 7),
    created: fc.boolean(),
    asOfKnownTime: fc.boolean(),
    aggregations: fc.array(aggArb, { minLength: 1, maxLength: 5 }),
    events: fc.array(eventArb, { maxLength: 25 }),
    entities: fc.array(entityArb, { minLength: 1, maxLength: 8 }),
  })
  .map(({ hop, created, asOfKnownTime, aggregations, events, entities }) => {
    const h = hop * SECOND
    // tile `tile` counted from the one holding T0; tiles count from the epoch
    const at = (p: { tile: number; within: number | 'edge' | 'after' | 'before' }) =>
      (floorDiv(T0, h) + p.tile) * h -
      T0 +
      (p.within === 'edge' ? 0 : p.within === 'after' ? 1 : p.within === 'before' ? -1 : p.within % h)
    const built: Event[] = []
    for (const [id, ev] of events.entries()) {
      const previous = built[built.length - 1]
      const base =
        ev.repeat && previous
          ? { k: previous.k, ts: previous.ts, created: previous.created }
          : { k: ev.k, ts: at(ev.place), created: created ? ev.created : null }
      built.push({ ...base, id, n: ev.n, x: ev.x, s: ev.s })
    }
    const resolved = entities.map((e) => {
      const ev = e.anchor && built.length > 0 ? built[e.anchor.event % built.length]! : undefined
      if (ev === undefined) return { k: e.k, ts: at(e.place) }
      const w = aggregations[e.anchor!.agg % aggregations.length]!.hops * h
      const delta = { same: 0, plus1: 1, minus1: -1, 'w-h': w - h, 'w-1': w - 1, w, 'w+1': w + 1 }[
        e.anchor!.delta
      ]
      return { k: ev.k, ts: ev.ts + delta }
    })
    return { hop, created, asOfKnownTime, aggregations, events: built, entities: resolved }
  })

const entity = new Entity({ name: 'k', joinKeys: ['k'], valueType: Int64Type })

/**
 * The case's stream feature view over `batchSource` (columns k, ts, created, id, n, x, s): aggregation j
 * is named `a{j}`; its storage view serves `n` as a plain feature.
 */
export function streamView(c: WindowCase, batchSource: BatchSource): StreamFeatureView {
  return new StreamFeatureView({
    name: 'w',
    source: new PushSource({ name: 'w_push', batchSource }),
    entities: [entity],
    schema: [
      new Field({ name: 'k', dtype: Int64Type }),
      new Field({ name: 'id', dtype: Int64Type }),
      new Field({ name: 'n', dtype: Int64Type }),
      new Field({ name: 'x', dtype: Float64Type }),
      new Field({ name: 's', dtype: StringType }),
    ],
    aggregations: c.aggregations.map(
      (a, j) =>
        new Aggregation({ column: a.column, function: a.written, timeWindow: a.hops * c.hop, name: `a${j}` }),
    ),
    tilingHopSize: c.hop,
  })
}

/** The selection reading the plain feature `n` and every aggregation of the case's view. */
export function windowSelection(view: StreamFeatureView): FeatureSelection {
  return {
    projection: view.storageView.projection,
    features: ['n'],
    windows: { hopSeconds: view.tilingHopSize, aggregations: view.aggregations },
  }
}

/** The case's entity rows as an Arrow table (key, timestamp as ISO text). */
export function windowEntityTable(c: WindowCase): Table {
  return new Table({
    k: vectorFromArray(
      c.entities.map((e) => (e.k === null ? null : BigInt(e.k))),
      new Int64(),
    ),
    event_timestamp: vectorFromArray(
      c.entities.map((e) => formatMicros(T0 + e.ts)),
      new Utf8(),
    ),
  })
}

/**
 * Checks one engine's rows against the reference: the entity columns, `n` (when read) as the
 * point-in-time join's latest value (no ttl), and every aggregation within the stated tolerance. Returns the number of
 * values checked.
 */
export function checkWindows(c: WindowCase, rows: Row[], label: string): number {
  expect(rows.length, label).toBe(c.entities.length)
  let checked = 0
  rows.forEach((row, r) => {
    const e = c.entities[r]!
    const where = `${label}: entity row ${r} (k=${e.k}, t=${formatMicros(T0 + e.ts)})`
    expect(row.event_timestamp, where).toBe(formatMicros(T0 + e.ts))
    expect(row.k, where).toBe(e.k)
    if ('n' in row) expect(row.n, `${where}: n`).toBe(latest(windowEvents(c, e, undefined))?.n ?? null)
    c.aggregations.forEach((a, j) => {
      const events = windowEvents(c, e, a.hops)
      expectClose(
        a,
        row[`a${j}`],
        aggregate(a, events),
        events,
        `${where}: a${j} = ${a.written}(${a.column}) over ${a.hops} hops of ${c.hop}s`,
      )
      checked++
    })
  })
  return checked
}
