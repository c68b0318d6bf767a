// Several processes recording materialization runs on one registry (a file registry, then PostgreSQL)
// while another records intervals on the same view: no run, no interval is lost.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { create } from '@bufbuild/protobuf'
import { describe, expect, it } from 'vitest'
import { EntitySchema } from '../gen/feast/core/Entity_pb.js'
import { FeatureViewSchema } from '../gen/feast/core/FeatureView_pb.js'
import { describeWithService } from '../testing/services.js'
import { createRegistry } from './loader.js'
import type { Registry } from './registry.js'
import { postgresTestDatabase } from './sql/__fixtures__/test-databases.js'

const WORKER = resolve(import.meta.dirname, '__fixtures__/run-recorder.ts')
const PROJECT = 'runs_race'
const RECORDERS = 4
const ROUNDS = 20

interface Report {
  mode: string
  id: string
  recorded: string[]
  errors: string[]
}

function worker(where: string, mode: string, id: number, startAt: number): Promise<Report> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'jiti/register',
        WORKER,
        where,
        mode,
        String(id),
        String(ROUNDS),
        PROJECT,
        String(startAt),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
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
      try {
        done(JSON.parse(stdout.trim().split('\n').pop() ?? '') as Report)
      } catch {
        fail(new Error(`worker ${mode} ${id} exited ${code} without a report: ${stderr || stdout}`))
      }
    })
  })
}

async function race(where: string): Promise<void> {
  const registry: Registry = await createRegistry(
    {
      path: where,
      registryType: where.includes('://') ? 'sql' : 'file',
      cacheTtlSeconds: 0,
      schemaMode: 'auto',
    },
    '.',
  )
  try {
    const state = await registry.load()
    const draft = state.draft()
    draft.entities.push(create(EntitySchema, { spec: { name: 'e', project: PROJECT }, meta: {} }))
    draft.featureViews.push(
      create(FeatureViewSchema, {
        spec: { name: 'shared_view', project: PROJECT, entities: ['e'] },
        meta: {},
      }),
    )
    await registry.commit(state, draft)
    // time for every process to load before the first write
    const startAt = Date.now() + 5000
    const reports = await Promise.all([
      ...Array.from({ length: RECORDERS }, (_, i) => worker(where, 'runs', i, startAt)),
      worker(where, 'intervals', 9, startAt),
    ])
    expect(reports.flatMap((r) => r.errors)).toEqual([])
    const recorded = reports.filter((r) => r.mode === 'runs').flatMap((r) => r.recorded)
    expect(recorded).toHaveLength(RECORDERS * ROUNDS)
    const listed = await registry.listMaterializationRuns(PROJECT, { view: 'shared_view', limit: 1000 })
    expect(listed.map((r) => r.id).sort()).toEqual([...recorded].sort())
    const view = (await registry.load({ allowCache: false })).proto.featureViews.find(
      (v) => v.spec?.project === PROJECT && v.spec.name === 'shared_view',
    )!
    expect(view.meta!.materializationIntervals).toHaveLength(ROUNDS)
  } finally {
    await registry.close()
  }
}

describe('file registry: concurrent run recorders', () => {
  it(`${RECORDERS} processes recording runs while another records intervals lose none`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'larder-runs-race-'))
    try {
      await race(join(dir, 'data', 'registry.db'))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})

const probe = await postgresTestDatabase()
await probe.database?.drop()

describeWithService('postgres registry: concurrent run recorders', probe.unavailable, () => {
  it(`${RECORDERS} processes recording runs while another records intervals lose none`, async () => {
    const { database } = await postgresTestDatabase()
    try {
      await race(database!.url)
    } finally {
      await database!.drop()
    }
  }, 120_000)
})
