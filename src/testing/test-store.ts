import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseRepoConfig } from '../config/index.js'
import { checkProjectName, kindOf, LarderError, ManualClock, type TimestampInput } from '../core/index.js'
import { FeatureStore, type FeatureStoreParts } from '../feature-store.js'
import type { MaterializeOptions, MaterializeResult } from '../materialize/index.js'
import type { WriteInput } from '../offline/index.js'
import { MemoryOnlineStore } from '../online/memory/index.js'
import { createRegistry } from '../registry/index.js'
import { type DefinitionModule, definitionsFrom, type RepoDefinitions } from '../repo/load-repo.js'

/** The rows of one source in a test: row objects, or an Arrow table (or record batch). */
export type TestRows = WriteInput

/**
 * The definitions a test store registers: a module namespace (`import * as defs from './features.js'`),
 * an object of definitions, an array of definition objects, or an array of namespaces. Values that
 * are not definitions are ignored, as `larder apply` ignores them in a definition file; entities and
 * sources that the views reference are registered too.
 */
export type TestDefinitions = object | readonly unknown[]

/** What {@link createTestStore} builds a store from. */
export interface TestStoreOptions {
  readonly definitions: TestDefinitions
  /**
   * The offline rows, by source name (or by the name of a push source over it, or of a feature view
   * reading it): row objects or an Arrow table. Timestamps are `Date`s, ISO-8601 text (naive = UTC) or
   * epoch milliseconds. A source without rows is an empty file with the columns the views declare.
   */
  readonly data?: Readonly<Record<string, TestRows>>
  /** The project (default: the definitions' `Project`, else `test`). */
  readonly project?: string
  /**
   * Where the store's clock starts (ISO-8601 text, naive = UTC; a `Date`; or epoch milliseconds).
   * Default: the system time when the store is made. The clock then stays there until set or advanced.
   */
  readonly now?: TimestampInput
}

/** The window of {@link TestFeatureStore.materialize}: every field optional. */
export interface TestMaterializeRequest {
  /** Start of the window; without it, each view starts where it stopped, as `materializeIncremental`. */
  readonly start?: TimestampInput
  /** End of the window, inclusive (default: the clock's now). */
  readonly end?: TimestampInput
  /** The views to load (default: every online view with a batch source). */
  readonly views?: readonly string[]
}

/**
 * A `FeatureStore` for tests, made by {@link createTestStore}: the same class a repo opens, over an
 * in-memory registry (SQLite), the in-memory online store and DuckDB reading the test rows from a
 * temporary directory. Its `clock` is a {@link ManualClock} that every age and default instant is
 * measured from. `close()` also deletes the temporary directory.
 */
export class TestFeatureStore extends FeatureStore {
  declare readonly clock: ManualClock
  readonly #directory: string
  #closed: Promise<void> | undefined

  /** Use {@link createTestStore}, which also writes the data and applies the definitions. */
  constructor(parts: FeatureStoreParts & { readonly clock: ManualClock }, directory: string) {
    super(parts)
    this.#directory = directory
  }

  /**
   * Loads the offline rows into the online store. Without `start` (the usual call, `materialize()`),
   * each online view is loaded from where its last materialization ended (else `end - ttl`, else 52
   * weeks back) to `end`, default the clock's now, as `larder materialize-incremental` does in
   * production. With `start`, the window `[start, end]`, as {@link FeatureStore.materialize}.
   *
   * @example
   * store.clock.set('2026-01-01T00:00:00Z')
   * await store.materialize()
   */
  override materialize(
    request: TestMaterializeRequest = {},
    options: MaterializeOptions = {},
  ): Promise<MaterializeResult> {
    const end = request.end ?? this.clock.toISOString()
    const views = request.views === undefined ? {} : { views: request.views }
    if (request.start === undefined) return this.materializeIncremental({ end, ...views }, options)
    return super.materialize({ start: request.start, end, ...views }, options)
  }

  /** Closes the stores and the registry and deletes the temporary directory; later calls do nothing. */
  override close(): Promise<void> {
    this.#closed ??= super.close().finally(() => rmSync(this.#directory, { recursive: true, force: true }))
    return this.#closed
  }
}

/**
 * A real `FeatureStore` for a unit test, with the definitions applied and the rows in place: the
 * registry is SQLite in memory, the online store is the in-memory one, and the offline store is DuckDB
 * over Parquet (or CSV) files written from `data` into a temporary directory, each source's file at the
 * source's relative path with the columns typed as the views declare them. Nothing is materialized
 * yet: call `store.materialize()`. Every age (`maxAge`, `storageTtl`), `explain`'s default instant and
 * the default end of materialization are read from `store.clock`, which starts at `now` and moves only
 * when set or advanced. Close the store when done (`await store.close()`).
 *
 * Throws INVALID_ARGUMENT naming the key, source, row and column for data that names nothing or does
 * not fit the declared types, and the errors `larder apply` gives for definitions that do not fit
 * their data. Uses no test runner: it works under vitest, jest and `node:test` alike.
 *
 * @example
 * import * as defs from './features.js'
 * const store = await createTestStore({
 *   definitions: defs,
 *   data: { driver_stats: [{ driver_id: 1001, event_timestamp: '2025-12-31T23:00:00Z', conv_rate: 0.5 }] },
 *   now: '2026-01-01T00:00:00Z',
 * })
 * await store.materialize()
 */
export async function createTestStore(options: TestStoreOptions): Promise<TestFeatureStore> {
  const clock = new ManualClock(options.now ?? Date.now())
  const defs = await definitionsFrom(definitionModules(options.definitions), [])
  const project = projectName(options.project, defs)
  const directory = mkdtempSync(join(tmpdir(), 'larder-test-'))
  let store: TestFeatureStore | undefined
  try {
    // DuckDB is loaded only by a test that builds a store, not by importing `larderjs/testing`
    const { writeTestData } = await import('./test-data.js')
    await writeTestData(defs, options.data ?? {}, directory)
    const config = parseRepoConfig(configText(project), directory, 'createTestStore')
    const registry = await createRegistry(config.registry, directory)
    const online = new MemoryOnlineStore(() => Math.floor(clock.now() / 1000))
    store = new TestFeatureStore({ config, registry, clock, online, definitions: defs }, directory)
    await store.apply()
    return store
  } catch (error) {
    if (store) await store.close().catch(() => undefined)
    else rmSync(directory, { recursive: true, force: true })
    throw error
  }
}

/** The definitions as the modules `definitionsFrom` collects from, each labelled for messages. */
function definitionModules(definitions: TestDefinitions): DefinitionModule[] {
  const items = Array.isArray(definitions) ? definitions : [definitions]
  const loose: unknown[] = []
  const modules: DefinitionModule[] = []
  items.forEach((item, i) => {
    if (kindOf(item) !== undefined) loose.push(item)
    else if (typeof item === 'object' && item !== null) {
      modules.push({ file: Array.isArray(definitions) ? `definitions[${i}]` : 'definitions', exports: item })
    } else {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `createTestStore: definitions${Array.isArray(definitions) ? `[${i}]` : ''} is ${item === null ? 'null' : typeof item}, not a definition or a module of them`,
        {
          hint: "pass the module of your definitions (import * as defs from './features.js') or an array of them",
        },
      )
    }
  })
  if (loose.length > 0) modules.unshift({ file: 'definitions', exports: { ...loose } })
  return modules
}

/** The project: the option, else the definitions' own, else `test`; the two must agree. */
function projectName(option: string | undefined, defs: RepoDefinitions): string {
  const defined = defs.project?.name
  if (option !== undefined && defined !== undefined && option !== defined) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `createTestStore: project is "${option}" but the definitions define project "${defined}"`,
      { hint: `leave project out, or pass project: '${defined}'` },
    )
  }
  const name = checkProjectName(option ?? defined ?? 'test')
  const found = defs.entities.length + defs.featureViews.length + defs.onDemandFeatureViews.length
  if (found + defs.streamFeatureViews.length + defs.featureServices.length + defs.dataSources.length === 0) {
    throw new LarderError('INVALID_ARGUMENT', 'createTestStore: definitions hold no definitions', {
      hint: "pass the module that exports your entities, views and services: import * as defs from './features.js'",
    })
  }
  return name
}

/** The test store's `feature_store.yaml`: SQLite registry in memory, memory online store, DuckDB. */
function configText(project: string): string {
  return [
    `project: ${JSON.stringify(project)}`,
    'registry:',
    '  registry_type: sql',
    "  path: 'sqlite:///:memory:'",
    '  cache_ttl_seconds: 0',
    'online_store:',
    '  type: memory',
    'offline_store:',
    '  type: duckdb',
    'entity_key_serialization_version: 3',
    '',
  ].join('\n')
}
