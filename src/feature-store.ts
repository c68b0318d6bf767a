import { resolve } from 'node:path'
import { type JsonValue, toJson } from '@bufbuild/protobuf'
import { loadRepoConfig, type RepoConfig } from './config/index.js'
import {
  type Abortable,
  checkName,
  type DataSource,
  type DeployedOnDemandViews,
  type Entity,
  type FeatureService,
  type FeatureView,
  LarderError,
  nowMicros,
  type OnDemandFeatureView,
  outputColumnName,
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
import {
  type MaterializeIncrementalRequest,
  type MaterializeOptions,
  type MaterializeRequest,
  type MaterializeResult,
  materialize,
  materializeIncremental,
} from './materialize/index.js'
import {
  createOfflineStore,
  type HistoricalRequest,
  type OfflineStore,
  type RetrievalJob,
} from './offline/index.js'
import { createOnlineStore, validateOnlineStoreConfig } from './online/loader.js'
import { type InfraPlan, type OnlineStore, viewRef } from './online/online-store.js'
import {
  applyContents,
  createRegistry,
  diffContents,
  getObjectMessage,
  type ListMaterializationRunsOptions,
  type MaterializationRun,
  microsFromTimestamp,
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
import { loadRepoDefinitions } from './repo/load-repo.js'
import { resolveRepoContents } from './repo/resolve-contents.js'
import {
  type GetOnlineFeaturesOptions,
  getOnlineFeatures,
  type OnlineFeaturesRequest,
  type OnlineFeaturesResponse,
} from './serving/index.js'
import { historicalOnDemandPlan, onDemandResultTransform } from './serving/on-demand-offline.js'

export interface OpenOptions {
  /** The config file name inside the repo (default `feature_store.yaml`). */
  configFile?: string
}

/** What `plan()` found: the repo's objects, completed against their data, and the changes apply would make. */
export interface Plan {
  readonly contents: RepoContents
  readonly changes: readonly ObjectChange[]
  /** The registry read the plan was made against; apply commits only if it is still current. */
  readonly base: RegistryState
}

/**
 * A retrieval job that also knows what it asked for, so its result can be saved as a dataset.
 * Reading it runs the job; see {@link RetrievalJob}.
 */
export class TrainingJob implements RetrievalJob {
  readonly #job: RetrievalJob
  /** What the dataset holds: feature references, join keys and naming. */
  readonly request: Omit<SavedDatasetInfo, 'name' | 'path' | 'description' | 'tags' | 'createdAt'>

  constructor(job: RetrievalJob, request: TrainingJob['request']) {
    this.#job = job
    this.request = request
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
  toParquet(path: string, opts?: Abortable) {
    return this.#job.toParquet(path, opts)
  }
  toCsv(path: string, opts?: Abortable) {
    return this.#job.toCsv(path, opts)
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
      : (table: string, opts?: Abortable) => job.toTable!(table, opts)
  }
}

export interface SaveDatasetOptions extends Abortable {
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
  #offline: Promise<OfflineStore> | undefined
  #online: Promise<OnlineStore> | undefined
  #onDemandViews: Promise<DeployedOnDemandViews> | undefined

  private constructor(config: RepoConfig, registry: Registry) {
    this.config = config
    this.registry = registry
  }

  /** Opens the repo at `repoPath` (default: the working directory). Reads only `feature_store.yaml`. */
  static async open(repoPath = '.', options: OpenOptions = {}): Promise<FeatureStore> {
    const config = loadRepoConfig(repoPath, options.configFile)
    const registry = await createRegistry(config.registry, config.repoPath)
    return new FeatureStore(config, registry)
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

  /** The online store, opened on first use. */
  online(options: Abortable = {}): Promise<OnlineStore> {
    this.#online ??= createOnlineStore(this.config, options).catch((e) => {
      this.#online = undefined
      throw e
    })
    return this.#online
  }

  /**
   * The on-demand views of the repo's definition files, loaded once on first use: the transformations
   * online and historical reads run. The registry's copy of a view only describes its code, and a read
   * refuses to run a view whose deployed code differs from the registered code.
   */
  onDemandViews(): Promise<DeployedOnDemandViews> {
    this.#onDemandViews ??= loadRepoDefinitions(this.config.repoPath).then(
      (defs) => new Map(defs.onDemandFeatureViews.map((v) => [v.name, v])),
      (e) => {
        this.#onDemandViews = undefined
        throw e
      },
    )
    return this.#onDemandViews
  }

  /**
   * Loads the repo's definition files, checks them against their data (inferring what was omitted)
   * and compares them with the registry. Writes nothing. The whole config is checked as apply checks
   * it: a bad `online_store` or `offline_store` option fails here, without connecting to the online
   * store.
   */
  async plan(options: Abortable = {}): Promise<Plan> {
    await validateOnlineStoreConfig(this.config)
    const defs = await loadRepoDefinitions(this.config.repoPath)
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
      ...storedViews(p.contents.onDemandFeatureViews),
    ]
    const keptNames = new Set(keep.map((v) => v.name))
    const before = p.base.catalog(this.project)
    const drop = [
      ...[...before.featureViews.values()].filter((v) => v.online),
      ...storedViews([...before.onDemandFeatureViews.values()]),
    ].filter((v) => !keptNames.has(v.name))
    if (this.config.onlineStore) {
      const online = await this.online(options)
      await online.update(this.#infra(keep, []), options)
    }
    const draft = p.base.draft()
    applyContents(draft, p.contents, nowMicros())
    await this.registry.commit(p.base, draft, options)
    if (this.config.onlineStore && drop.length) {
      const online = await this.online(options)
      await online.update(this.#infra([], drop), options)
    }
    return p
  }

  /** Removes the project's online tables and every object of the project from the registry. */
  async teardown(options: Abortable = {}): Promise<void> {
    const state = await this.registry.load({ allowCache: false, signal: options.signal })
    const catalog = state.catalog(this.project)
    const views = [
      ...[...catalog.featureViews.values()].filter((v) => v.online),
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
    const catalog = await this.catalog(options)
    const { features: refs, featureService, ...rest } = request
    const service =
      typeof featureService === 'string' ? catalog.featureService(featureService) : featureService
    const full = Boolean(request.fullFeatureNames)
    const odfv = historicalOnDemandPlan(catalog, service ?? refs ?? [], full)
    const selections = odfv.selections
    const transform =
      odfv.wanted.length > 0 ? onDemandResultTransform(odfv, await this.onDemandViews(), full) : undefined
    const offline = await this.offline()
    const job = await offline.getHistoricalFeatures({ ...rest, features: selections, transform }, options)
    const joinKeys = new Set(
      selections.flatMap((s) => s.projection.view.joinKeys.map((k) => s.projection.joinKeyMap[k] ?? k)),
    )
    return new TrainingJob(job, {
      features: [
        ...selections.flatMap((s) =>
          s.features
            .filter((f) => !odfv.hidden.has(outputColumnName(s.projection.nameToUse, f, full)))
            .map((f) => `${s.projection.nameToUse}:${f}`),
        ),
        ...odfv.wanted.flatMap((w) => w.features.map((f) => `${w.name}:${f}`)),
      ],
      joinKeys: [...joinKeys],
      fullFeatureNames: Boolean(request.fullFeatureNames),
      featureServiceName: service?.name ?? '',
    })
  }

  /**
   * Writes a retrieval's rows to a Parquet file and registers them as a saved dataset (Feast's
   * `SavedDataset`), so that `larder list saved-datasets` and the UI show where training data came from.
   * Returns the registered dataset and the number of rows written.
   */
  async createSavedDataset(
    job: TrainingJob,
    options: SaveDatasetOptions,
  ): Promise<SavedDatasetInfo & { readonly rows: number }> {
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
    const { path, table, rows } = await saveRows(job, options, this.config.repoPath)
    const info: SavedDatasetInfo = {
      ...job.request,
      name: options.name,
      path,
      ...(table === undefined ? {} : { table }),
      description: options.description ?? '',
      tags: { ...options.tags },
      createdAt: undefined,
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
          savedDatasetToProto({ ...info, createdAt }, this.project, nowMicros()),
        ]
      },
      options,
    )
    return { ...(await this.catalog({ allowCache: false })).savedDataset(info.name), rows }
  }

  /**
   * Loads the latest row per entity key in `[start, end]` of each online feature view (or the named
   * ones) into the online store, and records the window in the registry once a view's rows are written.
   * See {@link materialize}.
   *
   * @example await store.materialize({ start: '2026-11-21', end: '2026-11-22', views: ['driver_hourly_stats'] })
   */
  materialize(request: MaterializeRequest, options: MaterializeOptions = {}): Promise<MaterializeResult> {
    return materialize(this, request, options)
  }

  /**
   * Materializes each online feature view (or the named ones) from where its last materialization
   * ended (else `end - ttl`, else 52 weeks back) to `end`. See {@link materializeIncremental}.
   *
   * @example await store.materializeIncremental({ end: new Date() })
   */
  materializeIncremental(
    request: MaterializeIncrementalRequest,
    options: MaterializeOptions = {},
  ): Promise<MaterializeResult> {
    return materializeIncremental(this, request, options)
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

  #infra(keep: readonly FeatureView[], drop: readonly FeatureView[]): InfraPlan {
    return {
      keep: keep.map((v) => viewRef(this.project, v)),
      drop: drop.map((v) => viewRef(this.project, v)),
    }
  }

  /** Closes the stores and the registry. */
  async close(): Promise<void> {
    const stores = await Promise.allSettled([this.#offline, this.#online].filter(Boolean))
    await Promise.all(stores.flatMap((s) => (s.status === 'fulfilled' && s.value ? [s.value.close()] : [])))
    await this.registry.close()
  }
}

/** The feature views that on-demand views computed at write time are stored as online. */
function storedViews(views: readonly OnDemandFeatureView[] = []): FeatureView[] {
  return views.flatMap((v) => (v.storageView ? [v.storageView] : []))
}

/** Writes a saved dataset's rows to its Parquet file or its table. */
async function saveRows(
  job: TrainingJob,
  options: SaveDatasetOptions,
  repoPath: string,
): Promise<{ path: string; table?: string; rows: number }> {
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
    const { rows } = await toTable(options.table, options)
    return { path: '', table: options.table, rows }
  }
  const path = resolve(repoPath, options.path!)
  const { rows } = await job.toParquet(path, options)
  return { path, rows }
}
