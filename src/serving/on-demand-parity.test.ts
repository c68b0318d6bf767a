import fc from 'fast-check'
import { expect, it } from 'vitest'
import { sampleData } from '../materialize/__fixtures__/driver-data.js'
import { driverStats } from '../materialize/__fixtures__/driver-features.js'
import { createTestRepo } from '../materialize/__fixtures__/test-repo.js'
import type { Row } from '../offline/index.js'

const ODFV_FEATURES = new URL('./__fixtures__/odfv-features.ts', import.meta.url).pathname
const RUNS = Number(process.env.PARITY_RUNS ?? 5)
const T0 = Date.parse('2026-01-01T00:00:00Z')
const END = new Date(T0 + 4 * 3_600_000).toISOString()
const DRIVERS = 6

// Rows fall within driver_stats' ttl (2h) of the window end, so the join and the online store agree on
// which value is current; what is compared is what the transformations make of it.
const featureRow = fc.record({
  driver: fc.integer({ min: 1, max: DRIVERS }),
  minute: fc.integer({ min: 130, max: 240 }),
  conv_rate: fc.option(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), {
    nil: null,
  }),
  trips: fc.option(fc.integer({ min: -1e9, max: 1e9 }), { nil: null }),
  label: fc.option(
    fc.string({ maxLength: 8 }).map((s) => s.replaceAll('\0', '')),
    { nil: null },
  ),
})

const scenario = fc.record({
  rows: fc.uniqueArray(featureRow, {
    minLength: 1,
    maxLength: 25,
    selector: (r) => `${r.driver}:${r.minute}`,
  }),
  requests: fc.array(
    fc.record({
      driver: fc.integer({ min: 1, max: DRIVERS + 2 }),
      val: fc.integer({ min: -1000, max: 1000 }),
      val2: fc.integer({ min: -1000, max: 1000 }),
    }),
    { minLength: 1, maxLength: 12 },
  ),
})

const OUTPUTS = [
  'transformed_conv_rate:conv_rate_plus_val1',
  'transformed_conv_rate:conv_rate_plus_val2',
  'transformed_conv_rate_batch:conv_rate_plus_val1',
  'transformed_conv_rate_batch:conv_rate_plus_val2',
  'trips_label:trips_doubled',
  'trips_label:label_upper',
]

it('gives the same on-demand outputs offline as online after materialization (row, batch, writeToOnlineStore)', async () => {
  await fc.assert(
    fc.asyncProperty(scenario, async ({ rows, requests }) => {
      const data = rows.map((r) => {
        const ts = new Date(T0 + r.minute * 60_000).toISOString()
        return {
          driver_id: 1000 + r.driver,
          event_timestamp: ts,
          created: ts,
          conv_rate: r.conv_rate,
          acc_rate: 0.5,
          trips: r.trips,
          rank: 1,
          label: r.label,
          active: true,
          seen: ts,
          tags: ['a'],
          scores: [1],
        } satisfies Row
      })
      const repo = await createTestRepo({
        onlineStore: 'type: memory',
        definitions: ODFV_FEATURES,
        data: new Map([...sampleData(), [driverStats, data]]),
      })
      try {
        await repo.store.materialize({ start: new Date(T0).toISOString(), end: END })
        const online = await repo.store.getOnlineFeatures(
          {
            entities: {
              driver_id: requests.map((q) => 1000 + q.driver),
              val_to_add: requests.map((q) => q.val),
              val_to_add_2: requests.map((q) => q.val2),
            },
            features: OUTPUTS,
            fullFeatureNames: true,
          },
          { now: END },
        )
        const job = await repo.store.getHistoricalFeatures({
          entities: requests.map((q) => ({
            driver_id: 1000 + q.driver,
            event_timestamp: END,
            val_to_add: q.val,
            val_to_add_2: q.val2,
          })),
          features: OUTPUTS,
          fullFeatureNames: true,
        })
        const offline = await job.toRows()
        const names = online.metadata.featureNames.slice(1)
        const onlineRows = requests.map((_, i) =>
          Object.fromEntries(names.map((n, j) => [n, online.results[j + 1]!.values[i]])),
        )
        const offlineRows = offline.map((r) => Object.fromEntries(names.map((n) => [n, r[n]])))
        expect(offlineRows).toEqual(onlineRows)
      } finally {
        await repo.close()
      }
    }),
    { numRuns: RUNS },
  )
}, 120_000)
