import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Aggregation, Field, FileSource, Float64, isLarderError } from '../../core/index.js'
import {
  checkWindows,
  type Event,
  streamView,
  T0,
  type WindowCase,
  windowCaseArb,
  windowEntityTable,
  windowSelection,
} from '../__fixtures__/window-cases.js'
import { DuckDBOfflineStore } from './duckdb-offline-store.js'

// Windowed aggregations against the brute-force reference of ../__fixtures__/window-cases.ts, with the
// plain features joined by ASOF (auto) and by the window form. LARDER_AGG_RUNS sets the number of cases
// (default 200).

const RUNS = Number(process.env.LARDER_AGG_RUNS ?? 200)

let dir: string
let db: DuckDBConnection
let instance: DuckDBInstance
let auto: DuckDBOfflineStore
let window: DuckDBOfflineStore
let caseNumber = 0

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-windows-'))
  instance = await DuckDBInstance.create(':memory:')
  db = await instance.connect()
  auto = new DuckDBOfflineStore({ repoPath: dir, threads: 1 })
  window = new DuckDBOfflineStore({ repoPath: dir, threads: 1, pointInTimeJoin: 'window' })
})

afterAll(async () => {
  await auto.close()
  await window.close()
  db.closeSync()
  instance.closeSync()
  rmSync(dir, { recursive: true, force: true })
})

/** Writes the case's events to a Parquet file in source order (ids in that order); returns its source. */
async function writeEvents(events: readonly Event[], created: boolean): Promise<FileSource> {
  const path = `case${caseNumber++}.parquet`
  const lit = (v: number | string | null) =>
    v === null ? 'NULL' : typeof v === 'string' ? `'${v}'` : String(v)
  const time = (v: number | null) => (v === null ? 'NULL' : `make_timestamp(${T0 + v}::BIGINT)`)
  const values = events.map(
    (e) =>
      `(${lit(e.k)}, ${time(e.ts)}, ${time(e.created)}, ${e.id}, ${lit(e.n)}, ${e.x === null ? 'NULL' : `'${e.x}'::DOUBLE`}, ${lit(e.s)})`,
  )
  await db.run(
    `COPY (SELECT k::BIGINT AS k, ts::TIMESTAMP AS ts, created::TIMESTAMP AS created, id::BIGINT AS id,
      n::BIGINT AS n, x::DOUBLE AS x, s::VARCHAR AS s
      FROM (VALUES ${values.length > 0 ? values.join(', ') : '(NULL, NULL, NULL, NULL, NULL, NULL, NULL)'}) t(k, ts, created, id, n, x, s)
      ${values.length > 0 ? '' : 'WHERE false'}) TO '${join(dir, path)}'`,
  )
  return new FileSource({
    name: 'events',
    path,
    timestampField: 'ts',
    createdTimestampColumn: created ? 'created' : undefined,
  })
}

async function run(store: DuckDBOfflineStore, c: WindowCase, source: FileSource) {
  const job = await store.getHistoricalFeatures({
    entities: windowEntityTable(c),
    features: [windowSelection(streamView(c, source))],
    asOfKnownTime: c.asOfKnownTime,
  })
  expect(job.columns).toEqual(['k', 'event_timestamp', 'n', ...c.aggregations.map((_, j) => `a${j}`)])
  return job.toRows()
}

describe('windowed aggregations against a brute-force reference', () => {
  it(
    'agree on random event sets, with the plain features joined by ASOF and by the window form',
    async () => {
      let checked = 0
      await fc.assert(
        fc.asyncProperty(windowCaseArb, async (c) => {
          const source = await writeEvents(c.events, c.created)
          const fast = await run(auto, c, source)
          checked += checkWindows(c, fast, 'auto')
          // floating-point results may differ in the last bits between plans, so each is checked alone
          checkWindows(c, await run(window, c, source), 'window')
        }),
        { numRuns: RUNS },
      )
      expect(checked).toBeGreaterThan(RUNS)
    },
    60_000 + RUNS * 100,
  )

  it('read aggregations without plain features', async () => {
    const [c] = fc.sample(windowCaseArb, { numRuns: 1, seed: 7 })
    const source = await writeEvents(c!.events, c!.created)
    const job = await auto.getHistoricalFeatures({
      entities: windowEntityTable(c!),
      features: [{ ...windowSelection(streamView(c!, source)), features: [] }],
      asOfKnownTime: c!.asOfKnownTime,
    })
    expect(job.columns).toEqual(['k', 'event_timestamp', ...c!.aggregations.map((_, j) => `a${j}`)])
    expect(checkWindows(c!, await job.toRows(), 'aggregations only')).toBe(
      c!.entities.length * c!.aggregations.length,
    )
  })

  it('name the aggregation whose column the source lacks', async () => {
    const source = await writeEvents([], false)
    const base = streamView(
      { hop: 60, created: false, asOfKnownTime: false, aggregations: [], events: [], entities: [] },
      source,
    )
    const view = base.with({
      schema: [...base.schema!, new Field({ name: 'tip', dtype: Float64 })],
      aggregations: [new Aggregation({ column: 'tip', function: 'sum', timeWindow: '1h' })],
    })
    const error = await auto
      .getHistoricalFeatures({
        entities: [{ k: 1, event_timestamp: '2026-03-01T00:00:00Z' }],
        features: [windowSelection(view)],
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(isLarderError(error) && error.code).toBe('DATA_SOURCE')
    expect((error as Error).message).toMatch(
      /has no column "tip", the aggregated column of sum\(tip\) over 1h of feature view "w"$/,
    )
  })
})
