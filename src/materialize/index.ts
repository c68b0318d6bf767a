export {
  type MaterializeIncrementalRequest,
  type MaterializeOptions,
  type MaterializeProgress,
  type MaterializeRequest,
  type MaterializeResult,
  type MaterializeTarget,
  materialize,
  materializeIncremental,
  type ViewMaterialization,
} from './materialize.js'
export { writeRowEncoder } from './row-encoder.js'
export { type UnloadedView, type UnloadedViewsTarget, unloadedViews } from './unloaded-views.js'
