// Several processes writing one job at once (a file registry, then PostgreSQL): each updates a field of
// its own and appends log lines, one also asks to cancel; no field and no line is lost.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { sampleJob } from '../testing/job-store-conformance.js'
import { describeWithService } from '../testing/services.js'
import { createRegistry } from './loader.js'
import { postgresTestDatabase } from './sql/__fixtures__/test-databases.js'

const WORKER = resolve(import.meta.dirname, '__fixtures__/job-writer.ts')
const PROJECT = 'jobs_race'
const WRITERS = 4
const ROUNDS = 20
const T = 1_700_000_000_000_000

interface Report {
  writer: number
  rounds: number
  errors: string[]
}

function worker(where: string, writer: number, jobId: string, startAt: number): Promise<Report> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'jiti/register',
        WORKER,
        where,
        String(writer),
        String(ROUNDS),
        PROJECT,
        jobId,
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
        fail(new Error(`writer ${writer} exited ${code} without a report: ${stderr || stdout}`))
      }
    })
  })
}

async function race(where: string): Promise<void> {
  const registry = await createRegistry(
    {
      path: where,
      registryType: where.includes('://') ? 'sql' : 'file',
      cacheTtlSeconds: 0,
      schemaMode: 'auto',
    },
    '.',
  )
  try {
    const job = sampleJob(PROJECT, { status: 'running', startedAt: T })
    await registry.jobs.create(job)
    // time for every process to open the registry before the first write
    const startAt = Date.now() + 5000
    const reports = await Promise.all(
      Array.from({ length: WRITERS }, (_, writer) => worker(where, writer, job.id, startAt)),
    )
    expect(reports.flatMap((r) => r.errors)).toEqual([])
    expect(reports.map((r) => r.rounds)).toEqual(Array(WRITERS).fill(ROUNDS))
    const stored = await registry.jobs.get(PROJECT, job.id)
    expect(stored).toEqual({
      ...job,
      heartbeatAt: T + ROUNDS,
      progress: { rowsDone: ROUNDS * 10, rowsTotal: undefined, tasksDone: ROUNDS, tasksTotal: ROUNDS },
      result: { writer: 2, round: ROUNDS },
      startedAt: T + ROUNDS,
      cancelRequestedAt: stored.cancelRequestedAt,
    })
    expect(stored.cancelRequestedAt).toBeDefined()
    const logs = (await registry.jobs.logs(PROJECT, job.id)).map((l) => l.message)
    expect(logs).toHaveLength(WRITERS * ROUNDS)
    for (let writer = 0; writer < WRITERS; writer++) {
      expect(logs.filter((m) => m.startsWith(`writer ${writer} `))).toEqual(
        Array.from({ length: ROUNDS }, (_, i) => `writer ${writer} round ${i + 1}`),
      )
    }
  } finally {
    await registry.close()
  }
}

describe('file registry: concurrent job writers', () => {
  it(`${WRITERS} processes updating one job's fields and appending its log lose nothing`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'larder-jobs-race-'))
    try {
      await race(join(dir, 'data', 'registry.db'))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})

const probe = await postgresTestDatabase()
await probe.database?.drop()

describeWithService('postgres registry: concurrent job writers', probe.unavailable, () => {
  it(`${WRITERS} processes updating one job's fields and appending its log lose nothing`, async () => {
    const { database } = await postgresTestDatabase()
    try {
      await race(database!.url)
    } finally {
      await database!.drop()
    }
  }, 120_000)
})
