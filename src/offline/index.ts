export { createOfflineStore, type OfflineStoreBackend, validateOfflineStoreConfig } from './loader.js'
export { sha256File } from './local/digest.js'
export { entityQueryText } from './local/entity-query.js'
export { type FileLocation, locateEntityFile } from './local/files.js'
export type {
  DigestTableOptions,
  EntityInput,
  EventRange,
  FeatureSelection,
  FilesFingerprint,
  HistoricalRequest,
  OfflineStore,
  PullOptions,
  ResultTransform,
  RetrievalJob,
  Row,
  SourceColumn,
  SourceFile,
  SourceFingerprint,
  TableDigest,
  TableFingerprint,
  TimeRange,
  WindowSelection,
  WriteInput,
  WriteOptions,
  WriteResult,
} from './offline-store.js'
export { type PullColumns, pullColumns } from './pit/plan.js'
export type { KeyPart } from './pit/sql.js'
export { resolveFeatureRefs, type ViewLookup } from './resolve-feature-refs.js'
