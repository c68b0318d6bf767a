// The remote registry (Larder's client of Feast's RegistryServer) against `startRegistryServer` over a
// file registry and a SQLite registry: the registry conformance suite every backend runs, plus the
// optimistic check when the server no longer holds the state the client read.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../config/index.js'
import { isLarderError, type Micros } from '../core/index.js'
import { applyContents } from '../registry/apply-objects.js'
import { FileRegistry } from '../registry/file/file-registry.js'
import { createRegistry } from '../registry/loader.js'
import type { Registry } from '../registry/registry.js'
import { RemoteRegistry, remoteUrl } from '../registry/remote/index.js'
import { describeJobStoreConformance, registryJobs, sampleJob } from '../testing/job-store-conformance.js'
import { uniqueProject } from '../testing/online-conformance.js'
import {
  describeRegistryConformance,
  type RegistryHarness,
  sampleContents,
} from '../testing/registry-conformance.js'
import { type RegistryServerListening, startRegistryServer } from './index.js'

async function served(backing: Registry, where: string): Promise<RegistryServerListening> {
  return startRegistryServer(backing, { port: 0, where })
}

/** Remote registries on a registry server over a new file registry. */
async function remoteOverFile(): Promise<RegistryHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-remote-'))
  const path = join(dir, 'data', 'registry.db')
  const backing = new FileRegistry({ path, cacheTtlSeconds: 0 })
  const server = await served(backing, path)
  return {
    open: async ({ cacheTtlSeconds = 0 } = {}) =>
      RemoteRegistry.open({ address: server.grpcUrl, cacheTtlSeconds }),
    cleanup: async () => {
      await server.close()
      await backing.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Remote registries on a registry server over a new SQLite registry, addressed as Feast's host:port. */
async function remoteOverSqlite(): Promise<RegistryHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-remote-sql-'))
  const url = `sqlite:///${join(dir, 'registry.sqlite')}`
  const backing = await createRegistry(
    { path: url, registryType: 'sql', cacheTtlSeconds: 0, schemaMode: 'auto' },
    dir,
  )
  const server = await served(backing, url)
  return {
    open: async ({ cacheTtlSeconds = 0 } = {}) =>
      RemoteRegistry.open({ address: server.grpcUrl.replace(/^http:\/\//, ''), cacheTtlSeconds }),
    cleanup: async () => {
      await server.close()
      await backing.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

describeRegistryConformance('remote (file registry behind the registry server)', remoteOverFile)
describeRegistryConformance('remote (SQLite registry behind the registry server)', remoteOverSqlite)
describeJobStoreConformance('remote (file registry behind the registry server)', async () =>
  registryJobs(await remoteOverFile()),
)
describeJobStoreConformance('remote (SQLite registry behind the registry server)', async () =>
  registryJobs(await remoteOverSqlite()),
)

describe('remote registry', () => {
  const dirs: string[] = []
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it('refuses a stale change after the server restarted, by the hash of the object the client read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'larder-remote-restart-'))
    dirs.push(dir)
    const path = join(dir, 'registry.db')
    const project = uniqueProject('restart')
    const contents = sampleContents(project)
    let server = await served(new FileRegistry({ path, cacheTtlSeconds: 0 }), path)
    const client = RemoteRegistry.open({ address: server.grpcUrl, cacheTtlSeconds: 0 })
    const first = await client.load()
    const draft = first.draft()
    applyContents(draft, contents, 1)
    await client.commit(first, draft)
    const base = await client.load({ allowCache: false })
    // Another writer changes the view; the server restarts and forgets the states it served.
    const other = RemoteRegistry.open({ address: server.grpcUrl, cacheTtlSeconds: 0 })
    const theirs = (await other.load()).draft()
    applyContents(
      theirs,
      { ...contents, featureViews: [contents.featureViews[0]!.with({ description: 'theirs' })] },
      2,
    )
    await other.commit(await other.load(), theirs)
    const port = Number(new URL(server.grpcUrl).port)
    await server.close()
    server = await startRegistryServer(new FileRegistry({ path, cacheTtlSeconds: 0 }), { port, where: path })
    try {
      const stale = base.draft()
      applyContents(
        stale,
        { ...contents, featureViews: [contents.featureViews[0]!.with({ description: 'mine' })] },
        3,
      )
      const error = await client.commit(base, stale).catch((e: unknown) => e)
      expect(isLarderError(error) && error.code).toBe('CONFLICT')
      expect((error as Error).message).toContain(`feature view "driver_hourly_stats" in project "${project}"`)
      // An object nobody else touched still commits from the same stale read.
      const fresh = base.draft()
      fresh.entities.find((e) => e.spec?.project === project)!.spec!.description = 'mine'
      await client.commit(base, fresh)
      const catalog = (await client.load({ allowCache: false })).catalog(project)
      expect(catalog.entity('driver').description).toBe('mine')
      expect(catalog.featureView('driver_hourly_stats').description).toBe('theirs')
    } finally {
      await server.close()
    }
  })

  it('records and lists materialization runs on the server, in the registry behind it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'larder-remote-runs-'))
    dirs.push(dir)
    const path = join(dir, 'registry.db')
    const backing = new FileRegistry({ path, cacheTtlSeconds: 0 })
    const server = await served(backing, path)
    try {
      const client = RemoteRegistry.open({ address: server.grpcUrl, cacheTtlSeconds: 0 })
      const run = (id: string, view: string, startedAt: number, error?: string) => ({
        id,
        project: 'runs',
        view,
        engine: 'local',
        status: error === undefined ? ('succeeded' as const) : ('failed' as const),
        ...(error === undefined ? {} : { error }),
        start: 0 as Micros,
        end: 3_600_000_000 as Micros,
        rowsRead: 10,
        rowsWritten: error === undefined ? 10 : 0,
        rowsSkipped: 0,
        newestEvent: error === undefined ? (3_000_000_000 as Micros) : undefined,
        runBy: 'alice@laptop',
        startedAt: startedAt as Micros,
        finishedAt: (startedAt + 1000) as Micros,
        durationMs: 1,
      })
      await client.recordMaterializationRun(run('a', 'stats', 1_000))
      await client.recordMaterializationRun(run('b', 'stats', 2_000, 'the offline store failed'))
      await client.recordMaterializationRun(run('c', 'other', 3_000))
      const all = await client.listMaterializationRuns('runs')
      expect(all.map((r) => r.id)).toEqual(['c', 'b', 'a'])
      expect(all[1]).toEqual(run('b', 'stats', 2_000, 'the offline store failed'))
      expect(all[2]).toEqual(run('a', 'stats', 1_000))
      expect(
        (await client.listMaterializationRuns('runs', { view: 'stats', limit: 1 })).map((r) => r.id),
      ).toEqual(['b'])
      expect((await backing.listMaterializationRuns('runs')).map((r) => r.id)).toEqual(['c', 'b', 'a'])
      const bad = await client
        .recordMaterializationRun({ ...run('d', 'stats', 4_000), engine: '' })
        .catch((e: unknown) => e)
      expect(isLarderError(bad) && bad.code).toBe('INVALID_ARGUMENT')
      expect((bad as Error).message).toContain('engine')
    } finally {
      await server.close()
    }
  })

  it("keeps jobs in the served registry's job store, and passes its errors back with their code", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'larder-remote-jobs-'))
    dirs.push(dir)
    const path = join(dir, 'registry.db')
    const backing = new FileRegistry({ path, cacheTtlSeconds: 0 })
    const server = await served(backing, path)
    try {
      const client = RemoteRegistry.open({ address: server.grpcUrl, cacheTtlSeconds: 0 })
      const job = sampleJob('jobs', { status: 'running' })
      await client.jobs.create(job)
      await client.jobs.appendLogs('jobs', job.id, [{ at: job.createdAt, level: 'info', message: 'hello' }])
      expect(await backing.jobs.get('jobs', job.id)).toEqual(job)
      expect(await backing.jobs.logs('jobs', job.id)).toEqual([
        { at: job.createdAt, level: 'info', message: 'hello' },
      ])
      const cancelled = await backing.jobs.requestCancel('jobs', job.id)
      expect(await client.jobs.get('jobs', job.id)).toEqual(cancelled)
      const missing = await client.jobs.get('jobs', 'nope').catch((e: unknown) => e)
      expect(isLarderError(missing) && missing.code).toBe('NOT_FOUND')
      expect((missing as Error).message).toBe('job "nope" not found in project "jobs"')
      expect((missing as { hint?: string }).hint).toContain(job.id)
      expect((missing as { details?: unknown }).details).toEqual({ job: 'nope' })
      const twice = await client.jobs.create(job).catch((e: unknown) => e)
      expect(isLarderError(twice) && twice.code).toBe('CONFLICT')
    } finally {
      await server.close()
    }
  })

  it('fails with BACKEND_UNAVAILABLE naming the server when nothing listens there', async () => {
    const { freePort } = await import('../testing/probes.js')
    const address = `127.0.0.1:${await freePort()}`
    const error = await RemoteRegistry.open({ address, cacheTtlSeconds: 0 })
      .load()
      .catch((e: unknown) => e)
    expect(isLarderError(error) && error.code).toBe('BACKEND_UNAVAILABLE')
    expect((error as Error).message).toContain(`http://${address}`)
    expect((error as { hint?: string }).hint).toContain('serve-registry')
  })

  it('opens from feature_store.yaml: registry_type remote keeps the address as written', async () => {
    const config = parseRepoConfig(
      'project: demo\nregistry:\n  registry_type: remote\n  path: localhost:6570\n  cache_ttl_seconds: 5\n',
      '/repo',
    )
    expect(config.registry).toMatchObject({
      registryType: 'remote',
      path: 'localhost:6570',
      cacheTtlSeconds: 5,
    })
    const registry = await createRegistry(config.registry, config.repoPath)
    expect(registry).toBeInstanceOf(RemoteRegistry)
    expect((registry as RemoteRegistry).url).toBe('http://localhost:6570')
    const bad = await createRegistry({ ...config.registry, path: 'localhost' }, '/repo').catch(
      (e: unknown) => e,
    )
    expect(isLarderError(bad) && bad.code).toBe('INVALID_CONFIG')
  })

  it('reads host:port and http:// addresses, and rejects anything else naming the value', () => {
    expect(remoteUrl('registry.internal:6570')).toBe('http://registry.internal:6570')
    expect(remoteUrl('http://127.0.0.1:6570')).toBe('http://127.0.0.1:6570')
    expect(remoteUrl('https://registry.internal:443')).toBe('https://registry.internal')
    for (const bad of ['registry.internal', 'grpc://host:1', 'http://host:1/path']) {
      const error = (() => {
        try {
          remoteUrl(bad)
        } catch (e) {
          return e
        }
      })()
      expect(isLarderError(error) && error.code).toBe('INVALID_CONFIG')
      expect((error as Error).message).toContain(bad)
    }
  })
})
