export type {
  ConsumerIdentity,
  ConsumerLag,
  ConsumerModule,
  StreamConsumer,
  StreamMessage,
} from './consumer.js'
export {
  type RunStreamOptions,
  runStreamProcessor,
  type SourceHealth,
  type StreamLog,
  type StreamMetrics,
  type StreamProcessor,
  type StreamTarget,
  streamSettings,
} from './processor.js'
export { type StreamProcessorOptions, streamProcessorSchema } from './stream-config.js'
export { runStreamJob, type StreamJob, type StreamJobTracker } from './stream-job.js'
