import { create, type DescService, type Message, type MessageInitShape } from '@bufbuild/protobuf'
import { EmptySchema, type Timestamp } from '@bufbuild/protobuf/wkt'
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type HandlerContext,
  type ServiceImpl,
} from '@connectrpc/connect'
import {
  type AuthObject,
  type AuthObjectType,
  type AuthzAction,
  callerSafeError,
  isLarderError,
  NO_AUTH,
  permittedItems,
  type ServerAuth,
} from '../core/index.js'
import type { DataSource } from '../gen/feast/core/DataSource_pb.js'
import type { Entity } from '../gen/feast/core/Entity_pb.js'
import type { FeatureService } from '../gen/feast/core/FeatureService_pb.js'
import type { FeatureView } from '../gen/feast/core/FeatureView_pb.js'
import { InfraSchema } from '../gen/feast/core/InfraObject_pb.js'
import type { OnDemandFeatureView } from '../gen/feast/core/OnDemandFeatureView_pb.js'
import type { Permission } from '../gen/feast/core/Permission_pb.js'
import type { Project } from '../gen/feast/core/Project_pb.js'
import { type Registry as RegistryProto, RegistrySchema } from '../gen/feast/core/Registry_pb.js'
import type { SavedDataset } from '../gen/feast/core/SavedDataset_pb.js'
import type { StreamFeatureView } from '../gen/feast/core/StreamFeatureView_pb.js'
import type { ValidationReference } from '../gen/feast/core/ValidationProfile_pb.js'
import {
  type AnyFeatureView,
  AnyFeatureViewSchema,
  type EntityRelation,
  EntityRelationSchema,
  FeatureSchema,
  type PaginationMetadata,
  PaginationMetadataSchema,
  type PaginationParams,
  RegistryServer,
  type SortingParams,
} from '../gen/feast/registry/RegistryServer_pb.js'
import { Jobs } from '../gen/larder/registry/Jobs_pb.js'
import { MaterializationRuns } from '../gen/larder/registry/MaterializationRuns_pb.js'
import { callPrincipal, knownPrincipal } from '../grpc/call-principal.js'
import { GRPC_STATUS } from '../grpc/status-codes.js'
import {
  type JobStatus,
  microsFromTimestamp,
  type ObjectTable,
  projectNames,
  type Registry,
  type RegistryState,
} from '../registry/index.js'
import {
  jobFromMessage,
  jobToMessage,
  logLineFromMessage,
  logLineToMessage,
  patchFromMessage,
  REMOTE_HEADERS,
  runFromMessage,
  runToMessage,
} from '../registry/remote/index.js'
import { projectObject, restAuthObject } from '../server/auth/access-objects.js'
import {
  objectRelations,
  REST_KINDS,
  type RestKind,
  restFeature,
  restObjects,
} from '../server/registry-json.js'
import { notFound, RegistryWriter, type StagedWrite, tableOf, type WriteScope } from './registry-writes.js'

/** Feature view tables in the order `GetAnyFeatureView` and `DeleteFeatureView` look a name up. */
const VIEW_TABLES = ['feature_views', 'stream_feature_views', 'on_demand_feature_views'] as const

/** The table of each flavour of `AnyFeatureView`. */
const ANY_VIEW_TABLES: Readonly<Record<NonNullable<AnyFeatureView['anyFeatureView']['case']>, string>> = {
  featureView: 'feature_views',
  onDemandFeatureView: 'on_demand_feature_views',
  streamFeatureView: 'stream_feature_views',
}

export interface RegistryServiceOptions {
  /** Where the registry lives, for messages (a file path or a redacted database URL). */
  readonly where: string
  /**
   * Called with each error whose text the client does not see: one answered as INTERNAL, and a
   * BACKEND_UNAVAILABLE one, which answers only the backend's name (`callerSafeError`).
   */
  readonly onInternalError?: (error: unknown) => void
  /**
   * Who may call (default: no authentication, everyone may do everything). Every call is
   * authenticated from its `authorization` metadata, then authorized: DESCRIBE for reads (lists keep
   * only what the principal may describe), CREATE or UPDATE for an apply (UPDATE when the object
   * exists), DELETE, WRITE_ONLINE for a materialization record, UPDATE of the project for infra and
   * jobs.
   */
  readonly auth?: ServerAuth
}

/** Feast's permission type of the objects of each registry table. */
const TABLE_TYPES: Readonly<Record<string, AuthObjectType>> = {
  projects: 'PROJECT',
  entities: 'ENTITY',
  data_sources: 'DATA_SOURCE',
  feature_views: 'FEATURE_VIEW',
  stream_feature_views: 'STREAM_FEATURE_VIEW',
  on_demand_feature_views: 'ON_DEMAND_FEATURE_VIEW',
  label_views: 'LABEL_VIEW',
  feature_services: 'FEATURE_SERVICE',
  saved_datasets: 'SAVED_DATASET',
  validation_references: 'VALIDATION_REFERENCE',
  permissions: 'PERMISSION',
}

/** A registry message as an object of Feast's permissions: its table's type, name, project and tags. */
function messageObject(table: ObjectTable, message: Message): AuthObject {
  return {
    type: TABLE_TYPES[table.table] ?? 'PROJECT',
    name: table.nameOf(message),
    project: table.projectOf(message),
    tags: tagsOf(message),
  }
}

/** Authorizes the call's principal (authenticated by `guarded`) to do `action` on `object`. */
function allow(auth: ServerAuth, ctx: HandlerContext, action: AuthzAction, object: AuthObject) {
  return auth.authorizer.authorize(knownPrincipal(ctx), action, object)
}

/**
 * Feast's `feast.registry.RegistryServer` over a Larder registry (file or SQL). Reads answer from the
 * registry after its cheap change check (`allow_cache`) or a full read; lists filter by `tags` and
 * page and sort as Feast does. Writes go through `Registry.commit`: a Feast client's calls with
 * `commit: true` commit at once (and with `commit: false` wait for `Commit`), blindly as in Feast; a
 * Larder client's calls carry a transaction and the hashes of the objects it read (see
 * `REMOTE_HEADERS`), and its `Commit` writes all of them with the registry's per-object optimistic
 * check. A `LarderError` answers its gRPC status (CONFLICT is ABORTED) with its code, hint and details
 * in the metadata. Every method of the service is implemented.
 *
 * @example createConnectRouter().service(RegistryServer, registryService(registry, { where: 'data/registry.db' }))
 */
export function registryService(
  registry: Registry,
  options: RegistryServiceOptions,
): ServiceImpl<typeof RegistryServer> {
  const writer = new RegistryWriter(registry, options.where)
  const auth = options.auth ?? NO_AUTH
  const read = (allowCache: boolean) => writer.read(allowCache)
  const describeProject = (ctx: HandlerContext, project: string) =>
    allow(auth, ctx, 'DESCRIBE', projectObject(project))
  const put = async (
    ctx: HandlerContext,
    table: string,
    message: Message | undefined,
    project: string,
    commit: boolean,
  ) => {
    if (!message) throw badRequest(`the request has no ${tableOf(table).kind} to apply`)
    const t = tableOf(table)
    t.setProject(message, project)
    const name = t.nameOf(message)
    if (!name) throw badRequest(`the ${t.kind} to apply has no name`)
    const exists = t
      .list((await read(true)).proto)
      .some((m) => t.projectOf(m) === t.projectOf(message) && t.nameOf(m) === name)
    await allow(auth, ctx, exists ? 'UPDATE' : 'CREATE', messageObject(t, message))
    const write: StagedWrite = {
      op: 'put',
      table: t,
      project: t.projectOf(message),
      name,
      message,
      baseHash: ctx.requestHeader.get(REMOTE_HEADERS.baseHash) ?? undefined,
    }
    return writer.write(scopeOf(ctx), write, commit).then(empty)
  }
  const remove = async (
    ctx: HandlerContext,
    tables: readonly string[],
    name: string,
    project: string,
    commit: boolean,
  ) => {
    const proto = (await read(true)).proto
    const held = tables.map(tableOf).flatMap((t) =>
      t
        .list(proto)
        .filter((m) => t.projectOf(m) === project && t.nameOf(m) === name)
        .map((m) => messageObject(t, m)),
    )
    const object = held[0] ?? { type: TABLE_TYPES[tables[0]!] ?? 'PROJECT', name, project }
    await allow(auth, ctx, 'DELETE', object)
    const write: StagedWrite = {
      op: 'delete',
      tables: tables.map(tableOf),
      project,
      name,
      baseHash: ctx.requestHeader.get(REMOTE_HEADERS.baseHash) ?? undefined,
    }
    return writer.write(scopeOf(ctx), write, commit).then(empty)
  }
  const get = async <M extends Message>(
    ctx: HandlerContext,
    table: string,
    name: string,
    project: string,
    allowCache: boolean,
  ) => {
    const state = await read(allowCache)
    const t = tableOf(table)
    const found = t.list(state.proto).find((m) => t.projectOf(m) === project && t.nameOf(m) === name)
    if (!found) throw notFound(state.proto, t, project, name)
    await allow(auth, ctx, 'DESCRIBE', messageObject(t, found))
    return found as M
  }
  /** Feast's list filtering: only the objects the principal may describe. */
  const permitted = <T>(ctx: HandlerContext, items: readonly T[], objectOf: (item: T) => AuthObject) =>
    permittedItems(auth.authorizer, knownPrincipal(ctx), 'DESCRIBE', items, objectOf)
  const list = async <M extends Message>(
    ctx: HandlerContext,
    table: string,
    req: ListRequest,
  ): Promise<{ items: M[]; pagination: PaginationMetadata }> => {
    const state = await read(req.allowCache)
    const t = tableOf(table)
    const all = t
      .list(state.proto)
      .filter((m) => req.project === undefined || t.projectOf(m) === req.project)
      .filter((m) => hasTags(m, req.tags))
    const allowed = await permitted(ctx, all, (m) => messageObject(t, m))
    return page(allowed as M[], req.pagination, req.sorting, (m) => m)
  }
  const anyViewObject = (v: AnyFeatureView) =>
    messageObject(tableOf(ANY_VIEW_TABLES[v.anyFeatureView.case!]), v.anyFeatureView.value!)

  const impl: ServiceImpl<typeof RegistryServer> = {
    applyEntity: (r, ctx) => put(ctx, 'entities', r.entity, r.project, r.commit),
    getEntity: (r, ctx) => get<Entity>(ctx, 'entities', r.name, r.project, r.allowCache),
    async listEntities(r, ctx) {
      const { items, pagination } = await list<Entity>(ctx, 'entities', r)
      return { entities: items, pagination }
    },
    deleteEntity: (r, ctx) => remove(ctx, ['entities'], r.name, r.project, r.commit),

    applyDataSource: (r, ctx) => put(ctx, 'data_sources', r.dataSource, r.project, r.commit),
    getDataSource: (r, ctx) => get<DataSource>(ctx, 'data_sources', r.name, r.project, r.allowCache),
    async listDataSources(r, ctx) {
      const { items, pagination } = await list<DataSource>(ctx, 'data_sources', r)
      return { dataSources: items, pagination }
    },
    deleteDataSource: (r, ctx) => remove(ctx, ['data_sources'], r.name, r.project, r.commit),

    applyFeatureView(r, ctx) {
      const view = r.baseFeatureView
      if (view.case === undefined) throw badRequest('the request has no feature view to apply')
      const table =
        view.case === 'featureView'
          ? 'feature_views'
          : view.case === 'streamFeatureView'
            ? 'stream_feature_views'
            : 'on_demand_feature_views'
      return put(ctx, table, view.value, r.project, r.commit)
    },
    deleteFeatureView: (r, ctx) => remove(ctx, VIEW_TABLES, r.name, r.project, r.commit),
    async getAnyFeatureView(r, ctx) {
      const state = await read(r.allowCache)
      const found = anyViews(state.proto, r.project).find((v) => viewName(v) === r.name)
      if (!found) throw notFound(state.proto, tableOf('feature_views'), r.project, r.name)
      await allow(auth, ctx, 'DESCRIBE', anyViewObject(found))
      return { anyFeatureView: found }
    },
    async listAllFeatureViews(r, ctx) {
      const state = await read(r.allowCache)
      const tagged = anyViews(state.proto, r.project).filter((v) => hasTags(v.anyFeatureView.value!, r.tags))
      const all = await permitted(ctx, tagged, anyViewObject)
      const { items, pagination } = page(all, r.pagination, r.sorting, (v) => v.anyFeatureView.value!)
      return { featureViews: items, pagination }
    },
    getFeatureView: (r, ctx) => get<FeatureView>(ctx, 'feature_views', r.name, r.project, r.allowCache),
    async listFeatureViews(r, ctx) {
      const { items, pagination } = await list<FeatureView>(ctx, 'feature_views', r)
      return { featureViews: items, pagination }
    },
    getStreamFeatureView: (r, ctx) =>
      get<StreamFeatureView>(ctx, 'stream_feature_views', r.name, r.project, r.allowCache),
    async listStreamFeatureViews(r, ctx) {
      const { items, pagination } = await list<StreamFeatureView>(ctx, 'stream_feature_views', r)
      return { streamFeatureViews: items, pagination }
    },
    getOnDemandFeatureView: (r, ctx) =>
      get<OnDemandFeatureView>(ctx, 'on_demand_feature_views', r.name, r.project, r.allowCache),
    async listOnDemandFeatureViews(r, ctx) {
      const { items, pagination } = await list<OnDemandFeatureView>(ctx, 'on_demand_feature_views', r)
      return { onDemandFeatureViews: items, pagination }
    },

    applyFeatureService: (r, ctx) => put(ctx, 'feature_services', r.featureService, r.project, r.commit),
    getFeatureService: (r, ctx) =>
      get<FeatureService>(ctx, 'feature_services', r.name, r.project, r.allowCache),
    async listFeatureServices(r, ctx) {
      const { items, pagination } = await list<FeatureService>(ctx, 'feature_services', r)
      return { featureServices: items, pagination }
    },
    deleteFeatureService: (r, ctx) => remove(ctx, ['feature_services'], r.name, r.project, r.commit),

    applySavedDataset: (r, ctx) => put(ctx, 'saved_datasets', r.savedDataset, r.project, r.commit),
    getSavedDataset: (r, ctx) => get<SavedDataset>(ctx, 'saved_datasets', r.name, r.project, r.allowCache),
    async listSavedDatasets(r, ctx) {
      const { items, pagination } = await list<SavedDataset>(ctx, 'saved_datasets', r)
      return { savedDatasets: items, pagination }
    },
    deleteSavedDataset: (r, ctx) => remove(ctx, ['saved_datasets'], r.name, r.project, r.commit),

    applyValidationReference: (r, ctx) =>
      put(ctx, 'validation_references', r.validationReference, r.project, r.commit),
    getValidationReference: (r, ctx) =>
      get<ValidationReference>(ctx, 'validation_references', r.name, r.project, r.allowCache),
    async listValidationReferences(r, ctx) {
      const { items, pagination } = await list<ValidationReference>(ctx, 'validation_references', r)
      return { validationReferences: items, pagination }
    },
    deleteValidationReference: (r, ctx) =>
      remove(ctx, ['validation_references'], r.name, r.project, r.commit),

    applyPermission: (r, ctx) => put(ctx, 'permissions', r.permission, r.project, r.commit),
    getPermission: (r, ctx) => get<Permission>(ctx, 'permissions', r.name, r.project, r.allowCache),
    async listPermissions(r, ctx) {
      const { items, pagination } = await list<Permission>(ctx, 'permissions', r)
      return { permissions: items, pagination }
    },
    deletePermission: (r, ctx) => remove(ctx, ['permissions'], r.name, r.project, r.commit),

    applyProject: (r, ctx) => put(ctx, 'projects', r.project, r.project?.spec?.name ?? '', r.commit),
    getProject: (r, ctx) => get<Project>(ctx, 'projects', r.name, r.name, r.allowCache),
    async listProjects(r, ctx) {
      const { items, pagination } = await list<Project>(ctx, 'projects', { ...r, project: undefined })
      return { projects: items, pagination }
    },
    deleteProject: (r, ctx) => remove(ctx, ['projects'], r.name, r.name, r.commit),

    async applyMaterialization(r, ctx) {
      const name = r.featureView?.spec?.name
      if (!name) throw badRequest('the request names no feature view')
      const project = r.project || (r.featureView?.spec?.project ?? '')
      await allow(auth, ctx, 'WRITE_ONLINE', { type: 'FEATURE_VIEW', name, project })
      const write: StagedWrite = { op: 'interval', project, name, start: r.startDate, end: r.endDate }
      await writer.write(scopeOf(ctx), write, r.commit)
      return empty()
    },
    async listProjectMetadata(r, ctx) {
      const state = await read(r.allowCache)
      const metadata = state.proto.projectMetadata.filter((m) => !r.project || m.project === r.project)
      return { projectMetadata: await permitted(ctx, metadata, (m) => projectObject(m.project)) }
    },
    async updateInfra(r, ctx) {
      await allow(auth, ctx, 'UPDATE', projectObject(r.project))
      await writer.write(scopeOf(ctx), { op: 'infra', infra: r.infra }, r.commit)
      return empty()
    },
    async getInfra(r, ctx) {
      await describeProject(ctx, r.project)
      const state = await read(r.allowCache)
      return state.proto.infra ?? create(InfraSchema)
    },
    async commit(_r, ctx) {
      await writer.commit(scopeOf(ctx))
      return empty()
    },
    async refresh(r, ctx) {
      await describeProject(ctx, r.project)
      await read(false)
      return empty()
    },
    async proto(_r, ctx) {
      const state = await read(true)
      for (const project of projectNames(state.proto)) await describeProject(ctx, project)
      if (ctx.requestHeader.get(REMOTE_HEADERS.knownVersion) === state.version) {
        ctx.responseHeader.set(REMOTE_HEADERS.unchanged, 'true')
        return create(RegistrySchema, { versionId: state.version })
      }
      return state.proto
    },

    async getRegistryLineage(r, ctx) {
      await describeProject(ctx, r.project)
      const state = await read(r.allowCache)
      let relations = lineage(state, r.project)
      if (r.filterObjectType)
        relations = relations.filter(
          (x) =>
            (x.source?.type === r.filterObjectType &&
              (!r.filterObjectName || x.source.name === r.filterObjectName)) ||
            (x.target?.type === r.filterObjectType &&
              (!r.filterObjectName || x.target.name === r.filterObjectName)),
        )
      const direct = page(
        relations.filter((x) => !isIndirect(x)),
        r.pagination,
        r.sorting,
        (x) => x,
      )
      const indirect = page(relations.filter(isIndirect), r.pagination, r.sorting, (x) => x)
      return {
        relationships: direct.items,
        indirectRelationships: indirect.items,
        relationshipsPagination: direct.pagination,
        indirectRelationshipsPagination: indirect.pagination,
      }
    },
    async getObjectRelationships(r, ctx) {
      await describeProject(ctx, r.project)
      const state = await read(r.allowCache)
      const relations = objectRelations(state, r.project, r.objectType, r.objectName)
        .map(relationMessage)
        .filter((x) => r.includeIndirect || !isIndirect(x))
      const { items, pagination } = page(relations, r.pagination, r.sorting, (x) => x)
      return { relationships: items, pagination }
    },
    async listFeatures(r, ctx) {
      const state = await read(r.allowCache)
      const matching = restObjects(state, 'features', r.project)
        .filter((f) => !r.featureView || f.json.featureView === r.featureView)
        .filter((f) => !r.name || f.name === r.name)
      const all = (await permitted(ctx, matching, (f) => restAuthObject('features', f))).map((f) =>
        featureMessage(f.json),
      )
      const { items, pagination } = page(all, r.pagination, r.sorting, (f) => f)
      return { features: items, pagination }
    },
    async getFeature(r, ctx) {
      const state = await read(true)
      const feature = restFeature(state, r.project, r.featureView, r.name)
      await allow(auth, ctx, 'DESCRIBE', restAuthObject('features', feature))
      return featureMessage(feature.json)
    },
  }
  return guarded(impl, options)
}

/**
 * Larder's `larder.registry.MaterializationRuns` service: records and lists the registry's
 * materialization runs (`Registry.recordMaterializationRun`, `listMaterializationRuns`), which Feast's
 * RegistryServer has no calls for.
 */
export function materializationRunsService(
  registry: Registry,
  options: RegistryServiceOptions,
): ServiceImpl<typeof MaterializationRuns> {
  const auth = options.auth ?? NO_AUTH
  return guarded<typeof MaterializationRuns>(
    {
      async recordMaterializationRun(r, ctx) {
        if (!r.run) throw badRequest('the request has no run to record')
        const run = runFromMessage(r.run)
        await allow(auth, ctx, 'WRITE_ONLINE', { type: 'FEATURE_VIEW', name: run.view, project: run.project })
        await registry.recordMaterializationRun(run, { keep: r.keep, signal: ctx.signal })
        return empty()
      },
      async listMaterializationRuns(r, ctx) {
        await allow(auth, ctx, 'DESCRIBE', projectObject(r.project))
        const runs = await registry.listMaterializationRuns(r.project, {
          view: r.view,
          limit: r.limit,
          signal: ctx.signal,
        })
        return { runs: runs.map(runToMessage) }
      },
    },
    options,
  )
}

/**
 * Larder's `larder.registry.Jobs` service: each call is the same call on the served registry's
 * `jobs` (`Registry.jobs`), whose checks and errors (CONFLICT, NOT_FOUND naming the job,
 * INVALID_ARGUMENT) reach the client with their code. Feast's RegistryServer has no calls for jobs.
 * Reads need DESCRIBE of the job's project, writes UPDATE of it.
 */
export function jobsService(registry: Registry, options: RegistryServiceOptions): ServiceImpl<typeof Jobs> {
  const jobs = registry.jobs
  const auth = options.auth ?? NO_AUTH
  const describe = (ctx: HandlerContext, project: string) =>
    allow(auth, ctx, 'DESCRIBE', projectObject(project))
  const update = (ctx: HandlerContext, project: string) => allow(auth, ctx, 'UPDATE', projectObject(project))
  return guarded<typeof Jobs>(
    {
      async create(r, ctx) {
        if (!r.job) throw badRequest('the request has no job to create')
        const job = jobFromMessage(r.job)
        await update(ctx, job.project)
        await jobs.create(job, { signal: ctx.signal })
        return empty()
      },
      async update(r, ctx) {
        await update(ctx, r.project)
        const patch = r.patch ? patchFromMessage(r.patch) : {}
        return jobToMessage(await jobs.update(r.project, r.id, patch, { signal: ctx.signal }))
      },
      async requestCancel(r, ctx) {
        await update(ctx, r.project)
        return jobToMessage(await jobs.requestCancel(r.project, r.id, { signal: ctx.signal }))
      },
      async get(r, ctx) {
        await describe(ctx, r.project)
        return jobToMessage(await jobs.get(r.project, r.id, { signal: ctx.signal }))
      },
      async list(r, ctx) {
        await describe(ctx, r.project)
        const listed = await jobs.list(r.project, {
          status: r.status?.states as JobStatus[] | undefined,
          limit: r.limit,
          signal: ctx.signal,
        })
        return { jobs: listed.map(jobToMessage) }
      },
      async appendLogs(r, ctx) {
        await update(ctx, r.project)
        await jobs.appendLogs(r.project, r.id, r.lines.map(logLineFromMessage), { signal: ctx.signal })
        return empty()
      },
      async logs(r, ctx) {
        await describe(ctx, r.project)
        const lines = await jobs.logs(r.project, r.id, { limit: r.limit, signal: ctx.signal })
        return { lines: lines.map(logLineToMessage) }
      },
    },
    options,
  )
}

/**
 * Registers Feast's RegistryServer and Larder's MaterializationRuns and Jobs on a Connect router (for
 * `connectNodeAdapter`).
 */
export function registryRoutes(
  registry: Registry,
  options: RegistryServiceOptions,
): (router: ConnectRouter) => void {
  const service = registryService(registry, options)
  const runs = materializationRunsService(registry, options)
  const jobs = jobsService(registry, options)
  return (router) => {
    router.service(RegistryServer, service)
    router.service(MaterializationRuns, runs)
    router.service(Jobs, jobs)
  }
}

interface ListRequest {
  readonly project?: string
  readonly allowCache: boolean
  readonly tags: { [key: string]: string }
  readonly pagination?: PaginationParams
  readonly sorting?: SortingParams
}

/**
 * The transaction headers of a write. The actor recorded is the authenticated principal's name when
 * there is one, else the name the client gives (`larder-actor`).
 */
function scopeOf(ctx: HandlerContext): WriteScope {
  const h = ctx.requestHeader
  const operations = h.get(REMOTE_HEADERS.operations)
  const actor = h.get(REMOTE_HEADERS.actor)
  const principal = knownPrincipal(ctx)
  return {
    transaction: h.get(REMOTE_HEADERS.transaction) ?? undefined,
    baseVersion: h.get(REMOTE_HEADERS.baseVersion) ?? undefined,
    operations: operations === null ? undefined : Number(operations),
    actor:
      principal.kind !== 'anonymous'
        ? principal.name
        : actor === null
          ? undefined
          : decodeURIComponent(actor),
  }
}

function empty(): MessageInitShape<typeof EmptySchema> {
  return create(EmptySchema)
}

function badRequest(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument)
}

type Tagged = { tags?: { [k: string]: string }; spec?: { tags?: { [k: string]: string } } }

/** An object's tags (on its spec, or on the message for data sources). */
function tagsOf(message: Message): { [key: string]: string } {
  return (message as Tagged).spec?.tags ?? (message as Tagged).tags ?? {}
}

/** Feast's tag filter: every requested tag is set on the object with the same value. */
function hasTags(message: Message, tags: { readonly [key: string]: string }): boolean {
  const own = tagsOf(message)
  return Object.entries(tags).every(([k, v]) => own[k] === v)
}

function anyViews(proto: RegistryProto, project: string): AnyFeatureView[] {
  const inProject = <M extends { spec?: { project: string } }>(list: readonly M[]) =>
    list.filter((m) => m.spec?.project === project)
  return [
    ...inProject(proto.featureViews).map((value) =>
      create(AnyFeatureViewSchema, { anyFeatureView: { case: 'featureView', value } }),
    ),
    ...inProject(proto.onDemandFeatureViews).map((value) =>
      create(AnyFeatureViewSchema, { anyFeatureView: { case: 'onDemandFeatureView', value } }),
    ),
    ...inProject(proto.streamFeatureViews).map((value) =>
      create(AnyFeatureViewSchema, { anyFeatureView: { case: 'streamFeatureView', value } }),
    ),
  ]
}

function viewName(v: AnyFeatureView): string {
  return (v.anyFeatureView.value as { spec?: { name: string } } | undefined)?.spec?.name ?? ''
}

/**
 * Feast's paging of a list: sorted by `sort_by` (a dotted field path, snake_case or camelCase, looked
 * up on the object and then on its spec) when given, then page `page` of `limit` items when both are
 * positive, else everything. An empty list has all-zero metadata, as in Feast.
 */
function page<T>(
  items: T[],
  pagination: PaginationParams | undefined,
  sorting: SortingParams | undefined,
  subject: (item: T) => unknown,
): { items: T[]; pagination: PaginationMetadata } {
  if (items.length === 0) return { items, pagination: create(PaginationMetadataSchema) }
  let sorted = items
  const sortBy = sorting?.sortBy.trim()
  if (sortBy) {
    const keyed = items.map((item) => ({ item, key: sortKey(subject(item), sortBy) }))
    keyed.sort((a, b) => compareKeys(a.key, b.key))
    if (sorting!.sortOrder.toLowerCase() === 'desc') keyed.reverse()
    sorted = keyed.map((k) => k.item)
  }
  const total = sorted.length
  const p = pagination?.page ?? 0
  const limit = pagination?.limit ?? 0
  if (p > 0 && limit > 0) {
    const pages = Math.ceil(total / limit)
    return {
      items: sorted.slice((p - 1) * limit, p * limit),
      pagination: create(PaginationMetadataSchema, {
        page: p,
        limit,
        totalCount: total,
        totalPages: pages,
        hasNext: p < pages,
        hasPrevious: p > 1,
      }),
    }
  }
  return {
    items: sorted,
    pagination: create(PaginationMetadataSchema, { totalCount: total, totalPages: 1 }),
  }
}

type SortKey = string | number | undefined

function sortKey(subject: unknown, path: string): SortKey {
  const steps = path.split('.').map((s) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()))
  const walk = (from: unknown): unknown => {
    let at = from
    for (const step of steps) {
      if (at === null || typeof at !== 'object' || !(step in at)) return undefined
      at = (at as Record<string, unknown>)[step]
    }
    return at
  }
  let value = walk(subject)
  if (value === undefined) value = walk((subject as { spec?: unknown } | undefined)?.spec)
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string') return value.toLowerCase()
  if (typeof value === 'number') return value
  if (typeof value === 'bigint') return Number(value)
  if (typeof value === 'boolean') return value ? 1 : 0
  if (
    typeof value === 'object' &&
    (value as { $typeName?: string }).$typeName === 'google.protobuf.Timestamp'
  )
    return microsFromTimestamp(value as Timestamp)
  return String(value).toLowerCase()
}

function compareKeys(a: SortKey, b: SortKey): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1
  if (typeof a === 'number' && typeof b === 'number') return a - b
  const x = String(a)
  const y = String(b)
  return x < y ? -1 : x > y ? 1 : 0
}

function relationMessage(r: {
  source: { type: string; name: string }
  target: { type: string; name: string }
}) {
  return create(EntityRelationSchema, { source: { ...r.source }, target: { ...r.target } })
}

/** Feast's indirect relations are those reaching a feature service through its feature views. */
function isIndirect(r: EntityRelation): boolean {
  return r.target?.type === 'featureService' && r.source?.type !== 'featureView'
}

/** Every relation of a project's objects, each once. */
function lineage(state: RegistryState, project: string): EntityRelation[] {
  const seen = new Set<string>()
  const out: EntityRelation[] = []
  for (const kind of ['entities', 'data_sources', 'feature_views', 'feature_services'] as RestKind[]) {
    const type = REST_KINDS[kind].relationType
    for (const o of restObjects(state, kind, project)) {
      for (const r of objectRelations(state, project, type, o.name)) {
        const key = `${r.source.type}\0${r.source.name}\0${r.target.type}\0${r.target.name}`
        if (seen.has(key)) continue
        seen.add(key)
        out.push(relationMessage(r))
      }
    }
  }
  return out
}

function featureMessage(json: Record<string, unknown>) {
  return create(FeatureSchema, {
    name: String(json.name ?? ''),
    featureView: String(json.featureView ?? ''),
    type: String(json.type ?? ''),
    description: String(json.description ?? ''),
    tags: (json.tags as Record<string, string> | undefined) ?? {},
  })
}

/**
 * Wraps every method so that the call is authenticated first (its principal kept for the method's
 * checks) and an error answers its gRPC status with Larder's code, hint and details.
 */
function guarded<S extends DescService>(
  impl: ServiceImpl<S>,
  options: RegistryServiceOptions,
): ServiceImpl<S> {
  const authenticator = (options.auth ?? NO_AUTH).authenticator
  const out: Record<string, unknown> = {}
  for (const [name, method] of Object.entries(impl)) {
    out[name] = async (req: unknown, ctx: HandlerContext) => {
      try {
        await callPrincipal(ctx, authenticator)
        return await (method as (r: unknown, c: HandlerContext) => unknown)(req, ctx)
      } catch (e) {
        throw connectError(e, options)
      }
    }
  }
  return out as ServiceImpl<S>
}

function connectError(e: unknown, options: RegistryServiceOptions): ConnectError {
  if (e instanceof ConnectError) return e
  if (!isLarderError(e)) {
    options.onInternalError?.(e)
    return new ConnectError('internal error', Code.Internal)
  }
  // a database's host, port or user is for the server's log, not for whoever called (as over REST)
  const shown = callerSafeError(e)
  if (shown !== e) options.onInternalError?.(e)
  const metadata = new Headers({ [REMOTE_HEADERS.errorCode]: shown.code })
  if (shown.hint) metadata.set(REMOTE_HEADERS.errorHint, encodeURIComponent(shown.hint))
  if (Object.keys(shown.details).length > 0)
    metadata.set(REMOTE_HEADERS.errorDetails, encodeURIComponent(JSON.stringify(shown.details)))
  return new ConnectError(shown.message, GRPC_STATUS[shown.code] ?? Code.Internal, metadata)
}
