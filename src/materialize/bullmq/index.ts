import type { RepoConfig } from '../../config/index.js'
import type { BatchEngine } from '../engine.js'
import { BullmqEngine } from './bullmq-engine.js'

export { type BullmqOptions, bullmqOptions, bullmqOptionsSchema } from './bullmq-config.js'
export { BullmqEngine } from './bullmq-engine.js'
export { RedisJobStore, type TaskReport } from './redis-job-store.js'
export { planTasks, timeSlices } from './task-plan.js'
export { BULLMQ_ENGINE, runWorker, type WorkerLogEntry, type WorkerOptions } from './worker.js'

/**
 * The `bullmq` batch engine of `config` (see `batch_engine`), connected to its Redis. Nothing here
 * imports `bullmq` or `ioredis` until this is called. INVALID_CONFIG for bad options (naming the key
 * and the fix), MISSING_DEPENDENCY when `bullmq` or `ioredis` is not installed, BACKEND_UNAVAILABLE
 * when Redis does not answer.
 *
 * @example const engine = await createBullmqEngine(config)
 */
export function createBullmqEngine(config: RepoConfig): Promise<BatchEngine> {
  return BullmqEngine.open(config)
}
