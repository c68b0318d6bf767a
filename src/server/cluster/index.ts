export { availableCpus, type CgroupPaths } from './available-cpus.js'
export {
  type ClusterWorker,
  type ClusterWorkerOptions,
  joinCluster,
  reportWorkerFailure,
} from './cluster-worker.js'
export type { WorkerListening } from './messages.js'
export {
  type RunningWorker,
  type Supervisor,
  type SupervisorOptions,
  superviseWorkers,
} from './supervisor.js'
