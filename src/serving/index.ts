export { onlineReadObjects, viewObject } from './access-objects.js'
export { joinKeyValue, parseJoinKeyText } from './entity-values.js'
export {
  type FeastJsonResponse,
  type JsonValue,
  jsonResponseText,
  jsonValue,
  toJsonResponse,
} from './json-response.js'
export {
  type EntityRows,
  type FeatureVector,
  type FieldStatus,
  type GetOnlineFeaturesOptions,
  getOnlineFeatures,
  type OnlineFeaturesRequest,
  type OnlineFeaturesResponse,
  onlineJoinKeys,
  type ServingTarget,
  STRICT_HEADER,
} from './online-features.js'
export type { FeatureSelectionRequest, PlanTarget } from './online-plan.js'
