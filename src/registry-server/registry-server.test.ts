// `larder serve-registry` as a child process (the built CLI) called by a client generated from Feast's
// RegistryServer proto, as Feast's remote registry calls it: every kind's Apply/Get/List/Delete,
// Proto, ListProjects, ApplyMaterialization, staged writes with Commit, the optimistic check of
// Larder's transactions, the REST registry API beside it, and a clean stop on SIGTERM.
import { create } from '@bufbuild/protobuf'
import { Code, ConnectError, createClient } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DataSource_SourceType, DataSourceSchema } from '../gen/feast/core/DataSource_pb.js'
import { EntitySchema } from '../gen/feast/core/Entity_pb.js'
import { FeatureServiceSchema } from '../gen/feast/core/FeatureService_pb.js'
import { FeatureViewSchema, FeatureViewState } from '../gen/feast/core/FeatureView_pb.js'
import { OnDemandFeatureViewSchema } from '../gen/feast/core/OnDemandFeatureView_pb.js'
import { PermissionSchema } from '../gen/feast/core/Permission_pb.js'
import { ProjectSchema } from '../gen/feast/core/Project_pb.js'
import { SavedDatasetSchema } from '../gen/feast/core/SavedDataset_pb.js'
import { StreamFeatureViewSchema } from '../gen/feast/core/StreamFeatureView_pb.js'
import { ValidationReferenceSchema } from '../gen/feast/core/ValidationProfile_pb.js'
import { RegistryServer } from '../gen/feast/registry/RegistryServer_pb.js'
import { ValueType_Enum } from '../gen/feast/types/Value_pb.js'
import { timestampFromMicros } from '../registry/index.js'
import { type AppliedRepo, appliedRepo } from '../server/__fixtures__/serve-process.js'
import { type RegistryServerProcess, startServeRegistry } from './__fixtures__/serve-registry-process.js'

let repo: AppliedRepo
let server: RegistryServerProcess
let client: ReturnType<typeof createClient<typeof RegistryServer>>
const P = 'riders'

beforeAll(async () => {
  repo = await appliedRepo()
  server = await startServeRegistry(repo.dir)
  client = createClient(RegistryServer, createGrpcTransport({ baseUrl: server.grpcUrl }))
})

afterAll(async () => {
  await server?.stop('SIGKILL')
  repo?.remove()
})

async function grpcError(call: Promise<unknown>): Promise<ConnectError> {
  const e = await call.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(ConnectError)
  return e as ConnectError
}

interface Kind {
  readonly name: string
  apply(commit: boolean): Promise<unknown>
  get(): Promise<unknown>
  list(): Promise<string[]>
  remove(): Promise<unknown>
}

const c = () => client
const specNames = (list: { spec?: { name: string } }[]) => list.map((m) => m.spec!.name)

const kinds: Kind[] = [
  {
    name: 'entity',
    apply: (commit) =>
      c().applyEntity({
        entity: create(EntitySchema, {
          spec: { name: 'rider', project: P, joinKey: 'rider_id', valueType: ValueType_Enum.INT64 },
        }),
        project: P,
        commit,
      }),
    get: () => c().getEntity({ name: 'rider', project: P }),
    list: async () => specNames((await c().listEntities({ project: P })).entities),
    remove: () => c().deleteEntity({ name: 'rider', project: P, commit: true }),
  },
  {
    name: 'data source',
    apply: (commit) =>
      c().applyDataSource({
        dataSource: create(DataSourceSchema, {
          name: 'rides',
          project: P,
          type: DataSource_SourceType.BATCH_FILE,
          timestampField: 'event_timestamp',
        }),
        project: P,
        commit,
      }),
    get: () => c().getDataSource({ name: 'rides', project: P }),
    list: async () => (await c().listDataSources({ project: P })).dataSources.map((s) => s.name),
    remove: () => c().deleteDataSource({ name: 'rides', project: P, commit: true }),
  },
  {
    name: 'feature view',
    apply: (commit) =>
      c().applyFeatureView({
        baseFeatureView: {
          case: 'featureView',
          value: create(FeatureViewSchema, {
            spec: {
              name: 'ride_stats',
              project: P,
              entities: ['rider'],
              features: [{ name: 'trips', valueType: ValueType_Enum.INT64 }],
              tags: { team: 'rides' },
            },
          }),
        },
        project: P,
        commit,
      }),
    get: () => c().getFeatureView({ name: 'ride_stats', project: P }),
    list: async () => specNames((await c().listFeatureViews({ project: P })).featureViews),
    remove: () => c().deleteFeatureView({ name: 'ride_stats', project: P, commit: true }),
  },
  {
    name: 'on demand feature view',
    apply: (commit) =>
      c().applyFeatureView({
        baseFeatureView: {
          case: 'onDemandFeatureView',
          value: create(OnDemandFeatureViewSchema, { spec: { name: 'ride_odfv', project: P } }),
        },
        project: P,
        commit,
      }),
    get: () => c().getOnDemandFeatureView({ name: 'ride_odfv', project: P }),
    list: async () => specNames((await c().listOnDemandFeatureViews({ project: P })).onDemandFeatureViews),
    remove: () => c().deleteFeatureView({ name: 'ride_odfv', project: P, commit: true }),
  },
  {
    name: 'stream feature view',
    apply: (commit) =>
      c().applyFeatureView({
        baseFeatureView: {
          case: 'streamFeatureView',
          value: create(StreamFeatureViewSchema, { spec: { name: 'ride_stream', project: P } }),
        },
        project: P,
        commit,
      }),
    get: () => c().getStreamFeatureView({ name: 'ride_stream', project: P }),
    list: async () => specNames((await c().listStreamFeatureViews({ project: P })).streamFeatureViews),
    remove: () => c().deleteFeatureView({ name: 'ride_stream', project: P, commit: true }),
  },
  {
    name: 'feature service',
    apply: (commit) =>
      c().applyFeatureService({
        featureService: create(FeatureServiceSchema, { spec: { name: 'ride_service', project: P } }),
        project: P,
        commit,
      }),
    get: () => c().getFeatureService({ name: 'ride_service', project: P }),
    list: async () => specNames((await c().listFeatureServices({ project: P })).featureServices),
    remove: () => c().deleteFeatureService({ name: 'ride_service', project: P, commit: true }),
  },
  {
    name: 'saved dataset',
    apply: (commit) =>
      c().applySavedDataset({
        savedDataset: create(SavedDatasetSchema, { spec: { name: 'ride_training', project: P } }),
        project: P,
        commit,
      }),
    get: () => c().getSavedDataset({ name: 'ride_training', project: P }),
    list: async () => specNames((await c().listSavedDatasets({ project: P })).savedDatasets),
    remove: () => c().deleteSavedDataset({ name: 'ride_training', project: P, commit: true }),
  },
  {
    name: 'validation reference',
    apply: (commit) =>
      c().applyValidationReference({
        validationReference: create(ValidationReferenceSchema, {
          name: 'ride_ref',
          project: P,
          referenceDatasetName: 'ride_training',
        }),
        project: P,
        commit,
      }),
    get: () => c().getValidationReference({ name: 'ride_ref', project: P }),
    list: async () =>
      (await c().listValidationReferences({ project: P })).validationReferences.map((r) => r.name),
    remove: () => c().deleteValidationReference({ name: 'ride_ref', project: P, commit: true }),
  },
  {
    name: 'permission',
    apply: (commit) =>
      c().applyPermission({
        permission: create(PermissionSchema, { spec: { name: 'ride_readers', project: P } }),
        project: P,
        commit,
      }),
    get: () => c().getPermission({ name: 'ride_readers', project: P }),
    list: async () => specNames((await c().listPermissions({ project: P })).permissions),
    remove: () => c().deletePermission({ name: 'ride_readers', project: P, commit: true }),
  },
  {
    name: 'project',
    apply: (commit) =>
      c().applyProject({
        project: create(ProjectSchema, { spec: { name: P, description: 'rides' } }),
        commit,
      }),
    get: () => c().getProject({ name: P }),
    list: async () => specNames((await c().listProjects({})).projects).filter((n) => n === P),
    remove: () => c().deleteProject({ name: P, commit: true }),
  },
]

describe('larder serve-registry answers a client generated from Feast’s RegistryServer proto', () => {
  it('reads the served repo: Proto, ListProjects, GetAnyFeatureView, ListAllFeatureViews, ListFeatures', async () => {
    const proto = await client.proto({})
    expect(proto.versionId).not.toBe('')
    expect(proto.featureViews.map((v) => v.spec?.name)).toContain('driver_hourly_stats')
    const projects = await client.listProjects({})
    expect(projects.projects.map((p) => p.spec?.name)).toContain(repo.project)
    const any = await client.getAnyFeatureView({ name: 'driver_hourly_stats', project: repo.project })
    expect(any.anyFeatureView?.anyFeatureView.case).toBe('featureView')
    const all = await client.listAllFeatureViews({
      project: repo.project,
      pagination: { page: 1, limit: 1 },
      sorting: { sortBy: 'name', sortOrder: 'asc' },
    })
    expect(all.featureViews).toHaveLength(1)
    expect(all.pagination?.totalCount).toBe(
      proto.featureViews.filter((v) => v.spec?.project === repo.project).length +
        proto.onDemandFeatureViews.filter((v) => v.spec?.project === repo.project).length +
        proto.streamFeatureViews.filter((v) => v.spec?.project === repo.project).length,
    )
    expect(all.pagination?.hasNext).toBe(true)
    const features = await client.listFeatures({ project: repo.project, featureView: 'driver_hourly_stats' })
    expect(features.features.map((f) => f.name)).toContain('conv_rate')
    const feature = await client.getFeature({
      project: repo.project,
      featureView: 'driver_hourly_stats',
      name: 'conv_rate',
    })
    expect(feature.type).toBe('Float32')
  })

  it.each(kinds.map((k) => [k.name, k] as const))(
    'applies, gets, lists and deletes a %s',
    async (_name, kind) => {
      await kind.apply(true)
      await kind.get()
      expect(await kind.list()).toHaveLength(1)
      await kind.remove()
      const error = await grpcError(kind.get())
      expect(error.code).toBe(Code.NotFound)
      expect(error.rawMessage).toContain(`"${P}"`)
      expect(await kind.list()).toHaveLength(0)
    },
  )

  it('stages writes sent with commit: false until Commit', async () => {
    for (const kind of kinds) await kind.apply(false)
    expect((await grpcError(kinds[0]!.get())).code).toBe(Code.NotFound)
    await client.commit({})
    for (const kind of kinds) await kind.get()
    const proto = await client.proto({})
    expect(proto.entities.filter((e) => e.spec?.project === P)).toHaveLength(1)
    for (const kind of [...kinds].reverse()) await kind.remove()
  })

  it('filters lists by tags, as Feast does', async () => {
    await kinds[2]!.apply(true)
    expect(await listViews({ team: 'rides' })).toEqual(['ride_stats'])
    expect(await listViews({ team: 'other' })).toEqual([])
    await kinds[2]!.remove()
    async function listViews(tags: Record<string, string>) {
      return specNames((await client.listFeatureViews({ project: P, tags })).featureViews)
    }
  })

  it('records a materialization interval with ApplyMaterialization', async () => {
    const view = await client.getFeatureView({ name: 'driver_hourly_stats', project: repo.project })
    const before = view.meta?.materializationIntervals.length ?? 0
    await client.applyMaterialization({
      featureView: view,
      project: repo.project,
      startDate: timestampFromMicros(1_700_000_000_000_000),
      endDate: timestampFromMicros(1_700_003_600_000_000),
      commit: true,
    })
    const after = await client.getFeatureView({ name: 'driver_hourly_stats', project: repo.project })
    expect(after.meta?.materializationIntervals).toHaveLength(before + 1)
    expect(after.meta?.materializationIntervals.at(-1)?.endTime?.seconds).toBe(1_700_003_600n)
    expect(after.meta?.state).toBe(FeatureViewState.AVAILABLE_ONLINE)
    const error = await grpcError(
      client.applyMaterialization({
        featureView: create(FeatureViewSchema, { spec: { name: 'no_such_view', project: repo.project } }),
        project: repo.project,
        commit: true,
      }),
    )
    expect(error.code).toBe(Code.NotFound)
    expect(error.rawMessage).toContain('no_such_view')
  })

  it('refuses a Larder transaction whose base is stale: ABORTED naming the object, nothing written', async () => {
    const headers = (h: Record<string, string>) => ({ headers: h })
    const tx = { 'larder-transaction': 'tx-stale' }
    await client.applyEntity(
      {
        entity: create(EntitySchema, {
          spec: { name: 'driver', project: repo.project, description: 'stale' },
        }),
        project: repo.project,
        commit: false,
      },
      headers({ ...tx, 'larder-base-sha256': '0'.repeat(64) }),
    )
    await client.applyEntity(
      {
        entity: create(EntitySchema, { spec: { name: 'new_one', project: repo.project } }),
        project: repo.project,
        commit: false,
      },
      headers({ ...tx, 'larder-base-sha256': 'none' }),
    )
    const error = await grpcError(
      client.commit({}, headers({ ...tx, 'larder-base-version': 'not-a-version', 'larder-operations': '2' })),
    )
    expect(error.code).toBe(Code.Aborted)
    expect(error.metadata.get('larder-error-code')).toBe('CONFLICT')
    expect(error.rawMessage).toContain(`entity "driver" in project "${repo.project}"`)
    expect(error.metadata.get('larder-error-hint')).toBeTruthy()
    expect((await grpcError(client.getEntity({ name: 'new_one', project: repo.project }))).code).toBe(
      Code.NotFound,
    )
    expect((await client.getEntity({ name: 'driver', project: repo.project })).spec?.description).not.toBe(
      'stale',
    )
  })

  it('serves the REST registry API beside gRPC', async () => {
    expect(server.restUrl).toBeDefined()
    const res = await fetch(`${server.restUrl}/api/v1/feature_views?project=${repo.project}`)
    expect(res.status).toBe(200)
    const body = (await res.json()) as { featureViews: { spec: { name: string } }[] }
    expect(body.featureViews.map((v) => v.spec.name)).toContain('driver_hourly_stats')
    const missing = await fetch(`${server.restUrl}/api/v1/entities/nobody?project=${repo.project}`)
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as { detail: string }).detail).toContain('nobody')
    const runs = await fetch(`${server.restUrl}/api/v1/materialization_runs?project=${repo.project}`)
    expect(runs.status).toBe(200)
    expect(((await runs.json()) as { materializationRuns: unknown[] }).materializationRuns).toEqual([])
  })

  it('stops cleanly on SIGTERM', async () => {
    const code = await server.stop('SIGTERM')
    expect(code).toBe(0)
    expect(server.logs().map((l) => l.msg)).toContain('stopped')
    expect(server.stderr()).toBe('')
  })
})
