import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isLarderError, toMicros } from '../core/index.js'
import { at, sampleData } from '../materialize/__fixtures__/driver-data.js'
import { testOnlineStores } from '../materialize/__fixtures__/online-stores.js'
import { createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import type { OnlineReadRequest, OnlineStore } from '../online/online-store.js'
import { describeWithService } from '../testing/services.js'
import { toJsonResponse } from './json-response.js'
import { getOnlineFeatures, onlineJoinKeys, type ServingTarget } from './online-features.js'
import { onlinePlan } from './online-plan.js'

const STORES = await testOnlineStores()

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

/** The repo's store, with every readMany call recorded on the way to the real online store. */
function recording(repo: TestRepo): { target: ServingTarget; calls: OnlineReadRequest[][] } {
  const calls: OnlineReadRequest[][] = []
  const target: ServingTarget = {
    config: repo.store.config,
    registry: repo.store.registry,
    async online(options) {
      const store = await repo.store.online(options)
      return {
        ...store,
        readMany: (requests, opts) => {
          calls.push([...requests])
          return store.readMany(requests, opts)
        },
      } as OnlineStore
    },
  }
  return { target, calls }
}

for (const { name, config: onlineStore, unavailable } of STORES) {
  describeWithService(`online reads from the ${name} online store`, unavailable, () => {
    let repo: TestRepo
    beforeAll(async () => {
      repo = await createTestRepo({ onlineStore, data: sampleData() })
      await repo.store.materialize({ start: at(0), end: at(4) })
    })
    afterAll(async () => {
      await repo?.close()
    })

    it('reports PRESENT, NULL_VALUE, NOT_FOUND and OUTSIDE_MAX_AGE', async () => {
      const features = ['driver_stats:conv_rate', 'rider_stats:rating']
      const fresh = await repo.store.getOnlineFeatures(
        { entities: { driver_id: [1001, 1002, 4242], rider_id: ['r1', 'r1', 'r9'] }, features },
        { now: at(4) },
      )
      expect(fresh.metadata.featureNames).toEqual(['driver_id', 'rider_id', 'conv_rate', 'rating'])
      expect(fresh.results[2]).toEqual({
        values: [0.375, null, null],
        statuses: ['PRESENT', 'NULL_VALUE', 'NOT_FOUND'],
        eventTimestamps: [toMicros(at(3)), toMicros(at(2)), 0],
      })
      // 5h after 1001's last row: past driver_stats' maxAge (its ttl, 2h); rider_stats has no ttl, so no maxAge
      const later = await repo.store.getOnlineFeatures(
        { entities: { driver_id: [1001, 1002, 4242], rider_id: ['r1', 'r1', 'r9'] }, features },
        { now: at(8) },
      )
      expect(later.results[2]!.statuses).toEqual(['OUTSIDE_MAX_AGE', 'OUTSIDE_MAX_AGE', 'NOT_FOUND'])
      expect(later.results[2]!.values).toEqual([0.375, null, null])
      expect(later.results[3]!.statuses).toEqual(['PRESENT', 'PRESENT', 'NOT_FOUND'])
      expect(later.results[3]!.values).toEqual([4.5, 4.5, null])
    })

    it('puts the join keys first, typed as their entity columns, with status PRESENT and timestamp 0', async () => {
      const res = await repo.store.getOnlineFeatures(
        { entities: { driver_id: [1001, 2n ** 60n, 5n] }, features: ['driver_stats:trips'] },
        { now: at(4) },
      )
      expect(res.results[0]).toEqual({
        values: [1001, 2n ** 60n, 5],
        statuses: ['PRESENT', 'PRESENT', 'PRESENT'],
        eventTimestamps: [0, 0, 0],
      })
      expect(res.results[1]!.statuses).toEqual(['PRESENT', 'NOT_FOUND', 'NOT_FOUND'])
    })

    it('accepts rows as well as columns, reads each distinct key once and every view in one call', async () => {
      const { target, calls } = recording(repo)
      const rows = [{ driver_id: 1001 }, { driver_id: 1003 }, { driver_id: 1001 }, { driver_id: 1001 }]
      const features = ['driver_stats:label', 'global_stats:active_drivers']
      const byRows = await getOnlineFeatures(target, { entities: rows, features }, { now: at(4) })
      expect(calls).toHaveLength(1)
      expect(calls[0]!.map((r) => [r.view.name, r.keys.length, r.features])).toEqual([
        ['driver_stats', 2, ['label']],
        ['global_stats', 1, ['active_drivers']],
      ])
      expect(byRows.results[1]!.values).toEqual(['ok', 'late', 'ok', 'ok'])
      expect(byRows.results[2]!.values).toEqual([20, 20, 20, 20])
      const byColumns = await getOnlineFeatures(
        target,
        { entities: { driver_id: rows.map((r) => r.driver_id) }, features },
        { now: at(4) },
      )
      expect(byColumns).toEqual(byRows)
    })

    it('reads entity-less views under the dummy key, one row when no entities are given', async () => {
      const res = await repo.store.getOnlineFeatures({
        entities: {},
        features: ['global_stats:active_drivers'],
      })
      expect(res.metadata.featureNames).toEqual(['active_drivers'])
      expect(res.results[0]!.values).toEqual([20])
    })

    it("applies a service's projections: aliases, join-key maps and full feature names", async () => {
      const collision = await rejection(
        repo.store.getOnlineFeatures({
          entities: { driver_id: [1001], other_driver_id: [1003] },
          featureService: 'driver_activity',
        }),
      )
      expect(collision.code).toBe('INVALID_ARGUMENT')
      expect(collision.message).toContain(
        '"conv_rate" is requested from both "driver_stats" and "other_driver"',
      )
      expect(collision.hint).toContain('fullFeatureNames')
      const res = await repo.store.getOnlineFeatures(
        {
          entities: { driver_id: [1001, 1002], other_driver_id: [1003, 1001] },
          featureService: 'driver_activity',
          fullFeatureNames: true,
        },
        { now: at(4) },
      )
      expect(res.metadata.featureNames).toEqual([
        'driver_id',
        'other_driver_id',
        'driver_stats__conv_rate',
        'driver_stats__trips',
        'other_driver__conv_rate',
        'global_stats__active_drivers',
      ])
      expect(res.results[2]!.values).toEqual([0.375, null])
      expect(res.results[4]!.values).toEqual([0.25, 0.375])
      expect(res.results[5]!.values).toEqual([20, 20])
      const keys = await onlineJoinKeys(repo.store, {
        featureService: 'driver_activity',
        fullFeatureNames: true,
      })
      expect([...keys]).toEqual([
        ['driver_id', 4],
        ['other_driver_id', 4],
      ])
    })

    it('rejects bad entities with errors that name the key, the value, the type and the view', async () => {
      const features = ['driver_stats:conv_rate']
      const text = await rejection(
        repo.store.getOnlineFeatures({ entities: { driver_id: ['1001'] }, features }),
      )
      expect(text.code).toBe('INVALID_ARGUMENT')
      expect(text.message).toBe(
        'join key "driver_id" = "1001" (a string) does not match its type INT64 in feature view "driver_stats"',
      )
      const fraction = await rejection(
        repo.store.getOnlineFeatures({ entities: { driver_id: [1.5] }, features }),
      )
      expect(fraction.message).toContain('= 1.5 (not an integer) does not match its type INT64')
      const number = await rejection(
        repo.store.getOnlineFeatures({ entities: { rider_id: [7] }, features: ['rider_stats:rating'] }),
      )
      expect(number.message).toContain(
        'join key "rider_id" = 7 does not match its type STRING in feature view "rider_stats"',
      )
      const missing = await rejection(
        repo.store.getOnlineFeatures({
          entities: { driver_id: [1001] },
          features: [...features, 'rider_stats:rating'],
        }),
      )
      expect(missing.message).toBe(
        'the entities lack the join key "rider_id" that feature view "rider_stats" needs',
      )
      const stray = await rejection(
        repo.store.getOnlineFeatures(
          { entities: { driver_id: [1001], driver: [1001] }, features },
          { strict: true },
        ),
      )
      expect(stray.message).toContain('entity column "driver" is not a join key')
      expect(stray.hint).toContain('driver_id')
      const ragged = await rejection(
        repo.store.getOnlineFeatures({
          entities: { driver_id: [1001, 1002], rider_id: ['r1'] },
          features: [...features, 'rider_stats:rating'],
        }),
      )
      expect(ragged.message).toContain('"rider_id" has 1 values but "driver_id" has 2')
      const uneven = await rejection(
        repo.store.getOnlineFeatures({ entities: [{ driver_id: 1 }, { rider_id: 'r1' }], features }),
      )
      expect(uneven.message).toContain('entity row 1 has the keys rider_id but row 0 has driver_id')
    })

    it('ignores entity columns no requested view uses, as Feast does, unless strict', async () => {
      const features = ['driver_stats:conv_rate']
      const plain = await repo.store.getOnlineFeatures({ entities: { driver_id: [1001, 1002] }, features })
      const context = { driver_id: [1001, 1002], session: ['s1', 's2'], amount: [9.5, 1] }
      const withContext = await repo.store.getOnlineFeatures({ entities: context, features })
      expect(withContext).toEqual(plain)
      const rows = await repo.store.getOnlineFeatures({
        entities: [
          { driver_id: 1001, session: 's1' },
          { driver_id: 1002, session: 's2' },
        ],
        features,
      })
      expect(rows).toEqual(plain)
      const strict = await rejection(
        repo.store.getOnlineFeatures({ entities: context, features }, { strict: true }),
      )
      expect(strict.code).toBe('INVALID_ARGUMENT')
      expect(strict.message).toBe('entity column "session" is not a join key of the requested feature views')
    })

    it('rejects unknown and offline-only features', async () => {
      const entities = { driver_id: [1001] }
      const view = await rejection(repo.store.getOnlineFeatures({ entities, features: ['nope:conv_rate'] }))
      expect(view.code).toBe('NOT_FOUND')
      expect(view.hint).toContain('driver_stats')
      const feature = await rejection(
        repo.store.getOnlineFeatures({ entities, features: ['driver_stats:nope'] }),
      )
      expect(feature.code).toBe('NOT_FOUND')
      const offline = await rejection(
        repo.store.getOnlineFeatures({ entities, features: ['driver_history:trips'] }),
      )
      expect(offline.message).toContain('"driver_history" is not served online')
      const service = await rejection(repo.store.getOnlineFeatures({ entities, featureService: 'nope' }))
      expect(service.code).toBe('NOT_FOUND')
    })

    it('rejects features and a feature service together, even once the service is cached', async () => {
      const entities = { driver_id: [1001], other_driver_id: [1003] }
      await repo.store.getOnlineFeatures({
        entities,
        featureService: 'driver_activity',
        fullFeatureNames: true,
      })
      const both = await rejection(
        repo.store.getOnlineFeatures({
          entities,
          featureService: 'driver_activity',
          fullFeatureNames: true,
          features: ['driver_stats:trips'],
        }),
      )
      expect(both.code).toBe('INVALID_ARGUMENT')
      expect(both.message).toBe('give either features or a featureService')
      const neither = await rejection(repo.store.getOnlineFeatures({ entities }))
      expect(neither.code).toBe('INVALID_ARGUMENT')
    })

    it("writes Feast's JSON body", async () => {
      const res = await repo.store.getOnlineFeatures(
        {
          entities: { driver_id: [1001, 1002, 4242] },
          features: ['driver_stats:trips', 'driver_stats:tags'],
        },
        { now: at(4) },
      )
      expect(JSON.parse(JSON.stringify(toJsonResponse(res)))).toEqual({
        metadata: { feature_names: ['driver_id', 'trips', 'tags'] },
        results: [
          {
            values: [1001, 1002, 4242],
            statuses: ['PRESENT', 'PRESENT', 'PRESENT'],
            event_timestamps: Array(3).fill('1970-01-01T00:00:00Z'),
          },
          {
            values: [7, '1152921504606846977', null],
            statuses: ['PRESENT', 'PRESENT', 'NOT_FOUND'],
            event_timestamps: ['2026-01-01T03:00:00Z', '2026-01-01T02:00:00Z', '1970-01-01T00:00:00Z'],
          },
          {
            values: [['a', 'b'], null, null],
            statuses: ['PRESENT', 'NULL_VALUE', 'NOT_FOUND'],
            event_timestamps: ['2026-01-01T03:00:00Z', '2026-01-01T02:00:00Z', '1970-01-01T00:00:00Z'],
          },
        ],
      })
    })
  })
}

describe('the resolved request cache', () => {
  let repo: TestRepo
  beforeAll(async () => {
    repo = await createTestRepo({ onlineStore: 'type: memory', data: sampleData() })
  })
  afterAll(async () => {
    await repo?.close()
  })

  it('reuses a plan while the registry version holds, and replans after a commit', async () => {
    const request = { features: ['driver_stats:conv_rate'] }
    const state = await repo.store.registry.load()
    const plan = onlinePlan(repo.store, state, request)
    expect(onlinePlan(repo.store, state, { features: ['driver_stats:conv_rate'] })).toBe(plan)
    expect(onlinePlan(repo.store, state, { ...request, fullFeatureNames: true })).not.toBe(plan)
    await repo.store.materialize({ start: at(0), end: at(4), views: ['global_stats'] })
    const next = await repo.store.registry.load()
    expect(next.version).not.toBe(state.version)
    expect(onlinePlan(repo.store, next, request)).not.toBe(plan)
  })
})
