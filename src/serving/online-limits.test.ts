// The limits of one online read (entity rows, features, feature values) and the pacing of large reads,
// against a real SQLite online store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../config/index.js'
import { isLarderError, type LarderError } from '../core/index.js'
import { at, sampleData } from '../materialize/__fixtures__/driver-data.js'
import { configText, createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import type { OnlineStore } from '../online/online-store.js'
import type { Registry } from '../registry/index.js'
import { getOnlineFeatures, type ServingTarget } from './online-features.js'

const FEATURES = ['driver_stats:conv_rate', 'driver_stats:trips']

async function rejection(promise: Promise<unknown>): Promise<LarderError> {
  try {
    await promise
  } catch (e) {
    if (isLarderError(e)) return e
    throw e
  }
  throw new Error('expected a rejection')
}

/** The repo's store with its registry loads and online store opens and reads counted. */
function counted(repo: TestRepo, onRead?: () => void) {
  const counts = { registryLoads: 0, opens: 0, reads: 0 }
  const registry = new Proxy(repo.store.registry, {
    get(target, property) {
      if (property === 'load') {
        return (...args: Parameters<Registry['load']>) => {
          counts.registryLoads++
          return target.load(...args)
        }
      }
      const value = Reflect.get(target, property)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  const target: ServingTarget = {
    config: repo.store.config,
    registry,
    async online(options) {
      counts.opens++
      const store = await repo.store.online(options)
      return {
        ...store,
        readMany: async (requests, opts) => {
          counts.reads++
          const result = await store.readMany(requests, opts)
          onRead?.()
          return result
        },
      } as OnlineStore
    },
  }
  return { target, counts }
}

describe('limits of one online read', () => {
  let repo: TestRepo
  beforeAll(async () => {
    repo = await createTestRepo({ onlineStore: 'type: sqlite\npath: data/online.db', data: sampleData() })
    await repo.store.materialize({ start: at(0), end: at(6) })
  })
  afterAll(async () => {
    await repo?.close()
  })

  it('refuses more entity rows than the limit before the registry or any store is read', async () => {
    const { target, counts } = counted(repo)
    const ids = Array.from({ length: 100_001 }, (_, i) => i)
    const error = await rejection(
      getOnlineFeatures(target, { entities: { driver_id: ids }, features: FEATURES }),
    )
    expect(error.code).toBe('RESOURCE_EXHAUSTED')
    expect(error.message).toBe(
      'the request has 100,001 entity rows, more than the limit of 100,000 per online read',
    )
    expect(error.hint).toContain('feature_server.max_entity_rows')
    expect(error.hint).toContain('limits.maxEntityRows')
    expect(error.details).toMatchObject({
      entity_rows: 100_001,
      limit: 100_000,
      key: 'feature_server.max_entity_rows',
    })
    expect(counts).toEqual({ registryLoads: 0, opens: 0, reads: 0 })
  })

  it('counts rows given as row objects, and reads a request at the limit', async () => {
    const { target, counts } = counted(repo)
    const rows = [{ driver_id: 1001 }, { driver_id: 1002 }, { driver_id: 1003 }]
    const over = await rejection(
      getOnlineFeatures(target, { entities: rows, features: FEATURES }, { limits: { maxEntityRows: 2 } }),
    )
    expect(over.code).toBe('RESOURCE_EXHAUSTED')
    expect(over.details).toMatchObject({ entity_rows: 3, limit: 2 })
    expect(counts.reads).toBe(0)
    const res = await getOnlineFeatures(
      target,
      { entities: rows, features: FEATURES },
      { limits: { maxEntityRows: 3 } },
    )
    expect(res.results[1]!.values).toHaveLength(3)
    expect(counts.reads).toBe(1)
  })

  it('refuses more features than the limit, named or through a feature service', async () => {
    const { target, counts } = counted(repo)
    const named = await rejection(
      getOnlineFeatures(
        target,
        { entities: { driver_id: [1001] }, features: [...FEATURES, 'driver_stats:label'] },
        { limits: { maxFeatures: 2 } },
      ),
    )
    expect(named.code).toBe('RESOURCE_EXHAUSTED')
    expect(named.message).toBe('the request names 3 features, more than the limit of 2 per online read')
    expect(named.hint).toContain('feature_server.max_features')
    // driver_activity holds four features, which only the registry knows
    const service = await rejection(
      getOnlineFeatures(
        target,
        {
          entities: { driver_id: [1001], other_driver_id: [1002] },
          featureService: 'driver_activity',
          fullFeatureNames: true,
        },
        { limits: { maxFeatures: 3 } },
      ),
    )
    expect(service.code).toBe('RESOURCE_EXHAUSTED')
    expect(service.details).toMatchObject({ features: 4, limit: 3, key: 'feature_server.max_features' })
    expect(counts.opens).toBe(0)
  })

  it('refuses more feature values (rows × features) than the limit', async () => {
    const { target, counts } = counted(repo)
    const over = await rejection(
      getOnlineFeatures(
        target,
        { entities: { driver_id: [1001, 1002, 1003] }, features: FEATURES },
        { limits: { maxFeatureValues: 5 } },
      ),
    )
    expect(over.code).toBe('RESOURCE_EXHAUSTED')
    expect(over.message).toBe(
      'the request reads 6 feature values (3 entity rows × 2 features), more than the limit of 5 per online read',
    )
    expect(over.hint).toContain('at most 2 rows with these features')
    expect(over.hint).toContain('feature_server.max_feature_values')
    expect(counts.opens).toBe(0)
    const res = await getOnlineFeatures(
      target,
      { entities: { driver_id: [1001, 1002, 1003] }, features: FEATURES },
      { limits: { maxFeatureValues: 6 } },
    )
    expect(res.results[0]!.values).toEqual([1001, 1002, 1003])
    expect(res.results[1]!.values).toHaveLength(3)
  })

  it('takes the limits from feature_server in feature_store.yaml; the option overrides them', async () => {
    const { target } = counted(repo)
    const yaml = `${configText(repo.project, 'type: sqlite\npath: data/online.db')}feature_server:\n  max_entity_rows: 2\n`
    const config = parseRepoConfig(yaml, repo.dir)
    expect(config.warnings).toEqual([])
    const limited: ServingTarget = { ...target, config }
    const request = { entities: { driver_id: [1001, 1002, 1003] }, features: FEATURES }
    const error = await rejection(getOnlineFeatures(limited, request))
    expect(error.details).toMatchObject({ entity_rows: 3, limit: 2 })
    const res = await getOnlineFeatures(limited, request, { limits: { maxEntityRows: 3 } })
    expect(res.results[0]!.values).toEqual([1001, 1002, 1003])
  })

  it('stops assembling a large read once its signal fires, with ABORTED', async () => {
    const abort = new AbortController()
    // the signal fires once the store has answered: what is left is decoding and fanning out values
    const { target, counts } = counted(repo, () => abort.abort())
    const ids = Array.from({ length: 50_000 }, (_, i) => 1001 + (i % 3))
    const error = await rejection(
      getOnlineFeatures(
        target,
        { entities: { driver_id: ids }, features: FEATURES },
        { signal: abort.signal },
      ),
    )
    expect(counts.reads).toBe(1)
    expect(error.code).toBe('ABORTED')
    // the same read without a signal that fires completes
    const res = await getOnlineFeatures(counted(repo).target, {
      entities: { driver_id: ids },
      features: FEATURES,
    })
    expect(res.results[1]!.values).toHaveLength(50_000)
  })
})
