/**
 * The test harness users import as `larderjs/testing`: `createTestStore` (a real `FeatureStore` over
 * an in-memory registry and online store and DuckDB over the test's rows, with a clock the test
 * moves), assertions that throw a readable `Error` (`expectOnlineValues`, `expectPointInTime`),
 * `runOnDemand` for on-demand views, the in-memory online store, and a real local Redis Cluster for
 * integration tests. Nothing here imports a test runner, so it works under vitest, jest and
 * `node:test`; the backend conformance suites, which use vitest, are imported from their own files.
 *
 * @example
 * import { createTestStore, expectOnlineValues } from 'larderjs/testing'
 * import * as defs from './features.js'
 * const store = await createTestStore({ definitions: defs, data: { driver_stats: rows }, now: '2026-01-01' })
 * await store.materialize()
 * await expectOnlineValues(store, { entityRow: { driver_id: 1001 }, features: ['driver_hourly_stats:conv_rate'] }, { conv_rate: 0.5 })
 */
export { ManualClock } from '../core/index.js'
export { MemoryOnlineStore } from '../online/memory/index.js'
export {
  approx,
  type Expectation,
  expectOnlineValues,
  expectPointInTime,
  type OnlineValuesRequest,
  type PointInTimeRequest,
  withStatus,
} from './expect-values.js'
export { type RedisClusterHandle, redisClusterUnavailable, startRedisCluster } from './redis-cluster.js'
export { type OnDemandInputs, type OnDemandOutputs, runOnDemand } from './run-on-demand.js'
export {
  createTestStore,
  type TestDefinitions,
  TestFeatureStore,
  type TestMaterializeRequest,
  type TestRows,
  type TestStoreOptions,
} from './test-store.js'
