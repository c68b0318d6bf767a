export {
  AUTH_TYPES,
  type AuthConfig,
  type AuthType,
  authConfigSchema,
  type ClaimPath,
  type ClientAuthSettings,
  clientTokenProvider,
  NO_AUTH_CONFIG,
  type OidcSettings,
  type StaticTokenEntry,
  TOKEN_ENV_VARS,
} from './auth-config.js'
export { registryConfigSchema, repoConfigSchema, storeConfigSchema } from './config-schema.js'
export { expandEnv } from './expand-env.js'
export {
  CONFIG_FILE,
  loadRepoConfig,
  parseRepoConfig,
  type RepoConfig,
  type StoreConfig,
} from './repo-config.js'
