import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { tableFromArrays } from 'apache-arrow'
import { describe, expect, it } from 'vitest'
import { systemClock } from '../core/index.js'
import {
  Entity,
  FeatureStore,
  FeatureView,
  Field,
  FileSource,
  Float32,
  Float64,
  Int64,
  OnDemandFeatureView,
  Project,
  toMicros,
} from '../index.js'
import * as defs from './__fixtures__/harness-features.js'
import {
  approx,
  createTestStore,
  expectOnlineValues,
  expectPointInTime,
  ManualClock,
  withStatus,
} from './index.js'

const NOW = '2026-01-01T00:00:00Z'

/** Two drivers' hourly stats; driver 1002's only row lies after NOW. */
const STATS: readonly Record<string, unknown>[] = [
  {
    driver_id: 1001,
    event_timestamp: '2025-12-31T22:00:00Z',
    created: '2025-12-31T22:00:00Z',
    conv_rate: 0.25,
    acc_rate: 0.5,
    avg_daily_trips: 10,
  },
  {
    driver_id: 1001,
    event_timestamp: '2025-12-31T23:00:00Z',
    created: '2025-12-31T23:00:00Z',
    conv_rate: 0.1,
    acc_rate: 0.75,
    avg_daily_trips: 12,
  },
  {
    driver_id: 1002,
    event_timestamp: '2026-01-01T12:00:00Z',
    created: '2026-01-01T12:00:00Z',
    conv_rate: 0.9,
    acc_rate: 0.9,
    avg_daily_trips: 3,
  },
]

const convRate = ['driver_hourly_stats:conv_rate']

/** The error a promise rejects with, or a failure of the test when it resolves. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (e) {
    return e as Error
  }
  throw new Error('expected a rejection')
}

describe('createTestStore', () => {
  it('applies a definitions module and serves materialized rows, aged by its clock', async () => {
    const store = await createTestStore({ definitions: defs, data: { driver_stats: STATS }, now: NOW })
    try {
      expect((await store.listFeatureViews()).map((v) => v.name).sort()).toEqual([
        'driver_hourly_stats',
        'ratings',
        'trips',
      ])
      expect((await store.listFeatureServices()).map((s) => s.name)).toEqual(['driver_activity'])
      expect(store.project).toBe('test')
      const result = await store.materialize()
      expect(result.views.find((v) => v.view === 'driver_hourly_stats')).toMatchObject({
        end: toMicros(NOW),
        start: toMicros('2025-12-31T00:00:00Z'),
        rows: 1,
      })
      await expectOnlineValues(
        store,
        { entityRow: { driver_id: 1001, val_to_add: 2 }, featureService: 'driver_activity' },
        { conv_rate: 0.1, avg_daily_trips: 12, conv_rate_plus_val: approx(2.1) },
      )
      store.clock.advance('1d')
      await expectOnlineValues(
        store,
        { entityRow: { driver_id: 1001 }, features: convRate },
        { conv_rate: withStatus('OUTSIDE_MAX_AGE', 0.1) },
      )
      // the memory store expires a row storageTtl after it was written (at NOW, by the clock)
      store.clock.set('2026-01-03T23:59:59Z')
      await expectOnlineValues(
        store,
        { entityRow: { driver_id: 1001 }, features: convRate },
        { conv_rate: withStatus('OUTSIDE_MAX_AGE') },
      )
      store.clock.set('2026-01-04T00:00:00Z')
      await expectOnlineValues(
        store,
        { entityRow: { driver_id: 1001 }, features: convRate },
        { conv_rate: withStatus('NOT_FOUND') },
      )
    } finally {
      await store.close()
    }
  })

  it("loads rows only up to the clock's time, picks up from there, and records the clock's times", async () => {
    const store = await createTestStore({ definitions: defs, data: { driver_stats: STATS }, now: NOW })
    try {
      await store.materialize({ views: ['driver_hourly_stats'] })
      await expectOnlineValues(
        store,
        { entityRow: { driver_id: 1002 }, features: convRate },
        { conv_rate: null },
      )
      store.clock.set('2026-01-01T13:00:00Z')
      const again = await store.materialize({ views: ['driver_hourly_stats'] })
      expect(again.views[0]).toMatchObject({
        start: toMicros(NOW),
        end: toMicros('2026-01-01T13:00:00Z'),
        rows: 1,
      })
      await expectOnlineValues(
        store,
        { entityRow: { driver_id: 1002 }, features: convRate },
        { conv_rate: 0.9 },
      )
      const [run] = await store.listMaterializationRuns({ view: 'driver_hourly_stats', limit: 1 })
      expect(run).toMatchObject({
        startedAt: toMicros('2026-01-01T13:00:00Z'),
        finishedAt: toMicros('2026-01-01T13:00:00Z'),
      })
      const described = (await store.describe('feature view', 'driver_hourly_stats')) as {
        meta: { createdTimestamp: string; lastUpdatedTimestamp: string }
      }
      expect(described.meta.createdTimestamp).toBe('2026-01-01T00:00:00Z')
      expect(described.meta.lastUpdatedTimestamp).toBe('2026-01-01T13:00:00Z')
      // a window given explicitly loads what lies in it, as FeatureStore.materialize does
      store.clock.set(NOW)
      const windowed = await store.materialize({
        start: '2025-12-31T22:00:00Z',
        end: '2025-12-31T22:30:00Z',
        views: ['driver_hourly_stats'],
      })
      expect(windowed.views[0]).toMatchObject({ rows: 1, written: 0, skipped: 1 })
    } finally {
      await store.close()
    }
  })

  it('reads the clock for explain, materializeIncremental and online reads when they are given no time', async () => {
    const store = await createTestStore({ definitions: defs, data: { driver_stats: STATS }, now: NOW })
    try {
      const result = await store.materializeIncremental({ views: ['driver_hourly_stats'] })
      expect(result.views[0]!.end).toBe(toMicros(NOW))
      store.clock.advance('30m')
      const report = await store.explain({ entityRow: { driver_id: 1001 }, features: convRate })
      expect(report.at).toBe(toMicros('2026-01-01T00:30:00Z'))
      expect(report.features[0]!.details.ageSeconds).toBe(90 * 60)
      store.clock.advance('1d')
      const online = await store.getOnlineFeatures({ entities: { driver_id: [1001] }, features: convRate })
      expect(online.results[1]!.statuses).toEqual(['OUTSIDE_MAX_AGE'])
      const given = await store.getOnlineFeatures(
        { entities: { driver_id: [1001] }, features: convRate },
        { now: '2026-01-01T00:00:00Z' },
      )
      expect(given.results[1]!.statuses).toEqual(['PRESENT'])
    } finally {
      await store.close()
    }
  })

  it('takes rows by view name and as an Arrow table, writes a glob, and an empty file for a source without rows', async () => {
    const trips = tableFromArrays({
      driver_id: [1001, 1002],
      ts: ['2025-12-31T10:00:00Z', '2025-12-31T11:00:00.123456Z'],
      trip_count: [4, 7],
      last_city: ['Lyon', 'Oslo'],
    })
    const store = await createTestStore({ definitions: defs, data: { trips }, now: NOW })
    try {
      const files = readdirSync(join(store.config.repoPath, 'data'), { recursive: true }).map(String).sort()
      expect(files).toEqual([
        'driver_stats.parquet',
        'ratings.parquet',
        'trips',
        join('trips', 'data.parquet'),
      ])
      await store.materialize()
      await expectOnlineValues(
        store,
        {
          entityRow: { driver_id: 1002 },
          features: ['trips:trip_count', 'trips:last_city', 'ratings:stars'],
        },
        { trip_count: 7, last_city: 'Oslo', stars: null },
      )
      await expectPointInTime(
        store,
        {
          entity: { driver_id: 1002 },
          at: '2025-12-31T11:00:00.123456Z',
          features: ['trips:trip_count', 'ratings:stars'],
        },
        { trip_count: 7, stars: null },
      )
      await expectPointInTime(
        store,
        { entity: { driver_id: 1002 }, at: '2025-12-31T11:00:00.123455Z', feature: 'trips:trip_count' },
        null,
      )
    } finally {
      await store.close()
    }
  })

  it('takes an array of definitions and a project, and deletes its directory on close', async () => {
    const store = await createTestStore({
      definitions: [defs.driver, defs.driverStats],
      data: { driver_hourly_stats: STATS.slice(0, 1) },
      project: 'unit',
      now: NOW,
    })
    const dir = store.config.repoPath
    expect(existsSync(join(dir, 'data', 'driver_stats.parquet'))).toBe(true)
    expect(store.project).toBe('unit')
    expect((await store.listEntities()).map((e) => e.name)).toEqual(['driver'])
    await store.close()
    await store.close()
    expect(existsSync(dir)).toBe(false)
  })

  it('writes a CSV source from its rows, and refuses one without rows, which would have no types', async () => {
    const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
    const view = new FeatureView({
      name: 'csv_view',
      entities: [driver],
      source: new FileSource({ name: 'csv_source', path: 'data/rows.csv', timestampField: 'ts' }),
      schema: [new Field({ name: 'n', dtype: Int64 })],
    })
    const store = await createTestStore({
      definitions: [view],
      data: { csv_source: [{ driver_id: 5, ts: '2025-12-31T00:00:00Z', n: 42 }] },
      now: NOW,
    })
    try {
      expect(readFileSync(join(store.config.repoPath, 'data', 'rows.csv'), 'utf8').split('\n')[0]).toBe(
        'driver_id,ts,n',
      )
      await store.materialize()
      await expectOnlineValues(store, { entityRow: { driver_id: 5 }, features: ['csv_view:n'] }, { n: 42 })
    } finally {
      await store.close()
    }
    expect((await failure(createTestStore({ definitions: [view] }))).message).toBe(
      'createTestStore: data has no rows for the CSV source "csv_source", and a CSV file without rows has no column types to check the views against',
    )
  })

  it('computes on-demand views stored at write time when it materializes and when rows are written online', async () => {
    const doubled = new OnDemandFeatureView({
      name: 'doubled',
      sources: [defs.driverStats.select(['conv_rate'])],
      writeToOnlineStore: true,
      schema: [new Field({ name: 'conv_rate_x2', dtype: Float64 })],
      transform: ({ conv_rate }) => ({ conv_rate_x2: conv_rate === null ? null : (conv_rate as number) * 2 }),
    })
    const store = await createTestStore({
      definitions: [defs, doubled],
      data: { driver_stats: STATS },
      now: NOW,
    })
    try {
      await store.materialize()
      await expectOnlineValues(
        store,
        { entityRow: { driver_id: 1001 }, features: ['doubled:conv_rate_x2'] },
        {
          conv_rate_x2: approx(0.2),
        },
      )
      await store.writeToOnlineStore({
        featureViewName: 'driver_hourly_stats',
        df: [
          {
            driver_id: 1003,
            event_timestamp: '2025-12-31T23:30:00Z',
            conv_rate: 0.5,
            acc_rate: null,
            avg_daily_trips: 1,
          },
        ],
      })
      await expectOnlineValues(
        store,
        {
          entityRow: { driver_id: 1003 },
          features: ['doubled:conv_rate_x2', 'driver_hourly_stats:conv_rate'],
        },
        { conv_rate_x2: 1, conv_rate: 0.5 },
      )
    } finally {
      await store.close()
    }
  })

  it('names the key, source, row, column and value of data that does not fit, and the fix', async () => {
    const unknown = await failure(createTestStore({ definitions: defs, data: { drivers: [] } }))
    expect(unknown.message).toBe(
      'createTestStore: data key "drivers" names no source or feature view of the definitions',
    )
    expect((unknown as { hint?: string }).hint).toContain('driver_stats')
    const mixed = await failure(
      createTestStore({
        definitions: defs,
        data: { driver_stats: [STATS[0]!, { ...STATS[1], conv_rate: 'high' }] },
      }),
    )
    expect(mixed.message).toBe(
      'createTestStore: data for source "driver_stats" column "conv_rate" mixes values of types float, string: row 1 holds "high", row 0 holds 0.25',
    )
    const text = await failure(
      createTestStore({
        definitions: defs,
        data: {
          driver_stats: [
            { ...STATS[0], conv_rate: '0.5' },
            { ...STATS[1], conv_rate: 'high' },
          ],
        },
      }),
    )
    expect(text.message).toBe(
      'createTestStore: data for source "driver_stats" has "high" in row 1 of column "conv_rate", which is not a FLOAT (feature view "driver_hourly_stats" declares Float32)',
    )
    const fraction = await failure(
      createTestStore({ definitions: defs, data: { driver_stats: [{ ...STATS[0], avg_daily_trips: 1.5 }] } }),
    )
    expect(fraction.message).toContain('has 1.5 in row 0 of column "avg_daily_trips", which is not a BIGINT')
    const twice = await failure(
      createTestStore({ definitions: defs, data: { driver_stats: [], driver_hourly_stats: [] } }),
    )
    expect(twice.message).toBe(
      'createTestStore: data gives rows for source "driver_stats" twice, as "driver_stats" and as "driver_hourly_stats"',
    )
  })

  it('refuses definitions it cannot stand in for, naming them', async () => {
    const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
    const absolute = new FeatureView({
      name: 'abs',
      entities: [driver],
      source: new FileSource({ name: 'abs_source', path: '/srv/data/abs.parquet', timestampField: 'ts' }),
      schema: [new Field({ name: 'x', dtype: Float32 })],
    })
    expect((await failure(createTestStore({ definitions: [absolute] }))).message).toContain(
      'FileSource "abs_source" has the absolute path /srv/data/abs.parquet',
    )
    const inferred = new FeatureView({
      name: 'inferred',
      entities: [driver],
      source: new FileSource({ name: 'inferred_source', path: 'inferred.parquet', timestampField: 'ts' }),
    })
    expect((await failure(createTestStore({ definitions: [inferred] }))).message).toBe(
      'createTestStore: feature view "inferred" declares no schema and data has no rows for its source "inferred_source"',
    )
    expect((await failure(createTestStore({ definitions: { SAMPLE_SIZE: 3 } }))).message).toBe(
      'createTestStore: definitions hold no definitions',
    )
    expect(
      (
        await failure(
          createTestStore({ definitions: [new Project({ name: 'one' }), driver], project: 'two' }),
        )
      ).message,
    ).toBe('createTestStore: project is "two" but the definitions define project "one"')
    expect((await failure(createTestStore({ definitions: [driver, 7] }))).message).toContain(
      'definitions[1] is number',
    )
  })
})

describe('expectOnlineValues and expectPointInTime', () => {
  it('throw a plain Error listing each value, the cause explain finds, and the actual values to paste', async () => {
    const store = await createTestStore({ definitions: defs, data: { driver_stats: STATS }, now: NOW })
    try {
      await store.materialize()
      const wrong = await failure(
        expectOnlineValues(
          store,
          { entityRow: { driver_id: 1001, val_to_add: 2 }, featureService: 'driver_activity' },
          { conv_rate: 0.2, avg_daily_trips: 12, conv_rate_plus_val: 2.1, acc_rate: 0.75 },
        ),
      )
      expect(wrong.constructor).toBe(Error)
      const lines = wrong.message.split('\n')
      expect(lines[0]).toBe(
        'expectOnlineValues: 3 of 4 values differ for entity row { driver_id: 1001, val_to_add: 2 } at 2026-01-01T00:00:00Z',
      )
      expect(lines).toContain(
        '  ✗ conv_rate: expected 0.2 (PRESENT), got 0.1 (PRESENT, event 2025-12-31T23:00:00Z)',
      )
      expect(lines).toContain('  ✓ avg_daily_trips: 12 (PRESENT, event 2025-12-31T23:00:00Z)')
      expect(lines).toContain(
        '  ✗ conv_rate_plus_val: expected 2.1 (PRESENT), got 2.100000001490116 (PRESENT)',
      )
      expect(
        lines.some((l) => l.startsWith('  ✗ acc_rate: expected, but the response has no such column')),
      ).toBe(true)
      expect(lines.at(-1)).toBe(
        'actual: { conv_rate: 0.1, avg_daily_trips: 12, conv_rate_plus_val: 2.100000001490116 }',
      )

      store.clock.advance('2d')
      const stale = await failure(
        expectOnlineValues(store, { entityRow: { driver_id: 1001 }, features: convRate }, { conv_rate: 0.1 }),
      )
      expect(stale.message).toContain(
        '  ✗ conv_rate: expected 0.1 (PRESENT), got 0.1 (OUTSIDE_MAX_AGE, event 2025-12-31T23:00:00Z)',
      )
      expect(stale.message).toMatch(/\n {6}why: .*maxAge of 1d of feature view "driver_hourly_stats"/)
      expect(stale.message).toContain("actual: { conv_rate: withStatus('OUTSIDE_MAX_AGE', 0.1) }")

      const absent = await failure(
        expectOnlineValues(
          store,
          {
            entityRow: { driver_id: 1003 },
            features: ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:acc_rate'],
          },
          { conv_rate: withStatus('NULL_VALUE'), acc_rate: null },
        ),
      )
      expect(absent.message).toContain('  ✗ conv_rate: expected status NULL_VALUE, got null (NOT_FOUND)')
      expect(absent.message).toContain('  ✓ acc_rate: null (NOT_FOUND)')
      expect(absent.message).toMatch(
        /why: source "driver_stats" of feature view "driver_hourly_stats" has no row for driver_id=1003/,
      )

      const unchecked = await failure(
        expectOnlineValues(
          store,
          { entityRow: { driver_id: 1001 }, features: ['driver_hourly_stats:acc_rate', ...convRate] },
          {
            acc_rate: withStatus('OUTSIDE_MAX_AGE'),
            driver_id: 1002,
          },
        ),
      )
      expect(unchecked.message).toContain('  ✗ conv_rate: not in the expected values')
      expect(unchecked.message).toContain('  ✗ driver_id: expected 1002 (PRESENT), got 1001 (PRESENT)')

      const pit = await failure(
        expectPointInTime(
          store,
          {
            entity: { driver_id: 1001 },
            at: '2026-01-01T00:00:00Z',
            feature: 'driver_hourly_stats:conv_rate',
          },
          0.25,
        ),
      )
      expect(pit.message.split('\n')).toEqual([
        'expectPointInTime: 1 of 1 values differ for entity { driver_id: 1001 } at 2026-01-01T00:00:00Z',
        '  ✗ conv_rate: expected 0.25, got 0.1',
        '      source "driver_stats": the newest row at or before 2026-01-01T00:00:00Z is at 2025-12-31T23:00:00Z, value 0.1 (the view\'s ttl is 86400 s)',
      ])
      const late = await failure(
        expectPointInTime(
          store,
          {
            entity: { driver_id: 1001 },
            at: '2026-01-02T23:00:01Z',
            feature: 'driver_hourly_stats:conv_rate',
          },
          0.1,
        ),
      )
      expect(late.message).toContain('  ✗ conv_rate: expected 0.1, got null')
      await expectPointInTime(
        store,
        {
          entity: { driver_id: 1001, val_to_add: 1 },
          at: '2025-12-31T22:30:00Z',
          features: ['driver_hourly_stats:acc_rate', 'conv_plus:conv_rate_plus_val'],
        },
        { acc_rate: 0.5, conv_rate_plus_val: approx(1.25) },
      )
      expect(
        (await failure(expectPointInTime(store, { entity: { driver_id: 1001 }, at: NOW }, 1))).message,
      ).toBe('expectPointInTime: give either feature or features')
    } finally {
      await store.close()
    }
  })

  it('compare as the store holds values: Float32 rounding, timestamps as Date or text', async () => {
    const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
    const { UnixTimestamp } = await import('../index.js')
    const view = new FeatureView({
      name: 'seen',
      entities: [driver],
      source: new FileSource({
        name: 'seen_source',
        path: 'seen.parquet',
        timestampField: 'event_timestamp',
      }),
      schema: [
        new Field({ name: 'last_seen', dtype: UnixTimestamp }),
        new Field({ name: 'score', dtype: Float32 }),
      ],
    })
    const store = await createTestStore({
      definitions: [view],
      data: {
        seen: [
          {
            driver_id: 1,
            event_timestamp: '2025-12-31T00:00:00Z',
            last_seen: '2025-12-30T08:00:00Z',
            score: 0.3,
          },
        ],
      },
      now: NOW,
    })
    try {
      await store.materialize()
      const request = { entityRow: { driver_id: 1 }, features: ['seen:last_seen', 'seen:score'] }
      await expectOnlineValues(store, request, { last_seen: new Date('2025-12-30T08:00:00Z'), score: 0.3 })
      await expectOnlineValues(store, request, { last_seen: '2025-12-30T08:00:00Z', score: Math.fround(0.3) })
      const wrong = await failure(
        expectOnlineValues(store, request, { last_seen: '2025-12-30T09:00:00Z', score: 0.3 }),
      )
      expect(wrong.message).toContain(
        "  ✗ last_seen: expected '2025-12-30T09:00:00Z' (PRESENT), got 1767081600 (PRESENT",
      )
      await expectPointInTime(
        store,
        { entity: { driver_id: 1 }, at: NOW, features: ['seen:last_seen', 'seen:score'] },
        { last_seen: new Date('2025-12-30T08:00:00Z'), score: 0.3 },
      )
    } finally {
      await store.close()
    }
  })
})

describe('FeatureStore.open', () => {
  it('reads the system clock unless it is given one', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'larder-clock-'))
    try {
      writeFileSync(join(repo, 'feature_store.yaml'), 'project: clocked\nregistry: data/registry.db\n')
      const plain = await FeatureStore.open(repo)
      expect(plain.clock).toBe(systemClock)
      await plain.close()
      const clock = new ManualClock('2026-01-01T00:00:00Z')
      const given = await FeatureStore.open(repo, { clock })
      expect(given.clock).toBe(clock)
      await given.close()
    } finally {
      rmSync(repo, { recursive: true, force: true })
    }
  })
})
