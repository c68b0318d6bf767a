import type { RepoConfig } from '../../config/index.js'
import type { OnlineStore } from '../online-store.js'
import type { RedisOptions } from './redis-config.js'
import { connectRedis } from './redis-connection.js'
import { RedisOnlineStore } from './redis-online-store.js'

export { RedisOnlineStore } from './redis-online-store.js'

/**
 * Opens Feast's Redis online store on one server (`redis_type: redis`) or a Redis Cluster
 * (`redis_cluster`), connecting at once so that a server that is down fails here, naming host and port.
 */
export async function openOnlineStore(options: RedisOptions, config: RepoConfig): Promise<OnlineStore> {
  const connection = await connectRedis(options.connection_string, options.redis_type === 'redis_cluster')
  try {
    return await RedisOnlineStore.open(connection, options, config.entityKeySerializationVersion)
  } catch (e) {
    await connection.close()
    throw e
  }
}
