import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { create } from '@bufbuild/protobuf'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { EntitySchema } from '../../gen/feast/core/Entity_pb.js'
import { FeatureViewSchema } from '../../gen/feast/core/FeatureView_pb.js'
import { describeWithService } from '../../testing/services.js'
import { createRegistry } from '../loader.js'
import type { Registry } from '../registry.js'
import { postgresTestDatabase, type TestDatabase } from './__fixtures__/test-databases.js'

const WORKER = resolve(import.meta.dirname, '__fixtures__/registry-race-worker.ts')
const PROJECT = 'race'

interface Report {
  mode: string
  id: string
  successes: number
  conflicts: number
  badConflicts: string[]
  errors: string[]
}

function worker(url: string, mode: string, id: number, rounds: number): Promise<Report> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      ['--import', 'jiti/register', WORKER, url, mode, String(id), String(rounds), PROJECT],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LARDER_ACTOR: `worker-${mode}-${id}` } },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    child.on('exit', (code) => {
      const line = stdout.trim().split('\n').pop() ?? ''
      try {
        done(JSON.parse(line) as Report)
      } catch {
        fail(new Error(`worker ${mode} ${id} exited ${code} without a report: ${stderr || stdout}`))
      }
    })
  })
}

const probe = await postgresTestDatabase()
await probe.database?.drop()

describeWithService('postgres registry: concurrent processes', probe.unavailable, () => {
  let database: TestDatabase
  let registry: Registry

  beforeAll(async () => {
    database = (await postgresTestDatabase()).database!
    registry = await createRegistry(
      { path: database.url, registryType: 'sql', cacheTtlSeconds: 0, schemaMode: 'auto' },
      '.',
    )
    const state = await registry.load()
    const draft = state.draft()
    draft.entities.push(
      create(EntitySchema, { spec: { name: 'counter', project: PROJECT, description: '0' }, meta: {} }),
    )
    draft.featureViews.push(
      create(FeatureViewSchema, {
        spec: { name: 'shared_view', project: PROJECT, entities: ['counter'] },
        meta: {},
      }),
    )
    await registry.commit(state, draft)
  })
  afterAll(async () => {
    await registry?.close()
    await database?.drop()
  })

  it('8 processes applying different objects for 20 rounds lose nothing and report every conflict', async () => {
    const reports = await Promise.all(
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => worker(database.url, 'apply', i, 20)),
    )
    expect(reports.flatMap((r) => r.errors)).toEqual([])
    expect(reports.flatMap((r) => r.badConflicts)).toEqual([])
    const state = await registry.load({ allowCache: false })
    const counter = state.proto.entities.find((e) => e.spec?.project === PROJECT && e.spec.name === 'counter')
    // Every increment that reported success is in the counter: none was lost to a concurrent writer.
    expect(counter?.spec?.description).toBe(String(8 * 20))
    expect(reports.reduce((n, r) => n + r.successes, 0)).toBe(8 * 20 * 2)
    const views = state.proto.featureViews.filter(
      (v) => v.spec?.project === PROJECT && v.spec.name.startsWith('view_'),
    )
    expect(views.map((v) => [v.spec!.name, v.spec!.tags.round]).sort()).toEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => [`view_${i}`, '19']),
    )
  }, 120_000)

  it('4 processes recording intervals while another applies the same view lose neither', async () => {
    const reports = await Promise.all([
      ...[0, 1, 2, 3].map((i) => worker(database.url, 'intervals', i, 10)),
      worker(database.url, 'apply-view', 9, 10),
    ])
    expect(reports.flatMap((r) => r.errors)).toEqual([])
    expect(reports.flatMap((r) => r.badConflicts)).toEqual([])
    const view = (await registry.load({ allowCache: false })).proto.featureViews.find(
      (v) => v.spec?.project === PROJECT && v.spec.name === 'shared_view',
    )!
    expect(view.spec!.description).toBe('apply 9')
    expect(view.meta!.materializationIntervals).toHaveLength(40)
    // Recording an interval never made the apply start over: the registry merged the two.
    expect(reports.find((r) => r.mode === 'apply-view')!.conflicts).toBe(0)
  }, 120_000)
})
