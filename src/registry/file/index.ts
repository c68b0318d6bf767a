export { FileJobStore } from './file-jobs.js'
export { withFileLock, writeAtomically } from './file-lock.js'
export { FileRegistry, type FileRegistryOptions } from './file-registry.js'
