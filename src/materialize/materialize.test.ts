import { afterAll, beforeAll, expect, it } from 'vitest'
import { isLarderError, toMicros } from '../core/index.js'
import { FeatureViewState } from '../gen/feast/core/FeatureView_pb.js'
import { describeWithService } from '../testing/services.js'
import { at, sampleData } from './__fixtures__/driver-data.js'
import { testOnlineStores } from './__fixtures__/online-stores.js'
import { createTestRepo, type TestRepo } from './__fixtures__/test-repo.js'
import type { MaterializeProgress } from './materialize.js'

const STORES = await testOnlineStores()

const FEATURES = ['driver_stats:conv_rate', 'driver_stats:label', 'driver_stats:trips']

async function rejection(
  promise: Promise<unknown>,
): Promise<{ code: string; message: string; hint?: string }> {
  try {
    await promise
  } catch (e) {
    if (isLarderError(e)) return { code: e.code, message: e.message, hint: e.hint }
    throw e
  }
  throw new Error('expected a rejection')
}

for (const { name, config: onlineStore, unavailable } of STORES) {
  describeWithService(`materialize into the ${name} online store`, unavailable, () => {
    let repo: TestRepo
    beforeAll(async () => {
      repo = await createTestRepo({ onlineStore, data: sampleData() })
    })
    afterAll(async () => {
      await repo?.close()
    })

    const read = (drivers: number[], now = at(4)) =>
      repo.store.getOnlineFeatures({ entities: { driver_id: drivers }, features: FEATURES }, { now })

    it('rejects an end before the start, unknown views and views it cannot load, writing nothing', async () => {
      const backwards = await rejection(repo.store.materialize({ start: at(4), end: at(0) }))
      expect(backwards).toMatchObject({ code: 'INVALID_ARGUMENT' })
      expect(backwards.message).toContain('end 2026-01-01T00:00:00Z is before start 2026-01-01T04:00:00Z')
      const unknown = await rejection(repo.store.materialize({ start: at(0), end: at(4), views: ['nope'] }))
      expect(unknown.code).toBe('NOT_FOUND')
      expect(unknown.message).toContain('feature view "nope" not found')
      expect(unknown.hint).toContain('driver_stats, global_stats, rider_stats')
      const offline = await rejection(
        repo.store.materialize({ start: at(0), end: at(4), views: ['driver_history'] }),
      )
      expect(offline.code).toBe('INVALID_ARGUMENT')
      expect(offline.message).toContain('"driver_history" is not served online')
      const pushOnly = await rejection(
        repo.store.materialize({ start: at(0), end: at(4), views: ['driver_live'] }),
      )
      expect(pushOnly.message).toContain('"driver_live" has no batch source')
      const catalog = await repo.store.catalog({ allowCache: false })
      expect(catalog.materializationIntervals('driver_stats')).toEqual([])
      expect((await read([1001])).results[1]!.statuses).toEqual(['NOT_FOUND'])
    })

    it('writes the latest row per entity in [start, end] and records the interval afterwards', async () => {
      const events: MaterializeProgress[] = []
      const result = await repo.store.materialize(
        { start: at(0), end: at(4) },
        { onProgress: (e) => events.push(e), batchSize: 2 },
      )
      expect(result.views.map((v) => v.view)).toEqual(['driver_stats', 'global_stats', 'rider_stats'])
      const stats = result.views[0]!
      expect(stats).toMatchObject({
        rows: 3,
        written: 3,
        skipped: 0,
        start: toMicros(at(0)),
        end: toMicros(at(4)),
      })
      const mine = events.filter((e) => e.view === 'driver_stats')
      // the total arrives before the first batch, so a progress bar has its ETA from the start
      expect(mine.map((e) => e.phase)).toEqual(['start', 'rows', 'rows', 'rows', 'done'])
      expect(mine.map((e) => e.rows)).toEqual([0, 0, 2, 3, 3])
      expect(mine.map((e) => e.rowsTotal)).toEqual([undefined, 3, 3, 3, 3])
      expect(events.filter((e) => e.view === 'global_stats').at(-1)!.rowsTotal).toBe(1)

      const res = await read([1001, 1002, 1003, 9999])
      expect(res.metadata.featureNames).toEqual(['driver_id', 'conv_rate', 'label', 'trips'])
      const [, conv, label, trips] = res.results
      expect(conv!.values).toEqual([0.375, null, 0.25, null])
      expect(conv!.statuses).toEqual(['PRESENT', 'NULL_VALUE', 'PRESENT', 'NOT_FOUND'])
      expect(label!.values).toEqual(['ok', null, 'late', null])
      expect(trips!.values).toEqual([7, 2n ** 60n + 1n, 7, null])
      expect(conv!.eventTimestamps).toEqual([toMicros(at(3)), toMicros(at(2)), toMicros(at(3)), 0])

      const state = await repo.store.registry.load({ allowCache: false })
      const proto = state.proto.featureViews.find(
        (v) => v.spec?.project === repo.project && v.spec.name === 'driver_stats',
      )!
      expect(proto.meta?.state).toBe(FeatureViewState.AVAILABLE_ONLINE)
      expect(state.catalog(repo.project).materializationIntervals('driver_stats')).toEqual([
        { start: toMicros(at(0)), end: toMicros(at(4)) },
      ])
      expect(state.catalog(repo.project).materializationIntervals('driver_history')).toEqual([])
    })

    it('converts every declared type from its Arrow column', async () => {
      const res = await repo.store.getOnlineFeatures(
        {
          entities: [{ driver_id: 1001 }, { driver_id: 1002 }],
          features: ['acc_rate', 'rank', 'active', 'seen', 'tags', 'scores'].map((f) => `driver_stats:${f}`),
        },
        { now: at(4) },
      )
      expect(res.results.slice(1).map((r) => r.values)).toEqual([
        [0.5, null],
        [1, 1],
        [true, null],
        [toMicros(at(3)) / 1_000_000, null],
        [['a', 'b'], null],
        [
          [1.5, -2],
          [1.5, -2],
        ],
      ])
      const global = await repo.store.getOnlineFeatures(
        { entities: {}, features: ['global_stats:active_drivers'] },
        { now: at(4) },
      )
      expect(global.results[0]!.values).toEqual([20])
    })

    it('gives the same online state when the same window is materialized again', async () => {
      const before = await read([1001, 1002, 1003])
      const again = await repo.store.materialize({ start: at(0), end: at(4), views: ['driver_stats'] })
      expect(again.views[0]).toMatchObject({ rows: 3, written: 3, skipped: 0 })
      expect(await read([1001, 1002, 1003])).toEqual(before)
      const catalog = await repo.store.catalog({ allowCache: false })
      expect(catalog.materializationIntervals('driver_stats')).toHaveLength(2)
    })

    it('continues incrementally from the last recorded end, and refuses an end before it', async () => {
      const behind = await rejection(
        repo.store.materializeIncremental({ end: at(3), views: ['driver_stats'] }),
      )
      expect(behind.code).toBe('INVALID_ARGUMENT')
      expect(behind.message).toContain('"driver_stats", which is materialized up to 2026-01-01T04:00:00Z')
      const result = await repo.store.materializeIncremental({ end: at(6), views: ['driver_stats'] })
      expect(result.views[0]).toMatchObject({ start: toMicros(at(4)), end: toMicros(at(6)), rows: 1 })
      const res = await read([1001, 1003], at(6))
      expect(res.results[1]!.values).toEqual([0.625, 0.25])
      // 1003 was last seen at 3h: older than driver_stats' maxAge (its ttl, 2h) at 6h
      expect(res.results[1]!.statuses).toEqual(['PRESENT', 'OUTSIDE_MAX_AGE'])
      expect(res.results[1]!.eventTimestamps).toEqual([toMicros(at(5)), toMicros(at(3))])
    })

    it('starts a view never materialized at end - ttl, or 52 weeks back without ttl', async () => {
      const fresh = await createTestRepo({ onlineStore, data: sampleData() })
      try {
        const result = await fresh.store.materializeIncremental({ end: at(4) })
        const starts = Object.fromEntries(result.views.map((v) => [v.view, v.start]))
        expect(starts.driver_stats).toBe(toMicros(at(2)))
        expect(starts.rider_stats).toBe(toMicros(at(4 - 52 * 7 * 24)))
        const res = await fresh.store.getOnlineFeatures(
          { entities: { driver_id: [1001, 1002] }, features: ['driver_stats:conv_rate'] },
          { now: at(4) },
        )
        expect(res.results[1]!.values).toEqual([0.375, null])
        expect(res.results[1]!.statuses).toEqual(['PRESENT', 'NULL_VALUE'])
      } finally {
        await fresh.close()
      }
    })

    it('records nothing when cancelled', async () => {
      const controller = new AbortController()
      const fresh = await createTestRepo({ onlineStore, data: sampleData() })
      try {
        const run = fresh.store.materialize(
          { start: at(0), end: at(4), views: ['driver_stats'] },
          {
            batchSize: 1,
            signal: controller.signal,
            onProgress: (e) => {
              if (e.phase === 'rows') controller.abort()
            },
          },
        )
        await expect(run).rejects.toMatchObject({ code: 'ABORTED' })
        const catalog = await fresh.store.catalog({ allowCache: false })
        expect(catalog.materializationIntervals('driver_stats')).toEqual([])
      } finally {
        await fresh.close()
      }
    })
  })
}
