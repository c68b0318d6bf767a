import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fromBinary } from '@bufbuild/protobuf'
import { describe, expect, it } from 'vitest'
import { RegistrySchema } from '../../gen/feast/core/Registry_pb.js'
import { describeJobStoreConformance, registryJobs, sampleJob } from '../../testing/job-store-conformance.js'
import {
  describeRegistryConformance,
  type RegistryHarness,
  sampleContents,
} from '../../testing/registry-conformance.js'
import { applyContents, type RepoContents } from '../apply-objects.js'
import { FileRegistry } from './file-registry.js'

function fileHarness(): RegistryHarness {
  const dir = mkdtempSync(join(tmpdir(), 'larder-registry-'))
  const path = join(dir, 'data', 'registry.db')
  return {
    open: async ({ cacheTtlSeconds = 0 } = {}) => new FileRegistry({ path, cacheTtlSeconds }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  }
}

describeRegistryConformance('file', async () => fileHarness())
describeJobStoreConformance('file', async () => registryJobs(fileHarness()))

function tempRegistry(cacheTtlSeconds = 0): FileRegistry {
  const dir = mkdtempSync(join(tmpdir(), 'larder-registry-'))
  return new FileRegistry({ path: join(dir, 'data', 'registry.db'), cacheTtlSeconds })
}

const contents: RepoContents = sampleContents('demo')

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

  it('leaves a corrupt registry file untouched and says so', async () => {
    const registry = tempRegistry()
    await applyTo(registry)
    writeFileSync(registry.path, 'this is not a registry\n')
    const error = await registry.load({ allowCache: false }).catch((e) => e)
    expect(error.code).toBe('REGISTRY_CORRUPT')
    expect(error.message).toContain(registry.path)
    expect(readFileSync(registry.path, 'utf8')).toBe('this is not a registry\n')
  })

  it('notes who changed each object in a side file Feast never reads', async () => {
    const registry = tempRegistry()
    const previous = process.env.LARDER_ACTOR
    process.env.LARDER_ACTOR = 'bob@ci'
    try {
      await applyTo(registry)
    } finally {
      if (previous === undefined) delete process.env.LARDER_ACTOR
      else process.env.LARDER_ACTOR = previous
    }
    expect(existsSync(registry.changesPath)).toBe(true)
    const stamps = Object.values(JSON.parse(readFileSync(registry.changesPath, 'utf8'))) as { by: string }[]
    expect(stamps.length).toBeGreaterThan(5)
    expect(new Set(stamps.map((s) => s.by))).toEqual(new Set(['bob@ci']))
    expect(fromBinary(RegistrySchema, readFileSync(registry.path)).entities).toHaveLength(1)
  })

  it('keeps jobs in side files Feast never reads, without touching the registry file', async () => {
    const registry = tempRegistry()
    const state = await applyTo(registry)
    const before = readFileSync(registry.path)
    const job = sampleJob('demo')
    await registry.jobs.create(job)
    await registry.jobs.update('demo', job.id, { status: 'running', heartbeatAt: job.createdAt + 1 })
    await registry.jobs.appendLogs('demo', job.id, [{ at: job.createdAt, level: 'info', message: 'started' }])
    expect(registry.jobs.path).toBe(`${registry.path}.jobs.json`)
    expect(registry.jobs.logsPath).toBe(`${registry.path}.jobs.logs.json`)
    const records = JSON.parse(readFileSync(registry.jobs.path, 'utf8')).jobs
    expect(records.map((j: { id: string; status: string }) => [j.id, j.status])).toEqual([
      [job.id, 'running'],
    ])
    const logs = JSON.parse(readFileSync(registry.jobs.logsPath, 'utf8')).logs
    expect(logs).toEqual([
      { project: 'demo', id: job.id, lines: [{ at: job.createdAt, level: 'info', message: 'started' }] },
    ])
    expect(readFileSync(registry.path).equals(before)).toBe(true)
    expect((await registry.load({ allowCache: false })).version).toBe(state.version)
  })

  it('reports a corrupt job file as REGISTRY_CORRUPT naming it, and leaves it and the registry alone', async () => {
    const registry = tempRegistry()
    await applyTo(registry)
    mkdirSync(dirname(registry.jobs.path), { recursive: true })
    writeFileSync(registry.jobs.path, '{"jobs": 3}')
    const error = await registry.jobs.list('demo').catch((e) => e)
    expect(error.code).toBe('REGISTRY_CORRUPT')
    expect(error.message).toContain(registry.jobs.path)
    expect(error.hint).toContain(`delete ${registry.jobs.path}`)
    const write = await registry.jobs.create(sampleJob('demo')).catch((e) => e)
    expect(write.code).toBe('REGISTRY_CORRUPT')
    expect(readFileSync(registry.jobs.path, 'utf8')).toBe('{"jobs": 3}')
    expect((await registry.load({ allowCache: false })).catalog('demo').featureViews.size).toBe(1)
  })
})
