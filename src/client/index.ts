export type {
  JobError,
  JobKind,
  JobProgress,
  JobRecord,
  JobStatus,
  ViewProgress,
} from '../registry/jobs.js'
export type {
  EntityRows,
  FeatureVector,
  FieldStatus,
  OnlineFeaturesRequest,
  OnlineFeaturesResponse,
} from '../serving/online-features.js'
export { LarderClient, type LarderClientOptions } from './larder-client.js'
