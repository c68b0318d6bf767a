/**
 * The test harness users import as `larderjs/testing`: an in-memory online store for unit tests of
 * code that reads features, and a real local Redis Cluster for integration tests. Nothing here
 * imports a test runner.
 */
export { MemoryOnlineStore } from '../online/memory/index.js'
export { type RedisClusterHandle, redisClusterUnavailable, startRedisCluster } from './redis-cluster.js'
