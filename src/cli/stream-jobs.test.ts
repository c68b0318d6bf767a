// `larder stream` as a job: child processes of the built CLI (build dist/ first) on a real Redis
// stream, followed and cancelled with `larder jobs` and read over `larder serve`'s GET /jobs.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { type AddressInfo, createServer } from 'node:net'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClient } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { TestRepo } from '../materialize/__fixtures__/test-repo.js'
import { type LarderProcess, startServe } from '../server/__fixtures__/serve-process.js'
import {
  addToRedis,
  groupState,
  killAll,
  REDIS_HOST,
  REDIS_PORT,
  REDIS_URL,
  type StreamProcess,
  startStream,
  streamRepo,
  tripEvents,
  waitUntil,
} from '../stream/__fixtures__/stream-harness.js'
import { describeWithService, redisUnavailable } from '../testing/services.js'
import { larder } from './__fixtures__/run-larder.js'

const BIN = resolve(fileURLToPath(new URL('../../bin/larder.js', import.meta.url)))
const DRIVERS = 50

// biome-ignore lint/suspicious/noExplicitAny: the tests read job JSON loosely
type AnyJson = any

async function json(...argv: string[]): Promise<AnyJson> {
  const r = await larder(...argv)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout)
}

/** The exit code of a child, once it exited on its own. */
async function exitCode(p: LarderProcess): Promise<number | null> {
  if (p.process.exitCode !== null || p.process.signalCode !== null) return p.process.exitCode
  const [code] = await once(p.process, 'exit')
  return code as number | null
}

/** The messages of `larder jobs logs ID`, without their time and level columns. */
async function logMessages(dir: string, id: string): Promise<string[]> {
  const logs = await larder('-c', dir, 'jobs', 'logs', id)
  expect(logs.code, logs.stderr).toBe(0)
  return logs.stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.replace(/^\S+ {2}\S+ +/, ''))
}

describeWithService(
  'larder stream as a job (child processes, real Redis)',
  await redisUnavailable(REDIS_HOST, REDIS_PORT),
  () => {
    const redis = createClient({ url: REDIS_URL })
    const stream = `larder-test-stream-jobs-${process.pid}-${Date.now()}`
    const started: StreamProcess[] = []
    let repo: TestRepo

    beforeAll(async () => {
      await redis.connect()
      repo = await streamRepo({ kind: 'redis', stream }, ['batch_size: 100', 'max_wait_ms: 20'])
    })
    afterAll(async () => {
      await killAll(started)
      await repo?.close().catch(() => undefined)
      await redis.del([stream, `${stream}:dead`]).catch(() => undefined)
      await redis.quit()
    })

    it('is listed with the events it wrote, logs its lines, and stops with exit 0 when `larder jobs cancel` cancels it', async () => {
      const now = Date.now()
      const events = tripEvents(1500, DRIVERS, now)
      const processor = await startStream(repo.dir, ['--consumer', 'job-1'], started)
      const id = processor.ready.job as string
      expect(id).toMatch(/^[0-9a-f-]{36}$/)

      const [listed] = (await json('-c', repo.dir, 'jobs', 'list', '--json')).filter(
        (j: AnyJson) => j.job_id === id,
      )
      expect(listed).toMatchObject({
        kind: 'stream',
        engine: 'local',
        status: 'running',
        feature_views: null,
        request: { consumer: 'job-1' },
        runner: expect.stringMatching(new RegExp(`:${processor.process.pid}$`)),
        cancel_requested_at: null,
      })

      await addToRedis(redis, stream, events.slice(0, 1000))
      const first = await waitUntil('1000 events in the job', async () => {
        const job = await json('-c', repo.dir, 'jobs', 'get', id, '--json')
        return job.progress.rows_done === 1000 ? job : undefined
      })
      expect(first.progress).toEqual({
        rows_done: 1000,
        rows_total: null,
        tasks_done: 0,
        tasks_total: 1,
        views: { trip_stats: { rows_done: 1000, rows_total: null, tasks_done: 0, tasks_total: 1 } },
      })
      await addToRedis(redis, stream, events.slice(1000))
      await waitUntil('1500 events in the job', async () => {
        const job = await json('-c', repo.dir, 'jobs', 'get', id, '--json')
        return job.progress.rows_done === 1500 ? job : undefined
      })

      const cancel = await larder('-c', repo.dir, 'jobs', 'cancel', id, '--wait', '--json')
      expect(cancel.code, cancel.stderr).toBe(0)
      expect(JSON.parse(cancel.stdout)).toMatchObject({
        status: 'cancelled',
        error: { code: 'ABORTED', message: `job ${id} was cancelled` },
        progress: {
          rows_done: 1500,
          tasks_done: 1,
          tasks_total: 1,
          views: { trip_stats: { rows_done: 1500, tasks_done: 1 } },
        },
      })
      expect(await exitCode(processor)).toBe(0)
      expect(processor.stderr()).toBe('')
      const msgs = processor.logs().map((l) => l.msg)
      expect(msgs.indexOf('stopped')).toBeGreaterThan(msgs.indexOf('stopping after the batches in hand'))
      expect((await groupState(redis, stream))?.pending).toBe(0)

      expect(await logMessages(repo.dir, id)).toEqual(
        expect.arrayContaining([
          'started as consumer "job-1": source "trips_stream" -> trip_stats',
          'consuming source=trips_stream views=["trip_stats"]',
          'stopping after the batches in hand reason=the job was cancelled',
          'stopped source=trips_stream',
        ]),
      )
      expect((await logMessages(repo.dir, id)).at(-1)).toBe(`ABORTED: job ${id} was cancelled`)
    }, 90_000)

    it('is served by `larder serve` (GET /jobs, GET /jobs/{id}) and stops with exit 0 on DELETE /jobs/{id}', async () => {
      const processor = await startStream(repo.dir, ['--consumer', 'job-4'], started)
      const id = processor.ready.job as string
      await addToRedis(redis, stream, tripEvents(200, DRIVERS, Date.now()))
      const serve = await startServe(repo.dir)
      try {
        const job = async () => {
          const res = await fetch(`${serve.url}/jobs/${id}`)
          expect(res.status).toBe(200)
          return (await res.json()) as AnyJson
        }
        await waitUntil('200 events in the served job', async () =>
          (await job()).progress.rows_done === 200 ? true : undefined,
        )
        const listed = await fetch(`${serve.url}/jobs`)
        expect(listed.status).toBe(200)
        expect(((await listed.json()) as AnyJson).jobs.find((j: AnyJson) => j.job_id === id)).toMatchObject({
          kind: 'stream',
          status: 'running',
          request: { consumer: 'job-4' },
          progress: { rows_done: 200, views: { trip_stats: { rows_done: 200 } } },
        })
        const deleted = await fetch(`${serve.url}/jobs/${id}`, { method: 'DELETE' })
        expect(deleted.status).toBe(200)
        expect(((await deleted.json()) as AnyJson).cancel_requested_at).toMatch(/^\d{4}-/)
        expect(await exitCode(processor)).toBe(0)
        expect(await job()).toMatchObject({
          status: 'cancelled',
          error: { code: 'ABORTED', message: `job ${id} was cancelled` },
          progress: { rows_done: 200, tasks_done: 1, tasks_total: 1 },
        })
      } finally {
        expect(await serve.stop('SIGTERM')).toBe(0)
      }
    }, 60_000)

    it('ends its job succeeded on SIGTERM, with the events each source wrote', async () => {
      const processor = await startStream(repo.dir, ['--consumer', 'job-2', '--views', 'trip_stats'], started)
      const id = processor.ready.job as string
      await addToRedis(redis, stream, tripEvents(300, DRIVERS, Date.now()))
      await waitUntil('300 events in the job', async () => {
        const job = await json('-c', repo.dir, 'jobs', 'get', id, '--json')
        return job.progress.rows_done === 300 ? job : undefined
      })
      expect(await processor.stop('SIGTERM')).toBe(0)
      const job = await json('-c', repo.dir, 'jobs', 'get', id, '--json')
      expect(job).toMatchObject({
        kind: 'stream',
        status: 'succeeded',
        feature_views: ['trip_stats'],
        error: null,
        progress: { rows_done: 300, tasks_done: 1, tasks_total: 1 },
        result: {
          sources: [{ source: 'trips_stream', views: ['trip_stats'], events: 300, dead_lettered: 0 }],
        },
      })
      expect((await logMessages(repo.dir, id)).at(-1)).toBe('succeeded')
    }, 60_000)

    it('fails its job naming an unknown view, and the command exits 1', async () => {
      const run = await larder('-c', repo.dir, 'stream', '--views', 'nope', '--port', '0')
      expect(run.code).toBe(1)
      expect(run.stderr).toContain(`stream feature view "nope" not found in project`)
      const [job] = await json('-c', repo.dir, 'jobs', 'list', '--json', '--status', 'failed', '--limit', '1')
      expect(job).toMatchObject({
        kind: 'stream',
        status: 'failed',
        feature_views: ['nope'],
        error: { code: 'NOT_FOUND', message: expect.stringContaining('"nope" not found') },
      })
    })

    it('stops and fails its job, exiting 1, when its status port is taken', async () => {
      const taken = createServer()
      await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r))
      const port = String((taken.address() as AddressInfo).port)
      try {
        const child = spawn(
          process.execPath,
          [BIN, '-c', repo.dir, 'stream', '--consumer', 'job-5', '--port', port],
          { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
        )
        let stderr = ''
        child.stderr!.on('data', (d: Buffer) => {
          stderr += d.toString()
        })
        const [code] = await once(child, 'exit')
        expect(code).toBe(1)
        expect(stderr).toContain(`error: cannot listen on 127.0.0.1:${port}`)
        const [job] = await json('-c', repo.dir, 'jobs', 'list', '--json', '--limit', '1')
        expect(job).toMatchObject({
          kind: 'stream',
          status: 'failed',
          request: { consumer: 'job-5' },
          runner: expect.stringMatching(new RegExp(`:${child.pid}$`)),
          error: { code: 'BACKEND_UNAVAILABLE', message: expect.stringContaining(`127.0.0.1:${port}`) },
        })
      } finally {
        taken.close()
      }
    }, 60_000)

    it('leaves the job of a processor killed with SIGKILL lost, which cancel then marks cancelled', async () => {
      const processor = await startStream(repo.dir, ['--consumer', 'job-3'], started)
      const id = processor.ready.job as string
      await processor.stop('SIGKILL')
      // stored running; lost once its runner has been silent for 30 s
      const lost = await waitUntil(
        "the killed processor's job lost",
        async () => {
          const job = await json('-c', repo.dir, 'jobs', 'get', id, '--json')
          return job.status === 'lost' ? job : undefined
        },
        45_000,
        1000,
      )
      expect(lost).toMatchObject({ kind: 'stream', status: 'lost', finished_at: null, error: null })
      const cancel = await json('-c', repo.dir, 'jobs', 'cancel', id, '--json')
      expect(cancel).toMatchObject({ status: 'cancelled', error: { code: 'ABORTED' } })
    }, 60_000)
  },
)
