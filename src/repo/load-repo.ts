import { createHash } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Jiti } from 'jiti'
import {
  type DataSource,
  type Entity,
  type FeatureService,
  type FeatureView,
  isLarderError,
  kindOf,
  LarderError,
  type OnDemandFeatureView,
  type Permission,
  type Project,
  type StreamFeatureView,
} from '../core/index.js'
import { loadIgnore } from './ignore-file.js'

const DEFINITION_FILE = /\.(ts|mts|js|mjs)$/
const NOT_DEFINITIONS = /(\.d\.ts|\.test\.[cm]?[jt]s|\.spec\.[cm]?[jt]s)$/

/** The definitions a repo exports, each with the file that exported it. */
export interface RepoDefinitions {
  readonly files: readonly string[]
  readonly project: Project | undefined
  readonly entities: readonly Entity[]
  readonly dataSources: readonly DataSource[]
  readonly featureViews: readonly FeatureView[]
  readonly streamFeatureViews: readonly StreamFeatureView[]
  readonly onDemandFeatureViews: readonly OnDemandFeatureView[]
  readonly featureServices: readonly FeatureService[]
  readonly permissions: readonly Permission[]
  /** Where each definition object was first found, relative to the repo. */
  readonly origins: ReadonlyMap<object, string>
}

type Family =
  | 'entity'
  | 'data source'
  | 'feature view'
  | 'stream feature view'
  | 'on demand feature view'
  | 'feature service'
  | 'project'
  | 'permission'
const FAMILY: Record<string, Family | undefined> = {
  Entity: 'entity',
  FileSource: 'data source',
  PostgreSQLSource: 'data source',
  PushSource: 'data source',
  RequestSource: 'data source',
  KafkaSource: 'data source',
  KinesisSource: 'data source',
  RedisStreamSource: 'data source',
  NatsSource: 'data source',
  FeatureView: 'feature view',
  StreamFeatureView: 'stream feature view',
  OnDemandFeatureView: 'on demand feature view',
  FeatureService: 'feature service',
  Project: 'project',
  Permission: 'permission',
}

/** Where `import ... from 'larderjs'` in a definition file points: the Larder that is running. */
function selfAlias(): Record<string, string> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
  return { 'larderjs/testing': join(root, 'testing', 'index'), larderjs: join(root, 'index') }
}

/** Lists a repo's definition files: `.ts`, `.mts`, `.js`, `.mjs`, minus tests, `node_modules` and `.larderignore`. */
export function findDefinitionFiles(repoPath: string): string[] {
  const ignored = loadIgnore(repoPath)
  const out: string[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const full = join(dir, entry.name)
      const rel = relative(repoPath, full).split(sep).join('/')
      if (ignored(rel, entry.isDirectory())) continue
      if (entry.isDirectory()) walk(full)
      else if (DEFINITION_FILE.test(entry.name) && !NOT_DEFINITIONS.test(entry.name)) out.push(full)
    }
  }
  walk(repoPath)
  return out
}

/**
 * Where the code jiti transpiles for a repo (its definition files and the modules they import) is
 * kept between processes: in the user's cache directory (`$XDG_CACHE_HOME`, else `~/.cache`), under
 * `larder/definitions/` and a folder per repo path, so a repo gets no new files and another user
 * cannot plant code in it. Entries are used only while their source hashes the same, so an edited
 * file is transpiled again; where the directory cannot be written, definitions load uncached.
 */
export function definitionCacheDir(repoPath: string): string {
  const root = process.env.XDG_CACHE_HOME || join(homedir(), '.cache')
  const repo = createHash('sha256').update(resolve(repoPath)).digest('hex').slice(0, 16)
  return join(root, 'larder', 'definitions', repo)
}

/**
 * Imports every definition file of a repo (TypeScript included, through jiti, which is itself loaded
 * only here) and collects the definitions they export, plus the entities and sources those reference.
 * Transpiled code is reused from {@link definitionCacheDir} when the source is unchanged. Two different
 * objects with the same name are an error that names both files.
 */
export async function loadRepoDefinitions(repoPath: string): Promise<RepoDefinitions> {
  const files = findDefinitionFiles(repoPath)
  const { createJiti } = await import('jiti')
  // The module cache makes a file imported by another one the same module instance as when it is
  // loaded itself (so `import { driver } from './features'` is the same Entity); the repo's entries
  // are dropped before and after, so every load reads the files as they are now.
  forgetRepoModules(repoPath)
  const jiti = createJiti(import.meta.url, {
    alias: selfAlias(),
    moduleCache: true,
    fsCache: definitionCacheDir(repoPath),
    interopDefault: true,
  })
  try {
    return await collectDefinitions(repoPath, files, jiti)
  } finally {
    forgetRepoModules(repoPath)
  }
}

/** Drops the repo's own files (not its dependencies) from Node's module cache. */
function forgetRepoModules(repoPath: string): void {
  const root = resolve(repoPath) + sep
  const cache = createRequire(import.meta.url).cache
  for (const id of Object.keys(cache)) {
    if (id.startsWith(root) && !id.slice(root.length).split(sep).includes('node_modules')) delete cache[id]
  }
}

async function collectDefinitions(
  repoPath: string,
  files: readonly string[],
  jiti: Jiti,
): Promise<RepoDefinitions> {
  async function* modules(): AsyncGenerator<DefinitionModule> {
    for (const file of files) {
      const rel = relative(repoPath, file).split(sep).join('/')
      try {
        yield { file: rel, exports: (await jiti.import(file)) as Record<string, unknown> }
      } catch (cause) {
        throw loadError(repoPath, rel, cause)
      }
    }
  }
  return definitionsFrom(
    modules(),
    files.map((f) => relative(repoPath, f).split(sep).join('/')),
  )
}

/** One module's exports, and the file (relative to the repo) they are reported as found in. */
export interface DefinitionModule {
  readonly file: string
  readonly exports: Readonly<Record<string, unknown>> | undefined
}

/**
 * Collects the definitions among the modules' exported values (other values are ignored) and the
 * entities and sources they reference without exporting them, taking the modules one at a time. Two
 * different objects of one family with the same name are INVALID_DEFINITION naming both files.
 * `files` becomes the result's `files`.
 *
 * @example await definitionsFrom([{ file: 'features.ts', exports: await import('./features.js') }], ['features.ts'])
 */
export async function definitionsFrom(
  modules: Iterable<DefinitionModule> | AsyncIterable<DefinitionModule>,
  files: readonly string[],
): Promise<RepoDefinitions> {
  const found = new Map<string, { value: object; file: string }>()
  const origins = new Map<object, string>()
  const add = (value: object, file: string) => {
    const family = FAMILY[kindOf(value) ?? '']
    if (!family) return
    const name = (value as { name: string }).name
    const key = `${family}:${name}`
    const existing = found.get(key)
    if (existing && existing.value !== value) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${family} "${name}" is defined twice: in ${existing.file} and in ${file}`,
        {
          hint: `rename one of them, or import the one from ${existing.file} instead of defining it again`,
        },
      )
    }
    if (!existing) {
      found.set(key, { value, file })
      origins.set(value, file)
    }
  }
  for await (const { file, exports } of modules) {
    for (const value of Object.values(exports ?? {})) {
      if (typeof value === 'object' && value !== null) add(value, file)
    }
  }
  // Objects referenced but not exported still belong to the repo.
  for (const { value, file } of [...found.values()]) {
    for (const ref of references(value)) add(ref, file)
  }
  const of = <T>(family: Family) =>
    [...found.entries()].filter(([k]) => k.startsWith(`${family}:`)).map(([, v]) => v.value as T)
  return {
    files: [...files],
    project: of<Project>('project')[0],
    entities: of<Entity>('entity'),
    dataSources: of<DataSource>('data source'),
    featureViews: of<FeatureView>('feature view'),
    streamFeatureViews: of<StreamFeatureView>('stream feature view'),
    onDemandFeatureViews: of<OnDemandFeatureView>('on demand feature view'),
    featureServices: of<FeatureService>('feature service'),
    permissions: of<Permission>('permission'),
    origins,
  }
}

function references(value: object): object[] {
  switch (kindOf(value)) {
    case 'FeatureView': {
      const view = value as FeatureView
      return [...view.entities, view.source, ...(view.batchSource ? [view.batchSource] : [])].flatMap((v) => [
        v,
        ...references(v),
      ])
    }
    case 'StreamFeatureView': {
      const view = value as StreamFeatureView
      return [...view.entities, view.source, ...references(view.source)]
    }
    case 'PushSource':
    case 'KafkaSource':
    case 'KinesisSource':
    case 'RedisStreamSource':
    case 'NatsSource': {
      const batch = (value as { batchSource?: object }).batchSource
      return batch ? [batch] : []
    }
    case 'OnDemandFeatureView': {
      const view = value as OnDemandFeatureView
      return [
        ...view.sourceProjections.flatMap((p) => [p.view, ...references(p.view)]),
        ...view.requestSources,
      ]
    }
    case 'FeatureService': {
      const service = value as FeatureService
      return [
        ...service.projections.flatMap((p) => [p.view, ...references(p.view)]),
        ...service.streamProjections.flatMap((p) => [p.view, ...references(p.view)]),
        ...service.onDemandProjections.flatMap((p) => [p.view, ...references(p.view)]),
      ]
    }
    default:
      return []
  }
}

function loadError(repoPath: string, file: string, cause: unknown): LarderError {
  const parse = cause instanceof Error ? JITI_PARSE_ERROR.exec(cause.message) : null
  if (parse && Number(parse[3]) > 0) {
    const [, reason, path, line, column] = parse
    // Babel counts columns from 0; editors and compilers from 1.
    const where = `${repoRelative(repoPath, path!)}:${line}:${Number(column) + 1}`
    return new LarderError('REPO_LOAD_FAILED', `${where}: ${reason!.trim()}`, {
      cause,
      details: { file },
      hint: `fix the syntax at ${where} (definition files are TypeScript or JavaScript modules), or list the file in .larderignore if it holds no definitions`,
    })
  }
  const where = stackLine(repoPath, cause) ?? file
  if (isLarderError(cause)) {
    return new LarderError(
      cause.code === 'INVALID_DEFINITION' ? 'INVALID_DEFINITION' : 'REPO_LOAD_FAILED',
      `${where}: ${cause.message}`,
      {
        cause,
        hint: cause.hint,
      },
    )
  }
  const message = cause instanceof Error ? cause.message.split('\n')[0] : String(cause)
  return new LarderError('REPO_LOAD_FAILED', `${where}: ${message}`, {
    cause,
    details: { file },
    hint: `fix the error at ${where} (run with --verbose for the stack), or list ${file} in .larderignore if it holds no definitions`,
  })
}

/** jiti's message for a file Babel cannot parse: `ParseError: <reason> \n <path>:<line>:<column>`. */
const JITI_PARSE_ERROR = /^\w+: ([\s\S]*?)\s*\n\s*(\S.*):(\d+):(\d+)\s*$/

/** A stack frame's location: `at fn (/path/file.ts:35:14)` or `at /path/file.ts:35:14`. */
const STACK_FRAME = /^\s*at (?:.*\()?(.+?):(\d+):\d+\)?$/

/**
 * `file:line` of the innermost stack frame in one of the repo's own files, or undefined. Columns are
 * left out: jiti keeps lines when it strips TypeScript, but not columns.
 */
function stackLine(repoPath: string, cause: unknown): string | undefined {
  if (!(cause instanceof Error) || !cause.stack) return undefined
  const root = resolve(repoPath) + sep
  for (const text of cause.stack.split('\n').slice(1)) {
    const frame = STACK_FRAME.exec(text)
    if (!frame) continue
    const path = frame[1]!.startsWith('file://') ? fileURLToPath(frame[1]!) : frame[1]!
    if (path.startsWith(root) && !path.slice(root.length).split(sep).includes('node_modules')) {
      return `${repoRelative(repoPath, path)}:${frame[2]}`
    }
  }
  return undefined
}

/** A path relative to the repo with `/` separators, or as it is when it lies outside the repo. */
function repoRelative(repoPath: string, path: string): string {
  const rel = relative(repoPath, path)
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel.split(sep).join('/')
}
