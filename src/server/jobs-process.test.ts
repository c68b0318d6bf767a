// Jobs of `larder serve` (a child process of the built CLI) over real HTTP: kept in the engine's job
// store, so they outlive the server; cancelled from the CLI in this process; a server killed with
// SIGKILL leaves its job `lost`, and a server stopped with SIGTERM cancels the jobs it runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { larder } from '../cli/__fixtures__/run-larder.js'
import { LarderClient } from '../client/index.js'
import { toMicros } from '../core/index.js'
import { FeatureStore } from '../feature-store.js'
import { effectiveStatus } from '../registry/index.js'
import {
  type AppliedRepo,
  appliedRepo,
  manyDrivers,
  type ServeProcess,
  startServe,
} from './__fixtures__/serve-process.js'

// biome-ignore lint/suspicious/noExplicitAny: the tests read response bodies of many shapes
type AnyJson = any

const DRIVERS = 1_000_000
const now = new Date()
const lastHour = new Date(Math.floor(now.getTime() / 3_600_000) * 3_600_000)
/** The window of the many drivers: seconds of SQLite writes. */
const big = (views: string[] | null) => ({
  start_ts: new Date(lastHour.getTime() - 1_800_000).toISOString(),
  end_ts: now.toISOString(),
  feature_views: views,
})
/** The window of five drivers two hours earlier. */
const small = {
  start_ts: new Date(lastHour.getTime() - 3 * 3_600_000).toISOString(),
  end_ts: new Date(lastHour.getTime() - 3_600_000).toISOString(),
  feature_views: ['driver_hourly_stats'],
}

let repo: AppliedRepo
let server: ServeProcess

async function call(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: AnyJson }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
  return { status: res.status, body: await res.json() }
}

/** Reads the job every 100 ms until `done` holds (at most `ms`); returns the last read. */
async function untilJob(id: string, done: (job: AnyJson) => boolean, ms = 30_000): Promise<AnyJson> {
  const deadline = Date.now() + ms
  for (;;) {
    const { body } = await call('GET', `/jobs/${id}`)
    if (done(body) || Date.now() > deadline) return body
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The recorded intervals of driver_hourly_stats, read as another process would. */
async function intervals(): Promise<readonly { start: number; end: number }[]> {
  const store = await FeatureStore.open(repo.dir)
  try {
    return (await store.catalog({ allowCache: false })).materializationIntervals('driver_hourly_stats')
  } finally {
    await store.close()
  }
}

/** Whether an interval of driver_hourly_stats covers the window of the many drivers. */
async function bigWindowRecorded(): Promise<boolean> {
  return (await intervals()).some((i) => i.end === toMicros(now))
}

/** Starts a materialization of the many drivers with ?async=true and waits until it wrote rows. */
async function startBigJob(): Promise<string> {
  const accepted = await call('POST', '/materialize?async=true', big(['driver_hourly_stats']))
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202)
  const id = accepted.body.job_id as string
  const running = await untilJob(id, (j) => j.progress.rows_done > 0)
  expect(running).toMatchObject({ status: 'running', progress: { views: { driver_hourly_stats: {} } } })
  return id
}

beforeAll(async () => {
  repo = await appliedRepo({ now })
  await manyDrivers(repo.dir, DRIVERS, lastHour)
  server = await startServe(repo.dir)
})

afterAll(async () => {
  await server?.stop('SIGKILL')
  repo?.remove()
})

describe('jobs of larder serve (child process, real HTTP)', () => {
  it('lists a running job, refuses an overlapping one (409) unless forced, and stops at a cancel from the CLI', async () => {
    const accepted = await call('POST', '/materialize?async=true', big(['driver_hourly_stats']))
    expect(accepted.status).toBe(202)
    expect(accepted.body).toEqual({
      status: 'accepted',
      feature_views: ['driver_hourly_stats'],
      job_id: expect.any(String),
    })
    const id = accepted.body.job_id as string

    const overlapping = await call(
      'POST',
      '/materialize',
      big(['driver_hourly_stats', 'driver_hourly_stats_fresh']),
    )
    expect(overlapping.status).toBe(409)
    expect(overlapping.body).toMatchObject({
      error_type: 'CONFLICT',
      detail: `feature view driver_hourly_stats is already materializing (job ${id})`,
      details: { feature_views: ['driver_hourly_stats'], job: id },
    })
    const everyView = await call('POST', '/materialize-incremental?async=true', { end_ts: now.toISOString() })
    expect(everyView.status).toBe(409)
    const other = await call('POST', '/materialize', {
      ...small,
      feature_views: ['driver_hourly_stats_fresh'],
    })
    expect(other.status, JSON.stringify(other.body)).toBe(200)
    const forced = await call('POST', '/materialize?force=true', {
      start_ts: '1990-01-01T00:00:00Z',
      end_ts: '1990-01-02T00:00:00Z',
      feature_views: ['driver_hourly_stats'],
    })
    expect(forced.status, JSON.stringify(forced.body)).toBe(200)
    expect(forced.body.feature_views).toEqual([
      expect.objectContaining({ name: 'driver_hourly_stats', rows: 0 }),
    ])

    const running = await untilJob(id, (j) => j.progress.rows_done > 0)
    expect(running).toMatchObject({
      job_id: id,
      kind: 'materialize',
      engine: 'local',
      status: 'running',
      feature_views: ['driver_hourly_stats'],
      request: { start: big(null).start_ts.replace('.000Z', 'Z'), views: ['driver_hourly_stats'] },
      runner: expect.stringMatching(new RegExp(`:${server.process.pid}$`)),
      finished_at: null,
      error: null,
      result: null,
    })
    const listed = (await call('GET', '/jobs?status=running&limit=10')).body.jobs
    expect(listed.map((j: AnyJson) => j.job_id)).toEqual([id])
    const all = (await call('GET', '/jobs?status=queued,running&status=succeeded')).body.jobs
    expect(all.map((j: AnyJson) => j.kind)).toEqual(['materialize', 'materialize', 'materialize'])
    expect((await call('GET', '/jobs?status=lost')).status).toBe(422)
    expect((await call('GET', '/jobs?limit=0')).status).toBe(422)
    // the client reads the same job
    const remote = await new LarderClient(server.url).getJob(id)
    expect(remote).toMatchObject({ id, status: 'running', featureViews: ['driver_hourly_stats'] })

    const cancel = await larder('-c', repo.dir, 'jobs', 'cancel', id, '--wait')
    expect(cancel.code, cancel.stderr).toBe(0)
    expect(cancel.stdout).toBe(`Job ${id}: cancelled\n`)
    const cancelled = (await call('GET', `/jobs/${id}`)).body
    expect(cancelled).toMatchObject({
      status: 'cancelled',
      error: { code: 'ABORTED', message: `job ${id} was cancelled` },
      result: null,
    })
    expect(cancelled.progress.rows_done).toBeLessThan(DRIVERS)
    // no interval for the cancelled window: only the forced 1990 one
    expect(await intervals()).toEqual([
      { start: toMicros('1990-01-01T00:00:00Z'), end: toMicros('1990-01-02T00:00:00Z') },
    ])
    const logs = await larder('-c', repo.dir, 'jobs', 'logs', id)
    expect(logs.stdout).toContain(`error  ABORTED: job ${id} was cancelled`)
    // the server learns that its job ended, and counts the view as failed
    let metrics = ''
    for (let i = 0; i < 50 && !metrics.includes('status="failed"'); i++) {
      await new Promise((r) => setTimeout(r, 100))
      metrics = await (await fetch(`${server.url}/metrics`)).text()
    }
    expect(metrics).toMatch(
      /larder_materialization_duration_seconds_count\{feature_view="driver_hourly_stats",status="failed"\} 1/,
    )
    // a new job over the view is admitted again
    const again = await call('POST', '/materialize', small)
    expect(again.status, JSON.stringify(again.body)).toBe(200)
  }, 90_000)

  it('keeps a job started with ?async=true readable after the server restarts', async () => {
    const accepted = await call('POST', '/materialize?async=true', small)
    expect(accepted.status).toBe(202)
    const id = accepted.body.job_id as string
    const done = await untilJob(id, (j) => j.status === 'succeeded')
    expect(done).toMatchObject({
      status: 'succeeded',
      progress: { rows_done: 5, rows_total: 5, tasks_done: 1, tasks_total: 1 },
      result: { views: [expect.objectContaining({ view: 'driver_hourly_stats', rows: 5 })] },
    })
    expect(await server.stop('SIGTERM')).toBe(0)
    server = await startServe(repo.dir)
    expect((await call('GET', `/jobs/${id}`)).body).toEqual(done)
    const listed = (await call('GET', '/jobs')).body.jobs
    expect(listed[0]).toEqual(done)
    const logs = await larder('-c', repo.dir, 'jobs', 'logs', id)
    expect(logs.stdout).toContain('info   succeeded')
  }, 60_000)

  it('shows the job of a server killed with SIGKILL as lost after a restart; DELETE marks it cancelled', async () => {
    const id = await startBigJob()
    await server.stop('SIGKILL')
    server = await startServe(repo.dir)
    // stored running; lost once its runner has been silent for 30 s
    const lost = await untilJob(id, (j) => j.status === 'lost', 45_000)
    expect(lost).toMatchObject({ status: 'lost', finished_at: null, error: null })
    const remote = await new LarderClient(server.url).getJob(id)
    expect(remote.status).toBe('running')
    expect(effectiveStatus(remote, toMicros(new Date()))).toBe('lost')
    expect(
      (await call('GET', '/jobs?status=running')).body.jobs.map((j: AnyJson) => [j.job_id, j.status]),
    ).toEqual([[id, 'lost']])
    // a lost job holds no view: a new one is admitted
    const admitted = await call('POST', '/materialize', small)
    expect(admitted.status, JSON.stringify(admitted.body)).toBe(200)

    const deleted = await call('DELETE', `/jobs/${id}`)
    expect(deleted.status).toBe(200)
    expect(deleted.body).toMatchObject({
      job_id: id,
      status: 'cancelled',
      error: { code: 'ABORTED', message: `job ${id} was cancelled` },
    })
    expect(deleted.body.cancel_requested_at).not.toBeNull()
    expect(deleted.body.finished_at).not.toBeNull()
    expect((await call('GET', `/jobs/${id}`)).body).toEqual(deleted.body)
    expect(await bigWindowRecorded()).toBe(false)
  }, 120_000)

  it('cancels the jobs it runs when it stops on SIGTERM: "the server is shutting down"', async () => {
    const id = await startBigJob()
    expect(await server.stop('SIGTERM')).toBe(0)
    const got = await larder('-c', repo.dir, 'jobs', 'get', id, '--json')
    expect(JSON.parse(got.stdout)).toMatchObject({
      status: 'cancelled',
      error: { code: 'ABORTED', message: 'the server is shutting down' },
    })
    expect(await bigWindowRecorded()).toBe(false)
  }, 60_000)
})
