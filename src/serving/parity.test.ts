import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { larder } from '../cli/__fixtures__/run-larder.js'
import { Float32, Float64, Int64, toMicros } from '../core/index.js'
import type { FeatureStore } from '../feature-store.js'
import { createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import type { Row } from '../offline/index.js'
import { encodeWriteRow, viewRef } from '../online/online-store.js'
import { stats } from './__fixtures__/explain-features.js'
import { type ParityReport, sampleKeys } from './parity.js'
import { sameStoredValue, storedForm } from './source-probe.js'

const DEFINITIONS = fileURLToPath(new URL('./__fixtures__/explain-features.ts', import.meta.url))
const T0 = Date.parse('2026-01-01T00:00:00Z')
const KEYS = 30

function at(hours: number): string {
  return new Date(T0 + hours * 3_600_000).toISOString().replace('.000Z', 'Z')
}

function row(driverId: number, hours: number, conv: number | null, trips = 7): Row {
  return {
    driver_id: driverId,
    event_timestamp: at(hours),
    created: at(hours),
    conv_rate: conv,
    trips,
    label: `l${driverId}`,
  }
}

/**
 * Keys 2001..2030 with one to two rows in [2h, 4h] (conv_rate a double the Float32 feature narrows,
 * null for every seventh key); 2002 also at 4.5h and 2031 only at 5h, after the window [2h, 4h].
 */
function parityRows(): Row[] {
  const rows: Row[] = []
  for (let k = 0; k < KEYS; k++) {
    const id = 2001 + k
    rows.push(row(id, 2 + (k % 8) * 0.25, k % 7 === 0 ? null : 0.1 * (k + 1), k))
    if (k % 2 === 0) rows.push(row(id, 3.5 + (k % 3) * 0.1, k % 7 === 0 ? null : 0.3 + k / 1000, 2 * k))
  }
  rows.push(row(2002, 4.5, 0.45), row(2031, 5, 0.5))
  return rows
}

function byView(report: ParityReport, view: string) {
  const found = report.views.find((v) => v.view === view)
  expect(found, view).toBeDefined()
  return found!
}

/** The `larder materialize ...` command a fix names. */
function commandOf(fix: string | null): string[] {
  const found = /larder (materialize(?:-incremental)?) [^;)]*/.exec(fix ?? '')
  expect(found, fix ?? 'no fix').not.toBeNull()
  return found![0].trim().split(/\s+/).slice(1)
}

describe('parity of the online store with the offline point-in-time join', () => {
  let repo: TestRepo
  let store: FeatureStore
  beforeAll(async () => {
    repo = await createTestRepo({
      onlineStore: 'type: sqlite\npath: data/online.db',
      definitions: DEFINITIONS,
      data: new Map([[stats, parityRows()]]),
    })
    store = repo.store
    await store.materialize({ start: at(2), end: at(4), views: ['stats', 'stats_fresh'] })
  })
  afterAll(async () => {
    await repo?.close()
  })

  it('compares exactly as stored: a Float32 after narrowing, an Int64 whatever its JS type', () => {
    expect(sameStoredValue(Float32, 0.1, Math.fround(0.1))).toBe(true)
    expect(sameStoredValue(Float64, 0.1, Math.fround(0.1))).toBe(false)
    expect(sameStoredValue(Int64, 7, 7n)).toBe(true)
    expect(sameStoredValue(Int64, 7, null)).toBe(false)
    expect(sameStoredValue(Float32, null, null)).toBe(true)
    expect(storedForm(Float32, 0.1)).toBe(Math.fround(0.1))
  })

  it('a clean materialization: 0 mismatches in every materialized view, the others skipped with a reason', async () => {
    const report = await store.checkParity()
    expect(report.mismatches).toBe(0)
    expect(report.errors).toBe(0)
    const statsView = byView(report, 'stats')
    expect(statsView).toMatchObject({ keys: KEYS, compared: KEYS * 3, mismatches: 0, at: toMicros(at(4)) })
    expect(byView(report, 'stats_fresh')).toMatchObject({ keys: KEYS, mismatches: 0 })
    expect(byView(report, 'conv_plus_one')).toMatchObject({ keys: KEYS, compared: KEYS, mismatches: 0 })
    expect(byView(report, 'label_length')).toMatchObject({ keys: KEYS, mismatches: 0 })
    expect(byView(report, 'stats_never').skipped).toContain('never materialized')
    expect(byView(report, 'live').skipped).toContain('no batch source')
    expect(byView(report, 'trips_plus_offset').skipped).toContain('request fields offset')

    const cli = await larder('-c', repo.dir, 'parity')
    expect(cli.code, cli.stderr).toBe(0)
    expect(cli.stdout).toMatch(/│ VIEW +│ AT +│ KEYS +│ VALUES +│ MISMATCHES +│ RATE +│/)
    expect(cli.stdout).toMatch(/│ stats +│ 2026-01-01T04:00:00Z +│ 30 +│ 90 +│ 0 +│ 0\.0% +│/)
    expect(cli.stdout).toContain('parity: all 240 values match in 4 views')
    expect(cli.stderr).toContain('skipped stats_never: feature view "stats_never" was never materialized')
    const json = JSON.parse((await larder('-c', repo.dir, 'parity', '--json', '-v', 'stats')).stdout)
    expect(json).toMatchObject({ mismatches: 0, errors: 0, compared: 90, sample: 100, seed: 0 })
    expect(json.views[0]).toMatchObject({ view: 'stats', at: '2026-01-01T04:00:00Z', mismatch_rate: 0 })
  })

  it('samples the same keys for the same seed, whatever order the engine yields them in', async () => {
    const range = { start: toMicros(at(2)), end: toMicros(at(4)) }
    const a = await sampleKeys(store, stats, range, 5, 7, {})
    const b = await sampleKeys(store, stats, range, 5, 7, {})
    const c = await sampleKeys(store, stats, range, 5, 8, {})
    expect(a).toHaveLength(5)
    expect(b).toEqual(a)
    expect(c).not.toEqual(a)
    expect(await sampleKeys(store, stats, range, 1000, 7, {})).toHaveLength(KEYS)
    const small = await store.checkParity({ views: ['stats'], sample: 5, seed: 7 })
    expect(byView(small, 'stats').keys).toBe(5)
  })

  it('finds a corrupted online row, attributes it, and its fix makes the check clean again', async () => {
    const [probe] = (
      await store.explain({ entityRow: { driver_id: 2005 }, features: ['stats:conv_rate'], at: at(4) })
    ).features
    const ref = viewRef(repo.project, (await store.catalog()).featureView('stats'))
    await (await store.online()).write(ref, [
      encodeWriteRow(ref, {
        entityKey: Buffer.from(probe!.details.entityKey!, 'hex'),
        values: { conv_rate: 0.875, trips: 8, label: 'l2005' },
        eventTs: probe!.eventTs!,
      }),
    ])
    const report = await store.checkParity({ views: ['stats', 'conv_plus_one'] })
    expect(report.mismatches).toBe(2)
    const [example] = byView(report, 'stats').examples
    expect(example).toMatchObject({
      key: { driver_id: 2005 },
      feature: 'stats:conv_rate',
      offline: Math.fround(0.304),
      online: 0.875,
      onlineStatus: 'PRESENT',
    })
    expect(example!.cause.code).toBe('online_value_differs')
    const odfv = byView(report, 'conv_plus_one')
    expect(odfv.mismatches).toBe(1)
    expect(odfv.examples[0]!.cause.code).toBe('online_value_differs')

    const cli = await larder('-c', repo.dir, 'parity', '-v', 'stats')
    expect(cli.code).toBe(1)
    expect(cli.stderr).toBe('')
    expect(cli.stdout).toMatch(
      /│ driver_id=2005 +│ stats:conv_rate +│ 0\.304 +│ 0\.875 \(PRESENT\) +│ online_value_differs +│/,
    )
    expect(cli.stdout).toContain('parity: 1 of 90 values differ (1.1%) in 1 view of 1')
    expect(cli.stdout).toContain('fix: reload the window: larder materialize')

    const fixed = await larder('-c', repo.dir, ...commandOf(example!.cause.fix))
    expect(fixed.code, fixed.stderr).toBe(0)
    expect((await store.checkParity({ views: ['stats', 'conv_plus_one'] })).mismatches).toBe(0)
  })

  it('finds a row added to the source after its window was materialized', async () => {
    const offline = await store.offline()
    await offline.writeRows(stats, [row(2010, 3.95, 0.625, 99)])
    const report = await store.checkParity({ views: ['stats'] })
    const view = byView(report, 'stats')
    // the label is the same in both rows
    expect(view.mismatches).toBe(2)
    expect(view.examples.map((m) => [m.feature, m.cause.code])).toEqual([
      ['stats:conv_rate', 'source_changed_after_materialization'],
      ['stats:trips', 'source_changed_after_materialization'],
    ])
    expect(view.examples[0]).toMatchObject({ key: { driver_id: 2010 }, offline: 0.625 })
    const cli = await larder('-c', repo.dir, 'parity', '-v', 'stats', '--json')
    expect(cli.code).toBe(1)
    expect(JSON.parse(cli.stdout).views[0].examples[0].cause.code).toBe(
      'source_changed_after_materialization',
    )
    const fixed = await larder('-c', repo.dir, ...commandOf(view.examples[0]!.cause.fix))
    expect(fixed.code, fixed.stderr).toBe(0)
    expect((await store.checkParity({ views: ['stats'] })).mismatches).toBe(0)
  })

  it('finds a stale window: source rows after the last materialized end, compared at a later time', async () => {
    expect((await store.checkParity({ views: ['stats'] })).mismatches).toBe(0)
    const report = await store.checkParity({ views: ['stats'], at: at(5) })
    const view = byView(report, 'stats')
    expect(view.at).toBe(toMicros(at(5)))
    expect(view.keys).toBe(KEYS + 1)
    const keys = new Set(view.examples.map((m) => m.key.driver_id))
    expect(keys).toEqual(new Set([2002, 2031]))
    for (const m of view.examples) expect(m.cause.code).toBe('after_materialized_window')
    expect(view.examples[0]!.cause.fix).toContain(`larder materialize-incremental ${at(5)} --views stats`)

    const cli = await larder('-c', repo.dir, 'parity', '-v', 'stats', '--at', at(5))
    expect(cli.code).toBe(1)
    expect(cli.stdout).toContain('after_materialized_window')
    const fixed = await larder('-c', repo.dir, ...commandOf(view.examples[0]!.cause.fix))
    expect(fixed.code, fixed.stderr).toBe(0)
    const after = await larder('-c', repo.dir, 'parity', '-v', 'stats', '--at', at(5))
    expect(after.code, after.stdout).toBe(0)
  })

  it('reports an unknown view and a bad sample size as errors', async () => {
    await expect(store.checkParity({ views: ['nope'] })).rejects.toThrow('view "nope" not found')
    await expect(store.checkParity({ sample: 0 })).rejects.toThrow(
      'the sample size must be a positive integer',
    )
    const cli = await larder('-c', repo.dir, 'parity', '--sample', 'x')
    expect(cli.code).toBe(1)
    expect(cli.stderr).toContain('--sample must be an integer of at least 1')
  })
})
