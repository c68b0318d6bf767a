import { appendFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { FeatureStore } from '../feature-store.js'
import { clearEngine, engineBlock, startWorker } from '../materialize/bullmq/__fixtures__/bullmq-harness.js'
import { describeWithService, redisUnavailable } from '../testing/services.js'
import { larder } from './__fixtures__/run-larder.js'

// The worker is spawned from the built CLI (dist/): build first.
const [host, port] = (process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379').split(':') as [string, string]
const REDIS_URL = `redis://${host}:${port}`

describeWithService(
  'larder worker and materialize --async',
  await redisUnavailable(host, Number(port)),
  () => {
    let root: string
    let repo: string
    const block = engineBlock(REDIS_URL)
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString()

    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), 'larder-cli-worker-'))
      repo = join(root, 'demo')
      expect((await larder('init', repo)).code).toBe(0)
      expect((await larder('-c', repo, 'apply')).code).toBe(0)
    })
    afterAll(async () => {
      await clearEngine(REDIS_URL, block)
      rmSync(root, { recursive: true, force: true })
    })

    it('refuses --async and worker on the local engine, saying how to choose bullmq', async () => {
      const submitted = await larder('-c', repo, 'materialize', '--async', day(-7), day(0))
      expect(submitted.code).toBe(1)
      expect(submitted.stderr).toContain('local engine')
      expect(submitted.stderr).toContain('batch_engine: { type: bullmq')
      const worker = await larder('-c', repo, 'worker')
      expect(worker.code).toBe(1)
      expect(worker.stderr).toContain('not bullmq')
      const help = await larder('worker', '--help')
      expect(help.code).toBe(0)
      expect(help.stdout).toContain('--concurrency <n>')
    })

    it('hands a job to the workers with --async and prints its id; a worker finishes it', async () => {
      appendFileSync(
        join(repo, 'feature_store.yaml'),
        `batch_engine:\n${block
          .split('\n')
          .map((l) => `  ${l}`)
          .join('\n')}\n`,
      )
      const submitted = await larder('-c', repo, 'materialize-incremental', '--async', day(0))
      expect(submitted.stderr).toContain('larder jobs get')
      expect(submitted.code).toBe(0)
      const id = submitted.stdout.trim()
      const json = await larder('-c', repo, 'materialize', '--async', '--json', day(-1), day(0))
      expect(JSON.parse(json.stdout)).toEqual({ job: expect.any(String), status: 'queued', engine: 'bullmq' })

      const store = await FeatureStore.open(repo)
      const worker = await startWorker(repo, ['--concurrency', '2'])
      try {
        expect(worker.logs()[0]).toMatchObject({ msg: 'worker ready', concurrency: 2 })
        for (const job of [id, JSON.parse(json.stdout).job as string]) {
          for (let i = 0; (await store.getJob(job)).status !== 'succeeded'; i++) {
            if (i > 200)
              throw new Error(`job ${job} did not succeed: ${JSON.stringify(await store.getJob(job))}`)
            await sleep(100)
          }
        }
        const got = await larder(
          '-c',
          repo,
          'get',
          'driver_id=1001',
          '--features',
          'driver_hourly_stats:conv_rate',
        )
        expect(got.stdout).toContain('PRESENT')
        expect(await worker.stop('SIGTERM')).toBe(0)
        expect(worker.logs().map((l) => l.msg)).toEqual(
          expect.arrayContaining(['task done', 'worker stopped']),
        )
      } finally {
        await worker.stop('SIGKILL')
        await store.close()
      }
    }, 60_000)
  },
)
