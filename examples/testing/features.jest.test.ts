// The example suite under jest: `NODE_OPTIONS=--experimental-vm-modules npx jest --config examples/testing/jest.config.js`.

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import {
  createTestStore,
  expectOnlineValues,
  expectPointInTime,
  runOnDemand,
  type TestFeatureStore,
  withStatus,
} from 'larderjs/testing'
import * as features from './features.js'
import { driverStatsRows, NOW } from './fixtures.js'

describe('driver ranking features', () => {
  let store: TestFeatureStore

  beforeEach(async () => {
    store = await createTestStore({
      definitions: features,
      data: { driver_stats_source: driverStatsRows },
      now: NOW,
    })
    await store.materialize()
  })
  afterEach(() => store.close())

  it('scores a trip from the conversion rate and the distance', () => {
    expect(runOnDemand(features.tripScore, { conv_rate: 0.5, distance_km: 2 })).toEqual({ score: 3 })
    expect(runOnDemand(features.tripScore, { conv_rate: null, distance_km: 2 })).toEqual({ score: null })
  })

  it('serves the ranking service online', async () => {
    await expectOnlineValues(
      store,
      { entityRow: { driver_id: 1001, distance_km: 2 }, featureService: 'driver_ranking' },
      { conv_rate: 0.5, trips_today: 7, score: 3 },
    )
  })

  it('serves stale values as OUTSIDE_MAX_AGE a day later', async () => {
    store.clock.advance('1d')
    await expectOnlineValues(
      store,
      { entityRow: { driver_id: 1001 }, features: ['driver_stats:conv_rate'] },
      { conv_rate: withStatus('OUTSIDE_MAX_AGE', 0.5) },
    )
  })

  it('gives training data the value known at each time', async () => {
    const at = '2025-12-31T18:00:00Z'
    await expectPointInTime(
      store,
      { entity: { driver_id: 1001 }, at, feature: 'driver_stats:conv_rate' },
      0.25,
    )
  })
})
