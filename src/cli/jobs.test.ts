// `larder jobs` as a user runs it: on the jobs of materializations and historical retrievals of a
// `larder init` repo, and cancelling work that runs in another process (a `larder materialize` child
// of the built CLI) or in this one (a retrieval to Parquet).
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toMicros } from '../core/index.js'
import { FeatureStore } from '../feature-store.js'
import type { JobRecord } from '../registry/index.js'
import { type AppliedRepo, appliedRepo, manyDrivers } from '../server/__fixtures__/serve-process.js'
import { larder } from './__fixtures__/run-larder.js'
import { initRepo } from './commands/init.js'

const BIN = resolve(fileURLToPath(new URL('../../bin/larder.js', import.meta.url)))

// biome-ignore lint/suspicious/noExplicitAny: the tests read JSON of many shapes
type AnyJson = any

const JOB_JSON_KEYS = [
  'job_id',
  'project',
  'kind',
  'engine',
  'status',
  'feature_views',
  'request',
  'progress',
  'created_by',
  'runner',
  'created_at',
  'started_at',
  'finished_at',
  'heartbeat_at',
  'cancel_requested_at',
  'error',
  'result',
]
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/

async function json(...argv: string[]): Promise<AnyJson> {
  const r = await larder(...argv)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout)
}

/** Polls `read` every 100 ms until `done` holds (at most `ms`), and returns the last value read. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await read()
    if (done(value) || Date.now() > deadline) return value
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('larder jobs on a repo that materialized and retrieved', () => {
  let root: string
  let repo: string
  let materialized: AnyJson
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'larder-cli-jobs-'))
    repo = join(root, 'demo')
    await initRepo(repo, 'local', new Date())
    expect((await larder('-c', repo, 'apply')).code).toBe(0)
    const mat = await larder('-c', repo, 'materialize-incremental', new Date().toISOString())
    expect(mat.code, mat.stderr).toBe(0)
    ;[materialized] = await json('-c', repo, 'jobs', 'list', '--json')
  })
  afterAll(() => {
    rmSync(root, { recursive: true, force: true })
  })

  it('lists the materialization with its progress, as a table and as JSON', async () => {
    const table = await larder('-c', repo, 'jobs', 'list')
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(
      /ID\s*│ KIND\s*│ ENGINE\s*│ STATUS\s*│ VIEWS\s*│ ROWS\s*│ TASKS\s*│ CREATED\s*│ BY/,
    )
    expect(table.stdout).toMatch(
      new RegExp(
        `${materialized.job_id}\\s*│ materialize-incremental\\s*│ local\\s*│ succeeded\\s*│ all\\s*│ 10/10\\s*│ 2/2\\s*│`,
      ),
    )
    expect(Object.keys(materialized)).toEqual(JOB_JSON_KEYS)
    expect(materialized).toMatchObject({
      project: 'demo',
      kind: 'materialize-incremental',
      engine: 'local',
      status: 'succeeded',
      feature_views: null,
      request: { views: ['driver_hourly_stats', 'driver_hourly_stats_fresh'] },
      progress: {
        rows_done: 10,
        rows_total: 10,
        tasks_done: 2,
        tasks_total: 2,
        views: {
          driver_hourly_stats: { rows_done: 5, rows_total: 5, tasks_done: 1, tasks_total: 1 },
          driver_hourly_stats_fresh: { rows_done: 5, rows_total: 5, tasks_done: 1, tasks_total: 1 },
        },
      },
      runner: expect.stringMatching(/:\d+$/),
      cancel_requested_at: null,
      error: null,
      result: {
        views: [expect.objectContaining({ view: 'driver_hourly_stats', rows: 5 }), expect.anything()],
      },
    })
    for (const key of ['created_at', 'started_at', 'finished_at', 'heartbeat_at'])
      expect(materialized[key], key).toMatch(RFC3339)
    expect(materialized.request.end).toMatch(RFC3339)

    expect(await json('-c', repo, 'jobs', 'list', '--json', '--status', 'running,failed')).toEqual([])
    expect(await json('-c', repo, 'jobs', 'list', '--json', '--status', 'succeeded', '--limit', '1')).toEqual(
      [materialized],
    )
    const none = await larder('-c', repo, 'jobs', 'list', '--status', 'queued')
    expect(none.stdout).toContain('No queued jobs in project "demo"')
    const lost = await larder('-c', repo, 'jobs', 'list', '--status', 'lost')
    expect(lost.code).toBe(1)
    expect(lost.stderr).toContain(
      'job status "lost" is not one of cancelled, failed, queued, running, succeeded',
    )
    expect(lost.stderr).toContain('hint: a lost job is stored queued or running')
    expect((await larder('-c', repo, 'jobs', 'list', '--limit', '0')).code).toBe(1)
  })

  it('gets one job, reads its logs, and says a finished job cannot be cancelled any more', async () => {
    const id = materialized.job_id as string
    expect(await json('-c', repo, 'jobs', 'get', id, '--json')).toEqual(materialized)
    const got = await larder('-c', repo, 'jobs', 'get', id)
    expect(got.stdout).toMatch(new RegExp(`^job\\s+${id}$`, 'm'))
    expect(got.stdout).toMatch(/^status\s+succeeded$/m)
    expect(got.stdout).toMatch(/^progress\s+10\/10 rows, 2\/2 tasks$/m)
    expect(got.stdout).toMatch(/^ {2}driver_hourly_stats\s+5\/5 rows, 1\/1 tasks$/m)
    expect(got.stdout).toMatch(/^result\s+\{"views":/m)
    expect(got.stdout).not.toMatch(/^error/m)

    const logs = await larder('-c', repo, 'jobs', 'logs', id)
    const lines = logs.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^\S+Z {2}info {3}feature view "driver_hourly_stats": \S+ to \S+$/)
    expect(lines.at(-1)).toMatch(/ {2}info {3}succeeded$/)
    expect((await larder('-c', repo, 'jobs', 'logs', id, '--limit', '1')).stdout.trimEnd()).toBe(lines.at(-1))
    // --follow on a finished job prints what there is and ends
    expect((await larder('-c', repo, 'jobs', 'logs', id, '--follow')).stdout).toBe(logs.stdout)

    const cancel = await larder('-c', repo, 'jobs', 'cancel', id)
    expect(cancel.code).toBe(0)
    expect(cancel.stdout).toBe(`Job ${id} had already finished: succeeded\n`)
    expect(await json('-c', repo, 'jobs', 'get', id, '--json')).toEqual(materialized)
  })

  it('names an unknown id, with the newest jobs, and exits 1', async () => {
    for (const sub of ['get', 'cancel', 'logs']) {
      const r = await larder('-c', repo, 'jobs', sub, 'no-such-job')
      expect(r.code, sub).toBe(1)
      expect(r.stderr, sub).toContain('error: job "no-such-job" not found in project "demo"')
      expect(r.stderr, sub).toContain(`hint: newest jobs: ${materialized.job_id}`)
    }
  })

  it('has --help on each subcommand', async () => {
    for (const sub of ['list', 'get', 'cancel', 'logs']) {
      const r = await larder('jobs', sub, '--help')
      expect(r.code, sub).toBe(0)
      expect(r.stdout, sub).toContain(`Usage: larder jobs ${sub}`)
    }
    expect((await larder('jobs', 'cancel', '--help')).stdout).toContain('--wait')
    expect((await larder('jobs', 'logs', '--help')).stdout).toContain('--follow')
  })

  it('lists a historical retrieval to Parquet as a job with its rows, its id printed on stderr', async () => {
    const out = join(root, 'training.parquet')
    const r = await larder(
      '-c',
      repo,
      'get-historical-features',
      '-e',
      join(repo, 'data', 'entities.csv'),
      '--features',
      'driver_hourly_stats:conv_rate',
      '-o',
      out,
    )
    expect(r.code, r.stderr).toBe(0)
    const id = /^Job (\S+) \(larder jobs get \1; larder jobs cancel \1\)$/m.exec(r.stderr)?.[1]
    expect(id, r.stderr).toBeDefined()
    const rows = Number(/Wrote (\d+) rows/.exec(r.stdout)![1])
    const [job] = await json('-c', repo, 'jobs', 'list', '--json', '--limit', '1')
    expect(job).toMatchObject({
      job_id: id,
      kind: 'historical',
      engine: 'local',
      status: 'succeeded',
      feature_views: ['driver_hourly_stats'],
      request: {
        output: out,
        format: 'parquet',
        features: ['driver_hourly_stats:conv_rate'],
        entities: join(repo, 'data', 'entities.csv'),
      },
      progress: { rows_done: rows, rows_total: rows, tasks_done: 1, tasks_total: 1, views: {} },
      result: { output: out, format: 'parquet', rows },
    })
    // in-memory reads are not jobs
    const store = await FeatureStore.open(repo)
    try {
      const training = await store.getHistoricalFeatures({
        entities: join(repo, 'data', 'entities.csv'),
        features: ['driver_hourly_stats:conv_rate'],
      })
      expect(await training.toRows()).toHaveLength(rows)
      expect((await training.toArrow()).numRows).toBe(rows)
      let streamed = 0
      for await (const batch of training.stream()) streamed += batch.numRows
      expect(streamed).toBe(rows)
    } finally {
      await store.close()
    }
    expect((await json('-c', repo, 'jobs', 'list', '--json', '--limit', '1'))[0].job_id).toBe(id)
  })

  it('cancels a retrieval to Parquet from the CLI mid-write: the write stops and leaves no file', async () => {
    const dir = join(root, 'cancelled')
    mkdirSync(dir)
    const out = join(dir, 'big.parquet')
    const store = await FeatureStore.open(repo)
    try {
      // ten million entity rows: a write of about 20 s on this machine, unless cancelled
      const training = await store.getHistoricalFeatures({
        entities: {
          sql: 'SELECT 1001 + (i % 5) AS driver_id, now() - to_seconds(i % 500000) AS event_timestamp FROM range(10000000) t(i)',
        },
        features: ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:acc_rate'],
      })
      let started: JobRecord | undefined
      const write = training.toParquet(out, {
        onJob: (job) => {
          started = job
        },
      })
      write.catch(() => undefined)
      // the engine is writing: its temporary file is there
      const writing = await until(
        async () => readdirSync(dir),
        (files) => files.length > 0,
      )
      expect(writing).toEqual([expect.stringMatching(/^\.big\.parquet\..*\.tmp$/)])
      const running = await json('-c', repo, 'jobs', 'get', started!.id, '--json')
      expect(running).toMatchObject({
        kind: 'historical',
        status: 'running',
        request: { output: out, entities: { sql: expect.stringContaining('range(10000000)') } },
      })
      const cancel = await larder('-c', repo, 'jobs', 'cancel', started!.id, '--wait')
      expect(cancel.stdout).toBe(`Job ${started!.id}: cancelled\n`)
      await expect(write).rejects.toMatchObject({
        code: 'ABORTED',
        message: `job ${started!.id} was cancelled`,
      })
      expect(readdirSync(dir)).toEqual([])
      const job = await json('-c', repo, 'jobs', 'get', started!.id, '--json')
      expect(job).toMatchObject({
        status: 'cancelled',
        error: { code: 'ABORTED', message: `job ${started!.id} was cancelled` },
        progress: { rows_done: 0 },
        result: null,
      })
      expect(job.cancel_requested_at).toMatch(RFC3339)
    } finally {
      await store.close()
    }
  }, 60_000)
})

describe('larder jobs cancel on a `larder materialize` child process', () => {
  let repo: AppliedRepo
  const now = new Date()
  beforeAll(async () => {
    repo = await appliedRepo({ now })
    await manyDrivers(repo.dir, 500_000, now)
  })
  afterAll(() => {
    repo?.remove()
  })

  it('stops it at a batch boundary; the child exits 1 naming the job and no interval is recorded', async () => {
    const start = new Date(now.getTime() - 3_600_000).toISOString()
    const child: ChildProcess = spawn(
      process.execPath,
      [BIN, '-c', repo.dir, 'materialize', start, now.toISOString(), '-v', 'driver_hourly_stats'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    )
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    try {
      const [job] = await until(
        () => json('-c', repo.dir, 'jobs', 'list', '--json', '--status', 'running'),
        (jobs: AnyJson[]) => jobs.length > 0 && jobs[0].progress.rows_done > 0,
        30_000,
      )
      expect(job, stderr).toMatchObject({
        kind: 'materialize',
        status: 'running',
        feature_views: ['driver_hourly_stats'],
      })
      // the bin runs materialize in a child of its own with a bounded heap: that child is the runner
      const runnerPid = Number(job.runner.split(':')[1])
      expect(parentPid(runnerPid)).toBe(child.pid)
      // follows the log of the running job until it is final
      const follow = larder('-c', repo.dir, 'jobs', 'logs', job.job_id, '--follow')
      const cancel = await larder('-c', repo.dir, 'jobs', 'cancel', job.job_id, '--wait', '--json')
      expect(cancel.code, cancel.stderr).toBe(0)
      const cancelled = JSON.parse(cancel.stdout)
      expect(cancelled).toMatchObject({
        status: 'cancelled',
        error: { code: 'ABORTED', message: `job ${job.job_id} was cancelled` },
      })
      expect(cancelled.progress.rows_done).toBeLessThan(500_000)
      const followed = await follow
      expect(followed.code, followed.stderr).toBe(0)
      expect(followed.stdout).toMatch(/^\S+ {2}info {3}feature view "driver_hourly_stats": \S+ to \S+$/m)
      expect(followed.stdout.trimEnd().split('\n').at(-1)).toMatch(
        new RegExp(`error {2}ABORTED: job ${job.job_id} was cancelled$`),
      )
      expect(await exited).toBe(1)
      expect(stderr).toContain(`error: job ${job.job_id} was cancelled`)
      const store = await FeatureStore.open(repo.dir)
      try {
        const catalog = await store.catalog({ allowCache: false })
        expect(catalog.materializationIntervals('driver_hourly_stats')).toEqual([])
        const [run] = await store.listMaterializationRuns({ view: 'driver_hourly_stats' })
        expect(run).toMatchObject({ status: 'failed', end: toMicros(now) })
      } finally {
        await store.close()
      }
    } finally {
      child.kill('SIGKILL')
    }
  }, 90_000)
})

/** The parent of a live process, from /proc (the field after the parenthesised command name). */
function parentPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
}
