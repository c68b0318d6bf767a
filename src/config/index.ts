export { registryConfigSchema, repoConfigSchema, storeConfigSchema } from './config-schema.js'
export { expandEnv } from './expand-env.js'
export {
  CONFIG_FILE,
  loadRepoConfig,
  parseRepoConfig,
  type RepoConfig,
  type StoreConfig,
} from './repo-config.js'
