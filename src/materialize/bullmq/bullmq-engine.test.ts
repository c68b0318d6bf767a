import { execFile } from 'node:child_process'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'
import { toMicros } from '../../core/index.js'
import { isFinal, type JobRecord } from '../../registry/index.js'
import { redisClusterUnavailable, startRedisCluster } from '../../testing/redis-cluster.js'
import { describeWithService, redisUnavailable } from '../../testing/services.js'
import { testOnlineStores } from '../__fixtures__/online-stores.js'
import type { TestRepo } from '../__fixtures__/test-repo.js'
import type { MaterializeProgress } from '../materialize.js'
import {
  bulkRepo,
  clearEngine,
  END,
  engineBlock,
  onlineState,
  START,
  startWorkers,
  type WorkerProcess,
} from './__fixtures__/bullmq-harness.js'

// Workers run the built CLI: run `npx tsc -p tsconfig.build.json` (or `npm run build`) first.
const [host, port] = (process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379').split(':') as [string, string]
const REDIS_URL = `redis://${host}:${port}`
const redisDown = await redisUnavailable(host, Number(port))
const DRIVERS = 1500
const BIN = resolve(fileURLToPath(new URL('../../../bin/larder.js', import.meta.url)))
const run = promisify(execFile)
const HOURS = 24

// The memory store lives in one process, so workers cannot share it.
for (const { name, config, unavailable } of (await testOnlineStores()).filter((s) => s.name !== 'memory')) {
  describeWithService(`bullmq engine into ${name}`, unavailable ?? redisDown, () => {
    it('gives the online state of the local engine with 3 worker processes, and records the job', async () => {
      const block = engineBlock(REDIS_URL, ['partitions: 3', 'slice: 6h', 'lock_duration_ms: 5000'])
      const repos: TestRepo[] = []
      let workers: WorkerProcess[] = []
      try {
        const local = await bulkRepo(config, DRIVERS, HOURS)
        repos.push(local)
        const distributed = await bulkRepo(config, DRIVERS, HOURS, block)
        repos.push(distributed)
        workers = await startWorkers(distributed.dir, 3)

        const expected = await local.store.materialize({ start: START, end: END })
        const events: MaterializeProgress[] = []
        const result = await distributed.store.materialize(
          { start: START, end: END },
          { batchSize: 200, onProgress: (e) => events.push(e) },
        )

        const reference = await onlineState(local, config)
        // a row per feature, or a hash per entity in Redis
        expect(reference.rows).toBe(name === 'redis' ? DRIVERS : DRIVERS * 3)
        expect(await onlineState(distributed, config)).toEqual(reference)

        // 8 slices of 6 h x 3 key parts; the 4 slices holding data give one row per driver each
        expect(result.views).toHaveLength(1)
        expect(result.views[0]).toMatchObject({
          view: 'bulk_stats',
          start: toMicros(START),
          end: toMicros(END),
          rows: DRIVERS * 4,
        })
        expect(expected.views[0]!.rows).toBe(DRIVERS)
        const job = await distributed.store.getJob(result.job)
        expect(job).toMatchObject({ engine: 'bullmq', status: 'succeeded', runner: undefined })
        expect(job.progress).toMatchObject({ rowsDone: DRIVERS * 4, tasksDone: 24, tasksTotal: 24 })
        expect(job.result).toEqual({
          views: [expect.objectContaining({ view: 'bulk_stats', start: START, end: END, rows: DRIVERS * 4 })],
        })
        const logs = (await distributed.store.jobLogs(result.job)).map((l) => l.message)
        expect(logs[0]).toContain('queued 24 tasks')
        expect(logs.at(-1)).toBe('succeeded')

        const intervals = (await distributed.store.catalog({ allowCache: false })).materializationIntervals(
          'bulk_stats',
        )
        expect(intervals).toEqual([{ start: toMicros(START), end: toMicros(END) }])
        const runs = await distributed.store.listMaterializationRuns()
        expect(runs).toEqual([
          expect.objectContaining({
            view: 'bulk_stats',
            engine: 'bullmq',
            status: 'succeeded',
            rowsRead: DRIVERS * 4,
          }),
        ])

        expect(events[0]).toMatchObject({ view: 'bulk_stats', phase: 'start', rows: 0 })
        expect(events.at(-1)).toMatchObject({ phase: 'done', rows: DRIVERS * 4, rowsTotal: DRIVERS * 4 })
        const ran = workers.map((w) => w.logs().filter((l) => l.msg === 'task done').length)
        expect(ran.reduce((a, b) => a + b, 0)).toBe(24)
      } finally {
        await Promise.all(workers.map((w) => w.stop()))
        for (const repo of repos) await repo.close()
        await clearEngine(REDIS_URL, block)
      }
    }, 120_000)
  })
}

describeWithService(
  'bullmq engine on a Redis Cluster',
  redisDown ?? (await redisClusterUnavailable()),
  () => {
    it('queues, runs and records a job with every key in one slot, as on one server', async () => {
      const cluster = await startRedisCluster(3)
      const block = [
        'type: bullmq',
        'redis_type: redis_cluster',
        `connection_string: ${cluster.ports.map((p) => `redis://127.0.0.1:${p}`).join(',')}`,
        'partitions: 2',
        'slice: 12h',
      ].join('\n')
      const sqlite = 'type: sqlite\npath: data/online.db'
      const repos: TestRepo[] = []
      let workers: WorkerProcess[] = []
      try {
        const local = await bulkRepo(sqlite, 300, HOURS)
        repos.push(local)
        const distributed = await bulkRepo(sqlite, 300, HOURS, block)
        repos.push(distributed)
        workers = await startWorkers(distributed.dir, 2)
        await local.store.materialize({ start: START, end: END })
        const result = await distributed.store.materialize({ start: START, end: END })
        expect(await onlineState(distributed, sqlite)).toEqual(await onlineState(local, sqlite))
        // 4 slices of 12 h x 2 key parts
        expect(await distributed.store.getJob(result.job)).toMatchObject({
          engine: 'bullmq',
          status: 'succeeded',
          progress: expect.objectContaining({ tasksDone: 8, tasksTotal: 8 }),
        })
        expect(
          (await distributed.store.catalog({ allowCache: false })).materializationIntervals('bulk_stats'),
        ).toEqual([{ start: toMicros(START), end: toMicros(END) }])
      } finally {
        await Promise.all(workers.map((w) => w.stop()))
        for (const repo of repos) await repo.close()
        await cluster.stop()
      }
    }, 120_000)
  },
)

describeWithService('bullmq engine: a job run in the calling process', redisDown, () => {
  it('cancels a historical retrieval through its runner, which marks it, instead of at once', async () => {
    const block = engineBlock(REDIS_URL)
    const repo = await bulkRepo('type: sqlite\npath: data/online.db', DRIVERS, HOURS, block)
    try {
      const retrieval = await repo.store.getHistoricalFeatures({
        features: ['bulk_stats:f0', 'bulk_stats:f1'],
        startDate: START,
        endDate: END,
      })
      let asked: Promise<JobRecord> | undefined
      let id: string | undefined
      const outcome = await retrieval
        .toParquet(join(repo.dir, 'training.parquet'), {
          onJob: (j) => {
            id = j.id
            asked = repo.store.cancelJob(j.id)
          },
        })
        .then(
          () => 'written',
          (e: unknown) => (e as { code?: string }).code,
        )
      // the writer runs in this process, not on the queue: the cancel only asks it to stop
      const cancel = await asked!
      expect(cancel).toMatchObject({ engine: 'local', runner: expect.any(String) })
      expect(cancel.cancelRequestedAt).toBeDefined()
      expect(cancel.status).not.toBe('cancelled')
      // the stored outcome is the writer's: stopped at a batch boundary, or done before it saw the cancel
      const done = await repo.store.getJob(id!)
      expect(done.status).toBe(outcome === 'written' ? 'succeeded' : 'cancelled')
      if (outcome !== 'written') expect(outcome).toBe('ABORTED')
    } finally {
      await repo.close()
      await clearEngine(REDIS_URL, block)
    }
  }, 60_000)
})

describeWithService('bullmq engine: progress of a detached job', redisDown, () => {
  it('shows rows done/total and tasks done/total while it runs, in the store and through larder jobs', async () => {
    const block = engineBlock(REDIS_URL, ['partitions: 2'])
    // enough rows that the tasks are still at work when the test looks
    const drivers = 20_000
    const repo = await bulkRepo('type: sqlite\npath: data/online.db', drivers, 2, block)
    let workers: WorkerProcess[] = []
    try {
      workers = await startWorkers(repo.dir, 2)
      const job = await repo.store.submitMaterialize({ start: START, end: END }, { batchSize: 5 })
      let seen = await repo.store.getJob(job.id)
      for (let i = 0; seen.progress.rowsTotal === undefined && !isFinal(seen.status); i++) {
        if (i > 3000) throw new Error(`job ${job.id} never stored a row total: ${JSON.stringify(seen)}`)
        await sleep(20)
        seen = await repo.store.getJob(job.id)
      }
      // held still while the CLI reads it: a task counts its piece before its first batch
      for (const w of workers) w.process.kill('SIGSTOP')
      try {
        seen = await repo.store.getJob(job.id)
        expect(seen.status).toBe('running')
        expect(seen.progress).toMatchObject({ rowsTotal: drivers, tasksTotal: 2 })
        expect(seen.progress.rowsDone).toBeLessThan(drivers)
        const got = JSON.parse(await larder(repo.dir, ['jobs', 'get', job.id, '--json']))
        expect(got).toMatchObject({
          status: 'running',
          progress: { rows_done: seen.progress.rowsDone, rows_total: drivers, tasks_total: 2 },
        })
        const { rowsDone, tasksDone } = seen.progress
        const listed = await larder(repo.dir, ['jobs', 'list', '--json'])
        expect(JSON.parse(listed)[0]).toMatchObject({ job_id: job.id, progress: got.progress })
        const described = await larder(repo.dir, ['jobs', 'get', job.id])
        expect(described).toContain(`${rowsDone}/${drivers} rows, ${tasksDone}/2 tasks`)
      } finally {
        for (const w of workers) w.process.kill('SIGCONT')
      }
      for (let i = 0; !isFinal(seen.status); i++) {
        if (i > 600) throw new Error(`job ${job.id} did not finish: ${JSON.stringify(seen)}`)
        await sleep(100)
        seen = await repo.store.getJob(job.id)
      }
      expect(seen).toMatchObject({
        status: 'succeeded',
        progress: { rowsDone: drivers, rowsTotal: drivers, tasksDone: 2, tasksTotal: 2 },
      })
    } finally {
      await Promise.all(workers.map((w) => w.stop()))
      await repo.close()
      await clearEngine(REDIS_URL, block)
    }
  }, 90_000)
})

/** The output of `larder -c <dir> <args>` (the built CLI). */
async function larder(dir: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [BIN, '-c', dir, ...args], {
    env: { ...process.env, NO_COLOR: '1' },
  })
  return stdout
}
