// The server's admission of materializations against the stored jobs, and its shutdown of the jobs it
// runs in its own process, with a job store kept in a Map.
import { describe, expect, it } from 'vitest'
import { LarderError, nowMicros } from '../core/index.js'
import { THIS_RUNNER } from '../materialize/index.js'
import { JOB_LOST_AFTER_MS, type JobRecord, type JobStatus } from '../registry/index.js'
import { type JobReader, materializationConflict, ServerJobs } from './jobs.js'

function job(id: string, views: string[] | null, patch: Partial<JobRecord> = {}): JobRecord {
  const now = nowMicros()
  return {
    id,
    project: 'p',
    kind: 'materialize',
    engine: 'local',
    status: 'running',
    featureViews: views,
    request: {},
    progress: { rowsDone: 0, rowsTotal: undefined, tasksDone: 0, tasksTotal: 1 },
    createdBy: 'tester',
    runner: THIS_RUNNER,
    createdAt: now,
    startedAt: now,
    finishedAt: undefined,
    heartbeatAt: now,
    cancelRequestedAt: undefined,
    error: undefined,
    result: undefined,
    ...patch,
  }
}

/** Jobs in a Map, read as the server reads the engine's job store. */
class MapJobs implements JobReader {
  readonly jobs = new Map<string, JobRecord>()
  async listJobs(options: { status: readonly JobStatus[] }): Promise<JobRecord[]> {
    return [...this.jobs.values()].filter((j) => options.status.includes(j.status))
  }
  async getJob(id: string): Promise<JobRecord> {
    const found = this.jobs.get(id)
    if (!found) throw new LarderError('NOT_FOUND', `job "${id}" not found`)
    return found
  }
  put(j: JobRecord): void {
    this.jobs.set(j.id, j)
  }
}

function gate() {
  let open!: () => void
  const opened = new Promise<void>((r) => {
    open = r
  })
  return { open, opened }
}

describe('materializationConflict', () => {
  const now = nowMicros()

  it('names the shared views and the job; every view conflicts with any', () => {
    const running = [job('j1', ['a', 'b'])]
    expect(materializationConflict(running, ['b', 'c'], now)).toMatchObject({
      code: 'CONFLICT',
      message: 'feature view b is already materializing (job j1)',
      details: { feature_views: ['b'], job: 'j1' },
    })
    expect(materializationConflict(running, null, now)?.message).toBe(
      'feature views a, b are already materializing (job j1)',
    )
    expect(materializationConflict([job('j2', null)], ['x'], now)?.message).toBe(
      'every feature view is already materializing (job j2)',
    )
    expect(materializationConflict(running, ['c'], now)).toBeUndefined()
  })

  it('checks 60,000 requested views against 1,000 jobs of 100 views each, naming the one shared', () => {
    const jobs = Array.from({ length: 1000 }, (_, j) =>
      job(
        `j${j}`,
        Array.from({ length: 100 }, (_, v) => `job${j}_view${v}`),
      ),
    )
    const requested = Array.from({ length: 60_000 }, (_, i) => `asked${i}`)
    expect(materializationConflict(jobs, requested, now)).toBeUndefined()
    expect(materializationConflict(jobs, [...requested, 'job999_view99'], now)).toMatchObject({
      code: 'CONFLICT',
      message: 'feature view job999_view99 is already materializing (job j999)',
      details: { feature_views: ['job999_view99'], job: 'j999' },
    })
  })

  it('ignores finished, lost and non-materialization jobs', () => {
    const old = now - (JOB_LOST_AFTER_MS + 1000) * 1000
    const jobs = [
      job('done', ['a'], { status: 'succeeded' }),
      job('lost', ['a'], { heartbeatAt: old }),
      job('read', ['a'], { kind: 'historical' }),
    ]
    expect(materializationConflict(jobs, ['a'], now)).toBeUndefined()
    // a job on a queue has no runner to lose: it still counts however old its beat
    const queued = job('q', ['a'], { status: 'queued', runner: undefined, heartbeatAt: old })
    expect(materializationConflict([queued], ['a'], now)?.code).toBe('CONFLICT')
  })
})

describe('ServerJobs', () => {
  it('admits one request at a time, so a second one sees the job of the first', async () => {
    const store = new MapJobs()
    const jobs = new ServerJobs(store)
    const slow = gate()
    const first = jobs.start(['a'], { force: false, detached: false }, async ({ onJob }) => {
      await slow.opened // the job is stored only later: the second request must wait for it
      const j = job('j1', ['a'], { runner: 'elsewhere:1' })
      store.put(j)
      onJob(j)
      return 'first'
    })
    const second = jobs.start(['a'], { force: false, detached: false }, async () => 'second')
    const forced = jobs.start(['a'], { force: true, detached: false }, async () => 'forced')
    slow.open()
    expect(await first).toBe('first')
    await expect(second).rejects.toMatchObject({ code: 'CONFLICT', details: { job: 'j1' } })
    expect(await forced).toBe('forced')
    // a request that failed before storing its job lets the next one in
    await expect(
      jobs.start(['b'], { force: false, detached: false }, async () => {
        throw new LarderError('NOT_FOUND', 'feature view "b" not found')
      }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' })
    expect(await jobs.start(['b'], { force: false, detached: false }, async () => 'b')).toBe('b')
  })

  it('aborts the jobs it runs in this process on abortAll and waits for them, leaving queued ones alone', async () => {
    const store = new MapJobs()
    const jobs = new ServerJobs(store)
    const reasons: unknown[] = []
    // a synchronous run in this process: it ends when its signal fires
    const sync = jobs.start(['a'], { force: false, detached: false }, ({ signal, onJob }) => {
      onJob(job('sync', ['a']))
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => {
          reasons.push(signal.reason)
          reject(signal.reason)
        }),
      )
    })
    // a detached run in this process: followed in the store until it is final
    const finished: JobRecord[] = []
    const detached = await jobs.start(
      ['b'],
      { force: false, detached: true, onFinished: (j) => finished.push(j) },
      async ({ signal, onJob }) => {
        const j = job('detached', ['b'])
        store.put(j)
        onJob(j)
        signal.addEventListener('abort', () => {
          reasons.push(signal.reason)
          store.put({ ...j, status: 'cancelled', error: { code: 'ABORTED', message: 'stopped' } })
        })
        return j
      },
    )
    expect(detached.id).toBe('detached')
    // a job on a queue: its signal never fires
    let queuedAborted = false
    await jobs.start(['c'], { force: false, detached: true }, async ({ signal, onJob }) => {
      const j = job('queued', ['c'], { status: 'queued', runner: undefined, engine: 'bullmq' })
      onJob(j)
      signal.addEventListener('abort', () => {
        queuedAborted = true
      })
      return j
    })
    await jobs.abortAll()
    await expect(sync).rejects.toMatchObject({ code: 'ABORTED', message: 'the server is shutting down' })
    expect(reasons).toHaveLength(2)
    expect(finished.map((j) => [j.id, j.status])).toEqual([['detached', 'cancelled']])
    expect(queuedAborted).toBe(false)
  })
})
