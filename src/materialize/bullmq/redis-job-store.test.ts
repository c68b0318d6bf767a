import { randomUUID } from 'node:crypto'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { nowMicros } from '../../core/index.js'
import type { JobStore } from '../../registry/index.js'
import {
  describeJobStoreConformance,
  type JobStoreHarness,
  sampleJob,
} from '../../testing/job-store-conformance.js'
import { uniqueProject } from '../../testing/online-conformance.js'
import { redisClusterUnavailable, startRedisCluster } from '../../testing/redis-cluster.js'
import { describeWithService, redisUnavailable } from '../../testing/services.js'
import { RedisJobStore } from './redis-job-store.js'

const [host, port] = (process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379').split(':') as [string, string]
const URL = `redis://${host}:${port}`
const unavailable = await redisUnavailable(host, Number(port))

/** Job stores on the test Redis under a prefix of their own; cleanup deletes its keys. */
function redisJobs(): JobStoreHarness & { opened: RedisJobStore[] } {
  const prefix = `larder-test-jobs-${randomUUID()}`
  const connections: Redis[] = []
  const opened: RedisJobStore[] = []
  return {
    opened,
    async open() {
      const redis = new Redis(URL, { maxRetriesPerRequest: null })
      connections.push(redis)
      const store = new RedisJobStore(redis, prefix, URL)
      opened.push(store)
      return store
    },
    async cleanup() {
      const redis = connections[0] ?? new Redis(URL)
      for (let cursor = '0'; ; ) {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
        if (keys.length > 0) await redis.unlink(...keys)
        cursor = next
        if (cursor === '0') break
      }
      await Promise.all([...connections, redis].map((c) => c.quit().catch(() => undefined)))
    },
  }
}

/** Job stores on a Redis Cluster of 3 local masters, their keys under one {hash tag}; cleanup stops it. */
async function clusterJobs(): Promise<JobStoreHarness> {
  const cluster = await startRedisCluster(3)
  const connections: Cluster[] = []
  return {
    async open() {
      const redis = new Cluster(
        cluster.ports.map((p) => ({ host: '127.0.0.1', port: p })),
        { redisOptions: { maxRetriesPerRequest: null } },
      )
      connections.push(redis)
      return new RedisJobStore(redis, '{larder-test-jobs}', cluster.connectionString)
    },
    async cleanup() {
      await Promise.all(connections.map((c) => c.quit().catch(() => undefined)))
      await cluster.stop()
    },
  }
}

describeWithService('redis job store on a cluster', await redisClusterUnavailable(), () => {
  describeJobStoreConformance('redis cluster (bullmq engine)', clusterJobs)
})

describeWithService('redis job store', unavailable, () => {
  describeJobStoreConformance('redis (bullmq engine)', async () => redisJobs())

  const harness = redisJobs()
  let store: RedisJobStore
  beforeAll(async () => {
    store = (await harness.open()) as RedisJobStore
  })
  afterAll(() => harness.cleanup())

  /** A running job of two views, two tasks each, as the engine stores it at submit. */
  async function distributedJob(): Promise<{ project: string; id: string }> {
    const project = uniqueProject('jobs_tasks')
    const view = { rowsDone: 0, rowsTotal: undefined, tasksDone: 0, tasksTotal: 2 }
    const job = sampleJob(project, {
      engine: 'bullmq',
      runner: undefined,
      status: 'running',
      progress: {
        rowsDone: 0,
        rowsTotal: undefined,
        tasksDone: 0,
        tasksTotal: 4,
        views: { a: view, b: view },
      },
    })
    await store.create(job)
    return { project, id: job.id }
  }

  it('aggregates task progress per view, counting a retried task once', async () => {
    const { project, id } = await distributedJob()
    await store.reportTask(project, id, { view: 'a', task: 0, rows: 40, done: false })
    await store.reportTask(project, id, { view: 'a', task: 1, rows: 10, rowsTotal: 30, done: false })
    // task 0 retried: it starts again from 0 and ends at the same count
    await store.reportTask(project, id, { view: 'a', task: 0, rows: 5, rowsTotal: 50, done: false })
    await store.reportTask(project, id, { view: 'a', task: 0, rows: 50, done: true })
    const after = await store.reportTask(project, id, { view: 'b', task: 1, rows: 7, done: true })
    expect(after.progress).toEqual({
      rowsDone: 67,
      rowsTotal: undefined,
      tasksDone: 2,
      tasksTotal: 4,
      views: {
        a: { rowsDone: 60, rowsTotal: 80, tasksDone: 1, tasksTotal: 2 },
        b: { rowsDone: 7, rowsTotal: undefined, tasksDone: 1, tasksTotal: 2 },
      },
    })
    await store.reportTask(project, id, { view: 'a', task: 0, rows: 50, done: true })
    await store.reportTask(project, id, { view: 'a', task: 1, rows: 30, done: true })
    const done = await store.reportTask(project, id, { view: 'b', task: 0, rows: 3, done: true })
    expect(done.progress).toMatchObject({ rowsDone: 90, rowsTotal: 90, tasksDone: 4 })
    expect(done.progress.views?.b).toEqual({ rowsDone: 10, rowsTotal: 10, tasksDone: 2, tasksTotal: 2 })
    expect(done.heartbeatAt).toBeGreaterThan(sampleJob(project).heartbeatAt)
    expect(await store.get(project, id)).toEqual(done)
  })

  it('keeps progress whole under concurrent reports from several processes, and leaves a finished job alone', async () => {
    const { project, id } = await distributedJob()
    const writers = await Promise.all([0, 1, 2, 3].map(() => harness.open() as Promise<RedisJobStore>))
    await Promise.all(
      writers.map(async (w, t) => {
        const view = t < 2 ? 'a' : 'b'
        for (let rows = 1; rows <= 20; rows++) {
          await w.reportTask(project, id, { view, task: t % 2, rows, done: rows === 20 })
        }
      }),
    )
    const stored = await store.get(project, id)
    expect(stored.progress).toMatchObject({ rowsDone: 80, rowsTotal: 80, tasksDone: 4, tasksTotal: 4 })
    const now = nowMicros()
    const final = await store.update(project, id, { status: 'succeeded', finishedAt: now })
    expect(await store.reportTask(project, id, { view: 'a', task: 0, rows: 99, done: true })).toEqual(final)
  })

  it('starts a queued job once and never restarts a finished one', async () => {
    const project = uniqueProject('jobs_start')
    const job = sampleJob(project, { engine: 'bullmq', runner: undefined })
    await store.create(job)
    const started = await store.start(project, job.id, job.createdAt + 5)
    expect(started).toMatchObject({ status: 'running', startedAt: job.createdAt + 5 })
    expect(await store.start(project, job.id, job.createdAt + 9)).toEqual(started)
    const cancelled = await store.update(project, job.id, { status: 'cancelled' })
    expect(await store.start(project, job.id, job.createdAt + 10)).toEqual(cancelled)
  })

  it('lets a view record its interval only before a cancel request, and keeps letting it once begun', async () => {
    const { project, id } = await distributedJob()
    expect(await store.beginRecording(project, id, 'a')).toMatchObject({ recording: true })
    await store.requestCancel(project, id)
    // a retried view job that had begun goes on; a view that had not is refused
    expect(await store.beginRecording(project, id, 'a')).toMatchObject({ recording: true })
    const refused = await store.beginRecording(project, id, 'b')
    expect(refused.recording).toBe(false)
    expect(refused.job.cancelRequestedAt).toBeDefined()
    expect(await store.recordingViews(project, id)).toEqual(['a'])
  })

  it('answers BACKEND_UNAVAILABLE naming the server when Redis is gone', async () => {
    const redis = new Redis(URL, { maxRetriesPerRequest: 0, retryStrategy: () => null })
    const gone: JobStore = new RedisJobStore(redis, 'larder-test-gone', URL)
    await redis.quit()
    const error = await gone.get('p', 'x').then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    )
    expect(error?.code).toBe('BACKEND_UNAVAILABLE')
    expect(error?.message).toContain(URL)
  })
})
