import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../config/index.js'
import { formatMicros, toMicros } from '../core/index.js'
import type { FeatureStore } from '../feature-store.js'
import { createOfflineStore, type Row } from '../offline/index.js'
import { configText, createTestRepo } from './__fixtures__/test-repo.js'
import { tiedStats } from './__fixtures__/tie-features.js'

// Rows tied on the event time, with no created column: the value materialized for a window ending at t
// is the value the point-in-time join gives at t, the last tied row in the source, on every run. The
// source is a directory written by three appends (copy 0, 1, 2 of every row); copy j holds
// driver * 100 + hour * 10 + (9 - j), so the winner, copy 2, is neither the first nor the greatest.

const TIE_MODULE = fileURLToPath(new URL('./__fixtures__/tie-features.ts', import.meta.url))
const T0 = toMicros('2026-03-01T00:00:00Z')
const HOUR = 3_600_000_000
const DRIVERS = Array.from({ length: 40 }, (_, i) => i + 1)
const ONLINE = 'type: sqlite\npath: data/online.db'

function copyRows(j: number): Row[] {
  return DRIVERS.flatMap((d) =>
    [0, 1, 2].map((h) => ({
      driver_id: d,
      event_timestamp: formatMicros(T0 + h * HOUR),
      f: d * 100 + h * 10 + 9 - j,
    })),
  )
}

async function pointInTime(store: FeatureStore, at: number): Promise<unknown[]> {
  const job = await store.getHistoricalFeatures({
    entities: DRIVERS.map((d) => ({ driver_id: d, event_timestamp: formatMicros(at) })),
    features: ['tied_stats:f'],
  })
  return (await job.toRows()).map((r) => r.f)
}

async function online(store: FeatureStore, at: number): Promise<unknown[]> {
  const res = await store.getOnlineFeatures(
    { entities: { driver_id: DRIVERS }, features: ['tied_stats:f'] },
    { now: formatMicros(at) },
  )
  return res.results[1]!.values
}

describe('ties on the event time, offline and online', () => {
  it('materializes for a window ending at t the value the join gives at t, run after run', async () => {
    const repo = await createTestRepo({
      onlineStore: ONLINE,
      featuresFile: `export * from ${JSON.stringify(TIE_MODULE)}\n`,
      async prepare(dir) {
        mkdirSync(join(dir, 'data', 'tied'))
        const offline = await createOfflineStore(parseRepoConfig(configText('ties', ONLINE), dir))
        try {
          for (const j of [0, 1, 2]) await offline.writeRows(tiedStats, copyRows(j))
        } finally {
          await offline.close()
        }
      },
    })
    try {
      for (const hour of [0, 1, 2]) {
        const t = T0 + hour * HOUR
        const winner = DRIVERS.map((d) => d * 100 + hour * 10 + 7)
        for (let run = 0; run < 2; run++) {
          const store = run === 0 ? repo.store : await repo.reopen()
          await store.materialize({ start: formatMicros(T0), end: formatMicros(t) })
          expect(await pointInTime(store, t), `hour ${hour}, run ${run}`).toEqual(winner)
          expect(await online(store, t), `hour ${hour}, run ${run}`).toEqual(winner)
        }
      }
    } finally {
      await repo.close()
    }
  }, 120_000)
})
