import { spawn } from 'node:child_process'
import { appendFileSync, readFileSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { withFileLock } from '../../registry/file/file-lock.js'
import { isFinal, type JobRecord } from '../../registry/index.js'
import { describeWithService, redisUnavailable } from '../../testing/services.js'
import type { TestRepo } from '../__fixtures__/test-repo.js'
import {
  bulkRepo,
  clearEngine,
  END,
  engineBlock,
  type OnlineState,
  type OwnRedis,
  onlineState,
  START,
  startOwnRedis,
  startWorker,
  startWorkers,
  type WorkerProcess,
} from './__fixtures__/bullmq-harness.js'

// Real processes against real Redis: workers and coordinators run the built CLI (build dist/ first).
const BIN = resolve(fileURLToPath(new URL('../../../bin/larder.js', import.meta.url)))
const [host, port] = (process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379').split(':') as [string, string]
const REDIS_URL = `redis://${host}:${port}`
const ONLINE = 'type: sqlite\npath: data/online.db'
const DRIVERS = 6000
const HOURS = 2

/** Reads the job every `pollMs` until `done` accepts it; fails after `timeoutMs`. */
async function waitForJob(
  repo: TestRepo,
  id: string,
  done: (job: JobRecord) => boolean,
  timeoutMs = 60_000,
  pollMs = 100,
): Promise<JobRecord> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const job = await repo.store.getJob(id)
    if (done(job)) return job
    if (Date.now() > until)
      throw new Error(`job ${id} is still ${job.status}: ${JSON.stringify(job.progress)}`)
    await sleep(pollMs)
  }
}

async function intervals(repo: TestRepo): Promise<readonly unknown[]> {
  return (await repo.store.catalog({ allowCache: false })).materializationIntervals('bulk_stats')
}

/** BullMQ jobs of the engine's queue that run or wait. */
async function liveTasks(url: string, block: string): Promise<number> {
  const queue = new Queue(/queue: (.+)/.exec(block)![1]!, {
    connection: new Redis(url, { maxRetriesPerRequest: null }),
    prefix: /prefix: (.+)/.exec(block)![1]!,
  })
  try {
    const counts = await queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized')
    return Object.values(counts).reduce((a, b) => a + b, 0)
  } finally {
    await queue.close()
    await queue.disconnect()
  }
}

/** The most rows a task of the job's `bulk_stats` reported written, from the job store's hash in Redis. */
async function taskRows(url: string, repo: TestRepo, job: string, task: number): Promise<number> {
  const redis = new Redis(url)
  try {
    const prefix = /prefix: (.+)/.exec(readFileSync(join(repo.dir, 'feature_store.yaml'), 'utf8'))![1]!
    const key = `${prefix}:job:${encodeURIComponent(repo.project)}:${encodeURIComponent(job)}:task-rows`
    return Number((await redis.hget(key, JSON.stringify(['bulk_stats', task]))) ?? 0)
  } finally {
    redis.disconnect()
  }
}

/** The BullMQ state of one job of the engine's queue. */
async function bullmqState(url: string, block: string, id: string): Promise<string> {
  const queue = new Queue(/queue: (.+)/.exec(block)![1]!, {
    connection: new Redis(url, { maxRetriesPerRequest: null }),
    prefix: /prefix: (.+)/.exec(block)![1]!,
  })
  try {
    return await queue.getJobState(id)
  } finally {
    await queue.close()
    await queue.disconnect()
  }
}

describeWithService('bullmq engine fault drills', await redisUnavailable(host, Number(port)), () => {
  let reference: OnlineState
  const repos: TestRepo[] = []
  const workers: WorkerProcess[] = []
  const blocks: [string, string][] = []

  /** A repo over the drill data on the engine at `url`, with `extra` engine lines; cleaned up after. */
  async function engineRepo(
    url: string,
    extra: readonly string[],
  ): Promise<{ repo: TestRepo; block: string }> {
    const block = engineBlock(url, extra)
    blocks.push([url, block])
    const repo = await bulkRepo(ONLINE, DRIVERS, HOURS, block)
    repos.push(repo)
    return { repo, block }
  }

  async function spawnWorkers(repo: TestRepo, n: number): Promise<WorkerProcess[]> {
    const started = await startWorkers(repo.dir, n)
    workers.push(...started)
    return started
  }

  beforeAll(async () => {
    const local = await bulkRepo(ONLINE, DRIVERS, HOURS)
    repos.push(local)
    await local.store.materialize({ start: START, end: END })
    reference = await onlineState(local, ONLINE)
    expect(reference.rows).toBe(DRIVERS * 3)
  }, 60_000)

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')))
    for (const repo of repos) await repo.close()
    for (const [url, block] of blocks) await clearEngine(url, block).catch(() => undefined)
  })

  it('finishes the job with the same state when a worker is killed with SIGKILL mid-task', async () => {
    const { repo } = await engineRepo(REDIS_URL, ['partitions: 3', 'lock_duration_ms: 2000'])
    const [first, ...others] = await spawnWorkers(repo, 3)
    const job = await repo.store.submitMaterialize({ start: START, end: END }, { batchSize: 10 })
    const started = await first!.waitFor((l) => l.msg === 'task started')
    // killed once it wrote rows, so the retry goes over a partly written piece
    let written = 0
    for (let i = 0; written === 0; i++) {
      if (i > 3000) throw new Error(`task ${started.task} of job ${job.id} never reported a written row`)
      await sleep(10)
      written = await taskRows(REDIS_URL, repo, job.id, started.task as number)
    }
    first!.process.kill('SIGKILL')
    expect(await first!.stop()).toBeNull()
    expect(first!.logs().some((l) => l.msg === 'task done' && l.task === started.task)).toBe(false)

    const done = await waitForJob(repo, job.id, (j) => isFinal(j.status))
    expect(done.status).toBe('succeeded')
    expect(await onlineState(repo, ONLINE)).toEqual(reference)
    expect(await intervals(repo)).toHaveLength(1)
    // the killed task ran again elsewhere, and its rows count once
    const reruns = others
      .flatMap((w) => w.logs())
      .filter((l) => l.msg === 'task started' && l.task === started.task)
    expect(reruns.length).toBeGreaterThanOrEqual(1)
    expect(done.progress).toMatchObject({ rowsDone: DRIVERS, tasksDone: 3, tasksTotal: 3 })
  }, 90_000)

  it('finishes the job on the workers when the coordinating process is killed', async () => {
    const { repo } = await engineRepo(REDIS_URL, ['partitions: 2'])
    appendFileSync(join(repo.dir, 'feature_store.yaml'), 'materialization:\n  online_write_batch_size: 10\n')
    await spawnWorkers(repo, 2)
    const coordinator = spawn(process.execPath, [BIN, '-c', repo.dir, 'materialize', START, END], {
      stdio: 'ignore',
    })
    const exited = new Promise((r) => coordinator.once('exit', r))
    let running: JobRecord | undefined
    // a loaded machine may take seconds to start the coordinator and hand the first tasks out
    for (let i = 0; !running && i < 1200; i++) {
      running = (await repo.store.listJobs()).find((j) => j.status === 'running' && j.progress.rowsDone > 0)
      if (!running) await sleep(50)
    }
    coordinator.kill('SIGKILL')
    await exited
    expect(running).toBeDefined()
    const done = await waitForJob(repo, running!.id, (j) => isFinal(j.status))
    expect(done.status).toBe('succeeded')
    expect(await onlineState(repo, ONLINE)).toEqual(reference)
    expect(await intervals(repo)).toHaveLength(1)
  }, 150_000)

  it('resumes or fails clearly when Redis stops for 5 s mid-job, never recording an interval ahead of the data', async () => {
    let redis: OwnRedis | undefined
    try {
      redis = await startOwnRedis()
      const { repo } = await engineRepo(redis.url, ['partitions: 4'])
      await spawnWorkers(repo, 2)
      const job = await repo.store.submitMaterialize({ start: START, end: END }, { batchSize: 10 })
      await waitForJob(repo, job.id, (j) => j.progress.rowsDone > 0)
      await redis.shutdown()
      await sleep(5000)
      await redis.restart()
      const done = await waitForJob(repo, job.id, (j) => isFinal(j.status), 120_000)
      const recorded = await intervals(repo)
      if (done.status === 'succeeded') {
        expect(recorded).toHaveLength(1)
      } else {
        expect(done.error?.message).toBeTruthy()
        expect(recorded).toEqual([])
      }
      if (recorded.length > 0) expect(await onlineState(repo, ONLINE)).toEqual(reference)
      // it resumes here: the outage is shorter than the lock, and commands wait for the connection
      expect(done.status).toBe('succeeded')
    } finally {
      await redis?.remove()
    }
  }, 180_000)

  it('cancels a running job: no interval, no task left running or waiting', async () => {
    const { repo, block } = await engineRepo(REDIS_URL, ['partitions: 4'])
    await spawnWorkers(repo, 2)
    const job = await repo.store.submitMaterialize({ start: START, end: END }, { batchSize: 5 })
    await waitForJob(repo, job.id, (j) => j.progress.rowsDone > 0)
    const asked = await repo.store.cancelJob(job.id)
    expect(asked.cancelRequestedAt).toBeDefined()
    const done = await waitForJob(repo, job.id, (j) => isFinal(j.status), 30_000)
    expect(done.status).toBe('cancelled')
    expect(done.error?.code).toBe('ABORTED')
    for (let i = 0; (await liveTasks(REDIS_URL, block)) > 0; i++) {
      if (i > 100) throw new Error('tasks still run or wait after the cancel')
      await sleep(100)
    }
    expect(await intervals(repo)).toEqual([])
    const runs = await repo.store.listMaterializationRuns()
    expect(runs.every((r) => r.status === 'failed' && r.engine === 'bullmq')).toBe(true)
  }, 90_000)

  it('cancelled once every task is done, while the view records its interval: status and intervals agree', async () => {
    const { repo, block } = await engineRepo(REDIS_URL, ['partitions: 2'])
    await spawnWorkers(repo, 1)
    const job = await repo.store.submitMaterialize({ start: START, end: END })
    // holding the registry's lock makes the view job wait in the middle of recording its interval
    const asked = await withFileLock(join(repo.dir, 'data', 'registry.db'), async () => {
      await waitForJob(repo, job.id, (j) => j.progress.tasksDone === j.progress.tasksTotal)
      for (let i = 0; (await bullmqState(REDIS_URL, block, `${job.id}.v0`)) !== 'active'; i++) {
        if (i > 200) throw new Error('the view job never ran')
        await sleep(50)
      }
      await sleep(500)
      return repo.store.cancelJob(job.id)
    })
    expect(asked.cancelRequestedAt).toBeDefined()
    const done = await waitForJob(repo, job.id, (j) => isFinal(j.status), 30_000)
    // the view job may still be at work when the job is marked final
    for (
      let i = 0;
      !['completed', 'failed'].includes(await bullmqState(REDIS_URL, block, `${job.id}.v0`));
      i++
    ) {
      if (i > 600) throw new Error('the view job never finished')
      await sleep(50)
    }
    const recorded = await intervals(repo)
    // a cancelled job has no interval; one that records an interval ends succeeded
    expect({ status: done.status, intervals: recorded.length }).toEqual(
      done.status === 'cancelled'
        ? { status: 'cancelled', intervals: 0 }
        : { status: 'succeeded', intervals: 1 },
    )
    // here the view began recording before the cancel, which came too late to stop it
    expect(done.status).toBe('succeeded')
    expect(await onlineState(repo, ONLINE)).toEqual(reference)
  }, 60_000)

  it("cancels the job when the waiting caller's signal fires, and rejects ABORTED", async () => {
    const { repo } = await engineRepo(REDIS_URL, ['partitions: 2'])
    await spawnWorkers(repo, 1)
    const stop = new AbortController()
    let id: string | undefined
    const error = await repo.store
      .materialize(
        { start: START, end: END },
        {
          batchSize: 5,
          onJob: (j) => {
            id = j.id
          },
          onProgress: (e) => {
            if (e.rows > 0) stop.abort()
          },
          signal: stop.signal,
        },
      )
      .then(
        () => undefined,
        (e: unknown) => e as { code?: string },
      )
    expect(error?.code).toBe('ABORTED')
    const done = await waitForJob(repo, id!, (j) => isFinal(j.status), 30_000)
    expect(done).toMatchObject({ status: 'cancelled', error: { code: 'ABORTED' } })
    expect(await intervals(repo)).toEqual([])
  }, 60_000)

  it('returns the result when the caller stops waiting only after the job succeeded', async () => {
    const { repo } = await engineRepo(REDIS_URL, [])
    await spawnWorkers(repo, 1)
    const stop = new AbortController()
    let submitted: (id: string) => void
    const id = new Promise<string>((r) => {
      submitted = r
    })
    const waiting = repo.store.materialize(
      { start: START, end: END },
      { onJob: (j) => submitted(j.id), signal: stop.signal },
    )
    // aborted once the job is stored succeeded: most often while the caller sleeps between its polls
    await waitForJob(repo, await id, (j) => j.status === 'succeeded', 30_000, 20)
    stop.abort()
    const result = await waiting
    expect(result.views.map((v) => v.view)).toEqual(['bulk_stats'])
    expect(await intervals(repo)).toHaveLength(1)
    expect((await repo.store.getJob(await id)).status).toBe('succeeded')
  }, 60_000)

  it("fails the job with a task's error once its attempts are spent, recording no interval", async () => {
    const { repo, block } = await engineRepo(REDIS_URL, ['partitions: 2', 'max_attempts: 2'])
    const job = await repo.store.submitMaterialize({ start: START, end: END })
    rmSync(join(repo.dir, 'data', 'bulk.parquet'))
    workers.push(await startWorker(repo.dir))
    const done = await waitForJob(repo, job.id, (j) => isFinal(j.status), 30_000)
    expect(done.status).toBe('failed')
    expect(done.error?.message).toContain('bulk.parquet')
    const logs = await repo.store.jobLogs(job.id)
    expect(logs.at(-1)).toMatchObject({
      level: 'error',
      message: `${done.error!.code}: ${done.error!.message}`,
    })
    expect(await intervals(repo)).toEqual([])
    const runs = await repo.store.listMaterializationRuns()
    expect(runs).toEqual([expect.objectContaining({ status: 'failed', engine: 'bullmq' })])
    for (let i = 0; (await liveTasks(REDIS_URL, block)) > 0; i++) {
      if (i > 100) throw new Error('tasks still run or wait after the failure')
      await sleep(100)
    }
  }, 60_000)
})
