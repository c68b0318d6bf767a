export { withFileLock } from './file-lock.js'
export { FileRegistry, type FileRegistryOptions, writeAtomically } from './file-registry.js'
