export { NO_OBJECT, objectHash, REMOTE_HEADERS } from './remote-protocol.js'
export { RemoteRegistry, type RemoteRegistryOptions, remoteUrl } from './remote-registry.js'
export { runFromMessage, runToMessage } from './run-messages.js'
