// Jobs of `larder serve` on the BullMQ engine (child processes of the built CLI, real Redis): the
// server only enqueues, so its restart — even a SIGKILL — leaves the job to the queue and the
// workers; the restarted server lists it, a worker finishes it, and a queued one is cancellable.
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { FeatureStore } from '../feature-store.js'
import { clearEngine, engineBlock, startWorker } from '../materialize/bullmq/__fixtures__/bullmq-harness.js'
import { describeWithService, redisUnavailable } from '../testing/services.js'
import { type AppliedRepo, appliedRepo, type ServeProcess, startServe } from './__fixtures__/serve-process.js'

// biome-ignore lint/suspicious/noExplicitAny: response bodies
type AnyJson = any

const [host, port] = (process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379').split(':') as [string, string]
const REDIS_URL = `redis://${host}:${port}`
const now = new Date()
const lastHour = new Date(Math.floor(now.getTime() / 3_600_000) * 3_600_000)
const window = (hoursBack: number) => ({
  start_ts: new Date(lastHour.getTime() - (hoursBack + 2) * 3_600_000).toISOString(),
  end_ts: new Date(lastHour.getTime() - hoursBack * 3_600_000).toISOString(),
  feature_views: ['driver_hourly_stats'],
})

describeWithService(
  'jobs of larder serve on the BullMQ engine survive the server',
  await redisUnavailable(host, Number(port)),
  () => {
    let repo: AppliedRepo
    let server: ServeProcess
    const block = engineBlock(REDIS_URL)

    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${server.url}${path}`, {
        method,
        ...(body === undefined
          ? {}
          : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      })
      return { status: res.status, body: (await res.json()) as AnyJson }
    }
    const intervals = async () => {
      const store = await FeatureStore.open(repo.dir)
      try {
        return (await store.catalog({ allowCache: false })).materializationIntervals('driver_hourly_stats')
      } finally {
        await store.close()
      }
    }

    beforeAll(async () => {
      repo = await appliedRepo({ now })
      appendFileSync(
        join(repo.dir, 'feature_store.yaml'),
        `batch_engine:\n${block
          .split('\n')
          .map((l) => `  ${l}`)
          .join('\n')}\n`,
      )
      server = await startServe(repo.dir)
    })
    afterAll(async () => {
      await server?.stop('SIGKILL')
      await clearEngine(REDIS_URL, block)
      repo?.remove()
    })

    it('lists a queued job after a SIGKILL restart, cancels it with DELETE, and a worker finishes the next', async () => {
      const queued = await call('POST', '/materialize?async=true', window(4))
      expect(queued.status, JSON.stringify(queued.body)).toBe(202)
      const first = queued.body.job_id as string
      const kept = await call('POST', '/materialize?async=true&force=true', window(1))
      const second = kept.body.job_id as string

      await server.stop('SIGKILL')
      server = await startServe(repo.dir)
      // no worker runs yet: both wait on the queue, and nothing is lost or held by the dead server
      const listed = (await call('GET', '/jobs')).body.jobs.map((j: AnyJson) => [
        j.job_id,
        j.engine,
        j.status,
      ])
      expect(listed).toEqual([
        [second, 'bullmq', 'queued'],
        [first, 'bullmq', 'queued'],
      ])

      const deleted = await call('DELETE', `/jobs/${first}`)
      expect(deleted.status).toBe(200)
      expect(deleted.body).toMatchObject({ job_id: first, status: 'cancelled', error: { code: 'ABORTED' } })

      const worker = await startWorker(repo.dir)
      try {
        let job: AnyJson
        for (let i = 0; i < 300; i++) {
          job = (await call('GET', `/jobs/${second}`)).body
          if (job.status !== 'queued' && job.status !== 'running') break
          await new Promise((r) => setTimeout(r, 100))
        }
        expect(job).toMatchObject({
          status: 'succeeded',
          result: { views: [{ view: 'driver_hourly_stats' }] },
        })
        // the cancelled job's tasks never ran: only the second window is recorded
        expect((await call('GET', `/jobs/${first}`)).body.status).toBe('cancelled')
        expect((await intervals()).map((i) => i.end)).toEqual([Date.parse(window(1).end_ts) * 1000])
      } finally {
        await worker.stop('SIGTERM')
      }
    }, 90_000)
  },
)
