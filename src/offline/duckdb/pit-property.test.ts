import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import { Int64, Table, Utf8, vectorFromArray } from 'apache-arrow'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Entity,
  FeatureView,
  Field,
  FileSource,
  formatMicros,
  Int64 as Int64Type,
  toMicros,
} from '../../core/index.js'
import type { HistoricalRequest, Row } from '../offline-store.js'
import { DuckDBOfflineStore } from './duckdb-offline-store.js'

// A brute-force reference of the point-in-time join, written from Feast's rules without SQL, and random
// cases built to hit the edges: equal event timestamps, created ties and nulls, rows tied on both (the
// last in the source wins), sources split over two files, ttl boundaries (exactly ttl, ttl + 1 µs),
// entity rows before any data, duplicates, null and composite keys, entity-less views.

type Key = number | string | null

interface FeatureRow {
  readonly k1: Key
  readonly k2: number | null
  readonly ts: number
  readonly created: number | null
  readonly id: number
}

interface ViewCase {
  readonly keys: 0 | 1 | 2
  readonly created: boolean
  readonly ttl: number
  /** Rows in source order. */
  readonly rows: readonly FeatureRow[]
  /** When set, the rows before this index go to a first file and the others to a second one. */
  readonly split: number | null
}

interface EntityRow {
  readonly k1: Key
  readonly k2: number | null
  readonly ts: number
}

interface Case {
  readonly stringKeys: boolean
  readonly asOfKnownTime: boolean
  readonly views: readonly ViewCase[]
  readonly entities: readonly EntityRow[]
}

const T0 = toMicros('2026-03-01T00:00:00Z')
const SECOND = 1_000_000

/** The id of the row the reference picks, or null when no row qualifies. */
function reference(view: ViewCase, e: EntityRow, asOfKnownTime: boolean): number | null {
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
  // rows tied on both timestamps: the last in the source (files by name, rows in file order)
  return best[best.length - 1]!.id
}

const offset = fc.oneof(
  fc.constantFrom(0, 0, 1, 2, SECOND, SECOND, SECOND + 1, 2 * SECOND, 5 * SECOND, 60 * SECOND),
  fc.integer({ min: 0, max: 90 * SECOND }),
)
const ttl = fc.constantFrom(0, 0, 1, SECOND, 2 * SECOND + 1, 30 * SECOND)
const k1Index = fc.option(fc.integer({ min: 0, max: 2 }), { freq: 8 })
const k2 = fc.option(fc.integer({ min: 0, max: 1 }), { freq: 10 })

const viewArb = fc.record({
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

const entityArb = fc.record({
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

const caseArb: fc.Arbitrary<Case> = fc
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

let dir: string
let db: DuckDBConnection
let instance: DuckDBInstance
let asof: DuckDBOfflineStore
let window: DuckDBOfflineStore
let caseNumber = 0

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-pit-'))
  instance = await DuckDBInstance.create(':memory:')
  db = await instance.connect()
  asof = new DuckDBOfflineStore({ repoPath: dir, threads: 1 })
  window = new DuckDBOfflineStore({ repoPath: dir, threads: 1, pointInTimeJoin: 'window' })
})

afterAll(async () => {
  await asof.close()
  await window.close()
  db.closeSync()
  instance.closeSync()
  rmSync(dir, { recursive: true, force: true })
})

const e1 = new Entity({ name: 'e1', joinKeys: ['k1'] })
const e2 = new Entity({ name: 'e2', joinKeys: ['k2'] })

/**
 * Writes the case's sources with a separate DuckDB, and returns its feature views. A split source is a
 * directory whose first rows sit in a subdirectory (`a/part.parquet`) and the others beside it
 * (`b.parquet`): first by name, though DuckDB's glob lists a directory's own files first.
 */
async function writeCase(c: Case): Promise<FeatureView[]> {
  const caseDir = `case${caseNumber++}`
  mkdirSync(join(dir, caseDir))
  const keyType = c.stringKeys ? 'VARCHAR' : 'BIGINT'
  const lit = (v: Key) => (v === null ? 'NULL' : typeof v === 'string' ? `'${v}'` : String(v))
  const time = (v: number | null) => (v === null ? 'NULL' : `make_timestamp(${T0 + v}::BIGINT)`)
  const write = async (rows: readonly FeatureRow[], path: string) => {
    const values = rows.map((r) => `(${lit(r.k1)}, ${lit(r.k2)}, ${time(r.ts)}, ${time(r.created)}, ${r.id})`)
    await db.run(
      `COPY (SELECT k1::${keyType} AS k1, k2::BIGINT AS k2, ts::TIMESTAMP AS ts, created::TIMESTAMP AS created, f::BIGINT AS f
        FROM (VALUES ${values.length > 0 ? values.join(', ') : '(NULL, NULL, NULL, NULL, NULL)'}) t(k1, k2, ts, created, f)
        ${values.length > 0 ? '' : 'WHERE false'}) TO '${path}'`,
    )
  }
  return Promise.all(
    c.views.map(async (v, i) => {
      let path = join(caseDir, `v${i}.parquet`)
      if (v.split === null) await write(v.rows, join(dir, path))
      else {
        path = join(caseDir, `v${i}`)
        mkdirSync(join(dir, path, 'a'), { recursive: true })
        await write(v.rows.slice(0, v.split), join(dir, path, 'a', 'part.parquet'))
        await write(v.rows.slice(v.split), join(dir, path, 'b.parquet'))
      }
      return new FeatureView({
        name: `v${i}`,
        entities: [e1, e2].slice(0, v.keys),
        ttl: v.ttl / SECOND,
        source: new FileSource({
          name: `v${i}`,
          path,
          timestampField: 'ts',
          createdTimestampColumn: v.created ? 'created' : undefined,
        }),
        schema: [new Field({ name: 'f', dtype: Int64Type })],
      })
    }),
  )
}

function entityTable(c: Case) {
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
function check(c: Case, rows: Row[], label: string): void {
  expect(rows.length, label).toBe(c.entities.length)
  rows.forEach((row, r) => {
    const e = c.entities[r]!
    expect(row.event_timestamp, label).toBe(formatMicros(T0 + e.ts))
    if ('k1' in row) expect(row.k1, label).toBe(e.k1)
    if ('k2' in row) expect(row.k2, label).toBe(e.k2)
    c.views.forEach((v, i) => {
      expect(row[`v${i}__f`], `${label}: entity row ${r}, view v${i}`).toBe(reference(v, e, c.asOfKnownTime))
    })
  })
}

describe('point-in-time join against a brute-force reference', () => {
  it('agrees on random cases, with the ASOF and the window forms giving the same rows', async () => {
    let checked = 0
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const views = await writeCase(c)
        const req: HistoricalRequest = {
          entities: entityTable(c),
          features: views.map((v) => ({ projection: v.projection, features: ['f'] })),
          fullFeatureNames: true,
          asOfKnownTime: c.asOfKnownTime,
        }
        const fast = await (await asof.getHistoricalFeatures(req)).toRows()
        const slow = await (await window.getHistoricalFeatures(req)).toRows()
        check(c, fast, 'asof')
        check(c, slow, 'window')
        expect(slow).toEqual(fast)
        checked += c.entities.length * c.views.length
      }),
      { numRuns: 600 },
    )
    expect(checked).toBeGreaterThan(1000)
  })

  it('agrees on entity-less range retrieval: each row in range joined at its own timestamp', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, offset, offset, async (c, a, b) => {
        const [start, end] = a <= b ? [a, b] : [b, a]
        const views = await writeCase(c)
        const job = await asof.getHistoricalFeatures({
          features: views.map((v) => ({ projection: v.projection, features: ['f'] })),
          fullFeatureNames: true,
          asOfKnownTime: c.asOfKnownTime,
          startDate: formatMicros(T0 + start),
          endDate: formatMicros(T0 + end),
        })
        const keyed = c.views.map((v) => v.keys)
        const keys = keyed.some((k) => k === 2) ? ['k1', 'k2'] : keyed.some((k) => k === 1) ? ['k1'] : []
        const seen = new Map<string, EntityRow>()
        c.views.forEach((v) => {
          for (const r of v.rows) {
            if (r.ts < start || r.ts > end) continue
            const e = { k1: v.keys >= 1 ? r.k1 : null, k2: v.keys >= 2 ? r.k2 : null, ts: r.ts }
            seen.set(
              JSON.stringify([e.ts, keys.includes('k1') ? e.k1 : 0, keys.includes('k2') ? e.k2 : 0]),
              e,
            )
          }
        })
        const order = (x: Key, y: Key) => (x === y ? 0 : x === null ? 1 : y === null ? -1 : x < y ? -1 : 1)
        const entities = [...seen.values()].sort(
          (x, y) => x.ts - y.ts || order(x.k1, y.k1) || order(x.k2, y.k2),
        )
        const rows = await job.toRows()
        expect(job.columns).toEqual([...keys, 'event_timestamp', ...c.views.map((_, i) => `v${i}__f`)])
        check({ ...c, entities }, rows, 'range')
      }),
      { numRuns: 150 },
    )
  })
})
