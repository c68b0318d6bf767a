import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { parse as parseYaml, YAMLParseError } from 'yaml'
import { z } from 'zod'
import { checkProjectName, LarderError } from '../core/index.js'
import { repoConfigSchema } from './config-schema.js'
import { expandEnv } from './expand-env.js'

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
    readonly path: string
    readonly registryType: 'file'
    readonly cacheTtlSeconds: number
  }
  readonly onlineStore: StoreConfig | undefined
  readonly offlineStore: StoreConfig
  readonly entityKeySerializationVersion: 1 | 2 | 3
  readonly onlineWriteBatchSize: number | undefined
}

/**
 * Reads `feature_store.yaml` from a repo directory: expands `${VAR}`, parses YAML, applies Feast's
 * defaults and rejects unknown keys with the list of known ones.
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

/** Parses the text of a `feature_store.yaml` whose repo is `repoPath`. */
export function parseRepoConfig(text: string, repoPath: string, source = CONFIG_FILE): RepoConfig {
  let raw: unknown
  try {
    raw = parseYaml(expandEnv(text, source))
  } catch (cause) {
    if (cause instanceof LarderError) throw cause
    const where = cause instanceof YAMLParseError && cause.linePos ? ` at line ${cause.linePos[0].line}` : ''
    throw new LarderError('INVALID_CONFIG', `${source} is not valid YAML${where}`, {
      cause,
      hint: (cause as Error).message.split('\n')[0],
    })
  }
  const parsed = repoConfigSchema.safeParse(raw ?? {})
  if (!parsed.success) throw configError(parsed.error, source)
  const c = parsed.data
  const project = checkProjectNameIn(c.project, source)
  const registry =
    typeof c.registry === 'string'
      ? { path: c.registry, registry_type: 'file' as const, cache_ttl_seconds: 600 }
      : c.registry
  return Object.freeze({
    repoPath: resolve(repoPath),
    project,
    projectDescription: c.project_description ?? '',
    provider: c.provider,
    registry: Object.freeze({
      path: absolute(repoPath, registry.path),
      registryType: registry.registry_type,
      cacheTtlSeconds: registry.cache_ttl_seconds,
    }),
    onlineStore: c.online_store === null ? undefined : storeConfig(c.online_store),
    offlineStore: storeConfig(c.offline_store),
    entityKeySerializationVersion: c.entity_key_serialization_version,
    onlineWriteBatchSize: c.materialization?.online_write_batch_size,
  })
}

function storeConfig(block: { type: string } & Record<string, unknown>): StoreConfig {
  const { type, ...options } = block
  return Object.freeze({ type, options: Object.freeze(options) })
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

function configError(error: z.ZodError, source: string): LarderError {
  const issue = error.issues[0]!
  const path = issue.path.join('.') || '(top level)'
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
  return new LarderError('INVALID_CONFIG', `${source}: ${path}: ${issue.message}`, {
    details: { path: issue.path },
    hint: issue.path[0] === 'project' ? 'add `project: my_project` to the file' : undefined,
  })
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
