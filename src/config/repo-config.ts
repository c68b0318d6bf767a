import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { z } from 'zod'
import { checkProjectName, LarderError } from '../core/index.js'
import { type AuthConfig, authConfigIssue, authConfigOf } from './auth-config.js'
import { type ParsedRepoConfig, registryConfigSchema, repoConfigSchema } from './config-schema.js'
import { expandEnv } from './expand-env.js'
import { BROWSER_ACCESS_KEYS, type BrowserAccessConfig, browserAccessOf } from './feature-server-config.js'
import { ONLINE_LIMIT_KEYS, type OnlineLimits, onlineLimitsOf } from './online-limits.js'
import { parseYamlText } from './yaml-text.js'

export const CONFIG_FILE = 'feature_store.yaml'

/** A store block after parsing: its type and the remaining options, still to be checked by the backend. */
export interface StoreConfig {
  readonly type: string
  readonly options: Readonly<Record<string, unknown>>
}

/** A parsed, defaulted and validated `feature_store.yaml`. Paths are absolute. */
export interface RepoConfig {
  readonly repoPath: string
  readonly project: string
  readonly projectDescription: string
  readonly provider: 'local'
  readonly registry: {
    /**
     * The registry file (absolute), or as written: the database URL for `registryType: 'sql'`, the
     * server's `host:port` for `registryType: 'remote'`.
     */
    readonly path: string
    readonly registryType: 'file' | 'sql' | 'remote'
    readonly cacheTtlSeconds: number
    /** SQL registry: create missing tables (`auto`), require them (`verify`) or assume them (`skip`). */
    readonly schemaMode: 'auto' | 'verify' | 'skip'
  }
  readonly onlineStore: StoreConfig | undefined
  readonly offlineStore: StoreConfig
  /**
   * The materialization engine: `local` (default; in-process) or `bullmq` (tasks on a queue), from
   * Feast's `batch_engine` (or its older names `batch_engine_config`, `engine`).
   */
  readonly batchEngine: StoreConfig
  /** The `stream_processor` block as written; `larder stream` checks it. */
  readonly streamProcessor: Readonly<Record<string, unknown>>
  readonly entityKeySerializationVersion: 1 | 2 | 3
  readonly onlineWriteBatchSize: number | undefined
  /**
   * The `auth:` block: how Larder's servers authenticate requests (`no_auth` by default), and the
   * token a client of a server sends (see `clientTokenProvider`).
   */
  readonly auth: AuthConfig
  /**
   * Larder's keys of the `feature_server:` block: the `Host` names and web origins its HTTP servers
   * accept, and whether allowed origins may send cookies (see `server/request-guards.ts`).
   */
  readonly featureServer: BrowserAccessConfig
  /**
   * The limits of one online read, from `feature_server:` (`max_entity_rows`, `max_features`,
   * `max_feature_values`); see `OnlineLimits`.
   */
  readonly onlineLimits: OnlineLimits
  /**
   * One line per Feast key that the file sets and Larder accepts without acting on it, naming the key
   * and what Larder does instead. The CLI prints them once; the library leaves them to the caller.
   */
  readonly warnings: readonly string[]
}

/**
 * Reads `feature_store.yaml` from a repo directory: expands `${VAR}`, parses YAML, applies Feast's
 * defaults and rejects unknown keys with the list of known ones. Keys Feast writes that Larder does
 * not act on load and are listed in `warnings`.
 */
export function loadRepoConfig(repoPath: string, file = CONFIG_FILE): RepoConfig {
  const path = resolve(repoPath, file)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (cause) {
    throw new LarderError('INVALID_CONFIG', `no ${CONFIG_FILE} in ${resolve(repoPath)}`, {
      cause,
      hint: 'run larder in a feature repo, pass --chdir <repo>, or create one with `larder init`',
    })
  }
  return parseRepoConfig(text, dirname(path), path)
}

/**
 * Parses the text of a `feature_store.yaml` whose repo is `repoPath`. Throws INVALID_CONFIG naming the
 * key, the value and the allowed values or keys.
 *
 * @example parseRepoConfig('project: demo\nonline_store: { type: redis }\n', '/repo')
 */
export function parseRepoConfig(text: string, repoPath: string, source = CONFIG_FILE): RepoConfig {
  let raw: unknown
  try {
    const expanded = expandEnv(text, source)
    // a parse is cached only when nothing in it came from the environment
    raw = parseYamlText(expanded, { cache: expanded === text })
  } catch (cause) {
    if (cause instanceof LarderError) throw cause
    // the yaml package's YAMLParseError, with the line of the error
    const line = (cause as { linePos?: readonly { line: number }[] }).linePos?.[0]?.line
    const where = line === undefined ? '' : ` at line ${line}`
    throw new LarderError('INVALID_CONFIG', `${source} is not valid YAML${where}`, {
      cause,
      hint: (cause as Error).message.split('\n')[0],
    })
  }
  const input = raw ?? {}
  const parsed = repoConfigSchema.safeParse(input)
  if (!parsed.success) throw configError(parsed.error, input, source)
  const c = parsed.data
  const project = checkProjectNameIn(c.project, source)
  const registry =
    typeof c.registry === 'string' ? registryConfigSchema.parse({ path: c.registry }) : c.registry
  checkRegistry(registry, source)
  return Object.freeze({
    repoPath: resolve(repoPath),
    project,
    projectDescription: c.project_description ?? '',
    provider: c.provider,
    registry: Object.freeze({
      path: registry.registry_type === 'file' ? absolute(repoPath, registry.path) : registry.path,
      registryType: registry.registry_type,
      cacheTtlSeconds: registry.cache_ttl_seconds,
      schemaMode: registry.schema_mode,
    }),
    onlineStore: onlineStoreConfig(c.online_store),
    offlineStore: storeConfig(c.offline_store, 'duckdb'),
    batchEngine: batchEngineConfig(c.batch_engine ?? c.batch_engine_config ?? c.engine),
    streamProcessor: Object.freeze({ ...c.stream_processor }),
    entityKeySerializationVersion: c.entity_key_serialization_version,
    onlineWriteBatchSize: c.materialization?.online_write_batch_size,
    auth: authConfigOf(c.auth, resolve(repoPath), source),
    featureServer: browserAccessOf(c.feature_server, source),
    onlineLimits: onlineLimitsOf(c.feature_server),
    warnings: Object.freeze(feastOnlyWarnings(c, registry, resolve(repoPath), source)),
  })
}

/** The engines Larder runs; Feast's others (spark, lambda, k8s…) fall back to local with a warning. */
const BATCH_ENGINES: readonly string[] = ['local', 'bullmq']

/** The engine block; a type Larder does not run (warned about) is `local`. */
function batchEngineConfig(block: ParsedRepoConfig['batch_engine']): StoreConfig {
  const engine = storeConfig(block ?? 'local', 'local')
  return BATCH_ENGINES.includes(engine.type) ? engine : storeConfig('local', 'local')
}

/** Feast disables the online store with `null` or the strings "None" and "null". */
function onlineStoreConfig(block: ParsedRepoConfig['online_store']): StoreConfig | undefined {
  if (block === null || (typeof block === 'string' && /^(none|null)$/i.test(block))) return undefined
  return storeConfig(block, 'sqlite')
}

/** A block keeps its options for the backend; a block without `type` takes Feast's default type. */
function storeConfig(
  block: string | ({ type?: string } & Record<string, unknown>),
  defaultType: string,
): StoreConfig {
  // Feast reads a bare string as the type with its default options (`online_store: redis`).
  if (typeof block === 'string') return Object.freeze({ type: block, options: Object.freeze({}) })
  const { type, ...options } = block
  return Object.freeze({ type: type ?? defaultType, options: Object.freeze(options) })
}

function absolute(repoPath: string, path: string): string {
  return isAbsolute(path) ? path : resolve(repoPath, path)
}

function checkProjectNameIn(name: string, source: string): string {
  try {
    return checkProjectName(name)
  } catch (cause) {
    throw new LarderError('INVALID_CONFIG', `${source}: ${(cause as LarderError).message}`, {
      cause,
      hint: (cause as LarderError).hint,
    })
  }
}

type RegistryBlock = z.output<typeof registryConfigSchema>

/** URL schemes of Feast's object-store registries (S3, GCS, Azure, HDFS, HTTP). */
const OBJECT_STORE_URL = /^(s3a?|gs|gcs|az|abfss?|wasbs?|hdfs|https?):\/\//i

/** Feast's names for the registry store that keeps the registry in a local file. */
const FILE_REGISTRY_STORE = /(^|\.)(File|Local)RegistryStore$/

const SHARED_REGISTRY_HINT =
  'to share one registry between machines use the SQL registry (`registry_type: sql` with a database URL as `path`); otherwise set a local file path'

/**
 * A file registry reads a local file only: an object-store URL or another Feast registry store is an
 * error, never a path that would silently create a second, local registry.
 */
function checkRegistry(registry: RegistryBlock, source: string): void {
  if (registry.registry_type !== 'file') return
  if (OBJECT_STORE_URL.test(registry.path)) {
    throw new LarderError(
      'INVALID_CONFIG',
      `${source}: registry.path "${registry.path}" is an object-store URL; Larder's file registry reads a local file only`,
      { hint: SHARED_REGISTRY_HINT, details: { path: ['registry', 'path'], value: registry.path } },
    )
  }
  const store = registry.registry_store_type
  if (store !== undefined && !FILE_REGISTRY_STORE.test(store)) {
    throw new LarderError(
      'INVALID_CONFIG',
      `${source}: registry.registry_store_type "${store}" is a Feast registry store Larder does not have; allowed: FileRegistryStore`,
      { hint: SHARED_REGISTRY_HINT, details: { path: ['registry', 'registry_store_type'], value: store } },
    )
  }
}

/** One line per Feast key the file sets that Larder accepts without acting on it. */
function feastOnlyWarnings(
  c: ParsedRepoConfig,
  registry: RegistryBlock,
  repoPath: string,
  source: string,
): string[] {
  const warnings: string[] = []
  const warn = (key: string, text: string) => warnings.push(`${source}: ${key}: ${text}`)
  if (registry.cache_mode === 'thread') {
    warn(
      'registry.cache_mode',
      'thread is read as sync: a stale registry cache is refreshed on the next read, not by a background thread',
    )
  }
  if (registry.s3_additional_kwargs)
    warn('registry.s3_additional_kwargs', 'ignored; Larder reads no S3 registry')
  if (registry.purge_feast_metadata)
    warn('registry.purge_feast_metadata', "ignored; Larder's file registry keeps no metadata table")
  if (registry.enable_online_feature_view_versioning) {
    warn(
      'registry.enable_online_feature_view_versioning',
      'ignored; Larder reads and writes unversioned online table names',
    )
  }
  if (registry.mcp)
    warn('registry.mcp', 'ignored; Larder serves the registry with `larder serve` and `larder ui`')
  for (const key of ['batch_engine', 'batch_engine_config', 'engine'] as const) {
    const engine = c[key]
    if (engine === undefined) continue
    const { type, ...options } = typeof engine === 'string' ? { type: engine } : engine
    if (!BATCH_ENGINES.includes(type)) {
      warn(
        key,
        `type "${type}" is not available; Larder materializes in-process (local) or on a BullMQ queue (bullmq)`,
      )
    } else if (type === 'local' && Object.keys(options).length > 0) {
      warn(key, `options ${Object.keys(options).join(', ')} are ignored; Larder materializes in-process`)
    }
  }
  const larderServerKeys = [...BROWSER_ACCESS_KEYS, ...ONLINE_LIMIT_KEYS]
  const feastServerKeys = Object.keys(c.feature_server ?? {}).filter((k) => !larderServerKeys.includes(k))
  if (feastServerKeys.length > 0) {
    warn(
      'feature_server',
      `${feastServerKeys.join(', ')} ignored; Larder's feature server takes its settings from \`larder serve\` options (it reads ${larderServerKeys.join(', ')} here)`,
    )
  }
  if (c.flags) warn('flags', 'deprecated in Feast and ignored by Larder')
  if (!c.coerce_tz_aware)
    warn('coerce_tz_aware', 'false is not honoured; Larder always reads naive entity timestamps as UTC')
  if (c.repo_path !== undefined && resolve(repoPath, c.repo_path) !== repoPath) {
    warn('repo_path', `ignored, as by Feast; relative paths resolve against ${repoPath}`)
  }
  if (c.go_feature_serving) warn('go_feature_serving', 'ignored; Larder serves features with its own server')
  if (c.go_feature_retrieval) warn('go_feature_retrieval', 'ignored; Larder reads features itself')
  const unavailable = {
    openlineage: 'OpenLineage events are not emitted',
    mlflow: 'the MLflow integration is not available',
    embedding_model: 'vector search is not available',
    data_quality_monitoring: 'data-quality monitoring is not available',
  } as const
  for (const [key, text] of Object.entries(unavailable)) {
    if (c[key as keyof typeof unavailable] !== undefined) warn(key, `ignored; ${text} in Larder`)
  }
  return warnings
}

/** Examples of the accepted forms, for a value of the wrong shape. */
const FORMS: Readonly<Record<string, string>> = {
  registry: 'write a path string (`registry: data/registry.db`) or an object with the keys',
  online_store:
    'write a block, e.g. `online_store: { type: sqlite }`, or `online_store: null`; a block has the keys',
  offline_store: 'write a block, e.g. `offline_store: { type: duckdb }`; a block has the keys',
}

function configError(error: z.ZodError, input: unknown, source: string): LarderError {
  const issue = error.issues[0]!
  if (issue.path[0] === 'auth') {
    const auth = authConfigIssue(issue, valueAt(input, ['auth']), source)
    if (auth) return auth
  }
  const path = issue.path.join('.') || '(top level)'
  const details = { path: issue.path }
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(issue.path)
    return new LarderError(
      'INVALID_CONFIG',
      `${source}: unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')} in ${path}`,
      {
        hint: known.length ? `known keys: ${known.join(', ')}` : undefined,
        details: { path: issue.path, keys: issue.keys },
      },
    )
  }
  const value = show(valueAt(input, issue.path))
  if (issue.code === 'invalid_value') {
    const allowed = issue.values.map((v) => String(v)).join(', ')
    return new LarderError(
      'INVALID_CONFIG',
      `${source}: ${path}: ${value} is not allowed; allowed: ${allowed}`,
      {
        details,
        hint:
          issue.path[0] === 'provider'
            ? "Larder has Feast's local provider only; name the stores with online_store and offline_store"
            : `write one of ${allowed}`,
      },
    )
  }
  if (issue.code === 'invalid_union') {
    const expected = issue.errors.flatMap((branch) =>
      branch
        .filter((b) => b.code === 'invalid_type' && b.path.length === 0)
        .map((b) => (b as { expected: string }).expected),
    )
    const form = FORMS[path] ?? 'write one of the accepted forms; an object has the keys'
    return new LarderError(
      'INVALID_CONFIG',
      `${source}: ${path}: ${value} is not ${either(expected.map(article))}`,
      {
        details,
        hint: `${form} ${knownKeysAt(issue.path).join(', ')}`,
      },
    )
  }
  if (issue.code === 'invalid_type' && issue.path[0] === 'project') {
    return new LarderError('INVALID_CONFIG', `${source}: project: ${issue.message}`, {
      details,
      hint: 'add `project: my_project` to the file',
    })
  }
  return new LarderError('INVALID_CONFIG', `${source}: ${path}: ${value} is invalid: ${issue.message}`, {
    details,
  })
}

function either(words: readonly string[]): string {
  return words.length < 3 ? words.join(' or ') : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`
}

function article(type: string): string {
  return type === 'null' ? 'null' : /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur = input
  for (const key of path)
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<PropertyKey, unknown>)[key] : undefined
  return cur
}

function show(value: unknown): string {
  return value === undefined ? 'a missing value' : (JSON.stringify(value) ?? String(value))
}

function knownKeysAt(path: readonly PropertyKey[]): string[] {
  let shape: z.ZodType = repoConfigSchema
  for (const key of path) {
    const inner = unwrapObject(shape)
    const next = inner?.shape[key as string]
    if (!next) return []
    shape = next
  }
  return Object.keys(unwrapObject(shape)?.shape ?? {})
}

function unwrapObject(t: z.ZodType): z.ZodObject | undefined {
  let cur: z.ZodType = t
  for (let i = 0; i < 5; i++) {
    if (cur instanceof z.ZodObject) return cur
    if (cur instanceof z.ZodDefault || cur instanceof z.ZodOptional) cur = cur.unwrap() as z.ZodType
    else if (cur instanceof z.ZodUnion) {
      const obj = (cur.options as z.ZodType[]).find((o) => o instanceof z.ZodObject)
      if (!obj) return undefined
      cur = obj
    } else return undefined
  }
  return undefined
}
