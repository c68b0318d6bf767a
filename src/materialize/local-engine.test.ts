import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { isLarderError, nowMicros } from '../core/index.js'
import { effectiveStatus, JOB_LOST_AFTER_MS } from '../registry/index.js'
import { writeBulkData } from './__fixtures__/bulk-data.js'
import { at, sampleData } from './__fixtures__/driver-data.js'
import { createTestRepo, type TestRepo } from './__fixtures__/test-repo.js'

// enough rows, in batches of 50, that the run outlasts a heartbeat (when a cancel is seen) several times
const DRIVERS = 100_000
const BULK_FEATURES = fileURLToPath(new URL('./__fixtures__/bulk-features.ts', import.meta.url))

describe('the local engine keeps every materialization as a job in the registry', () => {
  let repo: TestRepo | undefined
  afterEach(async () => {
    await repo?.close()
    repo = undefined
  })

  it('stores the job as it runs and as it ended: views, window, progress, result, log', async () => {
    repo = await createTestRepo({ onlineStore: 'type: sqlite\npath: data/online.db', data: sampleData() })
    const seen: string[] = []
    const result = await repo.store.materialize(
      { start: at(0), end: at(4), views: ['driver_stats'] },
      { onJob: (job) => seen.push(`${job.status}:${job.id}`) },
    )
    expect(seen).toEqual([`queued:${result.job}`])
    // another process sees the same job through its own store
    const other = await repo.reopen()
    const job = await other.getJob(result.job)
    expect(job).toMatchObject({
      kind: 'materialize',
      engine: 'local',
      status: 'succeeded',
      featureViews: ['driver_stats'],
      request: { start: '2026-01-01T00:00:00Z', end: '2026-01-01T04:00:00Z', views: ['driver_stats'] },
    })
    expect(job.error).toBeUndefined()
    expect(job.progress).toMatchObject({ tasksDone: 1, tasksTotal: 1, rowsDone: result.views[0]!.rows })
    expect(job.result).toMatchObject({ views: [{ view: 'driver_stats', rows: result.views[0]!.rows }] })
    expect(job.finishedAt).toBeGreaterThanOrEqual(job.startedAt!)
    expect((await other.listJobs()).map((j) => j.id)).toEqual([result.job])
    const log = (await other.jobLogs(result.job)).map((l) => l.message)
    expect(log[0]).toContain('feature view "driver_stats": 2026-01-01T00:00:00Z to 2026-01-01T04:00:00Z')
    expect(log.at(-1)).toBe('succeeded')
  })

  it('stops at a batch boundary when another process cancels, records no interval, and ends cancelled', async () => {
    repo = await createTestRepo({
      onlineStore: 'type: sqlite\npath: data/online.db',
      definitions: BULK_FEATURES,
      prepare: (dir) => writeBulkData(dir, DRIVERS),
    })
    const other = await repo.reopen()
    let cancelled: Promise<unknown> | undefined
    const run = repo.store.materialize(
      { start: '2025-12-31T00:00:00Z', end: '2026-01-02T00:00:00Z' },
      {
        batchSize: 50,
        onProgress: (p) => {
          if (p.phase !== 'rows' || p.rows === 0) return
          if (cancelled === undefined) cancelled = other.listJobs().then(([job]) => other.cancelJob(job!.id))
          // each later batch takes 5 ms, so the run outlasts the beat that sees the cancel on any machine
          else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5)
        },
      },
    )
    const error = await run.then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isLarderError(error) && error.code).toBe('ABORTED')
    await cancelled
    const [job] = await other.listJobs()
    expect(job).toMatchObject({ status: 'cancelled', error: { code: 'ABORTED' } })
    expect(job!.cancelRequestedAt).toBeDefined()
    expect((await other.catalog({ allowCache: false })).materializationIntervals('bulk_stats')).toEqual([])
  })

  it('shows a job whose process stopped beating as lost, and a cancel then marks it cancelled', async () => {
    repo = await createTestRepo({ onlineStore: 'type: sqlite\npath: data/online.db', data: sampleData() })
    const jobs = repo.store.registry.jobs
    const stale = nowMicros() - (JOB_LOST_AFTER_MS + 1000) * 1000
    await jobs.create({
      id: 'a-killed-run',
      project: repo.project,
      kind: 'materialize',
      engine: 'local',
      status: 'running',
      featureViews: null,
      request: {},
      progress: { rowsDone: 10, rowsTotal: undefined, tasksDone: 0, tasksTotal: 1 },
      createdBy: 'someone',
      runner: 'elsewhere:1',
      createdAt: stale,
      startedAt: stale,
      finishedAt: undefined,
      heartbeatAt: stale,
      cancelRequestedAt: undefined,
      error: undefined,
      result: undefined,
    })
    expect(effectiveStatus(await repo.store.getJob('a-killed-run'), nowMicros())).toBe('lost')
    const after = await repo.store.cancelJob('a-killed-run')
    expect(after).toMatchObject({ status: 'cancelled', error: { code: 'ABORTED' } })
    expect(effectiveStatus(after, nowMicros())).toBe('cancelled')
  })
})
