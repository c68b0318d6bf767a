// A repo whose registry is remote (`registry_type: remote`) pointed at `larder serve-registry` run as
// a child process: plan, apply, materialize-incremental and get work end to end through the server
// (the online store stays the repo's local SQLite), the objects land in the server's registry file,
// and a stale commit through the remote registry fails with CONFLICT.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { larder } from '../cli/__fixtures__/run-larder.js'
import { isLarderError } from '../core/index.js'
import { FileRegistry } from '../registry/file/file-registry.js'
import { RemoteRegistry } from '../registry/remote/index.js'
import { type RegistryServerProcess, startServeRegistry } from './__fixtures__/serve-registry-process.js'

let root: string
let serverRepo: string
let repo: string
let server: RegistryServerProcess
let address: string

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'larder-remote-cli-'))
  serverRepo = join(root, 'registry')
  repo = join(root, 'demo')
  expect((await larder('init', serverRepo)).code).toBe(0)
  expect((await larder('init', repo)).code).toBe(0)
  server = await startServeRegistry(serverRepo, ['--no-rest'])
  address = new URL(server.grpcUrl).host
  const config = join(repo, 'feature_store.yaml')
  const text = readFileSync(config, 'utf8')
  expect(text).toContain('registry: data/registry.db\n')
  writeFileSync(
    config,
    text.replace(
      'registry: data/registry.db\n',
      `registry:\n  registry_type: remote\n  path: ${address}\n  cache_ttl_seconds: 0\n`,
    ),
  )
})

afterAll(async () => {
  await server?.stop('SIGKILL')
  rmSync(root, { recursive: true, force: true })
})

describe('a repo with registry_type: remote', () => {
  it('plans, applies, materializes and reads features through the registry server', async () => {
    const plan = await larder('-c', repo, 'plan')
    expect(plan.stderr).toBe('')
    expect(plan.code).toBe(0)
    expect(plan.stdout).toContain('driver_hourly_stats')

    const apply = await larder('-c', repo, 'apply')
    expect(apply.stderr).toBe('')
    expect(apply.code).toBe(0)
    expect(server.restUrl).toBeUndefined()

    const stored = new FileRegistry({ path: join(serverRepo, 'data', 'registry.db'), cacheTtlSeconds: 0 })
    const applied = (await stored.load()).catalog('demo')
    expect([...applied.featureViews.keys()]).toContain('driver_hourly_stats')
    expect([...applied.featureServices.keys()]).toContain('driver_activity_v1')

    const now = new Date().toISOString()
    const mat = await larder('-c', repo, 'materialize-incremental', now)
    expect(mat.code).toBe(0)
    expect(mat.stdout).toContain('Materialized 10 rows of 2 feature views into the sqlite online store')
    const intervals = (await stored.load()).catalog('demo').materializationIntervals('driver_hourly_stats')
    expect(intervals).toHaveLength(1)

    const get = await larder(
      '-c',
      repo,
      'get',
      'driver_id=1001',
      '--features',
      'driver_hourly_stats:conv_rate,driver_hourly_stats:avg_daily_trips',
    )
    expect(get.stderr).toBe('')
    expect(get.code).toBe(0)
    const lines = get.stdout.split('\n').filter((l) => l.includes('driver_id='))
    expect(lines).toHaveLength(2)
    for (const line of lines) expect(line).toContain('PRESENT')

    const again = await larder('-c', repo, 'materialize-incremental', now, '--json')
    expect(again.code).toBe(0)
    await stored.close()
  })

  it('fails a stale commit with CONFLICT naming the object, and keeps the other writer’s change', async () => {
    const mine = RemoteRegistry.open({ address: server.grpcUrl, cacheTtlSeconds: 0 })
    const theirs = RemoteRegistry.open({ address, cacheTtlSeconds: 0 })
    const base = await mine.load()
    const other = await theirs.load()
    const theirDraft = other.draft()
    theirDraft.featureServices.find((s) => s.spec?.name === 'driver_activity_v1')!.spec!.description =
      'theirs'
    await theirs.commit(other, theirDraft)
    const draft = base.draft()
    draft.featureServices.find((s) => s.spec?.name === 'driver_activity_v1')!.spec!.description = 'mine'
    const error = await mine.commit(base, draft).catch((e: unknown) => e)
    expect(isLarderError(error) && error.code).toBe('CONFLICT')
    expect((error as Error).message).toContain('feature service "driver_activity_v1" in project "demo"')
    expect((error as { hint?: string }).hint).toBeTruthy()
    const service = (await mine.load({ allowCache: false }))
      .catalog('demo')
      .featureService('driver_activity_v1')
    expect(service.description).toBe('theirs')
    const plan = await larder('-c', repo, 'plan')
    expect(plan.code).toBe(0)
  })
})
