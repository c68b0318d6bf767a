import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { expect, it } from 'vitest'
import { formatMicros } from '../core/index.js'
import { describeWithService } from '../testing/services.js'
import { testOnlineStores } from './__fixtures__/online-stores.js'
import { PARITY_FEATURES, parityStats } from './__fixtures__/parity-features.js'
import { DRIVERS, offlineValue, SECOND, scenario, sourceRow, T0 } from './__fixtures__/parity-scenario.js'
import { createTestRepo } from './__fixtures__/test-repo.js'

const PARITY_MODULE = fileURLToPath(new URL('./__fixtures__/parity-features.ts', import.meta.url))
const RUNS = Number(process.env.PARITY_RUNS ?? 6)

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
              const expected = PARITY_FEATURES.map(([f]) => signless(offlineValue(f, offline.get(d)?.[f])))
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
