// End to end: `larder stream` as child processes (the built CLI in dist/: build first) on real Redis.
import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClient } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { TestRepo } from '../materialize/__fixtures__/test-repo.js'
import { appliedRepo } from '../server/__fixtures__/serve-process.js'
import {
  addToRedis,
  eventsWritten,
  groupState,
  health,
  killAll,
  onlineValues,
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

const BIN = resolve(fileURLToPath(new URL('../../bin/larder.js', import.meta.url)))
const DRIVERS = 50

/** Runs `larder <args>` to its end; its exit code and output. */
function runLarder(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.once('error', fail)
    child.once('close', (code) => {
      clearTimeout(timer)
      done({ code, stdout, stderr })
    })
  })
}

/** The count of events in every driver's 1 h window, summed: each event written once counts once. */
async function countedEvents(repo: TestRepo, now: number): Promise<number> {
  const values = await onlineValues(repo, DRIVERS, now)
  return (values[4] as (number | null)[]).reduce<number>((sum, v) => sum + (v ?? 0), 0)
}

describeWithService(
  'larder stream (child processes, real Redis)',
  await redisUnavailable(REDIS_HOST, REDIS_PORT),
  () => {
    const redis = createClient({ url: REDIS_URL })
    const stream = `larder-test-cli-stream-${process.pid}-${Date.now()}`
    const started: StreamProcess[] = []
    const repos: TestRepo[] = []
    const removes: (() => void)[] = []
    let repo: TestRepo

    beforeAll(async () => {
      await redis.connect()
      repo = await streamRepo({ kind: 'redis', stream }, ['batch_size: 100', 'max_wait_ms: 20'])
      repos.push(repo)
    })
    afterAll(async () => {
      await killAll(started)
      for (const r of repos) await r.close().catch(() => undefined)
      for (const remove of removes) remove()
      await redis.del([stream, `${stream}:dead`]).catch(() => undefined)
      await redis.quit()
    })

    it('prints `stream ready` with its URL, then serves /health and /metrics while it writes events', async () => {
      const now = Date.now()
      const events = tripEvents(1000, DRIVERS, now)
      const processor = await startStream(repo.dir, ['--consumer', 'cli-1'], started)
      expect(processor.ready).toMatchObject({ level: 30, msg: 'stream ready', service: 'larder-stream' })
      // the consumers start while the status server binds: their info lines may come first, nothing else
      const before = processor.logs().slice(0, processor.logs().indexOf(processor.ready))
      expect(before.every((l) => l.level === 30 && ['running', 'consuming'].includes(l.msg as string))).toBe(
        true,
      )
      expect(processor.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)

      await addToRedis(redis, stream, events)
      await waitUntil('1000 events in larder_stream_events_total', async () =>
        (await eventsWritten(processor.url)) === 1000 ? true : undefined,
      )
      const status = await health(processor.url)
      expect(status.status).toBe(200)
      expect(status.body).toEqual({
        status: 'ok',
        sources: [
          expect.objectContaining({
            source: 'trips_stream',
            views: ['trip_stats'],
            state: 'running',
            events: 1000,
            deadLettered: 0,
            lastBatchAt: expect.any(Number),
          }),
        ],
      })
      const metrics = await (await fetch(`${processor.url}/metrics`)).text()
      expect(metrics).toContain('larder_stream_events_total{feature_view="trip_stats"} 1000')
      expect(metrics).toMatch(/larder_stream_batch_duration_seconds_count\{feature_view="trip_stats"\} \d+/)
      expect(await countedEvents(repo, now)).toBe(1000)
      const missing = await fetch(`${processor.url}/nope`)
      expect(missing.status).toBe(404)
      await missing.body?.cancel()
      expect(await processor.stop('SIGTERM')).toBe(0)
    })

    it('finishes and acknowledges the batch in hand on SIGTERM, then exits 0', async () => {
      const now = Date.now()
      const processor = await startStream(repo.dir, ['--consumer', 'cli-1'], started)
      // enough events that the signal lands while batches are being written
      await addToRedis(redis, stream, tripEvents(20_000, DRIVERS, now).slice(1000))
      await waitUntil('events flowing', async () =>
        (await eventsWritten(processor.url)) > 0 ? true : undefined,
      )
      expect(await processor.stop('SIGTERM')).toBe(0)
      const msgs = processor.logs().map((l) => l.msg)
      expect(msgs).toEqual(expect.arrayContaining(['stopping after the batches in hand', 'stopped']))
      expect(msgs.indexOf('stopped')).toBeGreaterThan(msgs.indexOf('stopping after the batches in hand'))
      expect(processor.stderr()).toBe('')
      // every event delivered to the group was written and acknowledged: none is left pending, and the
      // windows count exactly the events delivered
      const group = (await groupState(redis, stream))!
      expect(group.pending).toBe(0)
      expect(group.entriesRead).toBeGreaterThan(0)
      expect(await countedEvents(repo, now)).toBe(group.entriesRead)
    })

    it('lists its options in --help', async () => {
      const help = await runLarder(['stream', '--help'])
      expect(help.code).toBe(0)
      for (const option of ['--views <names>', '--consumer <name>', '--host <host>', '--port <port>'])
        expect(help.stdout).toContain(option)
    })

    it('exits 1 with a one-line error and a hint, no stack trace, when the repo has no stream view', async () => {
      const plain = await appliedRepo()
      removes.push(plain.remove)
      const run = await runLarder(['-c', plain.dir, 'stream', '--port', '0'])
      expect(run.code).toBe(1)
      expect(run.stdout).toBe('')
      const lines = run.stderr.trimEnd().split('\n')
      expect(lines[0]).toBe(`error: project "${plain.project}" has no stream feature view over a broker`)
      expect(lines.slice(1)).toEqual([expect.stringMatching(/^hint: define a StreamFeatureView/)])
    })
  },
)
