import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { expect, it } from 'vitest'
import { formatMicros, toMicros } from '../core/index.js'
import type { Row } from '../offline/index.js'
import { describeWithService } from '../testing/services.js'
import { testOnlineStores } from './__fixtures__/online-stores.js'
import { PARITY_FEATURES, parityStats } from './__fixtures__/parity-features.js'
import { createTestRepo } from './__fixtures__/test-repo.js'

const PARITY_MODULE = fileURLToPath(new URL('./__fixtures__/parity-features.ts', import.meta.url))
const RUNS = Number(process.env.PARITY_RUNS ?? 6)
const T0 = toMicros('2026-01-01T00:00:00Z')
const SECOND = 1_000_000
const DRIVERS = 12
const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n }

const featureRow = fc.record({
  driver: fc.integer({ min: 1, max: DRIVERS }),
  second: fc.integer({ min: 0, max: 48 * 3600 }),
  createdLag: fc.integer({ min: 0, max: 3 }),
  // The offline store infers BIGINT for integral numbers while writing, so huge integral doubles are left out.
  f_double: fc.option(fc.double({ noNaN: true, min: -1e18, max: 1e18 }), { nil: null }),
  f_float: fc.option(fc.float({ noNaN: true, min: Math.fround(-1e18), max: Math.fround(1e18) }), {
    nil: null,
  }),
  f_long: fc.option(fc.bigInt(INT64), { nil: null }),
  f_int: fc.option(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { nil: null }),
  f_text: fc.option(
    fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => s.replaceAll('\0', '')),
    { nil: null },
  ),
  f_flag: fc.option(fc.boolean(), { nil: null }),
  f_time: fc.option(fc.integer({ min: 0, max: 4_000_000_000 }), { nil: null }),
  f_longs: fc.option(fc.array(fc.bigInt(INT64), { maxLength: 4 }), { nil: null }),
})

/** Feature rows (no two with the same driver, event and created time), a ttl and a window end. */
const scenario = fc.record({
  rows: fc.uniqueArray(featureRow, {
    minLength: 1,
    maxLength: 60,
    selector: (r) => `${r.driver}:${r.second}:${r.createdLag}`,
  }),
  ttl: fc.constantFrom(0, 3600, 7200, 86_400),
  endSecond: fc.integer({ min: 0, max: 50 * 3600 }),
})

type FeatureRow = typeof featureRow extends fc.Arbitrary<infer R> ? R : never

/** The source row: timestamps as RFC 3339 text, the UnixTimestamp feature as a timestamp column. */
function sourceRow(r: FeatureRow): Row {
  const { driver, second, createdLag, f_time, ...features } = r
  return {
    driver_id: driver,
    event_timestamp: formatMicros(T0 + second * SECOND),
    created: formatMicros(T0 + (second + createdLag) * SECOND),
    f_time: f_time === null ? null : formatMicros(f_time * SECOND),
    ...features,
  }
}

/** An offline value in the online representation: UnixTimestamp columns come back as RFC 3339 text. */
function offlineValue(feature: string, value: unknown): unknown {
  if (feature === 'f_time' && typeof value === 'string') return Math.floor(toMicros(value) / SECOND)
  return signless(value ?? null)
}

/**
 * -0 as 0: DuckDB's latest-row query (like any of its sorts or window functions) normalizes a float
 * -0 to +0, while its point-in-time join passes -0 through. The two are equal numbers.
 */
function signless(value: unknown): unknown {
  return Object.is(value, -0) ? 0 : value
}

for (const { name, config, unavailable } of await testOnlineStores()) {
  describeWithService(`parity of ${name} with the offline store`, unavailable, () => {
    it('after materialize, every online value is the point-in-time value at the window end', async () => {
      await fc.assert(
        fc.asyncProperty(scenario, async ({ rows, ttl, endSecond }) => {
          const end = T0 + endSecond * SECOND
          const start = ttl > 0 ? end - ttl * SECOND : T0 - 3600 * SECOND
          const view = parityStats(ttl)
          const repo = await createTestRepo({
            onlineStore: config,
            featuresFile: `import { parityStats } from ${JSON.stringify(PARITY_MODULE)}\nexport const view = parityStats(${ttl})\nexport { driver } from ${JSON.stringify(PARITY_MODULE)}\n`,
            data: new Map([[view, rows.map(sourceRow)]]),
          })
          try {
            await repo.store.materialize({ start: formatMicros(start), end: formatMicros(end) })
            const drivers = Array.from({ length: DRIVERS + 1 }, (_, i) => i + 1)
            const refs = PARITY_FEATURES.map(([f]) => `parity_stats:${f}`)
            const job = await repo.store.getHistoricalFeatures({
              entities: drivers.map((d) => ({ driver_id: d, event_timestamp: formatMicros(end) })),
              features: refs,
            })
            const offline = new Map((await job.toRows()).map((r) => [Number(r.driver_id), r]))
            const online = await repo.store.getOnlineFeatures(
              { entities: { driver_id: drivers }, features: refs },
              { now: formatMicros(end) },
            )
            drivers.forEach((d, i) => {
              const expected = PARITY_FEATURES.map(([f]) => offlineValue(f, offline.get(d)?.[f]))
              const actual = PARITY_FEATURES.map((_, f) => signless(online.results[f + 1]!.values[i]))
              expect(actual, `driver ${d}`).toEqual(expected)
            })
          } finally {
            await repo.close()
          }
        }),
        { numRuns: RUNS },
      )
    }, 300_000)
  })
}
