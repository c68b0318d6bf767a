import { randomUUID } from 'node:crypto'
import { clone, create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Entity,
  FeatureService,
  FeatureView,
  Field,
  FileSource,
  Float32,
  Int64,
  isLarderError,
  Project,
  PushSource,
  RequestSource,
} from '../core/index.js'
import { DataSource_SourceType, DataSourceSchema } from '../gen/feast/core/DataSource_pb.js'
import { EntitySchema } from '../gen/feast/core/Entity_pb.js'
import { FeatureServiceSchema } from '../gen/feast/core/FeatureService_pb.js'
import { FeatureViewSchema } from '../gen/feast/core/FeatureView_pb.js'
import { PermissionSchema } from '../gen/feast/core/Permission_pb.js'
import { ProjectSchema } from '../gen/feast/core/Project_pb.js'
import { ValueType_Enum as ValueTypeEnum } from '../gen/feast/types/Value_pb.js'
import { applyContents, diffContents, type RepoContents, removeProject } from '../registry/apply-objects.js'
import { createRegistry } from '../registry/loader.js'
import type { MaterializationRun } from '../registry/materialization-runs.js'
import { timestampFromMicros } from '../registry/proto-mapping.js'
import { type Registry, updateRegistry } from '../registry/registry.js'
import { OBJECT_TABLES } from '../registry/registry-objects.js'
import { savedDatasetToProto } from '../registry/saved-datasets.js'
import { uniqueProject } from './online-conformance.js'

/** Opens handles on one registry (every handle sees the same stored registry). */
export interface RegistryHarness {
  /** A new handle with its own cache; `cacheTtlSeconds` defaults to 0. */
  open(options?: { cacheTtlSeconds?: number }): Promise<Registry>
  /** Removes what the harness created (a temp file, a test database). */
  cleanup(): Promise<void>
}

/** The definitions the suite applies, in a project of its own. */
export function sampleContents(project: string): RepoContents {
  const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
  const source = new FileSource({
    name: 'driver_stats_source',
    path: 'data/driver_stats.parquet',
    timestampField: 'event_timestamp',
    createdTimestampColumn: 'created',
    fieldMapping: { conv: 'conv_rate' },
  })
  const push = new PushSource({ name: 'driver_stats_push', batchSource: source })
  const stats = new FeatureView({
    name: 'driver_hourly_stats',
    entities: [driver],
    ttl: '1d',
    maxAge: '2h',
    storageTtl: '7d',
    schema: [
      new Field({ name: 'driver_id', dtype: Int64 }),
      new Field({ name: 'conv_rate', dtype: Float32, description: 'conversion' }),
      new Field({ name: 'avg_daily_trips', dtype: Int64 }),
    ],
    source: push,
    tags: { team: 'drivers' },
  })
  const requests = new RequestSource({
    name: 'vals',
    schema: [new Field({ name: 'val_to_add', dtype: Int64 })],
  })
  const service = new FeatureService({
    name: 'driver_activity',
    features: [
      stats.select(['conv_rate']),
      stats.withName('other').withJoinKeyMap({ driver_id: 'other_id' }),
    ],
  })
  return {
    project: new Project({ name: project, description: 'the demo' }),
    entities: [driver],
    dataSources: [source, push, requests],
    featureViews: [stats],
    featureServices: [service],
  }
}

const HOUR = 3_600_000_000

/** A materialization run of `view` that started at `startedAt` (micros); `extra` overrides fields. */
export function sampleRun(
  project: string,
  view: string,
  startedAt: number,
  extra: Partial<MaterializationRun> = {},
): MaterializationRun {
  return {
    id: randomUUID(),
    project,
    view,
    engine: 'local',
    status: 'succeeded',
    start: startedAt - HOUR,
    end: startedAt,
    rowsRead: 5,
    rowsWritten: 4,
    rowsSkipped: 1,
    newestEvent: startedAt - 60_000_000,
    runBy: 'tester@laptop',
    startedAt,
    finishedAt: startedAt + 2_500_000,
    durationMs: 2500,
    ...extra,
  }
}

/**
 * Registers the registry conformance suite: what every registry backend (file, SQLite, PostgreSQL,
 * MySQL/MariaDB) must do, against a real store. Each test works in a project of its own, so the
 * harness may keep one registry for the whole suite.
 *
 * @example describeRegistryConformance('sqlite', async () => sqliteHarness())
 */
export function describeRegistryConformance(name: string, setup: () => Promise<RegistryHarness>): void {
  describe(`${name}: Registry conformance`, () => {
    let harness: RegistryHarness
    const opened: Registry[] = []
    const open = async (cacheTtlSeconds = 0) => {
      const r = await harness.open({ cacheTtlSeconds })
      opened.push(r)
      return r
    }
    const apply = async (registry: Registry, contents: RepoContents, now = 1_700_000_000_000_000) => {
      const state = await registry.load({ allowCache: false })
      const draft = state.draft()
      applyContents(draft, contents, now)
      return registry.commit(state, draft)
    }
    const addInterval = (registry: Registry, project: string, view: string, start: number) =>
      updateRegistry(registry, (draft) => {
        const proto = draft.featureViews.find((v) => v.spec?.project === project && v.spec.name === view)!
        proto.meta!.materializationIntervals.push({
          $typeName: 'feast.core.MaterializationInterval',
          startTime: timestampFromMicros(start),
          endTime: timestampFromMicros(start + HOUR),
        })
      })

    beforeAll(async () => {
      harness = await setup()
    })
    afterAll(async () => {
      await Promise.all(opened.map((r) => r.close()))
      await harness?.cleanup()
    })

    it('stores every object and reads it back as definitions', async () => {
      const project = uniqueProject('objects')
      const registry = await open()
      const contents = sampleContents(project)
      await apply(registry, contents)
      const catalog = (await (await open()).load()).catalog(project)
      const view = catalog.featureView('driver_hourly_stats')
      expect(view.features.map((f) => [f.name, f.dtype.name, f.description])).toEqual([
        ['conv_rate', 'Float32', 'conversion'],
        ['avg_daily_trips', 'Int64', ''],
      ])
      expect([view.ttl, view.maxAge, view.storageTtl]).toEqual([86_400, 7200, 604_800])
      expect(view.tags).toEqual({ team: 'drivers' })
      expect(view.batchSource?.fieldMapping).toEqual({ conv: 'conv_rate' })
      expect([...catalog.dataSources.keys()].sort()).toEqual([
        'driver_stats_push',
        'driver_stats_source',
        'vals',
      ])
      expect(catalog.featureService('driver_activity').featureRefs).toEqual([
        'driver_hourly_stats:conv_rate',
        'other:conv_rate',
        'other:avg_daily_trips',
      ])
      expect(catalog.projectObject?.description).toBe('the demo')
      expect(catalog.entity('driver').joinKey).toBe('driver_id')
      expect(catalog.meta('feature view', 'driver_hourly_stats').createdAt).toBe(1_700_000_000_000_000)
    })

    it('plans nothing after an apply, and names the fields an edit changes', async () => {
      const project = uniqueProject('plan')
      const registry = await open()
      const contents = sampleContents(project)
      await apply(registry, contents)
      const state = await (await open()).load()
      expect(diffContents(state.proto, contents).filter((c) => c.action !== 'unchanged')).toEqual([])
      const edited = {
        ...contents,
        featureViews: [contents.featureViews[0]!.with({ ttl: '2d' })],
        featureServices: [],
      }
      expect(diffContents(state.proto, edited).filter((c) => c.action !== 'unchanged')).toEqual([
        { kind: 'feature view', name: 'driver_hourly_stats', action: 'update', changedFields: ['ttl'] },
        { kind: 'feature service', name: 'driver_activity', action: 'delete', changedFields: [] },
      ])
    })

    it('keeps projects apart: removing one leaves the other', async () => {
      const a = uniqueProject('keep_a')
      const b = uniqueProject('keep_b')
      const registry = await open()
      await apply(registry, sampleContents(a))
      await apply(registry, sampleContents(b))
      const state = await registry.load({ allowCache: false })
      const draft = state.draft()
      removeProject(draft, a)
      await registry.commit(state, draft)
      const after = await (await open()).load()
      expect(after.catalog(a).featureViews.size).toBe(0)
      expect(after.catalog(a).entities.size).toBe(0)
      expect(after.catalog(b).featureViews.size).toBe(1)
      expect(after.catalog(b).featureServices.size).toBe(1)
    })

    it('refuses a commit whose base is stale for an object it changes, naming the object and who changed it', async () => {
      const project = uniqueProject('stale')
      const registry = await open()
      const contents = sampleContents(project)
      await apply(registry, contents)
      const base = await registry.load({ allowCache: false })
      const other = await open()
      const previous = process.env.LARDER_ACTOR
      process.env.LARDER_ACTOR = 'alice@laptop'
      try {
        await apply(other, {
          ...contents,
          featureViews: [contents.featureViews[0]!.with({ description: 'first' })],
        })
      } finally {
        if (previous === undefined) delete process.env.LARDER_ACTOR
        else process.env.LARDER_ACTOR = previous
      }
      const draft = base.draft()
      applyContents(
        draft,
        { ...contents, featureViews: [contents.featureViews[0]!.with({ description: 'second' })] },
        2,
      )
      const error = await registry.commit(base, draft).catch((e) => e)
      expect(isLarderError(error) && error.code).toBe('CONFLICT')
      expect(error.message).toContain('feature view "driver_hourly_stats"')
      expect(error.message).toContain(`project "${project}"`)
      expect(error.message).toContain('alice@laptop')
      expect(error.hint).toBeTruthy()
      const view = (await registry.load({ allowCache: false }))
        .catalog(project)
        .featureView('driver_hourly_stats')
      expect(view.description).toBe('first')
    })

    it('commits both of two writers that change different objects from the same read', async () => {
      const project = uniqueProject('disjoint')
      const registry = await open()
      const contents = sampleContents(project)
      await apply(registry, contents)
      const base = await registry.load({ allowCache: false })
      const first = base.draft()
      first.entities.find((e) => e.spec?.project === project)!.spec!.description = 'by first'
      const second = base.draft()
      second.featureServices.find((s) => s.spec?.project === project)!.spec!.description = 'by second'
      await registry.commit(base, first)
      await (await open()).commit(base, second)
      const catalog = (await registry.load({ allowCache: false })).catalog(project)
      expect(catalog.entity('driver').description).toBe('by first')
      expect(catalog.featureService('driver_activity').description).toBe('by second')
    })

    it('reports a conflict when one writer deletes an object that another changes', async () => {
      const project = uniqueProject('delete')
      const registry = await open()
      await apply(registry, sampleContents(project))
      const base = await registry.load({ allowCache: false })
      const remove = base.draft()
      remove.featureServices = remove.featureServices.filter((s) => s.spec?.project !== project)
      const edit = base.draft()
      edit.featureServices.find((s) => s.spec?.project === project)!.spec!.description = 'edited'
      await registry.commit(base, remove)
      const error = await registry.commit(base, edit).catch((e) => e)
      expect(isLarderError(error) && error.code).toBe('CONFLICT')
      expect(error.message).toContain('feature service "driver_activity"')
      expect((await registry.load({ allowCache: false })).catalog(project).featureServices.size).toBe(0)
    })

    it('records materialization intervals and keeps them across applies', async () => {
      const project = uniqueProject('intervals')
      const registry = await open()
      const contents = sampleContents(project)
      await apply(registry, contents)
      await addInterval(registry, project, 'driver_hourly_stats', 0)
      await apply(registry, {
        ...contents,
        featureViews: [contents.featureViews[0]!.with({ description: 'edited' })],
      })
      const catalog = (await registry.load({ allowCache: false })).catalog(project)
      expect(catalog.materializationIntervals('driver_hourly_stats')).toEqual([{ start: 0, end: HOUR }])
      expect(catalog.featureView('driver_hourly_stats').description).toBe('edited')
    })

    it('keeps an interval recorded after an apply read the registry, and the apply too', async () => {
      const project = uniqueProject('interleaved')
      const registry = await open()
      const contents = sampleContents(project)
      await apply(registry, contents)
      const base = await registry.load({ allowCache: false })
      await addInterval(await open(), project, 'driver_hourly_stats', 5 * HOUR)
      const draft = base.draft()
      applyContents(
        draft,
        { ...contents, featureViews: [contents.featureViews[0]!.with({ description: 'applied' })] },
        3,
      )
      await registry.commit(base, draft)
      const catalog = (await registry.load({ allowCache: false })).catalog(project)
      expect(catalog.featureView('driver_hourly_stats').description).toBe('applied')
      expect(catalog.materializationIntervals('driver_hourly_stats')).toEqual([
        { start: 5 * HOUR, end: 6 * HOUR },
      ])
    })

    it('keeps every interval of concurrent recorders of the same view', async () => {
      const project = uniqueProject('recorders')
      const registry = await open()
      await apply(registry, sampleContents(project))
      const handles = await Promise.all([0, 1, 2, 3].map(() => open()))
      await Promise.all(handles.map((h, i) => addInterval(h, project, 'driver_hourly_stats', i * HOUR)))
      const intervals = (await registry.load({ allowCache: false }))
        .catalog(project)
        .materializationIntervals('driver_hourly_stats')
      expect(intervals.map((i) => i.start).sort((x, y) => x - y)).toEqual([0, HOUR, 2 * HOUR, 3 * HOUR])
    })

    it('stores saved datasets next to a concurrent apply', async () => {
      const project = uniqueProject('datasets')
      const registry = await open()
      const contents = sampleContents(project)
      await apply(registry, contents)
      const base = await registry.load({ allowCache: false })
      await updateRegistry(await open(), (draft) => {
        draft.savedDatasets.push(
          savedDatasetToProto(
            {
              name: 'training',
              features: ['driver_hourly_stats:conv_rate'],
              joinKeys: ['driver_id'],
              fullFeatureNames: false,
              path: 'data/training.parquet',
              featureServiceName: '',
              description: '',
              tags: {},
              createdAt: undefined,
            },
            project,
            1_700_000_000_000_000,
          ),
        )
      })
      const draft = base.draft()
      applyContents(draft, { ...contents, featureServices: [] }, 4)
      await registry.commit(base, draft)
      const catalog = (await registry.load({ allowCache: false })).catalog(project)
      expect(catalog.savedDatasets.get('training')?.path).toBe('data/training.parquet')
      expect(catalog.featureServices.size).toBe(0)
    })

    it('serves its cache within cache_ttl_seconds, and sees another writer on a refresh or past the ttl', async () => {
      const project = uniqueProject('cache')
      const cached = await open(3600)
      const writer = await open()
      await apply(writer, sampleContents(project))
      const first = await cached.load()
      expect(first.catalog(project).featureServices.size).toBe(1)
      expect(await cached.load()).toBe(first)
      expect(await cached.load({ revalidate: true })).toBe(first)
      await apply(writer, { ...sampleContents(project), featureServices: [] })
      expect(await cached.load()).toBe(first)
      const refreshed = await cached.load({ revalidate: true })
      expect(refreshed).not.toBe(first)
      expect(refreshed.catalog(project).featureServices.size).toBe(0)
      const noTtl = await open(0)
      const seen = await noTtl.load()
      expect(await noTtl.load()).toBe(seen)
      await apply(writer, sampleContents(project))
      expect((await noTtl.load()).catalog(project).featureServices.size).toBe(1)
    })

    it('records materialization runs and lists them newest first, by view, with a limit', async () => {
      const project = uniqueProject('runs')
      const registry = await open()
      const t = 1_700_000_000_000_000
      const a1 = sampleRun(project, 'view_a', t)
      const a2 = sampleRun(project, 'view_a', t + 2 * HOUR, { newestEvent: undefined, rowsWritten: 0 })
      const a3 = sampleRun(project, 'view_a', t + HOUR, {
        status: 'failed',
        error: 'the online store (redis) did not answer within 1000 ms',
        rowsWritten: 0,
      })
      const b1 = sampleRun(project, 'view_b', t + 3 * HOUR)
      const elsewhere = sampleRun(uniqueProject('runs_other'), 'view_a', t + 4 * HOUR)
      for (const r of [a1, a2, a3, b1, elsewhere]) await registry.recordMaterializationRun(r)
      const reader = await open()
      expect(await reader.listMaterializationRuns(project)).toEqual([b1, a2, a3, a1])
      expect(await reader.listMaterializationRuns(project, { view: 'view_a' })).toEqual([a2, a3, a1])
      expect(await reader.listMaterializationRuns(project, { view: 'view_a', limit: 2 })).toEqual([a2, a3])
      expect(await reader.listMaterializationRuns(project, { view: 'nope' })).toEqual([])
      expect(await reader.listMaterializationRuns(uniqueProject('runs_none'))).toEqual([])
      const error = await reader.listMaterializationRuns(project, { limit: 0 }).catch((e) => e)
      expect(isLarderError(error) && error.code).toBe('INVALID_ARGUMENT')
      const bad = await registry
        .recordMaterializationRun({ ...a1, id: randomUUID(), status: 'maybe' as never })
        .catch((e) => e)
      expect(isLarderError(bad) && bad.code).toBe('INVALID_ARGUMENT')
      expect(bad.message).toContain('status')
    })

    it("keeps each view's newest runs up to the bound and drops older ones", async () => {
      const project = uniqueProject('runs_bound')
      const registry = await open()
      const t = 1_700_000_000_000_000
      const a = [0, 1, 2, 3, 4].map((i) => sampleRun(project, 'view_a', t + i * HOUR))
      const b = [0, 1].map((i) => sampleRun(project, 'view_b', t + i * HOUR))
      // recorded oldest last: the bound keeps the newest by start time, not the last recorded
      for (const r of [a[3]!, a[4]!, a[1]!, a[2]!, a[0]!, ...b]) {
        await registry.recordMaterializationRun(r, { keep: 3 })
      }
      expect(await registry.listMaterializationRuns(project, { view: 'view_a' })).toEqual([a[4], a[3], a[2]])
      expect(await registry.listMaterializationRuns(project, { view: 'view_b' })).toEqual([b[1], b[0]])
    })

    it('records runs apart from the registry message: no new version, no conflict, none lost to concurrent recorders', async () => {
      const project = uniqueProject('runs_apart')
      const registry = await open()
      const contents = sampleContents(project)
      await apply(registry, contents)
      const base = await registry.load({ allowCache: false })
      const handles = await Promise.all([0, 1, 2, 3].map(() => open()))
      const t = 1_700_000_000_000_000
      const recorded = handles.flatMap((_, h) =>
        [0, 1, 2, 3, 4].map((i) => sampleRun(project, 'driver_hourly_stats', t + (h * 5 + i) * HOUR)),
      )
      await Promise.all(
        handles.map(async (handle, h) => {
          for (const r of recorded.slice(h * 5, h * 5 + 5)) await handle.recordMaterializationRun(r)
        }),
      )
      expect((await registry.load({ allowCache: false })).version).toBe(base.version)
      const listed = await registry.listMaterializationRuns(project, { view: 'driver_hourly_stats' })
      expect(listed.map((r) => r.id).sort()).toEqual(recorded.map((r) => r.id).sort())
      // an apply read before the runs were recorded still commits
      const draft = base.draft()
      applyContents(
        draft,
        { ...contents, featureViews: [contents.featureViews[0]!.with({ description: 'after runs' })] },
        5,
      )
      await registry.commit(base, draft)
      const catalog = (await registry.load({ allowCache: false })).catalog(project)
      expect(catalog.featureView('driver_hourly_stats').description).toBe('after runs')
    })

    it('lists what it cannot represent instead of failing', async () => {
      const project = uniqueProject('skipped')
      const registry = await open()
      await apply(registry, sampleContents(project))
      const state = await registry.load({ allowCache: false })
      const draft = state.draft()
      draft.featureViews.find((v) => v.spec?.project === project)!.spec!.features[0]!.valueType = 999 as never
      await registry.commit(state, draft)
      const catalog = (await (await open()).load()).catalog(project)
      expect(catalog.skipped.map((s) => s.name)).toContain('driver_hourly_stats')
      expect(() => catalog.featureView('driver_hourly_stats')).toThrow(/cannot be used by Larder/)
      expect(catalog.entity('driver').joinKey).toBe('driver_id')
    })
  })
}

/** A fresh database for the Feast interop suite, with the driver's own statement runner. */
export interface FeastSqlDatabase {
  /** The SQL registry URL of the database. */
  readonly url: string
  /** Where relative paths resolve (SQLite). */
  readonly baseDir?: string
  /** Runs one statement with `?` parameters through the driver directly (not through Larder). */
  exec(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>
  drop(): Promise<void>
}

/**
 * Registers the Feast interop suite of the SQL registry: rows shaped as Feast's SQL registry writes
 * them (Feast's protobufs, inserted with the driver) are read by Larder, and the rows Larder writes
 * decode with Feast's protobufs, table by table.
 */
export function describeFeastSqlInterop(name: string, setup: () => Promise<FeastSqlDatabase>): void {
  describe(`${name}: Feast SQL registry interop`, () => {
    let db: FeastSqlDatabase
    const opened: Registry[] = []
    const open = async () => {
      const r = await createRegistry(
        { path: db.url, registryType: 'sql', cacheTtlSeconds: 0, schemaMode: 'auto' },
        db.baseDir ?? process.cwd(),
      )
      opened.push(r)
      return r
    }
    const nowSeconds = () => Math.floor(Date.now() / 1000)

    beforeAll(async () => {
      db = await setup()
      await (await open()).load()
    })
    afterAll(async () => {
      await Promise.all(opened.map((r) => r.close()))
      await db?.drop()
    })

    it("reads the objects Feast's SQL registry wrote", async () => {
      const project = uniqueProject('feast')
      const ts = nowSeconds()
      const stamp = timestampFromMicros(ts * 1_000_000)
      const insert = (
        table: string,
        nameColumn: string,
        protoColumn: string,
        objectName: string,
        bytes: Uint8Array,
      ) =>
        db.exec(
          `INSERT INTO ${table} (${nameColumn}, project_id, last_updated_timestamp, ${protoColumn}) VALUES (?, ?, ?, ?)`,
          [objectName, project, ts, Buffer.from(bytes)],
        )
      await db.exec(
        'INSERT INTO projects (project_id, project_name, last_updated_timestamp, project_proto) VALUES (?, ?, ?, ?)',
        [
          project,
          project,
          ts,
          Buffer.from(
            toBinary(
              ProjectSchema,
              create(ProjectSchema, {
                spec: { name: project, description: 'from feast' },
                meta: { createdTimestamp: stamp, lastUpdatedTimestamp: stamp },
              }),
            ),
          ),
        ],
      )
      await insert(
        'entities',
        'entity_name',
        'entity_proto',
        'driver',
        toBinary(
          EntitySchema,
          create(EntitySchema, {
            spec: { name: 'driver', project, joinKey: 'driver_id', valueType: ValueTypeEnum.INT64 },
            meta: { createdTimestamp: stamp, lastUpdatedTimestamp: stamp },
          }),
        ),
      )
      const source = create(DataSourceSchema, {
        name: 'driver_stats_source',
        project,
        type: DataSource_SourceType.BATCH_FILE,
        timestampField: 'event_timestamp',
        options: {
          case: 'fileOptions',
          value: {
            uri: 'data/driver_stats.parquet',
            fileFormat: { format: { case: 'parquetFormat', value: {} } },
          },
        },
      })
      await insert(
        'data_sources',
        'data_source_name',
        'data_source_proto',
        'driver_stats_source',
        toBinary(DataSourceSchema, source),
      )
      await insert(
        'feature_views',
        'feature_view_name',
        'feature_view_proto',
        'driver_hourly_stats',
        toBinary(
          FeatureViewSchema,
          create(FeatureViewSchema, {
            spec: {
              name: 'driver_hourly_stats',
              project,
              entities: ['driver'],
              features: [{ name: 'conv_rate', valueType: ValueTypeEnum.FLOAT }],
              entityColumns: [{ name: 'driver_id', valueType: ValueTypeEnum.INT64 }],
              ttl: { seconds: 86_400n },
              batchSource: source,
              online: true,
            },
            meta: {
              createdTimestamp: stamp,
              lastUpdatedTimestamp: stamp,
              materializationIntervals: [
                { startTime: timestampFromMicros(0), endTime: timestampFromMicros(HOUR) },
              ],
            },
          }),
        ),
      )
      await insert(
        'feature_services',
        'feature_service_name',
        'feature_service_proto',
        'driver_activity',
        toBinary(
          FeatureServiceSchema,
          create(FeatureServiceSchema, {
            spec: {
              name: 'driver_activity',
              project,
              features: [
                {
                  featureViewName: 'driver_hourly_stats',
                  featureColumns: [{ name: 'conv_rate', valueType: ValueTypeEnum.FLOAT }],
                },
              ],
            },
            meta: { createdTimestamp: stamp },
          }),
        ),
      )
      await insert(
        'permissions',
        'permission_name',
        'permission_proto',
        'readers',
        toBinary(PermissionSchema, create(PermissionSchema, { spec: { name: 'readers', project } })),
      )
      const uuid = '0b9f4d3e-5c1a-4c57-9d0e-2f1f5f0a6c11'
      await db.exec(
        'INSERT INTO feast_metadata (project_id, metadata_key, metadata_value, last_updated_timestamp) VALUES (?, ?, ?, ?), (?, ?, ?, ?)',
        [project, 'project_uuid', uuid, ts, project, 'last_updated_timestamp', String(ts), ts],
      )

      const state = await (await open()).load()
      const catalog = state.catalog(project)
      expect(catalog.projectObject?.description).toBe('from feast')
      expect(catalog.entity('driver').joinKey).toBe('driver_id')
      expect(catalog.featureView('driver_hourly_stats').features.map((f) => f.name)).toEqual(['conv_rate'])
      expect(catalog.materializationIntervals('driver_hourly_stats')).toEqual([{ start: 0, end: HOUR }])
      expect(catalog.featureService('driver_activity').featureRefs).toEqual(['driver_hourly_stats:conv_rate'])
      expect(
        state.proto.permissions.filter((p) => p.spec?.project === project).map((p) => p.spec?.name),
      ).toEqual(['readers'])
      expect(state.proto.projectMetadata.find((m) => m.project === project)?.projectUuid).toBe(uuid)
    })

    it("writes rows that decode with Feast's protobufs, table by table", async () => {
      const project = uniqueProject('larder')
      const before = nowSeconds()
      const registry = await open()
      const state = await registry.load({ allowCache: false })
      const draft = state.draft()
      applyContents(draft, sampleContents(project), 1_700_000_000_000_000)
      await registry.commit(state, draft)
      const counts: Record<string, number> = {}
      for (const table of OBJECT_TABLES) {
        const extra = table.extraColumns.length ? `, ${table.extraColumns.join(', ')}` : ''
        const rows = await db.exec(
          `SELECT ${table.nameColumn} AS object_name, project_id, last_updated_timestamp, ${table.protoColumn} AS proto${extra} FROM ${table.table} WHERE project_id = ?`,
          [project],
        )
        counts[table.table] = rows.length
        for (const row of rows) {
          const message = fromBinary(table.schema, row.proto as Uint8Array)
          expect(table.nameOf(message)).toBe(row.object_name)
          expect(table.projectOf(message)).toBe(project)
          expect(Number(row.last_updated_timestamp)).toBeGreaterThanOrEqual(before)
          expect(Number(row.last_updated_timestamp)).toBeLessThan(before + 600)
        }
      }
      expect(counts).toMatchObject({
        projects: 1,
        entities: 1,
        data_sources: 3,
        feature_views: 1,
        feature_services: 1,
        on_demand_feature_views: 0,
      })
      const metadata = await db.exec(
        'SELECT metadata_key, metadata_value, last_updated_timestamp FROM feast_metadata WHERE project_id = ? ORDER BY metadata_key',
        [project],
      )
      expect(metadata.map((m) => m.metadata_key)).toEqual(['last_updated_timestamp', 'project_uuid'])
      expect(metadata[0]!.metadata_value).toBe(String(metadata[0]!.last_updated_timestamp))
      expect(String(metadata[1]!.metadata_value)).toMatch(/^[0-9a-f-]{36}$/)
    })

    it("keeps Feast's user_metadata when it rewrites a feature view", async () => {
      const project = uniqueProject('usermeta')
      const registry = await open()
      let state = await registry.load({ allowCache: false })
      let draft = state.draft()
      applyContents(draft, sampleContents(project), 1)
      await registry.commit(state, draft)
      await db.exec('UPDATE feature_views SET user_metadata = ? WHERE project_id = ?', [
        Buffer.from('owner=ml'),
        project,
      ])
      state = await registry.load({ allowCache: false })
      draft = state.draft()
      const contents = sampleContents(project)
      applyContents(
        draft,
        { ...contents, featureViews: [contents.featureViews[0]!.with({ description: 'x' })] },
        2,
      )
      await registry.commit(state, draft)
      const [row] = await db.exec('SELECT user_metadata FROM feature_views WHERE project_id = ?', [project])
      expect(Buffer.from(row!.user_metadata as Uint8Array).toString()).toBe('owner=ml')
    })

    it('sees a write by Feast: the cache refreshes, and a stale commit to that object is a conflict', async () => {
      const project = uniqueProject('feastwrite')
      const registry = await open()
      const cached = await open()
      let state = await registry.load({ allowCache: false })
      const draft = state.draft()
      applyContents(draft, sampleContents(project), 1)
      await registry.commit(state, draft)
      state = await registry.load({ allowCache: false })
      const seen = await cached.load()
      // Feast rewrites the entity and stamps its metadata row, as its apply_entity does.
      const entity = clone(EntitySchema, state.proto.entities.find((e) => e.spec?.project === project)!)
      entity.spec!.description = 'changed by feast'
      const later = nowSeconds() + 5
      await db.exec(
        'UPDATE entities SET entity_proto = ?, last_updated_timestamp = ? WHERE entity_name = ? AND project_id = ?',
        [Buffer.from(toBinary(EntitySchema, entity)), later, 'driver', project],
      )
      await db.exec(
        "UPDATE feast_metadata SET metadata_value = ?, last_updated_timestamp = ? WHERE project_id = ? AND metadata_key = 'last_updated_timestamp'",
        [String(later), later, project],
      )
      const refreshed = await cached.load({ revalidate: true })
      expect(refreshed).not.toBe(seen)
      expect(refreshed.catalog(project).entity('driver').description).toBe('changed by feast')
      const stale = state.draft()
      stale.entities.find((e) => e.spec?.project === project)!.spec!.description = 'changed by larder'
      const error = await registry.commit(state, stale).catch((e) => e)
      expect(isLarderError(error) && error.code).toBe('CONFLICT')
      expect(error.message).toContain('entity "driver"')
      expect(error.message).toContain('other than Larder')
    })
  })
}
