import type { OnlineStore } from '../online-store.js'
import type { MemoryOptions } from './memory-config.js'
import { MemoryOnlineStore } from './memory-online-store.js'

export { MemoryOnlineStore } from './memory-online-store.js'

/** Opens an empty in-memory online store (`online_store: { type: memory }`). */
export async function openOnlineStore(_options: MemoryOptions): Promise<OnlineStore> {
  return new MemoryOnlineStore()
}
