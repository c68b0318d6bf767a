import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { larder } from '../cli/__fixtures__/run-larder.js'
import { toMicros, ValueType } from '../core/index.js'
import type { FeatureStore } from '../feature-store.js'
import { testOnlineStores } from '../materialize/__fixtures__/online-stores.js'
import { createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import type { Row } from '../offline/index.js'
import { encodeWriteRow, entityKeyEncoder, viewRef } from '../online/online-store.js'
import { describeWithService } from '../testing/services.js'
import { stats } from './__fixtures__/explain-features.js'
import type { ExplainCauseCode, ExplainRequest, FeatureExplanation } from './explain.js'
import type { ParityReport } from './parity.js'

const DEFINITIONS = fileURLToPath(new URL('./__fixtures__/explain-features.ts', import.meta.url))
const T0 = Date.parse('2026-01-01T00:00:00Z')

/** An ISO instant `hours` after T0. */
function at(hours: number): string {
  return new Date(T0 + hours * 3_600_000).toISOString().replace('.000Z', 'Z')
}

function row(driverId: number, hours: number, overrides: Row = {}): Row {
  return {
    driver_id: driverId,
    event_timestamp: at(hours),
    created: at(hours),
    conv_rate: 0.25,
    trips: 7,
    label: 'ok',
    ...overrides,
  }
}

/**
 * - 1001: rows at 1h and 3h; 1002: a null conv_rate at 3.5h; 1003: the label "bad" at 3.5h;
 * - 1004: one row at 0.5h (beyond the 2h ttl at 4h); 1005: one row at 5h (after the window);
 * - 1006: one row at 2.5h (within ttl at 4h, before the window); 1007, 1008: rows at 3.2h.
 * The window materialized is [3h, 4h].
 */
function explainRows(): Row[] {
  return [
    row(1001, 1, { conv_rate: 0.125 }),
    row(1001, 3, { conv_rate: 0.375 }),
    row(1002, 3.5, { conv_rate: null, trips: 2 }),
    row(1003, 3.5, { label: 'bad' }),
    row(1004, 0.5),
    row(1005, 5),
    row(1006, 2.5),
    row(1007, 3.2, { conv_rate: 0.5 }),
    row(1008, 3.2, { conv_rate: 0.5 }),
  ]
}

/** The one feature the request asks for. */
async function one(store: FeatureStore, request: ExplainRequest): Promise<FeatureExplanation> {
  const report = await store.explain(request)
  expect(report.features).toHaveLength(1)
  return report.features[0]!
}

function expectCause(x: FeatureExplanation, code: ExplainCauseCode, command: string | RegExp): void {
  expect(x.cause.code, x.cause.message).toBe(code)
  expect(x.cause.message.length).toBeGreaterThan(20)
  if (typeof command === 'string') expect(x.cause.fix).toContain(command)
  else expect(x.cause.fix).toMatch(command)
}

function byView(report: ParityReport, view: string) {
  const found = report.views.find((v) => v.view === view)
  expect(found, view).toBeDefined()
  return found!
}

/** The `larder ...` command a fix names (up to the end of the clause). */
function commandOf(fix: string | null): string[] {
  const found = /larder (materialize(?:-incremental)?) [^;)]*/.exec(fix ?? '')
  expect(found, fix ?? 'no fix').not.toBeNull()
  return found![0].trim().split(/\s+/).slice(1)
}

describe('explain: one cause per repo state (SQLite online, DuckDB over Parquet offline)', () => {
  let repo: TestRepo
  let store: FeatureStore
  beforeAll(async () => {
    repo = await createTestRepo({
      onlineStore: 'type: sqlite\npath: data/online.db',
      definitions: DEFINITIONS,
      data: new Map([[stats, explainRows()]]),
    })
    store = repo.store
    await store.materialize({ start: at(3), end: at(4), views: ['stats', 'stats_fresh', 'stats_expiring'] })
  })
  afterAll(async () => {
    await repo?.close()
  })

  it('ok: a PRESENT value, with its event time and age', async () => {
    const x = await one(store, { entityRow: { driver_id: 1001 }, features: ['stats:conv_rate'], at: at(4) })
    expect(x.status).toBe('PRESENT')
    expect(x.value).toBe(Math.fround(0.375))
    expect(x.eventTs).toBe(toMicros(at(3)))
    expect(x.cause.code).toBe('ok')
    expect(x.cause.fix).toBeNull()
    expect(x.cause.message).toContain('1h old')
    expect(x.details.ageSeconds).toBe(3600)
    expect(x.details.source?.atOrBefore?.eventTs).toBe(toMicros(at(3)))
    expect(x.details.materialized).toEqual({ intervals: 1, start: toMicros(at(3)), end: toMicros(at(4)) })
    expect(x.details.lastRun?.status).toBe('succeeded')
  })

  it('not_materialized: a view without any recorded interval; the fix loads it', async () => {
    const request = { entityRow: { driver_id: 1001 }, features: ['stats_never:conv_rate'], at: at(4) }
    const x = await one(store, request)
    expect(x.status).toBe('NOT_FOUND')
    expectCause(x, 'not_materialized', `larder materialize-incremental ${at(4)} --views stats_never`)
    expect(x.details.materialized).toBeNull()
    const fixed = await larder('-c', repo.dir, ...commandOf(x.cause.fix))
    expect(fixed.code, fixed.stderr).toBe(0)
    expect((await one(store, request)).cause.code).toBe('ok')
  })

  it('materialization_failed: the only run failed, and its error is quoted; the fix loads the view', async () => {
    const file = join(repo.dir, 'data', 'stats.parquet')
    renameSync(file, `${file}.away`)
    try {
      await expect(
        store.materialize({ start: at(3), end: at(4), views: ['stats_failing'] }),
      ).rejects.toThrow()
    } finally {
      renameSync(`${file}.away`, file)
    }
    const request = { entityRow: { driver_id: 1001 }, features: ['stats_failing:conv_rate'], at: at(4) }
    const x = await one(store, request)
    expect(x.status).toBe('NOT_FOUND')
    expectCause(x, 'materialization_failed', `larder materialize-incremental ${at(4)} --views stats_failing`)
    expect(x.cause.message).toContain(`its last materialization (${at(3)} to ${at(4)}) failed: `)
    expect(x.details.lastRun?.status).toBe('failed')
    const fixed = await larder('-c', repo.dir, ...commandOf(x.cause.fix))
    expect(fixed.code, fixed.stderr).toBe(0)
    expect((await one(store, request)).cause.code).toBe('ok')
  })

  it('key_not_in_source: the source has no row for the key', async () => {
    const x = await one(store, { entityRow: { driver_id: 9999 }, features: ['stats:conv_rate'], at: at(4) })
    expect(x.status).toBe('NOT_FOUND')
    expectCause(x, 'key_not_in_source', 'larder materialize-incremental')
    expect(x.cause.message).toContain('source "stats_source"')
    expect(x.cause.message).toContain('driver_id=9999')
    expect(x.details.source).toEqual({
      name: 'stats_source',
      atOrBefore: null,
      atLastEnd: null,
      newestEventTs: null,
    })
  })

  it('after_materialized_window: the newest row came after the last materialized end', async () => {
    const request = { entityRow: { driver_id: 1005 }, features: ['stats:trips'], at: at(6) }
    const x = await one(store, request)
    expect(x.status).toBe('NOT_FOUND')
    expectCause(x, 'after_materialized_window', `larder materialize-incremental ${at(6)} --views stats`)
    expect(x.cause.message).toContain(at(5))
    expect(x.cause.message).toContain(at(4))
  })

  it('first_row_after_at: at the time asked about, the key had no row yet', async () => {
    const x = await one(store, { entityRow: { driver_id: 1005 }, features: ['stats:trips'], at: at(4.5) })
    expectCause(x, 'first_row_after_at', 'larder materialize-incremental')
  })

  it('before_materialized_window: a row within ttl but before the first window; the fix loads it', async () => {
    const request = { entityRow: { driver_id: 1006 }, features: ['stats:trips'], at: at(4) }
    const x = await one(store, request)
    expect(x.status).toBe('NOT_FOUND')
    expectCause(x, 'before_materialized_window', `larder materialize ${at(2.5)} ${at(3)} --views stats`)
    const fixed = await larder('-c', repo.dir, ...commandOf(x.cause.fix))
    expect(fixed.code, fixed.stderr).toBe(0)
    expect((await one(store, request)).cause.code).toBe('ok')
  })

  it('outside_ttl: the newest row is older than the ttl, offline and online alike', async () => {
    const x = await one(store, { entityRow: { driver_id: 1004 }, features: ['stats:conv_rate'], at: at(4) })
    expect(x.status).toBe('NOT_FOUND')
    expectCause(x, 'outside_ttl', 'larder apply')
    expect(x.cause.fix).toContain('larder materialize-incremental')
    expect(x.cause.message).toContain('3h30m before')
    expect(x.cause.message).toContain('ttl of 2h')
  })

  it('null_in_source: the source row holds null', async () => {
    const x = await one(store, { entityRow: { driver_id: 1002 }, features: ['stats:conv_rate'], at: at(4) })
    expect(x.status).toBe('NULL_VALUE')
    expectCause(x, 'null_in_source', `larder materialize ${at(3.5)} ${at(4)} --views stats`)
    expect(x.cause.message).toContain('holds null for conv_rate')
  })

  it('outside_max_age: the value is older than maxAge and the source has nothing newer', async () => {
    const x = await one(store, {
      entityRow: { driver_id: 1001 },
      features: ['stats_fresh:conv_rate'],
      at: at(4),
    })
    expect(x.status).toBe('OUTSIDE_MAX_AGE')
    expect(x.value).toBe(Math.fround(0.375))
    expectCause(x, 'outside_max_age', 'larder materialize-incremental')
    expect(x.cause.message).toContain('1h old')
    expect(x.cause.message).toContain('maxAge of 30m')
    expect(x.details.maxAgeSeconds).toBe(1800)
  })

  it('storage_expired: a store without native expiry hides rows older than storageTtl', async () => {
    const x = await one(store, {
      entityRow: { driver_id: 1001 },
      features: ['stats_expiring:conv_rate'],
      at: at(4),
    })
    expect(x.status).toBe('NOT_FOUND')
    expectCause(x, 'storage_expired', 'larder materialize-incremental')
    expect(x.cause.message).toContain('storageTtl of 30m')
  })

  it('join_key_type: the string "1001" for an Int64 key is read as 1001, and said so', async () => {
    const x = await one(store, { entityRow: { driver_id: '1001' }, features: ['stats:conv_rate'], at: at(4) })
    expect(x.status).toBe('PRESENT')
    expectCause(x, 'join_key_type', 'larder get driver_id=1001 --features stats:conv_rate')
    expect(x.cause.message).toContain('the string "1001"')
    expect(x.cause.message).toContain('INT64')
    expect(x.details.normalisedCause?.code).toBe('ok')
    expect(x.details.joinKey).toEqual({
      key: 'driver_id',
      given: 'the string "1001"',
      used: 1001,
      type: 'INT64',
    })
    // the same through the columnar form of getOnlineFeatures, which refuses the string itself
    await expect(
      store.getOnlineFeatures({ entities: { driver_id: ['1001'] }, features: ['stats:conv_rate'] }),
    ).rejects.toThrow('does not match its type INT64')
    const columnar = await store.explain({ entities: { driver_id: ['1001'] }, features: ['stats:conv_rate'] })
    expect(columnar.features[0]!.cause.code).toBe('join_key_type')
    expect(columnar.entity).toEqual({ driver_id: 1001 })
  })

  it('odfv_input_missing: an input feature the store lacks, or a request field not sent', async () => {
    const missing = await one(store, {
      entityRow: { driver_id: 9999 },
      features: ['conv_plus_one:conv_rate_plus_one'],
      at: at(4),
    })
    expect(missing.status).toBe('NULL_VALUE')
    expectCause(missing, 'odfv_input_missing', 'larder materialize-incremental')
    expect(missing.cause.message).toContain('input stats:conv_rate is NOT_FOUND')
    expect(missing.details.inputs?.map((i) => i.cause.code)).toEqual(['key_not_in_source'])

    const field = await one(store, {
      entityRow: { driver_id: 1001 },
      features: ['trips_plus_offset:total'],
      at: at(4),
    })
    expect(field.status).toBe('ERROR')
    expectCause(field, 'odfv_input_missing', 'larder explain driver_id=1001,offset=<value>')
    expect(field.cause.message).toContain('request field "offset"')
    const given = await one(store, {
      entityRow: { driver_id: 1001, offset: 3 },
      features: ['trips_plus_offset:total'],
      at: at(4),
    })
    expect(given.status).toBe('PRESENT')
    expect(given.value).toBe(10)
    expect(given.cause.code).toBe('ok')
  })

  it('odfv_transform_failed: the transformation throws, and its error is the message', async () => {
    const report = await store.explain({
      entityRow: { driver_id: 1003 },
      features: ['stats:label', 'label_length:length'],
      at: at(4),
    })
    const [label, length] = report.features
    expect(label!.status).toBe('PRESENT')
    expect(length!.status).toBe('ERROR')
    expectCause(length!, 'odfv_transform_failed', 'larder apply')
    expect(length!.cause.message).toContain('the label "bad" is not allowed')
    expect(length!.details.error).toContain('the label "bad" is not allowed')
  })

  it('not_pushed: a view fed by pushes only, with nothing pushed for the key', async () => {
    const x = await one(store, { entityRow: { driver_id: 1001 }, features: ['live:speed'], at: at(4) })
    expectCause(x, 'not_pushed', 'POST /push')
  })

  it('online_value_differs: an online row that does not match its source row; the fix rewrites it', async () => {
    const ref = viewRef(repo.project, (await store.catalog()).featureView('stats'))
    const online = await store.online()
    const [key] = (await store.explain({ entityRow: { driver_id: 1008 }, features: ['stats:trips'] }))
      .features
    await online.write(ref, [
      encodeWriteRow(ref, {
        entityKey: Buffer.from(key!.details.entityKey!, 'hex'),
        values: { conv_rate: 0.875, trips: 7, label: 'ok' },
        eventTs: toMicros(at(3.2)),
      }),
    ])
    const request = { entityRow: { driver_id: 1008 }, features: ['stats:conv_rate'], at: at(4) }
    const x = await one(store, request)
    expect(x.status).toBe('PRESENT')
    expect(x.value).toBe(0.875)
    expectCause(x, 'online_value_differs', `larder materialize ${at(3.2)} ${at(4)} --views stats`)
    expect(x.cause.message).toContain('0.875')
    expect(x.cause.message).toContain('0.5')
    const fixed = await larder('-c', repo.dir, ...commandOf(x.cause.fix))
    expect(fixed.code, fixed.stderr).toBe(0)
    const after = await one(store, request)
    expect(after.cause.code).toBe('ok')
    expect(after.value).toBe(0.5)
  })

  it('source_changed_after_materialization: a row appended inside a loaded window; the fix reloads it', async () => {
    const offline = await store.offline()
    await offline.writeRows(stats, [row(1007, 3.7, { conv_rate: 0.625 })])
    const request = { entityRow: { driver_id: 1007 }, features: ['stats:conv_rate'], at: at(4) }
    const x = await one(store, request)
    expect(x.status).toBe('PRESENT')
    expect(x.value).toBe(0.5)
    expectCause(
      x,
      'source_changed_after_materialization',
      `larder materialize ${at(3.7)} ${at(4)} --views stats`,
    )
    const fixed = await larder('-c', repo.dir, ...commandOf(x.cause.fix))
    expect(fixed.code, fixed.stderr).toBe(0)
    const after = await one(store, request)
    expect(after.cause.code).toBe('ok')
    expect(after.value).toBe(0.625)
  })

  it('key_encoding_mismatch: rows written under a String key for an Int64 view', async () => {
    const catalog = await store.catalog()
    const declared = viewRef(repo.project, catalog.featureView('stats'))
    const asString = { ...declared, joinKeys: [{ name: 'driver_id', valueType: ValueType.STRING }] }
    const online = await store.online()
    await online.write(asString, [
      encodeWriteRow(asString, {
        entityKey: entityKeyEncoder(asString, 3)(['1010']),
        values: { conv_rate: 0.5, trips: 1, label: 'ok' },
        eventTs: toMicros(at(3.5)),
      }),
    ])
    const x = await one(store, { entityRow: { driver_id: 1010 }, features: ['stats:conv_rate'], at: at(4) })
    expect(x.status).toBe('NOT_FOUND')
    expectCause(x, 'key_encoding_mismatch', 'larder apply')
    expect(x.cause.message).toContain('driver_id as STRING "1010"')
  })

  it('explains several features at once, and a feature service under its projections', async () => {
    const report = await store.explain({
      entityRow: { driver_id: 1002 },
      features: ['stats:conv_rate', 'stats:trips', 'conv_plus_one:conv_rate_plus_one'],
      at: at(4),
    })
    expect(report.features.map((f) => [f.feature, f.status, f.cause.code])).toEqual([
      ['stats:conv_rate', 'NULL_VALUE', 'null_in_source'],
      ['stats:trips', 'PRESENT', 'ok'],
      ['conv_plus_one:conv_rate_plus_one', 'NULL_VALUE', 'odfv_input_missing'],
    ])
    const service = await store.explain({
      entityRow: { origin_id: 1001, driver_id: 9999 },
      featureService: 'pair',
      at: at(4),
    })
    expect(service.features.map((f) => [f.feature, f.status, f.cause.code])).toEqual([
      ['origin:conv_rate', 'PRESENT', 'ok'],
      ['conv_plus_one:conv_rate_plus_one', 'NULL_VALUE', 'odfv_input_missing'],
    ])
    expect(service.features[1]!.cause.message).toContain('driver_id=9999')
    await expect(
      store.explain({ entities: { driver_id: [1, 2] }, features: ['stats:trips'] }),
    ).rejects.toThrow('explain takes one entity row')
    await expect(store.explain({ entityRow: {}, features: ['stats:trips'] })).rejects.toThrow(
      'lacks the join key "driver_id"',
    )
  })

  it('online_store_empty: intervals recorded, but the online store was switched', async () => {
    const yaml = join(repo.dir, 'feature_store.yaml')
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('data/online.db', 'data/other.db'))
    const switched = await repo.reopen()
    await switched.apply()
    const x = await one(switched, {
      entityRow: { driver_id: 1001 },
      features: ['stats:conv_rate'],
      at: at(4),
    })
    expect(x.status).toBe('NOT_FOUND')
    expectCause(x, 'online_store_empty', /larder materialize \S+ \S+ --views stats/)
    expect(x.cause.message).toContain('the sqlite online store holds none of its rows')
    const fixed = await larder('-c', repo.dir, ...commandOf(x.cause.fix))
    expect(fixed.code, fixed.stderr).toBe(0)
    expect(
      (await one(switched, { entityRow: { driver_id: 1001 }, features: ['stats:conv_rate'], at: at(4) }))
        .cause.code,
    ).toBe('ok')
  })
})

const STATES = fileURLToPath(new URL('./__fixtures__/explain-states.ts', import.meta.url))

/** A features.ts registering the named exports of explain-states.ts. */
function statesFile(names: readonly string[]): string {
  return `export { ${names.join(', ')} } from ${JSON.stringify(STATES)}\n`
}

/**
 * Runs `body` on a fresh repo (SQLite online) of the named definitions over {@link explainRows} and
 * `extra` rows, with stats materialized for [3h, 4h], and deletes the repo after: for the cases that
 * change what the repo holds, so no other case depends on them.
 */
async function withStateRepo(
  names: readonly string[],
  extra: readonly Row[],
  body: (repo: TestRepo) => Promise<void>,
): Promise<void> {
  const repo = await createTestRepo({
    onlineStore: 'type: sqlite\npath: data/online.db',
    featuresFile: statesFile(['driver', 'statsSource', 'stats', ...names]),
    data: new Map([[stats, [...explainRows(), ...extra]]]),
  })
  try {
    await repo.store.materialize({ start: at(3), end: at(4), views: ['stats'] })
    await body(repo)
  } finally {
    await repo.close()
  }
}

describe('explain: the causes that need a repo of their own', () => {
  it('online_not_in_source: a value pushed to the online store only; pushing it offline too ends it', async () => {
    await withStateRepo(['statsPush', 'pushedStats'], [], async ({ store }) => {
      const pushed = row(2001, 3.5, { conv_rate: 0.75 })
      await store.push({ pushSourceName: 'stats_push', df: [pushed], to: 'online' })
      const request = { entityRow: { driver_id: 2001 }, features: ['pushed_stats:conv_rate'], at: at(4) }
      const x = await one(store, request)
      expect(x.status).toBe('PRESENT')
      expect(x.value).toBe(0.75)
      expectCause(x, 'online_not_in_source', 'push with to: "online_and_offline"')
      expect(x.cause.message).toContain(`an event at ${at(3.5)}, but source "stats_source" has no row`)
      expect(x.cause.message).toContain('pushed or written to the online store only')
      await store.push({ pushSourceName: 'stats_push', df: [pushed], to: 'online_and_offline' })
      expect((await one(store, request)).cause.code).toBe('ok')
    })
  })

  it('source_unreadable: the source file is corrupt, and its error is quoted; repaired, explain says more', async () => {
    await withStateRepo([], [], async ({ store, dir }) => {
      const file = join(dir, 'data', 'stats.parquet')
      const good = readFileSync(file)
      writeFileSync(file, 'not a parquet file')
      const request = { entityRow: { driver_id: 9999 }, features: ['stats:conv_rate'], at: at(4) }
      const x = await one(store, request)
      expect(x.status).toBe('NOT_FOUND')
      expectCause(x, 'source_unreadable', 'then run larder explain again')
      expect(x.cause.message).toContain('the offline source of feature view "stats" could not be read')
      expect(x.cause.message).toContain('stats.parquet')
      expect(x.cause.fix).toContain('fix source "stats_source"')
      expect(x.details.sourceError).toContain('stats.parquet')
      writeFileSync(file, good)
      expect((await one(store, request)).cause.code).toBe('key_not_in_source')
    })
  })

  it('odfv_null_output: the transformation returns null from present inputs', async () => {
    await withStateRepo(['convPerTrip'], [row(1011, 3.5, { trips: 0 })], async ({ store }) => {
      const request = { entityRow: { driver_id: 1011 }, features: ['conv_per_trip:per_trip'], at: at(4) }
      const x = await one(store, request)
      expect(x.status).toBe('NULL_VALUE')
      expectCause(x, 'odfv_null_output', 'larder apply')
      expect(x.cause.message).toContain(
        'the transformation of on-demand feature view "conv_per_trip" returned null for per_trip from present inputs',
      )
      expect(x.cause.fix).toContain('runOnDemand')
      expect(x.details.inputs?.map((i) => [i.feature, i.status, i.value])).toEqual([
        ['stats:conv_rate', 'PRESENT', 0.25],
        ['stats:trips', 'PRESENT', 0],
      ])
    })
  })

  it('odfv_output_not_written: a view stored at write time, added after its source view was loaded; the fix writes it', async () => {
    await withStateRepo([], [], async (repo) => {
      writeFileSync(
        join(repo.dir, 'features.ts'),
        statesFile(['driver', 'statsSource', 'stats', 'convPlusOneStored']),
      )
      const store = await repo.reopen()
      await store.apply()
      const request = {
        entityRow: { driver_id: 1001 },
        features: ['conv_plus_one_stored:conv_rate_plus_one'],
        at: at(4),
      }
      const x = await one(store, request)
      expect(x.status).toBe('NOT_FOUND')
      expectCause(x, 'odfv_output_not_written', `larder materialize ${at(3)} ${at(4)} --views stats`)
      expect(x.cause.message).toContain(
        `on-demand feature view "conv_plus_one_stored" stores its outputs when "stats" is materialized (last window up to ${at(4)}), but none was written for driver_id=1001`,
      )
      const fixed = await larder('-c', repo.dir, ...commandOf(x.cause.fix))
      expect(fixed.code, fixed.stderr).toBe(0)
      const after = await one(store, request)
      expect(after.cause.code).toBe('ok')
      expect(after.value).toBe(Math.fround(0.375) + 1)
    })
  })

  it("no_aggregation_tiles: a stream view's window with no tile for the key; the fix runs the stream processor", async () => {
    await withStateRepo(['tripsLastHour'], [], async ({ store }) => {
      const request = {
        entityRow: { driver_id: 1001 },
        features: ['trips_last_hour:sum_trips_3600s'],
        at: at(4),
      }
      const x = await one(store, request)
      expect(x.status).toBe('NOT_FOUND')
      expectCause(x, 'no_aggregation_tiles', 'larder stream')
      expect(x.cause.message).toContain(
        'no tile of stream feature view "trips_last_hour" holds events of this key',
      )
    })
  })
})

for (const { name, config, unavailable } of await testOnlineStores()) {
  if (name === 'sqlite') continue
  describeWithService(`explain and parity on the ${name} online store`, unavailable, () => {
    let repo: TestRepo
    beforeAll(async () => {
      repo = await createTestRepo({
        onlineStore: config,
        definitions: DEFINITIONS,
        data: new Map([[stats, explainRows()]]),
      })
      await repo.store.materialize({ start: at(3), end: at(4), views: ['stats'] })
    })
    afterAll(async () => {
      await repo?.close()
    })

    it('names the causes the store shapes: ok, null, stale, absent, another key type, emptied', async () => {
      const cause = async (driver: unknown, feature: string, hours = 4) =>
        (await one(repo.store, { entityRow: { driver_id: driver }, features: [feature], at: at(hours) }))
          .cause.code
      expect(await cause(1001, 'stats:conv_rate')).toBe('ok')
      expect(await cause(1002, 'stats:conv_rate')).toBe('null_in_source')
      expect(await cause(1005, 'stats:trips', 6)).toBe('after_materialized_window')
      expect(await cause(9999, 'stats:trips')).toBe('key_not_in_source')
      expect(await cause('1001', 'stats:conv_rate')).toBe('join_key_type')
      expect(await cause(1003, 'label_length:length')).toBe('odfv_transform_failed')

      const online = await repo.store.online()
      const declared = viewRef(repo.project, (await repo.store.catalog()).featureView('stats'))
      const asString = { ...declared, joinKeys: [{ name: 'driver_id', valueType: ValueType.STRING }] }
      await online.write(asString, [
        encodeWriteRow(asString, {
          entityKey: entityKeyEncoder(asString, 3)(['1010']),
          values: { conv_rate: 0.5, trips: 1, label: 'ok' },
          eventTs: toMicros(at(3.5)),
        }),
      ])
      expect(await cause(1010, 'stats:conv_rate')).toBe('key_encoding_mismatch')

      const clean = await repo.store.checkParity({ views: ['stats'] })
      expect(byView(clean, 'stats')).toMatchObject({ mismatches: 0 })
      expect(byView(clean, 'stats').keys).toBeGreaterThan(0)

      await online.teardown({ keep: [declared], drop: [] })
      await online.update({ keep: [declared], drop: [] })
      expect(await cause(1001, 'stats:conv_rate')).toBe('online_store_empty')
    })
  })
}
