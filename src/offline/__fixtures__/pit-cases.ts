import { Int64, Table, Utf8, vectorFromArray } from 'apache-arrow'
import fc from 'fast-check'
import { expect } from 'vitest'
import { formatMicros, toMicros } from '../../core/index.js'
import type { Row } from '../offline-store.js'

// A brute-force reference of the point-in-time join, written from Feast's rules without SQL, and random
// cases built to hit the edges: equal event timestamps, created ties and nulls, rows tied on both (the
// last in the source wins), sources split over two files, ttl boundaries (exactly ttl, ttl + 1 µs),
// entity rows before any data, duplicates, null and composite keys, entity-less views.

export type Key = number | string | null

export interface FeatureRow {
  readonly k1: Key
  readonly k2: number | null
  readonly ts: number
  readonly created: number | null
  readonly id: number
}

export interface ViewCase {
  readonly keys: 0 | 1 | 2
  readonly created: boolean
  readonly ttl: number
  /** Rows in source order. */
  readonly rows: readonly FeatureRow[]
  /** When set, the rows before this index go to a first file and the others to a second one. */
  readonly split: number | null
}

export interface EntityRow {
  readonly k1: Key
  readonly k2: number | null
  readonly ts: number
}

export interface Case {
  readonly stringKeys: boolean
  readonly asOfKnownTime: boolean
  readonly views: readonly ViewCase[]
  readonly entities: readonly EntityRow[]
}

export const T0 = toMicros('2026-03-01T00:00:00Z')
export const SECOND = 1_000_000

/**
 * How rows tied on both timestamps are ordered: `last-in-source` (the duckdb engine: files by name,
 * rows in file order) or `greatest-row` (the postgres engine: the row whose columns k1, k2, ts, created,
 * f compare greatest, column by column, a null above any value).
 */
export type TieRule = 'last-in-source' | 'greatest-row'

/** The id of the row the reference picks, or null when no row qualifies. */
export function reference(
  view: ViewCase,
  e: EntityRow,
  asOfKnownTime: boolean,
  tie: TieRule = 'last-in-source',
): number | null {
  const sameKeys = (r: FeatureRow) =>
    (view.keys < 1 || (r.k1 !== null && e.k1 !== null && r.k1 === e.k1)) &&
    (view.keys < 2 || (r.k2 !== null && e.k2 !== null && r.k2 === e.k2))
  const candidates = view.rows.filter(
    (r) =>
      sameKeys(r) &&
      r.ts <= e.ts &&
      (view.ttl === 0 || r.ts >= e.ts - view.ttl) &&
      (!asOfKnownTime || !view.created || (r.created !== null && r.created <= e.ts)),
  )
  if (candidates.length === 0) return null
  const latest = Math.max(...candidates.map((r) => r.ts))
  let best = candidates.filter((r) => r.ts === latest)
  if (view.created) {
    const known = best.filter((r) => r.created !== null).map((r) => r.created!)
    if (known.length > 0) {
      const newest = Math.max(...known)
      best = best.filter((r) => r.created === newest)
    }
  }
  // rows tied on both timestamps: the last in the source (files by name, rows in file order), or the
  // greatest row where the source has no order
  if (tie === 'last-in-source') return best[best.length - 1]!.id
  return best.reduce((a, b) => (compareRows(a, b) >= 0 ? a : b)).id
}

function compareValues(x: Key, y: Key): number {
  if (x === y) return 0
  if (x === null) return 1
  if (y === null) return -1
  return x < y ? -1 : 1
}

/** Rows compared as PostgreSQL orders `ROW(k1, k2, ts, created, f)`: column by column, null greatest. */
function compareRows(a: FeatureRow, b: FeatureRow): number {
  const ta: Key[] = [a.k1, a.k2, a.ts, a.created, a.id]
  const tb: Key[] = [b.k1, b.k2, b.ts, b.created, b.id]
  for (let i = 0; i < ta.length; i++) {
    const c = compareValues(ta[i]!, tb[i]!)
    if (c !== 0) return c
  }
  return 0
}

export const offset = fc.oneof(
  fc.constantFrom(0, 0, 1, 2, SECOND, SECOND, SECOND + 1, 2 * SECOND, 5 * SECOND, 60 * SECOND),
  fc.integer({ min: 0, max: 90 * SECOND }),
)
export const ttl = fc.constantFrom(0, 0, 1, SECOND, 2 * SECOND + 1, 30 * SECOND)
const k1Index = fc.option(fc.integer({ min: 0, max: 2 }), { freq: 8 })
const k2 = fc.option(fc.integer({ min: 0, max: 1 }), { freq: 10 })

export const viewArb = fc.record({
  keys: fc.constantFrom<0 | 1 | 2>(0, 1, 1, 2),
  created: fc.boolean(),
  ttl,
  rows: fc.array(
    fc.record({
      k1: k1Index,
      k2,
      ts: offset,
      created: fc.option(offset, { freq: 4 }),
    }),
    { maxLength: 10 },
  ),
  split: fc.option(fc.nat({ max: 10 }), { freq: 2 }),
})

export const entityArb = fc.record({
  k1: fc.option(fc.integer({ min: 0, max: 3 }), { freq: 12 }),
  k2,
  free: offset,
  anchor: fc.option(
    fc.record({
      view: fc.nat(),
      row: fc.nat(),
      delta: fc.constantFrom('same', 'plus1', 'minus1', 'ttl', 'ttl+1'),
    }),
    { freq: 3, nil: undefined },
  ),
})

export const caseArb: fc.Arbitrary<Case> = fc
  .record({
    stringKeys: fc.boolean(),
    asOfKnownTime: fc.boolean(),
    views: fc.array(viewArb, { minLength: 1, maxLength: 3 }),
    entities: fc.array(entityArb, { minLength: 1, maxLength: 8 }),
  })
  .map(({ stringKeys, asOfKnownTime, views, entities }) => {
    const key = (i: number | null): Key => (i === null ? null : stringKeys ? 'abcd'[i]! : i)
    const built = views.map((v, vi) => ({
      ...v,
      rows: v.rows.map((r, ri) => ({
        ...r,
        k1: key(r.k1),
        created: v.created ? r.created : null,
        id: vi * 100 + ri,
      })),
    }))
    const resolved = entities.map((e) => {
      const view = built[(e.anchor?.view ?? 0) % built.length]!
      const row = view.rows.length > 0 && e.anchor ? view.rows[e.anchor.row % view.rows.length]! : undefined
      if (row === undefined) return { k1: key(e.k1), k2: e.k2, ts: e.free }
      const delta = { same: 0, plus1: 1, minus1: -1, ttl: view.ttl, 'ttl+1': view.ttl + 1 }[e.anchor!.delta]
      // anchored rows reuse the feature row's keys so that the boundary is actually tested
      return { k1: row.k1, k2: row.k2, ts: row.ts + delta }
    })
    return { stringKeys, asOfKnownTime, views: built, entities: resolved }
  })

/** The case's entity rows as an Arrow table (keys, timestamps as ISO text). */
export function entityTable(c: Case) {
  return new Table({
    k1: c.stringKeys
      ? vectorFromArray(
          c.entities.map((e) => e.k1 as string | null),
          new Utf8(),
        )
      : vectorFromArray(
          c.entities.map((e) => (e.k1 === null ? null : BigInt(e.k1 as number))),
          new Int64(),
        ),
    k2: vectorFromArray(
      c.entities.map((e) => (e.k2 === null ? null : BigInt(e.k2))),
      new Int64(),
    ),
    event_timestamp: vectorFromArray(
      c.entities.map((e) => formatMicros(T0 + e.ts)),
      new Utf8(),
    ),
  })
}

/** Checks one engine's rows, in order, against the entity rows and the reference's answers. */
export function check(c: Case, rows: Row[], label: string, tie: TieRule = 'last-in-source'): void {
  expect(rows.length, label).toBe(c.entities.length)
  rows.forEach((row, r) => {
    const e = c.entities[r]!
    expect(row.event_timestamp, label).toBe(formatMicros(T0 + e.ts))
    if ('k1' in row) expect(row.k1, label).toBe(e.k1)
    if ('k2' in row) expect(row.k2, label).toBe(e.k2)
    c.views.forEach((v, i) => {
      expect(row[`v${i}__f`], `${label}: entity row ${r}, view v${i}`).toBe(
        reference(v, e, c.asOfKnownTime, tie),
      )
    })
  })
}

/**
 * What an entity-less range retrieval over [start, end] must give: the entity columns (the join keys
 * any view has) and one entity row per distinct (keys, ts) of the views' rows in the range, ordered by
 * time, then keys (a null last).
 */
export function rangeExpectation(
  c: Case,
  start: number,
  end: number,
): { keys: string[]; entities: EntityRow[] } {
  const keyed = c.views.map((v) => v.keys)
  const keys = keyed.some((k) => k === 2) ? ['k1', 'k2'] : keyed.some((k) => k === 1) ? ['k1'] : []
  const seen = new Map<string, EntityRow>()
  c.views.forEach((v) => {
    for (const r of v.rows) {
      if (r.ts < start || r.ts > end) continue
      const e = { k1: v.keys >= 1 ? r.k1 : null, k2: v.keys >= 2 ? r.k2 : null, ts: r.ts }
      seen.set(JSON.stringify([e.ts, keys.includes('k1') ? e.k1 : 0, keys.includes('k2') ? e.k2 : 0]), e)
    }
  })
  const order = (x: Key, y: Key) => (x === y ? 0 : x === null ? 1 : y === null ? -1 : x < y ? -1 : 1)
  const entities = [...seen.values()].sort((x, y) => x.ts - y.ts || order(x.k1, y.k1) || order(x.k2, y.k2))
  return { keys, entities }
}
