export { type Abortable, throwIfAborted } from './abortable.js'
export { AGGREGATION_FUNCTIONS, Aggregation, type AggregationOptions } from './aggregation.js'
export {
  ANONYMOUS,
  AUTHZ_ACTIONS,
  type Authenticator,
  type AuthObject,
  type AuthObjectType,
  type Authorizer,
  type AuthzAction,
  allowAllAuthorizer,
  anonymousAuthenticator,
  authorizeAll,
  NO_AUTH,
  type Principal,
  permittedItems,
  type ServerAuth,
  type TokenProvider,
} from './auth.js'
export { type Branded, type DefinitionKind, definitionKind, isKind, kindOf } from './brand.js'
export { type Clock, clockNow, ManualClock, systemClock } from './clock.js'
export {
  type BatchSource,
  type BatchSourceOptions,
  type CommonSourceOptions,
  type DataSource,
  type FileFormat,
  FileSource,
  type FileSourceOptions,
  isBatchSource,
  isDataSource,
  PostgreSQLSource,
  type PostgreSQLSourceOptions,
  PushSource,
  type PushSourceOptions,
  postgresOptionsJson,
  RequestSource,
  type RequestSourceOptions,
} from './data-source.js'
export { type DurationInput, formatDuration, parseDuration } from './duration.js'
export {
  DUMMY_ENTITY_ID,
  DUMMY_ENTITY_NAME,
  DUMMY_ENTITY_VALUE,
  Entity,
  type EntityOptions,
} from './entity.js'
export * from './entity-key.js'
export {
  callerSafeError,
  countOf,
  isLarderError,
  knownNames,
  LarderError,
  type LarderErrorCode,
  type LarderErrorOptions,
} from './errors.js'
export { type FeatureRef, outputColumnName, parseFeatureRef } from './feature-ref.js'
export {
  FeatureService,
  type FeatureServiceItem,
  type FeatureServiceOptions,
  type ProjectionOf,
} from './feature-service.js'
export {
  type FeastJsType,
  type FeatureRefOf,
  type FeatureServiceNameOf,
  type FeatureTypeMap,
  type FeatureTypes,
  type FeatureTypesOf,
  type FeatureValueOf,
  featureTypeMap,
  type JoinKeyOf,
  type ServiceFeatureTypes,
} from './feature-types.js'
export {
  type FeatureFields,
  FeatureView,
  type FeatureViewOptions,
  FeatureViewProjection,
  type ProjectionChanges,
} from './feature-view.js'
export { Field, type FieldOptions } from './field.js'
export * from './murmur3.js'
export {
  type BatchTransform,
  OnDemandFeatureView,
  type OnDemandFeatureViewOptions,
  type OnDemandInput,
  OnDemandProjection,
  type OnDemandSource,
  type RowTransform,
  TRANSFORMATION_MODES,
  type Transformation,
} from './on-demand-feature-view.js'
export {
  type DeployedOnDemandViews,
  type OnDemandColumns,
  onDemandWriteRows,
  requestValue,
  runTransformation,
  transformOf,
} from './on-demand-run.js'
export {
  ALL_ACTIONS,
  ALL_FEATURE_VIEW_TYPES,
  ALL_RESOURCE_TYPES,
  AllowAll,
  AUTH_OBJECT_TYPES,
  CombinedGroupNamespacePolicy,
  CRUD,
  type DecisionOutcome,
  decidePermission,
  GroupBasedPolicy,
  NamespaceBasedPolicy,
  objectTypeLabel,
  Permission,
  type PermissionActionInput,
  type PermissionDecision,
  type PermissionOptions,
  type PermissionRule,
  type PermissionTypeInput,
  POLICY_TYPES,
  type Policy,
  type PolicyType,
  type PolicyVerdict,
  permissionDenied,
  READ,
  RoleBasedPolicy,
  WRITE,
} from './permission.js'
export { checkProjectName, Project, type ProjectOptions } from './project.js'
export {
  DEFAULT_TILING_HOP_SECONDS,
  StreamFeatureView,
  type StreamFeatureViewCommonOptions,
  type StreamFeatureViewOptions,
  StreamProjection,
} from './stream-feature-view.js'
export {
  DEFAULT_CONSUMER_GROUP,
  isStreamSource,
  KafkaSource,
  type KafkaSourceOptions,
  KinesisSource,
  type KinesisSourceOptions,
  type MessageFormat,
  type MessageFormatInput,
  NatsSource,
  type NatsSourceOptions,
  RedisStreamSource,
  type RedisStreamSourceOptions,
  type StreamSource,
  type StreamSourceOptions,
  withBatchSource,
} from './stream-source.js'
export * from './tiles.js'
export {
  formatMicros,
  MICROS_PER_SECOND,
  type Micros,
  nowMicros,
  type TimestampInput,
  toMicros,
} from './time.js'
export * from './types.js'
export { checkName } from './validate.js'
export * from './value-codec.js'
