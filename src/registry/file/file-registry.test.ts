import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fromBinary } from '@bufbuild/protobuf'
import { describe, expect, it } from 'vitest'
import {
  Entity,
  FeatureService,
  FeatureView,
  Field,
  FileSource,
  Float32,
  Int64,
  LarderError,
  Project,
  PushSource,
  RequestSource,
} from '../../core/index.js'
import { RegistrySchema } from '../../gen/feast/core/Registry_pb.js'
import { applyContents, diffContents, type RepoContents } from '../apply-objects.js'
import { timestampFromMicros } from '../proto-mapping.js'
import { updateRegistry } from '../registry.js'
import { FileRegistry } from './file-registry.js'

function tempRegistry(cacheTtlSeconds = 0): FileRegistry {
  const dir = mkdtempSync(join(tmpdir(), 'larder-registry-'))
  return new FileRegistry({ path: join(dir, 'data', 'registry.db'), cacheTtlSeconds })
}

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
  features: [stats.select(['conv_rate']), stats.withName('other').withJoinKeyMap({ driver_id: 'other_id' })],
})
const contents: RepoContents = {
  project: new Project({ name: 'demo', description: 'the demo' }),
  entities: [driver],
  dataSources: [source, push, requests],
  featureViews: [stats],
  featureServices: [service],
}

async function applyTo(registry: FileRegistry, c: RepoContents = contents) {
  const state = await registry.load({ allowCache: false })
  const draft = state.draft()
  applyContents(draft, c, 1_700_000_000_000_000)
  return registry.commit(state, draft)
}

describe('file registry', () => {
  it('writes a Feast Registry message holding every object, and reads it back as definitions', async () => {
    const registry = tempRegistry()
    await applyTo(registry)
    const decoded = fromBinary(RegistrySchema, readFileSync(registry.path))
    expect(decoded.registrySchemaVersion).toBe('1')
    expect(decoded.versionId).not.toBe('')
    expect(decoded.entities.map((e) => e.spec?.joinKey)).toEqual(['driver_id'])
    expect(decoded.featureViews[0]?.spec?.ttl?.seconds).toBe(86_400n)
    expect(decoded.featureViews[0]?.spec?.streamSource?.batchSource?.name).toBe('driver_stats_source')
    expect(decoded.featureServices[0]?.spec?.features.map((p) => p.featureViewNameAlias)).toEqual([
      '',
      'other',
    ])
    expect(decoded.dataSources.map((s) => s.name).sort()).toEqual([
      'driver_stats_push',
      'driver_stats_source',
      'vals',
    ])

    const catalog = (await registry.load()).catalog('demo')
    const view = catalog.featureView('driver_hourly_stats')
    expect(view.features.map((f) => [f.name, f.dtype.name, f.description])).toEqual([
      ['conv_rate', 'Float32', 'conversion'],
      ['avg_daily_trips', 'Int64', ''],
    ])
    expect([view.ttl, view.maxAge, view.storageTtl]).toEqual([86_400, 7200, 604_800])
    expect(view.tags).toEqual({ team: 'drivers' })
    expect(view.batchSource?.fieldMapping).toEqual({ conv: 'conv_rate' })
    expect(catalog.featureService('driver_activity').featureRefs).toEqual([
      'driver_hourly_stats:conv_rate',
      'other:conv_rate',
      'other:avg_daily_trips',
    ])
    expect(catalog.projectObject?.description).toBe('the demo')
    expect(catalog.meta('feature view', 'driver_hourly_stats').createdAt).toBe(1_700_000_000_000_000)
  })

  it('plans nothing after an apply, and names the fields an edit changes', async () => {
    const registry = tempRegistry()
    await applyTo(registry)
    const state = await registry.load()
    expect(diffContents(state.proto, contents).filter((c) => c.action !== 'unchanged')).toEqual([])
    const edited = { ...contents, featureViews: [stats.with({ ttl: '2d' })], featureServices: [] }
    const changes = diffContents(state.proto, edited).filter((c) => c.action !== 'unchanged')
    expect(changes).toEqual([
      { kind: 'feature view', name: 'driver_hourly_stats', action: 'update', changedFields: ['ttl'] },
      { kind: 'feature service', name: 'driver_activity', action: 'delete', changedFields: [] },
    ])
  })

  it('refuses a commit whose base version is stale and keeps the winner', async () => {
    const registry = tempRegistry()
    const base = await registry.load({ allowCache: false })
    const first = base.draft()
    applyContents(first, contents, 1)
    await registry.commit(base, first)
    const second = base.draft()
    applyContents(second, { ...contents, featureServices: [] }, 2)
    const error = await registry.commit(base, second).catch((e) => e)
    expect(error).toBeInstanceOf(LarderError)
    expect(error.code).toBe('CONFLICT')
    expect((await registry.load({ allowCache: false })).catalog('demo').featureServices.size).toBe(1)
  })

  it('records materialization intervals with retries and keeps them across applies', async () => {
    const registry = tempRegistry()
    await applyTo(registry)
    await updateRegistry(registry, (draft) => {
      const meta = draft.featureViews[0]!.meta!
      meta.materializationIntervals.push({
        $typeName: 'feast.core.MaterializationInterval',
        startTime: timestampFromMicros(0),
        endTime: timestampFromMicros(5_000_000),
      })
    })
    await applyTo(registry, { ...contents, featureViews: [stats.with({ description: 'edited' })] })
    const catalog = (await registry.load()).catalog('demo')
    expect(catalog.materializationIntervals('driver_hourly_stats')).toEqual([{ start: 0, end: 5_000_000 }])
    expect(catalog.featureView('driver_hourly_stats').description).toBe('edited')
  })

  it('leaves a corrupt registry file untouched and says so', async () => {
    const registry = tempRegistry()
    await applyTo(registry)
    writeFileSync(registry.path, 'this is not a registry\n')
    const error = await registry.load({ allowCache: false }).catch((e) => e)
    expect(error.code).toBe('REGISTRY_CORRUPT')
    expect(error.message).toContain(registry.path)
    expect(readFileSync(registry.path, 'utf8')).toBe('this is not a registry\n')
  })

  it('serves the cache within cache_ttl_seconds and sees other writers after it', async () => {
    const registry = tempRegistry(3600)
    const other = new FileRegistry({ path: registry.path, cacheTtlSeconds: 0 })
    await applyTo(registry)
    const cached = await registry.load()
    await applyTo(other, { ...contents, featureServices: [] })
    expect(await registry.load()).toBe(cached)
    expect((await registry.load({ allowCache: false })).catalog('demo').featureServices.size).toBe(0)
    expect((await other.load()).catalog('demo').featureServices.size).toBe(0)
  })

  it('lists what it cannot represent instead of failing', async () => {
    const registry = tempRegistry()
    await applyTo(registry)
    const state = await registry.load({ allowCache: false })
    const draft = state.draft()
    draft.featureViews[0]!.spec!.features[0]!.valueType = 999 as never
    await registry.commit(state, draft)
    const catalog = (await registry.load()).catalog('demo')
    expect(catalog.skipped.map((s) => s.name)).toContain('driver_hourly_stats')
    expect(() => catalog.featureView('driver_hourly_stats')).toThrow(/cannot be used by Larder/)
    expect(catalog.entity('driver').joinKey).toBe('driver_id')
  })
})
