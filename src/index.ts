/**
 * Larder's public API: the definitions a feature repo is written with, the value types, and the
 * `FeatureStore` that registers them, builds training data, materializes and serves features
 * in-process. Extras live behind subpaths: `larderjs/client` (a remote feature server),
 * `larderjs/testing` (test helpers) and `larderjs/feast` (Feast's byte encodings).
 *
 * @example
 * import { FeatureStore } from 'larderjs'
 * const store = await FeatureStore.open('./feature_repo')
 * const online = await store.getOnlineFeatures({ entities: { driver_id: [1001] }, featureService: 'driver_activity_v1' })
 */

export type { RepoConfig, StoreConfig } from './config/index.js'
// Definitions.
// Value types, by their Feast names.
// Values, times and feature references as the API takes and returns them.
// Errors.
export {
  type Abortable,
  Array,
  type BatchSource,
  type BatchSourceOptions,
  type BatchTransform,
  Bool,
  Bytes,
  type DataSource,
  Decimal,
  type DefinitionKind,
  type DurationInput,
  Entity,
  type EntityOptions,
  type FeastRecord,
  type FeastType,
  type FeastValue,
  type FeatureRef,
  FeatureService,
  type FeatureServiceItem,
  type FeatureServiceOptions,
  FeatureView,
  type FeatureViewOptions,
  FeatureViewProjection,
  Field,
  type FieldOptions,
  type FileFormat,
  FileSource,
  type FileSourceOptions,
  Float32,
  Float64,
  formatDuration,
  formatMicros,
  ImageBytes,
  Int32,
  Int64,
  Invalid,
  isKind,
  isLarderError,
  Json,
  kindOf,
  LarderError,
  type LarderErrorCode,
  Map,
  MICROS_PER_SECOND,
  type Micros,
  OnDemandFeatureView,
  type OnDemandFeatureViewOptions,
  type OnDemandInput,
  OnDemandProjection,
  type OnDemandSource,
  PdfBytes,
  PostgreSQLSource,
  type PostgreSQLSourceOptions,
  Project,
  type ProjectionChanges,
  type ProjectOptions,
  PushSource,
  type PushSourceOptions,
  parseDuration,
  parseFeatureRef,
  RequestSource,
  type RequestSourceOptions,
  type RowTransform,
  ScalarMap,
  type ScalarMapValue,
  Set,
  String,
  Struct,
  scalarMap,
  type TimestampInput,
  TimeUuid,
  type Transformation,
  type TypedValue,
  toMicros,
  typedValue,
  UnixTimestamp,
  Uuid,
  ValueType,
  type ValueTypeName,
  ZonedTimestamp,
  type ZonedTimestampValue,
  zonedTimestamp,
} from './core/index.js'
// The feature store.
export {
  FeatureStore,
  type GetHistoricalFeaturesOptions,
  type ListOptions,
  type OpenOptions,
  type Plan,
  type SaveDatasetOptions,
  TrainingJob,
} from './feature-store.js'
export type {
  DataFrame,
  IngestResult,
  PushMode,
  PushRequest,
  ViewIngestion,
  WriteToOfflineStoreRequest,
  WriteToOnlineStoreRequest,
} from './ingest/index.js'
export type {
  MaterializeIncrementalRequest,
  MaterializeOptions,
  MaterializeProgress,
  MaterializeRequest,
  MaterializeResult,
  ViewMaterialization,
} from './materialize/index.js'
export type { EntityInput, HistoricalRequest, RetrievalJob, Row, TimeRange } from './offline/index.js'
export type {
  ChangeAction,
  FeatureViewMeta,
  ListMaterializationRunsOptions,
  MaterializationInterval,
  MaterializationRun,
  MaterializationRunStatus,
  ObjectChange,
  ObjectKind,
  ObjectMeta,
  ProjectCatalog,
  SavedDatasetInfo,
  SkippedObject,
} from './registry/index.js'
export type {
  EntityRows,
  FeatureVector,
  FieldStatus,
  GetOnlineFeaturesOptions,
  OnlineFeaturesRequest,
  OnlineFeaturesResponse,
} from './serving/index.js'
