export {
  jobFromMessage,
  jobToMessage,
  logLineFromMessage,
  logLineToMessage,
  patchFromMessage,
  patchToMessage,
} from './job-messages.js'
export { type RemoteCall, RemoteJobStore } from './remote-jobs.js'
export { NO_OBJECT, objectHash, REMOTE_HEADERS } from './remote-protocol.js'
export { RemoteRegistry, type RemoteRegistryOptions, remoteUrl } from './remote-registry.js'
export { runFromMessage, runToMessage } from './run-messages.js'
