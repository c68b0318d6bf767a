export {
  applyContents,
  type ChangeAction,
  diffContents,
  type ObjectChange,
  type RepoContents,
  removeProject,
} from './apply-objects.js'
export {
  type FeatureViewMeta,
  type MaterializationInterval,
  OBJECT_KINDS,
  type ObjectKind,
  type ObjectMeta,
  ProjectCatalog,
  projectNames,
  type SkippedObject,
} from './catalog.js'
export { FileRegistry, withFileLock, writeAtomically } from './file/index.js'
export {
  createRegistry,
  type RegistryConfig,
  redactUrl,
  registryConfigFor,
  SQL_DIALECTS,
  type SqlDialectBackend,
  sqlDialectFor,
} from './loader.js'
export {
  compareRunsNewestFirst,
  DEFAULT_RUNS_LISTED,
  type ListMaterializationRunsOptions,
  MATERIALIZATION_RUNS_KEPT,
  type MaterializationRun,
  type MaterializationRunStatus,
  materializationRunJson,
  projectFreshness,
  type RecordMaterializationRunOptions,
  type ViewFreshness,
  viewFreshness,
  viewFreshnessJson,
} from './materialization-runs.js'
export { findObjectMessage, getObjectMessage, type ObjectMessage } from './object-messages.js'
export { LARDER_TAGS, microsFromTimestamp, timestampFromMicros } from './proto-mapping.js'
export { type LoadOptions, type Registry, RegistryState, updateRegistry } from './registry.js'
export {
  type ChangeStamp,
  currentActor,
  OBJECT_TABLES,
  type ObjectTable,
  objectChanges,
  withActor,
} from './registry-objects.js'
export { type SavedDatasetInfo, savedDatasetFromProto, savedDatasetToProto } from './saved-datasets.js'
