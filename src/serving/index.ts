export { onlineReadObjects, viewObject } from './access-objects.js'
export { joinKeyValue, parseJoinKeyText } from './entity-values.js'
export {
  type ExplainCause,
  type ExplainCauseCode,
  type ExplainDetails,
  type ExplainReport,
  type ExplainRequest,
  type ExplainSourceRow,
  type ExplainStatus,
  type ExplainTarget,
  explain,
  explainJson,
  type FeatureExplanation,
  formatAge,
} from './explain.js'
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
export {
  checkParity,
  type ParityMismatch,
  type ParityReport,
  type ParityRequest,
  parityJson,
  type ViewParity,
} from './parity.js'
export { probeSource, type SourceProbe, type SourceRow, sameStoredValue, storedForm } from './source-probe.js'
