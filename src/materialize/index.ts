export type { BatchEngine, EngineRunOptions, ViewWindow } from './engine.js'
export { createBatchEngine } from './engine-loader.js'
export { cancelStoredJob, JobTracker, jobError, THIS_RUNNER } from './job-tracker.js'
export { LocalEngine } from './local-engine.js'
export {
  engineOf,
  type MaterializeIncrementalRequest,
  type MaterializeOptions,
  type MaterializeProgress,
  type MaterializeRequest,
  type MaterializeResult,
  type MaterializeTarget,
  materialize,
  materializeIncremental,
  submitMaterialize,
  submitMaterializeIncremental,
  type ViewMaterialization,
} from './materialize.js'
export { writeRowEncoder } from './row-encoder.js'
export { type UnloadedView, type UnloadedViewsTarget, unloadedViews } from './unloaded-views.js'
