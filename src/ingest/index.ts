export { type DataFrame, toFrame } from './data-frame.js'
export {
  type IngestResult,
  type IngestTarget,
  type PushMode,
  type PushRequest,
  push,
  type ViewIngestion,
  type WriteToOnlineStoreRequest,
  writeToOnlineStore,
} from './ingest.js'
