import { describeTileStoreConformance } from '../../testing/tile-store-conformance.js'
import { MemoryOnlineStore } from './memory-online-store.js'

// one store shared by both handles, as processes share a database; closing a handle keeps it
const store = new MemoryOnlineStore()
describeTileStoreConformance('memory', async () => ({ store, close: async () => {} }))
