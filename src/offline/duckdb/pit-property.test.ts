import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Entity, FeatureView, Field, FileSource, formatMicros, Int64 as Int64Type } from '../../core/index.js'
import {
  type Case,
  caseArb,
  check,
  entityTable,
  type FeatureRow,
  type Key,
  offset,
  rangeExpectation,
  SECOND,
  T0,
} from '../__fixtures__/pit-cases.js'
import type { HistoricalRequest } from '../offline-store.js'
import { DuckDBOfflineStore } from './duckdb-offline-store.js'

// The point-in-time join against the brute-force reference of ../__fixtures__/pit-cases.ts, on the
// ASOF and the window forms.

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
        const { keys, entities } = rangeExpectation(c, start, end)
        const rows = await job.toRows()
        expect(job.columns).toEqual([...keys, 'event_timestamp', ...c.views.map((_, i) => `v${i}__f`)])
        check({ ...c, entities }, rows, 'range')
      }),
      { numRuns: 150 },
    )
  })
})
