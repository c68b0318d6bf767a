export { type DataFrame, toFrame } from './data-frame.js'
export {
  type IngestResult,
  type IngestTarget,
  type PushMode,
  type PushRequest,
  push,
  type ViewIngestion,
  type WriteToOfflineStoreRequest,
  type WriteToOnlineStoreRequest,
  writeToOfflineStore,
  writeToOnlineStore,
} from './ingest.js'
