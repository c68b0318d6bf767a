export { createOfflineStore, type OfflineStoreBackend, validateOfflineStoreConfig } from './loader.js'
export type {
  EntityInput,
  FeatureSelection,
  HistoricalRequest,
  OfflineStore,
  PullOptions,
  ResultTransform,
  RetrievalJob,
  Row,
  SourceColumn,
  TimeRange,
  WindowSelection,
  WriteInput,
  WriteOptions,
  WriteResult,
} from './offline-store.js'
export { type PullColumns, pullColumns } from './pit/plan.js'
export type { KeyPart } from './pit/sql.js'
export { resolveFeatureRefs, type ViewLookup } from './resolve-feature-refs.js'
