import { resolve } from 'node:path'
import { type JsonValue, toJson } from '@bufbuild/protobuf'
import { clientTokenProvider, loadRepoConfig, type RepoConfig } from './config/index.js'
import {
  type Abortable,
  type Clock,
  checkName,
  countOf,
  type DataSource,
  type DeployedOnDemandViews,
  type Entity,
  type FeatureService,
  type FeatureView,
  formatMicros,
  isLarderError,
  LarderError,
  type OnDemandFeatureView,
  outputColumnName,
  type StreamFeatureView,
  systemClock,
  toMicros,
} from './core/index.js'
import {
  type IngestResult,
  type PushRequest,
  push,
  type WriteToOfflineStoreRequest,
  type WriteToOnlineStoreRequest,
  writeToOfflineStore,
  writeToOnlineStore,
} from './ingest/index.js'
import type {
  BatchEngine,
  MaterializeIncrementalRequest,
  MaterializeOptions,
  MaterializeRequest,
  MaterializeResult,
} from './materialize/index.js'
import {
  createOfflineStore,
  type HistoricalRequest,
  type OfflineStore,
  type RetrievalJob,
  type WriteResult,
} from './offline/index.js'
import { createOnlineStore, validateOnlineStoreConfig } from './online/loader.js'
import { type InfraPlan, type OnlineStore, viewRef } from './online/online-store.js'
import type {
  PlannedTrainingSet,
  ReceiptInputs,
  ReproduceOptions,
  ReproduceResult,
  TrainingSetReceipt,
} from './receipts/index.js'
import {
  applyContents,
  createRegistry,
  diffContents,
  getObjectMessage,
  type JobLogLine,
  type JobRecord,
  type JobStore,
  type ListJobsOptions,
  type ListMaterializationRunsOptions,
  type MaterializationRun,
  microsFromTimestamp,
  newJob,
  type ObjectChange,
  type ObjectKind,
  type ProjectCatalog,
  projectNames,
  type Registry,
  type RegistryState,
  type RepoContents,
  removeProject,
  type SavedDatasetInfo,
  savedDatasetToProto,
  updateRegistry,
} from './registry/index.js'
import { loadRepoDefinitions, type RepoDefinitions } from './repo/load-repo.js'
import { resolveRepoContents } from './repo/resolve-contents.js'
import { type ExplainReport, type ExplainRequest, explain } from './serving/explain.js'
import {
  type GetOnlineFeaturesOptions,
  getOnlineFeatures,
  type OnlineFeaturesRequest,
  type OnlineFeaturesResponse,
} from './serving/online-features.js'
import type { ParityReport, ParityRequest } from './serving/parity.js'
import type { RunStreamOptions, StreamJob } from './stream/index.js'

// What an online read does not use (the batch engine, receipts, Arrow, the historical and parity paths)
// is imported on first use, so that opening a store and reading from it load none of it.
const materializeModule = () => import('./materialize/index.js')
const receiptsModule = () => import('./receipts/index.js')
const onDemandOfflineModule = () => import('./serving/on-demand-offline.js')
const parityModule = () => import('./serving/parity.js')
const streamModule = () => import('./stream/index.js')

export interface OpenOptions {
  /** The config file name inside the repo (default `feature_store.yaml`). */
  configFile?: string
  /** Where the store reads the current time (default: the system clock); see {@link Clock}. */
  clock?: Clock
}

/**
 * What a feature store is made of. {@link FeatureStore.open} makes them from a repo's files; a test
 * harness (`larderjs/testing`) passes its own.
 */
export interface FeatureStoreParts {
  readonly config: RepoConfig
  readonly registry: Registry
  /** Where the store reads the current time (default: the system clock); see {@link Clock}. */
  readonly clock?: Clock
  /** The online store to use instead of opening the one `config.onlineStore` names. */
  readonly online?: OnlineStore
  /**
   * The definitions `plan` completes and on-demand and stream views run from, instead of the repo's
   * definition files (which are then never loaded).
   */
  readonly definitions?: RepoDefinitions
}

/** What `plan()` found: the repo's objects, completed against their data, and the changes apply would make. */
export interface Plan {
  readonly contents: RepoContents
  readonly changes: readonly ObjectChange[]
  /** The registry read the plan was made against; apply commits only if it is still current. */
  readonly base: RegistryState
}

/** Where a {@link TrainingJob} records its writes as jobs, and what they read. */
export interface HistoricalJobContext {
  readonly project: string
  /** The job store: the engine's (see {@link FeatureStore.engine}). */
  jobs(): Promise<JobStore>
  /** The feature views and on-demand views the retrieval reads. */
  readonly featureViews: readonly string[]
  /** The entity rows asked for, as the job's request shows them. */
  readonly entities: Readonly<Record<string, unknown>>
  /** What a receipt of a write records besides its output; without it, a receipt cannot be asked for. */
  readonly receipt?: ReceiptInputs
}

/** Options of a retrieval written to a file or a table, which runs as a job. */
export interface HistoricalWriteOptions extends Abortable {
  /** Called once the job is stored, before any row is read: its id is what `larder jobs cancel` takes. */
  readonly onJob?: (job: JobRecord) => void
  /**
   * Also make a training-set receipt (see {@link TrainingSetReceipt}; default false): `true` writes it
   * beside a file as `<file>.receipt.json` (for a table, it is only returned, and a saved dataset keeps
   * it in the registry); a path writes it there. The sources are hashed just before the rows are read
   * and the output right after it is written, which costs a read of every source file and of the output.
   */
  readonly receipt?: boolean | string
}

/** What writing a training set did: the rows written, and the receipt when one was asked for. */
export interface TrainingWriteResult extends WriteResult {
  readonly receipt?: TrainingSetReceipt
  /** The receipt file written, when there is one (absolute). */
  readonly receiptPath?: string
}

/**
 * A retrieval job that also knows what it asked for, so its result can be saved as a dataset.
 * Reading it runs the job; see {@link RetrievalJob}. A write to a file or a table (`toParquet`,
 * `toCsv`, `toTable`) runs as a job of kind `historical` in the engine's job store, run by this
 * process: `larder jobs list` shows it with its rows once written, and `larder jobs cancel` from any
 * process stops it at its next batch (the writers write atomically, so no partial file or table is
 * left). The in-memory reads (`toArrow`, `toRows`, `stream`) are not jobs. A write given `{ receipt }`
 * also makes a training-set receipt that {@link FeatureStore.reproduce} rebuilds the set from.
 */
export class TrainingJob implements RetrievalJob {
  readonly #job: RetrievalJob
  readonly #context: HistoricalJobContext
  /** What the dataset holds: feature references, join keys and naming. */
  readonly request: Omit<
    SavedDatasetInfo,
    'name' | 'path' | 'description' | 'tags' | 'createdAt' | 'eventRange'
  >

  constructor(job: RetrievalJob, request: TrainingJob['request'], context: HistoricalJobContext) {
    this.#job = job
    this.request = request
    this.#context = context
  }

  get columns() {
    return this.#job.columns
  }
  get notices() {
    return this.#job.notices
  }
  toArrow(opts?: Abortable) {
    return this.#job.toArrow(opts)
  }
  toParquet(path: string, opts: HistoricalWriteOptions = {}): Promise<TrainingWriteResult> {
    return this.#tracked({ output: resolve(path), format: 'parquet' }, opts, (signal) =>
      this.#job.toParquet(path, { signal }),
    )
  }
  toCsv(path: string, opts: HistoricalWriteOptions = {}): Promise<TrainingWriteResult> {
    return this.#tracked({ output: resolve(path), format: 'csv' }, opts, (signal) =>
      this.#job.toCsv(path, { signal }),
    )
  }
  toRows(limit?: number, opts?: Abortable) {
    return this.#job.toRows(limit, opts)
  }
  stream(opts?: Abortable) {
    return this.#job.stream(opts)
  }
  get toTable() {
    const job = this.#job
    return job.toTable === undefined
      ? undefined
      : (table: string, opts: HistoricalWriteOptions = {}) =>
          this.#tracked({ output: table, format: 'table' }, opts, (signal) => job.toTable!(table, { signal }))
  }

  /**
   * Runs `write` as a stored `historical` job: queued, then running under a {@link JobTracker}
   * (heartbeat, cancel from any process through `signal`), then succeeded with the rows written, or
   * cancelled or failed with the error, which is rethrown. With `opts.receipt`, the receipt is made
   * around the write and written before the job succeeds.
   */
  async #tracked(
    output: { readonly output: string; readonly format: 'parquet' | 'csv' | 'table' },
    opts: HistoricalWriteOptions,
    write: (signal: AbortSignal) => Promise<WriteResult>,
  ): Promise<TrainingWriteResult> {
    const context = this.#context
    const { JobTracker, THIS_RUNNER } = await materializeModule()
    const jobs = await context.jobs()
    const job = newJob({
      project: context.project,
      kind: 'historical',
      engine: 'local',
      featureViews: [...context.featureViews],
      request: {
        ...output,
        features: this.request.features,
        ...(this.request.featureServiceName === ''
          ? {}
          : { feature_service: this.request.featureServiceName }),
        ...context.entities,
      },
      tasksTotal: 1,
      runner: THIS_RUNNER,
    })
    await jobs.create(job, { signal: opts.signal })
    opts.onJob?.(job)
    const tracker = await JobTracker.start(jobs, job, opts.signal)
    tracker.log('info', `writing ${countOf(this.request.features.length, 'feature')} to ${output.output}`)
    try {
      const written = await this.#withReceipt(
        output,
        opts.receipt,
        () => write(tracker.signal),
        tracker.signal,
      )
      const rows = written.rows
      tracker.progress({ rowsDone: rows, rowsTotal: rows, tasksDone: 1, tasksTotal: 1 })
      tracker.log('info', `wrote ${countOf(rows, 'row')} to ${output.output}`)
      if (written.receiptPath) tracker.log('info', `wrote the receipt to ${written.receiptPath}`)
      await tracker.finish({ result: { ...output, rows } })
      return written
    } catch (e) {
      await tracker.finish({ error: e })
      throw e
    }
  }

  /** Runs `write`, recording its receipt when `wanted` (see {@link HistoricalWriteOptions.receipt}). */
  async #withReceipt(
    output: { readonly output: string; readonly format: 'parquet' | 'csv' | 'table' },
    wanted: boolean | string | undefined,
    write: () => Promise<WriteResult>,
    signal: AbortSignal,
  ): Promise<TrainingWriteResult> {
    if (wanted === undefined || wanted === false) return write()
    const inputs = this.#context.receipt
    if (inputs === undefined) {
      throw new LarderError('UNSUPPORTED', `this retrieval job cannot make a receipt for ${output.output}`, {
        hint: 'make the job with FeatureStore.getHistoricalFeatures',
      })
    }
    const { receiptPathFor, recordTrainingSet, writeReceiptFile } = await receiptsModule()
    const file =
      typeof wanted === 'string'
        ? resolve(wanted)
        : output.format === 'table'
          ? undefined
          : receiptPathFor(output.output)
    const target =
      output.format === 'table'
        ? { kind: 'table' as const, table: output.output }
        : { kind: output.format, path: output.output }
    let written: WriteResult | undefined
    const { rows, receipt } = await recordTrainingSet(
      inputs,
      target,
      async () => {
        written = await write()
        return written
      },
      { signal },
    )
    if (file !== undefined) await writeReceiptFile(file, receipt)
    return {
      rows,
      ...(written?.eventRange === undefined ? {} : { eventRange: written.eventRange }),
      receipt,
      ...(file === undefined ? {} : { receiptPath: file }),
    }
  }
}

export interface SaveDatasetOptions extends HistoricalWriteOptions {
  name: string
  /** The Parquet file to write; relative paths resolve against the repo. Give `path` or `table`. */
  path?: string
  /**
   * A new table of the offline store's database to write instead of a file (the postgres offline
   * store; registered as Feast's `SavedDatasetPostgreSQLStorage`).
   */
  table?: string
  description?: string
  tags?: Record<string, string>
  /** Replace a saved dataset of the same name (default false: that is an error). */
  allowOverwrite?: boolean
}

/** Where {@link FeatureStore.reproduce} finds a receipt: in hand, in a file, or kept with a saved dataset. */
export type ReceiptRef = TrainingSetReceipt | string | { readonly savedDataset: string }

/** Options of the registry listings: Feast's `allow_cache` and `tags` filters. */
export interface ListOptions extends Abortable {
  /** Serve the registry cache while it is fresh (`cache_ttl_seconds`). Default true. */
  allowCache?: boolean
  /** Only objects carrying every one of these tags. */
  tags?: Readonly<Record<string, string>>
}

/** A historical request in the SDK's terms: feature references or a feature service. */
export interface GetHistoricalFeaturesOptions extends Omit<HistoricalRequest, 'features'> {
  features?: readonly string[]
  featureService?: string | FeatureService
}

/**
 * A feature repo opened for use: its config, registry, and (opened on first use) offline and online
 * stores. Everything a CLI command or the server does goes through here.
 *
 * @example
 * const store = await FeatureStore.open('./feature_repo')
 * const plan = await store.plan()
 */
export class FeatureStore {
  readonly config: RepoConfig
  readonly registry: Registry
  /** Where the store reads the current time; see {@link Clock}. */
  readonly clock: Clock
  readonly #definitions: RepoDefinitions | undefined
  #offline: Promise<OfflineStore> | undefined
  #online: Promise<OnlineStore> | undefined
  #onDemandViews: Promise<DeployedOnDemandViews> | undefined
  #engine: Promise<BatchEngine> | undefined

  /** A store of the given parts; {@link FeatureStore.open} makes them from a repo. */
  protected constructor(parts: FeatureStoreParts) {
    this.config = parts.config
    this.registry = parts.registry
    this.clock = parts.clock ?? systemClock
    this.#definitions = parts.definitions
    if (parts.online) this.#online = Promise.resolve(parts.online)
  }

  /** Opens the repo at `repoPath` (default: the working directory). Reads only `feature_store.yaml`. */
  static async open(repoPath = '.', options: OpenOptions = {}): Promise<FeatureStore> {
    const config = loadRepoConfig(repoPath, options.configFile)
    const registry = await createRegistry(config.registry, config.repoPath, {
      tokenProvider: clientTokenProvider(config.auth),
    })
    return new FeatureStore({ config, registry, ...(options.clock ? { clock: options.clock } : {}) })
  }

  get project(): string {
    return this.config.project
  }

  /** The project's registered objects (from the registry cache when fresh). */
  async catalog(options: Abortable & { allowCache?: boolean } = {}): Promise<ProjectCatalog> {
    return (await this.registry.load(options)).catalog(this.project)
  }

  /** Every entity of the project, as `store.list_entities()` in Feast. */
  async listEntities(options: ListOptions = {}): Promise<Entity[]> {
    return this.#list((c) => c.entities, options)
  }

  /** Every data source of the project. */
  async listDataSources(options: ListOptions = {}): Promise<DataSource[]> {
    return this.#list((c) => c.dataSources, options)
  }

  /** Every feature view of the project (on-demand views are listed by {@link listOnDemandFeatureViews}). */
  async listFeatureViews(options: ListOptions = {}): Promise<FeatureView[]> {
    return this.#list((c) => c.featureViews, options)
  }

  /** Every on-demand feature view of the project. */
  async listOnDemandFeatureViews(options: ListOptions = {}): Promise<OnDemandFeatureView[]> {
    return this.#list((c) => c.onDemandFeatureViews, options)
  }

  /** Every stream feature view of the project. */
  async listStreamFeatureViews(options: ListOptions = {}): Promise<StreamFeatureView[]> {
    return this.#list((c) => c.streamFeatureViews, options)
  }

  /** Every feature service of the project. */
  async listFeatureServices(options: ListOptions = {}): Promise<FeatureService[]> {
    return this.#list((c) => c.featureServices, options)
  }

  /** Every saved dataset of the project (training sets saved with {@link createSavedDataset}). */
  async listSavedDatasets(options: ListOptions = {}): Promise<SavedDatasetInfo[]> {
    return this.#list((c) => c.savedDatasets, options)
  }

  /**
   * The project's recorded materialization runs, newest first: each view's window, rows read, written
   * and skipped, the newest event written, duration, who ran it and whether it succeeded (a failed
   * run carries its error). `view` keeps one feature view's runs; `limit` defaults to 100. Always read
   * from the registry, never from its cache; the registry keeps the newest 100 runs per view.
   *
   * @example const [last] = await store.listMaterializationRuns({ view: 'driver_hourly_stats', limit: 1 })
   */
  listMaterializationRuns(options: ListMaterializationRunsOptions = {}): Promise<MaterializationRun[]> {
    return this.registry.listMaterializationRuns(this.project, options)
  }

  /** The names of every project the registry holds, this one included once it is applied. */
  async listProjects(options: Omit<ListOptions, 'tags'> = {}): Promise<string[]> {
    return projectNames((await this.registry.load(options)).proto)
  }

  /** One entity by name; NOT_FOUND lists the known names. */
  async getEntity(name: string, options: ListOptions = {}): Promise<Entity> {
    return (await this.catalog(options)).entity(name)
  }

  /** One data source by name; NOT_FOUND lists the known names. */
  async getDataSource(name: string, options: ListOptions = {}): Promise<DataSource> {
    return (await this.catalog(options)).dataSource(name)
  }

  /** One feature view by name; NOT_FOUND lists the known names. */
  async getFeatureView(name: string, options: ListOptions = {}): Promise<FeatureView> {
    return (await this.catalog(options)).featureView(name)
  }

  /** One stream feature view by name; NOT_FOUND lists the known names. */
  async getStreamFeatureView(name: string, options: ListOptions = {}): Promise<StreamFeatureView> {
    return (await this.catalog(options)).streamFeatureView(name)
  }

  /** One on-demand feature view by name; NOT_FOUND lists the known names. */
  async getOnDemandFeatureView(name: string, options: ListOptions = {}): Promise<OnDemandFeatureView> {
    return (await this.catalog(options)).onDemandFeatureView(name)
  }

  /** One feature service by name; NOT_FOUND lists the known names. */
  async getFeatureService(name: string, options: ListOptions = {}): Promise<FeatureService> {
    return (await this.catalog(options)).featureService(name)
  }

  /** One saved dataset by name; NOT_FOUND lists the known names. */
  async getSavedDataset(name: string, options: ListOptions = {}): Promise<SavedDatasetInfo> {
    return (await this.catalog(options)).savedDataset(name)
  }

  /**
   * One object exactly as the registry stores it: Feast's protobuf message as proto3 JSON (what
   * `larder describe` prints). NOT_FOUND lists the known names of that kind.
   *
   * @example await store.describe('feature view', 'driver_hourly_stats')
   */
  async describe(kind: ObjectKind, name: string, options: ListOptions = {}): Promise<JsonValue> {
    const state = await this.registry.load(options)
    const found = getObjectMessage(state.proto, this.project, kind, name)
    return toJson(found.schema, found.message)
  }

  async #list<T extends { readonly tags: Readonly<Record<string, string>> }>(
    pick: (catalog: ProjectCatalog) => ReadonlyMap<string, T>,
    options: ListOptions,
  ): Promise<T[]> {
    const wanted = Object.entries(options.tags ?? {})
    return [...pick(await this.catalog(options)).values()].filter((item) =>
      wanted.every(([k, v]) => item.tags[k] === v),
    )
  }

  /** The offline store, opened on first use. */
  offline(): Promise<OfflineStore> {
    this.#offline ??= createOfflineStore(this.config)
    return this.#offline
  }

  /** The materialization engine of `batch_engine` (in-process by default), opened on first use. */
  engine(): Promise<BatchEngine> {
    this.#engine ??= materializeModule()
      .then(({ createBatchEngine }) => createBatchEngine(this.config, this.registry))
      .catch((e) => {
        this.#engine = undefined
        throw e
      })
    return this.#engine
  }

  /** The online store, opened on first use. */
  online(options: Abortable = {}): Promise<OnlineStore> {
    this.#online ??= createOnlineStore(this.config, options).catch((e) => {
      this.#online = undefined
      throw e
    })
    return this.#online
  }

  /**
   * The on-demand views of the repo's definition files (or of the definitions the store was made
   * with, see {@link FeatureStoreParts}), loaded once on first use: the transformations
   * online and historical reads run. The registry's copy of a view only describes its code, and a read
   * refuses to run a view whose deployed code differs from the registered code.
   */
  onDemandViews(): Promise<DeployedOnDemandViews> {
    this.#onDemandViews ??= this.#loadDefinitions().then(
      (defs) => new Map(defs.onDemandFeatureViews.map((v) => [v.name, v])),
      (e) => {
        this.#onDemandViews = undefined
        throw e
      },
    )
    return this.#onDemandViews
  }

  /**
   * The stream feature views of the repo's definition files (or of the definitions the store was made
   * with), loaded on each call: the transformations
   * `larder stream` runs (the registry keeps only their source text).
   */
  async deployedStreamViews(): Promise<ReadonlyMap<string, StreamFeatureView>> {
    const defs = await this.#loadDefinitions()
    return new Map(defs.streamFeatureViews.map((v) => [v.name, v]))
  }

  /**
   * Loads the repo's definition files, checks them against their data (inferring what was omitted)
   * and compares them with the registry. Writes nothing. The whole config is checked as apply checks
   * it: a bad `online_store` or `offline_store` option fails here, without connecting to the online
   * store.
   */
  async plan(options: Abortable = {}): Promise<Plan> {
    await validateOnlineStoreConfig(this.config)
    const defs = await this.#loadDefinitions()
    const offline = await this.offline()
    const contents = await resolveRepoContents(defs, this.project, this.config.projectDescription, (s) =>
      offline.describeSource(s, options),
    )
    const base = await this.registry.load({ allowCache: false, signal: options.signal })
    return { contents, changes: diffContents(base.proto, contents), base }
  }

  /**
   * Makes the registry hold exactly the plan's objects (objects removed from the repo are deleted, as
   * with `feast apply`) and the online store hold their tables. The commit fails with CONFLICT, and
   * changes nothing, if the registry changed since the plan was made.
   */
  async apply(plan?: Plan, options: Abortable = {}): Promise<Plan> {
    const p = plan ?? (await this.plan(options))
    const keep = [
      ...p.contents.featureViews.filter((v) => v.online),
      ...streamStoredViews(p.contents.streamFeatureViews),
      ...storedViews(p.contents.onDemandFeatureViews),
    ]
    const keptNames = new Set(keep.map((v) => v.name))
    const before = p.base.catalog(this.project)
    const drop = [
      ...[...before.featureViews.values()].filter((v) => v.online),
      ...streamStoredViews([...before.streamFeatureViews.values()]),
      ...storedViews([...before.onDemandFeatureViews.values()]),
    ].filter((v) => !keptNames.has(v.name))
    if (this.config.onlineStore) {
      const online = await this.online(options)
      await online.update(this.#infra(keep, []), options)
    }
    const draft = p.base.draft()
    applyContents(draft, p.contents, this.clock.now())
    try {
      await this.registry.commit(p.base, draft, options)
    } catch (e) {
      if (!(isLarderError(e) && e.code === 'CONFLICT') || !this.config.onlineStore) throw e
      const existed = new Set([
        ...before.featureViews.keys(),
        ...before.streamFeatureViews.keys(),
        ...before.onDemandFeatureViews.keys(),
      ])
      throw await this.#dropCreatedTables(
        keep.filter((v) => !existed.has(v.name)),
        e,
      )
    }
    if (this.config.onlineStore && drop.length) {
      const online = await this.online(options)
      await online.update(this.#infra([], drop), options)
    }
    return p
  }

  /**
   * After an apply's commit failed with CONFLICT (nothing was committed): drops the online tables the
   * apply created for views new in it (`created`), so a lost race leaves no orphan tables. A table is
   * kept when the registry now holds a view of that name (another apply committed it) or when it holds
   * rows. Returns the error to throw: `conflict` itself, or when a drop failed, a CONFLICT that also
   * names the tables left behind.
   */
  async #dropCreatedTables(created: readonly FeatureView[], conflict: LarderError): Promise<LarderError> {
    if (created.length === 0) return conflict
    try {
      // runs to the end even when the apply's signal is aborted: the tables are this apply's to remove
      const now = (await this.registry.load({ allowCache: false })).catalog(this.project)
      const online = await this.online()
      const orphans: FeatureView[] = []
      for (const view of created) {
        if (now.featureViews.has(view.name) || now.streamFeatureViews.has(view.name)) continue
        if (now.onDemandFeatureViews.has(view.name)) continue
        if (await online.hasRows?.(viewRef(this.project, view))) continue
        orphans.push(view)
      }
      if (orphans.length > 0) await online.update(this.#infra([], orphans))
      return conflict
    } catch (cleanup) {
      const names = created.map((v) => v.name).join(', ')
      return new LarderError(
        'CONFLICT',
        `${conflict.message}; the online tables this apply created for the new views ${names} could not be ` +
          `dropped again: ${cleanup instanceof Error ? cleanup.message : String(cleanup)}`,
        {
          hint: `${conflict.hint ?? 'run the command again'} (apply creates the tables again; \`larder teardown\` removes a project's tables)`,
          cause: conflict,
          details: conflict.details,
        },
      )
    }
  }

  /** Removes the project's online tables and every object of the project from the registry. */
  async teardown(options: Abortable = {}): Promise<void> {
    const state = await this.registry.load({ allowCache: false, signal: options.signal })
    const catalog = state.catalog(this.project)
    const views = [
      ...[...catalog.featureViews.values()].filter((v) => v.online),
      ...streamStoredViews([...catalog.streamFeatureViews.values()]),
      ...storedViews([...catalog.onDemandFeatureViews.values()]),
    ]
    if (this.config.onlineStore && views.length) {
      const online = await this.online(options)
      await online.teardown(this.#infra([], views), options)
    }
    const draft = state.draft()
    removeProject(draft, this.project)
    await this.registry.commit(state, draft, options)
  }

  /**
   * Point-in-time correct training data: for each entity row, each feature's latest value at or before
   * the row's timestamp (within the view's ttl). Returns a lazy job; nothing runs until it is read.
   */
  async getHistoricalFeatures(
    request: GetHistoricalFeaturesOptions,
    options: Abortable = {},
  ): Promise<TrainingJob> {
    return (await this.#historical(request, options)).training
  }

  /**
   * Plans a retrieval: the offline store's job, the same wrapped as a {@link TrainingJob}, and what its
   * receipt records besides its output.
   */
  async #historical(
    request: GetHistoricalFeaturesOptions,
    options: Abortable & { readonly allowCache?: boolean },
  ): Promise<{ training: TrainingJob; job: RetrievalJob; inputs: ReceiptInputs }> {
    const state = await this.registry.load(options)
    const catalog = state.catalog(this.project)
    const { features: refs, featureService, ...rest } = request
    const service =
      typeof featureService === 'string' ? catalog.featureService(featureService) : featureService
    const full = Boolean(request.fullFeatureNames)
    const { historicalOnDemandPlan, onDemandResultTransform } = await onDemandOfflineModule()
    const odfv = historicalOnDemandPlan(catalog, service ?? refs ?? [], full)
    const selections = odfv.selections
    const transform =
      odfv.wanted.length > 0 ? onDemandResultTransform(odfv, await this.onDemandViews(), full) : undefined
    const offline = await this.offline()
    const job = await offline.getHistoricalFeatures({ ...rest, features: selections, transform }, options)
    const joinKeys = new Set(
      selections.flatMap((s) => s.projection.view.joinKeys.map((k) => s.projection.joinKeyMap[k] ?? k)),
    )
    const features = [
      ...selections.flatMap((s) =>
        s.features
          .filter((f) => !odfv.hidden.has(outputColumnName(s.projection.nameToUse, f, full)))
          .map((f) => `${s.projection.nameToUse}:${f}`),
      ),
      ...odfv.wanted.flatMap((w) => w.features.map((f) => `${w.name}:${f}`)),
    ]
    const viewNames = [...new Set(selections.map((s) => s.projection.view.name))]
    const receipt: ReceiptInputs = {
      project: this.project,
      repoPath: this.config.repoPath,
      registry: state.proto,
      offline,
      query: {
        features: service ? null : [...(refs ?? [])],
        featureService: service?.name ?? null,
        fullFeatureNames: full,
        asOfKnownTime: Boolean(request.asOfKnownTime),
        startDate:
          request.startDate === undefined ? null : formatMicros(toMicros(request.startDate, 'startDate')),
        endDate: request.endDate === undefined ? null : formatMicros(toMicros(request.endDate, 'endDate')),
        resolvedFeatures: features,
      },
      entities: rest.entities,
      used: {
        featureViews: viewNames.filter((v) => !catalog.streamFeatureViews.has(v)),
        streamFeatureViews: viewNames.filter((v) => catalog.streamFeatureViews.has(v)),
        onDemandFeatureViews: odfv.wanted.map((w) => w.name),
        featureService: service?.name,
      },
      sources: selections.flatMap((s) => s.projection.view.batchSource ?? []),
      columns: job.columns,
    }
    const context: HistoricalJobContext = {
      project: this.project,
      jobs: async () => (await this.engine()).jobs,
      featureViews: [...new Set([...viewNames, ...odfv.wanted.map((w) => w.name)])],
      entities: entitiesJson(rest),
      receipt,
    }
    const training = new TrainingJob(
      job,
      {
        features,
        joinKeys: [...joinKeys],
        fullFeatureNames: Boolean(request.fullFeatureNames),
        featureServiceName: service?.name ?? '',
      },
      context,
    )
    return { training, job, inputs: receipt }
  }

  /**
   * Rebuilds the training set a receipt describes, from the registry and sources as they are now, into
   * a temporary file (or a scratch table of the offline store's database, dropped afterwards), and says
   * whether it is identical (the same content hash) or what changed: registry objects and which of
   * their fields, source files added, removed or changed, a table source's row count or newest event,
   * the entity rows; with no input changed and another output, non-determinism. The receipt comes as an
   * object, the path of a receipt file, or `{ savedDataset }` for one kept with a saved dataset. A
   * receipt whose entity rows were given in memory needs them again as `options.entities`. Writes no
   * job and changes nothing.
   *
   * @example const { status, changes } = await store.reproduce('training.parquet.receipt.json')
   */
  async reproduce(receipt: ReceiptRef, options: ReproduceOptions = {}): Promise<ReproduceResult> {
    const { readReceiptFile, reproduceTrainingSet } = await receiptsModule()
    const found =
      typeof receipt === 'string'
        ? readReceiptFile(resolve(receipt))
        : 'savedDataset' in receipt
          ? await this.#savedDatasetReceipt(receipt.savedDataset, options)
          : receipt
    return reproduceTrainingSet(
      {
        project: this.project,
        repoPath: this.config.repoPath,
        planTrainingSet: async (request, opts): Promise<PlannedTrainingSet> => {
          const { job, inputs } = await this.#historical(request, { ...opts, allowCache: false })
          return { job, inputs }
        },
        registryProto: async (opts) => (await this.registry.load({ ...opts, allowCache: false })).proto,
      },
      found,
      options,
    )
  }

  async #savedDatasetReceipt(name: string, options: Abortable): Promise<TrainingSetReceipt> {
    const dataset = await this.getSavedDataset(name, { allowCache: false, signal: options.signal })
    if (dataset.receiptJson === undefined) {
      throw new LarderError('NOT_FOUND', `saved dataset "${name}" has no receipt`, {
        hint: 'save it again with a receipt (createSavedDataset(job, { receipt: true }), or larder get-historical-features --save-as)',
      })
    }
    let json: unknown
    try {
      json = JSON.parse(dataset.receiptJson)
    } catch (cause) {
      throw new LarderError('INVALID_ARGUMENT', `the receipt of saved dataset "${name}" is not JSON`, {
        cause,
        hint: 'save the dataset again with a receipt',
      })
    }
    return (await receiptsModule()).parseReceipt(json, `the receipt of saved dataset "${name}"`)
  }

  /**
   * Writes a retrieval's rows to a Parquet file and registers them as a saved dataset (Feast's
   * `SavedDataset`), so that `larder list saved-datasets` and the UI show where training data came from.
   * Returns the registered dataset and the number of rows written. The dataset's meta records the
   * least and greatest event timestamp of the job's entity rows as the write found them (for
   * entity-less range retrieval, its start and end), as Feast does. With `receipt`, the training-set
   * receipt is kept with the dataset in the registry (`reproduce({ savedDataset })`) and, for a file,
   * written beside it too.
   */
  async createSavedDataset(
    job: TrainingJob,
    options: SaveDatasetOptions,
  ): Promise<SavedDatasetInfo & TrainingWriteResult> {
    checkName('saved dataset', options.name)
    const existing = await this.catalog({ allowCache: false, signal: options.signal })
    if (existing.savedDatasets.has(options.name) && !options.allowOverwrite) {
      throw new LarderError(
        'ALREADY_EXISTS',
        `saved dataset "${options.name}" already exists in project "${this.project}"`,
        {
          hint: 'choose another name, or pass allowOverwrite: true to replace it',
        },
      )
    }
    const { path, table, rows, eventRange, receipt, receiptPath } = await saveRows(
      job,
      options,
      this.config.repoPath,
    )
    const info: SavedDatasetInfo = {
      ...job.request,
      name: options.name,
      path,
      ...(table === undefined ? {} : { table }),
      ...(receipt === undefined ? {} : { receiptJson: JSON.stringify(receipt) }),
      description: options.description ?? '',
      tags: { ...options.tags },
      createdAt: undefined,
      ...(eventRange === undefined ? {} : { eventRange }),
    }
    await updateRegistry(
      this.registry,
      (draft) => {
        const previous = draft.savedDatasets.find(
          (d) => d.spec?.project === this.project && d.spec.name === info.name,
        )
        const createdAt = microsFromTimestamp(previous?.meta?.createdTimestamp)
        draft.savedDatasets = [
          ...draft.savedDatasets.filter((d) => d !== previous),
          savedDatasetToProto({ ...info, createdAt }, this.project, this.clock.now()),
        ]
      },
      options,
    )
    return {
      ...(await this.catalog({ allowCache: false })).savedDataset(info.name),
      rows,
      ...(receipt === undefined ? {} : { receipt }),
      ...(receiptPath === undefined ? {} : { receiptPath }),
    }
  }

  /**
   * Loads the latest row per entity key in `[start, end]` of each online feature view (or the named
   * ones) into the online store, and records the window in the registry once a view's rows are written.
   * See {@link materialize}.
   *
   * @example await store.materialize({ start: '2026-11-21', end: '2026-11-22', views: ['driver_hourly_stats'] })
   */
  async materialize(
    request: MaterializeRequest,
    options: MaterializeOptions = {},
  ): Promise<MaterializeResult> {
    return (await materializeModule()).materialize(this, request, options)
  }

  /**
   * Materializes each online feature view (or the named ones) from where its last materialization
   * ended (else `end - ttl`, else 52 weeks back) to `end` (default: now, by the store's clock). See
   * {@link materializeIncremental}.
   *
   * @example await store.materializeIncremental({ end: new Date() })
   */
  async materializeIncremental(
    request: MaterializeIncrementalRequest,
    options: MaterializeOptions = {},
  ): Promise<MaterializeResult> {
    return (await materializeModule()).materializeIncremental(this, request, options)
  }

  /**
   * Starts {@link FeatureStore.materialize} as a job and returns the stored job without waiting. With
   * the local engine the job runs in this process (and dies with it); with `bullmq`, on the workers.
   *
   * @example const job = await store.submitMaterialize({ start: '2026-11-21', end: '2026-11-22' })
   */
  async submitMaterialize(request: MaterializeRequest, options: MaterializeOptions = {}): Promise<JobRecord> {
    return (await materializeModule()).submitMaterialize(this, request, options)
  }

  /** Starts {@link FeatureStore.materializeIncremental} as a job, as {@link FeatureStore.submitMaterialize}. */
  async submitMaterializeIncremental(
    request: MaterializeIncrementalRequest,
    options: MaterializeOptions = {},
  ): Promise<JobRecord> {
    return (await materializeModule()).submitMaterializeIncremental(this, request, options)
  }

  /**
   * Starts the stream processor (what `larder stream` runs) for the project's stream feature views (or
   * `options.views`) as a job of kind `stream` in the engine's job store, run by this process: it beats
   * while the processor runs, its progress counts the events written per view, and its log holds the
   * processor's lines. `stop()` ends the job succeeded once the batches in hand are written and
   * acknowledged; `larder jobs cancel` (or `DELETE /jobs/{id}`) from any process stops it the same way
   * and ends it cancelled; a processor that fails ends it failed. A process killed outright leaves it
   * `lost` once its heartbeat is stale. Throws, with the job failed, for what stops the processor at
   * start: an unknown view, a view over a push source, a transformation the repo lacks, a bad
   * `stream_processor` block.
   *
   * @example
   * const processor = await store.runStreamProcessor({ member: 'stream-1' })
   * process.once('SIGTERM', () => void processor.stop())
   * await processor.done
   */
  async runStreamProcessor(options: RunStreamOptions): Promise<StreamJob> {
    const [{ runStreamJob }, { JobTracker, THIS_RUNNER }, engine] = await Promise.all([
      streamModule(),
      materializeModule(),
      this.engine(),
    ])
    const job = newJob({
      project: this.project,
      kind: 'stream',
      engine: 'local',
      featureViews: options.views === undefined ? null : [...options.views],
      request: { consumer: options.member },
      tasksTotal: 0,
      runner: THIS_RUNNER,
    })
    await engine.jobs.create(job)
    return runStreamJob(this, options, await JobTracker.start(engine.jobs, job))
  }

  /** The project's jobs (materializations, retrievals, stream processors), newest first, from the engine's job store. */
  async listJobs(options: ListJobsOptions = {}): Promise<JobRecord[]> {
    return (await this.engine()).jobs.list(this.project, options)
  }

  /** One job, or NOT_FOUND. */
  async getJob(id: string, options: Abortable = {}): Promise<JobRecord> {
    return (await this.engine()).jobs.get(this.project, id, options)
  }

  /** A job's log lines, oldest first (at most the newest `limit`). */
  async jobLogs(id: string, options: Abortable & { limit?: number } = {}): Promise<JobLogLine[]> {
    return (await this.engine()).jobs.logs(this.project, id, options)
  }

  /**
   * Cancels a job: its runner stops at the next batch boundary, tasks not started never run, and no
   * interval is recorded for a view it did not finish. Returns the job as stored after the request.
   */
  async cancelJob(id: string, options: Abortable = {}): Promise<JobRecord> {
    return (await this.engine()).cancel(this.project, id, options)
  }

  /**
   * The latest feature values of entity rows from the online store, in Feast's columnar response
   * shape, with a status per value. See {@link getOnlineFeatures}.
   *
   * @example await store.getOnlineFeatures({ entities: { driver_id: [1001] }, features: ['driver_hourly_stats:conv_rate'] })
   */
  getOnlineFeatures(
    request: OnlineFeaturesRequest,
    options: GetOnlineFeaturesOptions = {},
  ): Promise<OnlineFeaturesResponse> {
    return getOnlineFeatures(this, request, options)
  }

  /**
   * Explains each feature of one entity row: its online status and value, and the cause, found in the
   * registry (materialization intervals, the newest run), the online store and the offline source (a
   * point-in-time lookup of that key), with the command that fixes it. See {@link explain}.
   *
   * @example await store.explain({ entityRow: { driver_id: 1001 }, features: ['driver_hourly_stats:conv_rate'] })
   */
  explain(request: ExplainRequest, options: Abortable = {}): Promise<ExplainReport> {
    return explain(this, request, options)
  }

  /**
   * Compares sampled entity keys' offline point-in-time values at each view's last materialized end
   * (or `at`) with their online values, on-demand views included, and explains the first mismatches.
   * See {@link checkParity}.
   *
   * @example const { mismatches } = await store.checkParity({ sample: 100 })
   */
  async checkParity(request: ParityRequest = {}, options: Abortable = {}): Promise<ParityReport> {
    return (await parityModule()).checkParity(this, request, options)
  }

  /**
   * Pushes rows to every feature view fed by a push source: online, offline (appended to its batch
   * source) or both. See {@link push}.
   *
   * @example await store.push({ pushSourceName: 'driver_stats_push_source', df, to: 'online_and_offline' })
   */
  push(request: PushRequest, options: Abortable = {}): Promise<IngestResult> {
    return push(this, request, options)
  }

  /**
   * Writes rows to one feature view's online storage; the store keeps the newer value per entity.
   * See {@link writeToOnlineStore}.
   *
   * @example await store.writeToOnlineStore({ featureViewName: 'driver_hourly_stats', df })
   */
  writeToOnlineStore(request: WriteToOnlineStoreRequest, options: Abortable = {}): Promise<IngestResult> {
    return writeToOnlineStore(this, request, options)
  }

  /**
   * Appends rows to one feature view's offline source after checking them against its declared types.
   * See {@link writeToOfflineStore}.
   *
   * @example await store.writeToOfflineStore({ featureViewName: 'driver_hourly_stats', df })
   */
  writeToOfflineStore(request: WriteToOfflineStoreRequest, options: Abortable = {}): Promise<IngestResult> {
    return writeToOfflineStore(this, request, options)
  }

  /** The definitions given to the store, else the repo's definition files as they are now. */
  #loadDefinitions(): Promise<RepoDefinitions> {
    return this.#definitions ? Promise.resolve(this.#definitions) : loadRepoDefinitions(this.config.repoPath)
  }

  #infra(keep: readonly FeatureView[], drop: readonly FeatureView[]): InfraPlan {
    return {
      keep: keep.map((v) => viewRef(this.project, v)),
      drop: drop.map((v) => viewRef(this.project, v)),
    }
  }

  /** Closes the stores and the registry. */
  async close(): Promise<void> {
    const stores = await Promise.allSettled([this.#offline, this.#online, this.#engine].filter(Boolean))
    await Promise.all(stores.flatMap((s) => (s.status === 'fulfilled' && s.value ? [s.value.close()] : [])))
    await this.registry.close()
  }
}

/** The feature views that on-demand views computed at write time are stored as online. */
function storedViews(views: readonly OnDemandFeatureView[] = []): FeatureView[] {
  return views.flatMap((v) => (v.storageView ? [v.storageView] : []))
}

/** The feature views online stream views keep their non-aggregated features in. */
function streamStoredViews(views: readonly StreamFeatureView[] = []): FeatureView[] {
  return views.filter((v) => v.online).map((v) => v.storageView)
}

/** Longest entity file path or query text a job's request keeps; a longer one is cut. */
const ENTITY_TEXT_KEPT = 500

/**
 * The entity rows of a retrieval as its job's request shows them: a file path or query text as given
 * (cut to {@link ENTITY_TEXT_KEPT} characters), rows in memory by their count, else the date range.
 */
function entitiesJson(request: Omit<GetHistoricalFeaturesOptions, 'features' | 'featureService'>) {
  const cut = (text: string) =>
    text.length <= ENTITY_TEXT_KEPT ? text : `${text.slice(0, ENTITY_TEXT_KEPT - 1)}…`
  const entities = request.entities
  if (entities === undefined) {
    const at = (t: typeof request.startDate, what: string) =>
      t === undefined ? null : formatMicros(toMicros(t, what))
    return { start_date: at(request.startDate, 'startDate'), end_date: at(request.endDate, 'endDate') }
  }
  if (typeof entities === 'string') return { entities: cut(entities) }
  if ('sql' in entities) return { entities: { sql: cut(entities.sql) } }
  return { entity_rows: 'numRows' in entities ? entities.numRows : entities.length }
}

/** Writes a saved dataset's rows to its Parquet file or its table. */
async function saveRows(
  job: TrainingJob,
  options: SaveDatasetOptions,
  repoPath: string,
): Promise<{ path: string; table?: string } & TrainingWriteResult> {
  if ((options.path === undefined) === (options.table === undefined)) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `saved dataset "${options.name}" needs exactly one of path and table`,
      {
        hint: "give path: 'training.parquet' for a file, or table: 'training_set' for the offline store's database",
      },
    )
  }
  if (options.table !== undefined) {
    const toTable = job.toTable
    if (toTable === undefined) {
      throw new LarderError(
        'UNSUPPORTED',
        `saved dataset "${options.name}": this offline store cannot write tables`,
        {
          hint: 'give a path to save the rows to a Parquet file, or use the postgres offline store',
        },
      )
    }
    return { path: '', table: options.table, ...(await toTable(options.table, options)) }
  }
  const path = resolve(repoPath, options.path!)
  return { path, ...(await job.toParquet(path, options)) }
}
