export {
  AUTH_TYPES,
  type AuthConfig,
  type AuthType,
  authConfigSchema,
  type ClaimPath,
  type ClientAuthSettings,
  clientTokenProvider,
  type KubernetesSettings,
  NO_AUTH_CONFIG,
  type OidcSettings,
  SERVICE_ACCOUNT_DIR,
  type StaticTokenEntry,
  TOKEN_ENV_VARS,
} from './auth-config.js'
export { registryConfigSchema, repoConfigSchema, storeConfigSchema } from './config-schema.js'
export { expandEnv } from './expand-env.js'
export {
  BROWSER_ACCESS_KEYS,
  type BrowserAccessConfig,
  browserAccessOf,
  featureServerConfigSchema,
  NO_BROWSER_ACCESS,
  normalizeHostPattern,
  normalizeOrigin,
  splitHost,
} from './feature-server-config.js'
export {
  DEFAULT_ONLINE_LIMITS,
  ONLINE_LIMIT_KEYS,
  type OnlineLimits,
  onlineLimitsOf,
} from './online-limits.js'
export {
  type PostgresConnection,
  postgresConnectionKeys,
  postgresConnectionSettings,
  postgresServerName,
} from './postgres-connection.js'
export {
  CONFIG_FILE,
  loadRepoConfig,
  parseRepoConfig,
  type RepoConfig,
  type StoreConfig,
} from './repo-config.js'
