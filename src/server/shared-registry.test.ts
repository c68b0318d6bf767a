// Many servers on one registry: two `larder serve` processes on one PostgreSQL SQL registry, and an
// apply from a third process, which both serve once their registry cache refreshes.
import { execFile } from 'node:child_process'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { initRepo } from '../cli/commands/init.js'
import { FeatureStore } from '../feature-store.js'
import { postgresTestDatabase, type TestDatabase } from '../registry/sql/__fixtures__/test-databases.js'
import { describeWithService } from '../testing/services.js'
import { type ServeProcess, startServe } from './__fixtures__/serve-process.js'

const run = promisify(execFile)
const BIN = resolve(fileURLToPath(new URL('../../bin/larder.js', import.meta.url)))
const TTL_SECONDS = 1
const { database, unavailable } = await postgresTestDatabase()

describeWithService('two feature servers on one PostgreSQL registry', unavailable, () => {
  let root: string
  let repo: string
  let project: string
  let servers: ServeProcess[] = []
  let db: TestDatabase

  beforeAll(async () => {
    db = database!
    root = mkdtempSync(join(tmpdir(), 'larder-shared-registry-'))
    repo = join(root, 'demo')
    project = await initRepo(repo, 'local')
    const config = join(repo, 'feature_store.yaml')
    writeFileSync(
      config,
      readFileSync(config, 'utf8').replace(
        /^registry: .*$/m,
        `registry:\n  registry_type: sql\n  path: ${db.url}\n  cache_ttl_seconds: ${TTL_SECONDS}`,
      ),
    )
    const store = await FeatureStore.open(repo)
    await store.apply()
    await store.close()
    servers = await Promise.all([startServe(repo), startServe(repo)])
  })

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop('SIGKILL')))
    await db?.drop()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  async function serviceNames(server: ServeProcess): Promise<string[]> {
    const res = await fetch(`${server.url}/api/v1/feature_services?project=${project}`)
    const body = (await res.json()) as { featureServices?: { spec: { name: string } }[] }
    return (body.featureServices ?? []).map((s) => s.spec.name)
  }

  it('serves an apply made by a third process on both servers after a cache refresh', async () => {
    for (const server of servers) expect(await serviceNames(server)).not.toContain('driver_activity_v4')
    appendFileSync(
      join(repo, 'features.ts'),
      "\nexport const driverActivityV4 = new FeatureService({ name: 'driver_activity_v4', features: [driverHourlyStats.select(['acc_rate'])] })\n",
    )
    await run(process.execPath, [BIN, '-c', repo, 'apply'])
    // The registry refreshes every cache_ttl_seconds; give it ample time on a loaded machine.
    const deadline = Date.now() + 20 * TTL_SECONDS * 1000
    for (const server of servers) {
      while (!(await serviceNames(server)).includes('driver_activity_v4')) {
        expect(Date.now(), `${server.url} never served the new service`).toBeLessThan(deadline)
        await new Promise((r) => setTimeout(r, 100))
      }
      const read = await fetch(`${server.url}/get-online-features`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ feature_service: 'driver_activity_v4', entities: { driver_id: [1001] } }),
      })
      expect(read.status, await read.clone().text()).toBe(200)
      expect(
        ((await read.json()) as { metadata: { feature_names: string[] } }).metadata.feature_names,
      ).toEqual(['driver_id', 'acc_rate'])
    }
  })
})
