import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isLarderError, type Micros, nowMicros } from '../core/index.js'
import {
  compareJobsNewestFirst,
  DEFAULT_JOBS_LISTED,
  JOB_LOG_LINES_KEPT,
  JOB_TEXT_MAX_CHARS,
  JOBS_KEPT,
  type JobLogLine,
  type JobRecord,
  type JobStore,
} from '../registry/jobs.js'
import type { Registry } from '../registry/registry.js'
import { uniqueProject } from './online-conformance.js'
import type { RegistryHarness } from './registry-conformance.js'

/** Opens handles on one job store (every handle sees the same stored jobs). */
export interface JobStoreHarness {
  /** A new handle, as another process would open it; the harness closes it at cleanup. */
  open(): Promise<JobStore>
  /** Closes the handles and removes what the harness created (a temp file, a test database). */
  cleanup(): Promise<void>
}

/** A harness over the jobs of the registries `harness` opens (`Registry.jobs`); cleanup closes them. */
export function registryJobs(harness: RegistryHarness): JobStoreHarness {
  const opened: Registry[] = []
  return {
    async open() {
      const registry = await harness.open()
      opened.push(registry)
      return registry.jobs
    },
    async cleanup() {
      await Promise.all(opened.map((r) => r.close()))
      await harness.cleanup()
    },
  }
}

const T: Micros = 1_700_000_000_000_000

/** A queued materialization of `project` created at `T`; `extra` overrides fields. */
export function sampleJob(project: string, extra: Partial<JobRecord> = {}): JobRecord {
  return {
    id: randomUUID(),
    project,
    kind: 'materialize',
    engine: 'local',
    status: 'queued',
    featureViews: ['driver_hourly_stats'],
    request: { start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z' },
    progress: { rowsDone: 0, rowsTotal: undefined, tasksDone: 0, tasksTotal: 2 },
    createdBy: 'tester@laptop',
    runner: 'laptop:4242',
    createdAt: T,
    startedAt: undefined,
    finishedAt: undefined,
    heartbeatAt: T,
    cancelRequestedAt: undefined,
    error: undefined,
    result: undefined,
    ...extra,
  }
}

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; hint?: string }> {
  const outcome = await promise.then(
    () => undefined,
    (e: unknown) => e as Error,
  )
  if (outcome === undefined) throw new Error('expected the call to fail, it succeeded')
  return outcome
}

function line(i: number, level: JobLogLine['level'] = 'info'): JobLogLine {
  return { at: T + i, level, message: `line ${i}` }
}

/**
 * Registers the job store conformance suite: what every `JobStore` (the file, SQL and remote
 * registries' jobs; the BullMQ engine's Redis store) must do, against a real store. Each test works in
 * a project of its own, so the harness may keep one store for the whole suite.
 *
 * @example describeJobStoreConformance('sqlite', async () => registryJobs(sqliteHarness()))
 */
export function describeJobStoreConformance(name: string, setup: () => Promise<JobStoreHarness>): void {
  describe(`${name}: JobStore conformance`, () => {
    let harness: JobStoreHarness
    let store: JobStore

    beforeAll(async () => {
      harness = await setup()
      store = await harness.open()
    })
    afterAll(async () => {
      await harness?.cleanup()
    })

    it('stores every field of a job and reads it back from another handle', async () => {
      const project = uniqueProject('jobs_fields')
      const full = sampleJob(project, {
        kind: 'materialize-incremental',
        status: 'failed',
        featureViews: ['b_view', 'a_view'],
        request: { end: '2026-01-02T00:00:00Z', nested: { list: [1, 'two', null, true] } },
        progress: {
          rowsDone: 120,
          rowsTotal: 200,
          tasksDone: 3,
          tasksTotal: 4,
          views: {
            a_view: { rowsDone: 100, rowsTotal: 100, tasksDone: 2, tasksTotal: 2 },
            b_view: { rowsDone: 20, rowsTotal: undefined, tasksDone: 1, tasksTotal: 2 },
          },
        },
        startedAt: T + 1,
        finishedAt: T + 9,
        heartbeatAt: T + 9,
        cancelRequestedAt: T + 5,
        error: { code: 'BACKEND_UNAVAILABLE', message: 'the online store (redis) did not answer' },
        result: { views: [{ name: 'a_view', rowsWritten: 100 }], note: 'ünïcode ✓' },
      })
      const minimal = sampleJob(project, {
        kind: 'historical',
        engine: 'bullmq',
        featureViews: null,
        request: {},
        runner: undefined,
        createdAt: T + 1,
      })
      const emptyViews = sampleJob(project, { kind: 'stream', featureViews: [], createdAt: T + 2 })
      for (const job of [full, minimal, emptyViews]) await store.create(job)
      const reader = await harness.open()
      expect(await reader.get(project, full.id)).toEqual(full)
      expect(await reader.get(project, minimal.id)).toEqual(minimal)
      expect(await reader.get(project, emptyViews.id)).toEqual(emptyViews)
      expect(await reader.list(project)).toEqual([emptyViews, minimal, full])
    })

    it('lists newest first by creation time, ties by id, with a status filter and a limit', async () => {
      const project = uniqueProject('jobs_list')
      const jobs = [
        sampleJob(project, { id: 'tie-1', createdAt: T + 2, status: 'running' }),
        sampleJob(project, { id: 'oldest', createdAt: T }),
        sampleJob(project, { id: 'Tie-1', createdAt: T + 2, status: 'succeeded' }),
        sampleJob(project, { id: 'middle', createdAt: T + 1, status: 'running' }),
        sampleJob(project, { id: 'tie-2', createdAt: T + 2 }),
      ]
      for (const job of jobs) await store.create(job)
      const ids = (listed: JobRecord[]) => listed.map((j) => j.id)
      // 'tie-2' > 'tie-1' > 'Tie-1' as JavaScript compares strings (upper case sorts first).
      expect(ids(await store.list(project))).toEqual(['tie-2', 'tie-1', 'Tie-1', 'middle', 'oldest'])
      expect(await store.list(project)).toEqual([...jobs].sort(compareJobsNewestFirst))
      expect(ids(await store.list(project, { limit: 2 }))).toEqual(['tie-2', 'tie-1'])
      expect(ids(await store.list(project, { status: ['running'] }))).toEqual(['tie-1', 'middle'])
      expect(ids(await store.list(project, { status: ['running', 'succeeded'], limit: 2 }))).toEqual([
        'tie-1',
        'Tie-1',
      ])
      expect(await store.list(project, { status: [] })).toEqual([])
      expect(await store.list(uniqueProject('jobs_none'))).toEqual([])
      const error = await rejection(store.list(project, { limit: 0 }))
      expect(isLarderError(error) && error.code).toBe('INVALID_ARGUMENT')
    })

    it('keeps projects apart, even for the same id', async () => {
      const a = uniqueProject('jobs_apart_a')
      const b = uniqueProject('jobs_apart_b')
      const inA = sampleJob(a, { id: 'shared-id', engine: 'local' })
      const inB = sampleJob(b, { id: 'shared-id', engine: 'bullmq', runner: undefined })
      const onlyA = sampleJob(a, { createdAt: T + 1 })
      for (const job of [inA, inB, onlyA]) await store.create(job)
      expect(await store.list(a)).toEqual([onlyA, inA])
      expect(await store.list(b)).toEqual([inB])
      await store.update(a, 'shared-id', { status: 'running' })
      expect(await store.get(b, 'shared-id')).toEqual(inB)
      await store.appendLogs(a, 'shared-id', [line(1)])
      expect(await store.logs(b, 'shared-id')).toEqual([])
      const error = await rejection(store.get(b, onlyA.id))
      expect(isLarderError(error) && error.code).toBe('NOT_FOUND')
    })

    it('refuses a second job with the same id in the project (CONFLICT) and keeps the first', async () => {
      const project = uniqueProject('jobs_conflict')
      const job = sampleJob(project)
      await store.create(job)
      const error = await rejection((await harness.open()).create({ ...job, engine: 'bullmq' }))
      expect(isLarderError(error) && error.code).toBe('CONFLICT')
      expect(error.message).toContain(job.id)
      expect(await store.get(project, job.id)).toEqual(job)
      expect(await store.list(project)).toHaveLength(1)
    })

    it('refuses a malformed record or patch (INVALID_ARGUMENT naming the field) and stores nothing', async () => {
      const project = uniqueProject('jobs_invalid')
      const cases: [Partial<JobRecord>, string][] = [
        [{ status: 'maybe' as never }, 'status'],
        [{ kind: 'bake' as never }, 'kind'],
        [{ id: '' }, 'id'],
        [{ id: 'x'.repeat(65) }, 'id'],
        [{ createdAt: 1.5 }, 'createdAt'],
        [{ request: 'start=now' as never }, 'request'],
        [{ progress: { rowsDone: -1, rowsTotal: undefined, tasksDone: 0, tasksTotal: 1 } }, 'progress'],
        [{ error: { code: '', message: 'no code' } }, 'error'],
        [{ createdBy: '' }, 'createdBy'],
      ]
      for (const [extra, field] of cases) {
        const error = await rejection(store.create(sampleJob(project, extra)))
        expect(isLarderError(error) && error.code, field).toBe('INVALID_ARGUMENT')
        expect(error.message, field).toContain(field)
      }
      expect(await store.list(project)).toEqual([])
      const job = sampleJob(project, { status: 'running' })
      await store.create(job)
      for (const patch of [
        { status: 'paused' as never },
        { heartbeatAt: 2.5 },
        { progress: { rowsDone: 1.5, rowsTotal: undefined, tasksDone: 0, tasksTotal: 1 } },
      ]) {
        const error = await rejection(store.update(project, job.id, patch))
        expect(isLarderError(error) && error.code).toBe('INVALID_ARGUMENT')
      }
      const badLine = await rejection(
        store.appendLogs(project, job.id, [line(1), { ...line(2), level: 'debug' as never }]),
      )
      expect(isLarderError(badLine) && badLine.code).toBe('INVALID_ARGUMENT')
      expect(await store.get(project, job.id)).toEqual(job)
      expect(await store.logs(project, job.id)).toEqual([])
    })

    it('updates only the fields it is given and returns the job as stored', async () => {
      const project = uniqueProject('jobs_update')
      const job = sampleJob(project)
      await store.create(job)
      const other = await harness.open()
      const running = await other.update(project, job.id, {
        status: 'running',
        startedAt: T + 5,
        heartbeatAt: T + 5,
      })
      expect(running).toEqual({ ...job, status: 'running', startedAt: T + 5, heartbeatAt: T + 5 })
      expect(await store.get(project, job.id)).toEqual(running)
      const progress = { rowsDone: 10, rowsTotal: 40, tasksDone: 1, tasksTotal: 2 }
      const progressed = await store.update(project, job.id, { progress })
      expect(progressed).toEqual({ ...running, progress })
      expect(await store.update(project, job.id, {})).toEqual(progressed)
      const long = await store.update(project, job.id, {
        error: { code: 'INTERNAL', message: 'x'.repeat(JOB_TEXT_MAX_CHARS + 500) },
        result: { partial: true },
      })
      expect(long.error?.message.length).toBeLessThanOrEqual(JOB_TEXT_MAX_CHARS)
      expect(long.result).toEqual({ partial: true })
      expect(await other.get(project, job.id)).toEqual(long)
    })

    it('keeps a finished job final: update and requestCancel return it unchanged', async () => {
      const project = uniqueProject('jobs_final')
      for (const status of ['succeeded', 'failed', 'cancelled'] as const) {
        const job = sampleJob(project, { status: 'running', startedAt: T + 1 })
        await store.create(job)
        const finished = await store.update(project, job.id, {
          status,
          finishedAt: T + 9,
          heartbeatAt: T + 9,
          ...(status === 'succeeded'
            ? { result: { rows: 3 } }
            : { error: { code: 'ABORTED', message: 'stop' } }),
        })
        expect(finished.status).toBe(status)
        const late = await store.update(project, job.id, {
          status: 'running',
          heartbeatAt: T + 20,
          progress: { rowsDone: 99, rowsTotal: undefined, tasksDone: 1, tasksTotal: 2 },
        })
        expect(late).toEqual(finished)
        expect(await store.requestCancel(project, job.id)).toEqual(finished)
        expect(await store.get(project, job.id)).toEqual(finished)
      }
    })

    it('stamps a cancel request once, and neither a cancel nor an update loses the other', async () => {
      const project = uniqueProject('jobs_cancel')
      const job = sampleJob(project, { status: 'running', startedAt: T + 1 })
      await store.create(job)
      const before = nowMicros()
      const first = await store.requestCancel(project, job.id)
      expect(first.cancelRequestedAt).toBeGreaterThanOrEqual(before)
      expect(first).toEqual({ ...job, cancelRequestedAt: first.cancelRequestedAt })
      await new Promise((r) => setTimeout(r, 5))
      const second = await (await harness.open()).requestCancel(project, job.id)
      expect(second.cancelRequestedAt).toBe(first.cancelRequestedAt)
      // an update after the cancel keeps the stamp
      const progress = { rowsDone: 7, rowsTotal: undefined, tasksDone: 1, tasksTotal: 2 }
      const updated = await store.update(project, job.id, { progress, heartbeatAt: T + 7 })
      expect(updated).toEqual({ ...first, progress, heartbeatAt: T + 7 })
      // a cancel after an update keeps the update
      expect(await store.requestCancel(project, job.id)).toEqual(updated)
      const cancelled = await store.update(project, job.id, { status: 'cancelled', finishedAt: T + 8 })
      expect(cancelled).toEqual({ ...updated, status: 'cancelled', finishedAt: T + 8 })
      // a queued job takes a cancel request too, and an update after it keeps it
      const queued = sampleJob(project, { createdAt: T + 1 })
      await store.create(queued)
      const stamped = await store.requestCancel(project, queued.id)
      expect(stamped.cancelRequestedAt).toBeDefined()
      const started = await store.update(project, queued.id, { status: 'running', startedAt: T + 3 })
      expect(started.cancelRequestedAt).toBe(stamped.cancelRequestedAt)
    })

    it('answers NOT_FOUND naming the id, the project and its newest jobs', async () => {
      const project = uniqueProject('jobs_missing')
      const older = sampleJob(project)
      const newest = sampleJob(project, { createdAt: T + 1 })
      await store.create(older)
      await store.create(newest)
      const calls: [string, () => Promise<unknown>][] = [
        ['get', () => store.get(project, 'missing-job')],
        ['update', () => store.update(project, 'missing-job', { heartbeatAt: T })],
        ['requestCancel', () => store.requestCancel(project, 'missing-job')],
        ['appendLogs', () => store.appendLogs(project, 'missing-job', [line(1)])],
        ['logs', () => store.logs(project, 'missing-job')],
      ]
      for (const [what, call] of calls) {
        const error = await rejection(call())
        expect(isLarderError(error) && error.code, what).toBe('NOT_FOUND')
        expect(error.message, what).toContain('"missing-job"')
        expect(error.message, what).toContain(project)
        expect(error.hint, what).toContain(newest.id)
      }
      const empty = await rejection(store.get(uniqueProject('jobs_empty'), 'missing-job'))
      expect(isLarderError(empty) && empty.code).toBe('NOT_FOUND')
      expect(empty.message).toContain('"missing-job"')
    })

    it(`keeps the newest ${JOBS_KEPT} finished jobs of a project by creation time, never dropping an unfinished one`, async () => {
      const project = uniqueProject('jobs_kept')
      const elsewhere = uniqueProject('jobs_kept_other')
      const otherJob = sampleJob(elsewhere, { status: 'succeeded', createdAt: T - 1 })
      await store.create(otherJob)
      const queued = sampleJob(project, { id: 'queued', createdAt: T })
      const running = sampleJob(project, { id: 'running', status: 'running', createdAt: T + 1 })
      await store.create(queued)
      await store.create(running)
      const finished = Array.from({ length: JOBS_KEPT + 3 }, (_, i) =>
        sampleJob(project, {
          id: `done-${String(i).padStart(4, '0')}`,
          status: i % 3 === 0 ? 'failed' : i % 3 === 1 ? 'succeeded' : 'cancelled',
          createdAt: T + 10 + i,
        }),
      )
      for (const [i, job] of finished.entries()) {
        await store.create(job)
        if (i === 10) await store.appendLogs(project, 'done-0000', [line(1)])
      }
      // created last but older than every kept one: it goes at once
      await store.create(sampleJob(project, { id: 'late-but-old', status: 'succeeded', createdAt: T + 5 }))
      const listed = await store.list(project, { limit: 1000 })
      expect(listed.map((j) => j.id)).toEqual([
        ...finished
          .slice(3)
          .reverse()
          .map((j) => j.id),
        'running',
        'queued',
      ])
      expect(await store.list(project)).toHaveLength(DEFAULT_JOBS_LISTED)
      for (const gone of ['done-0000', 'done-0002', 'late-but-old']) {
        const error = await rejection(store.get(project, gone))
        expect(isLarderError(error) && error.code, gone).toBe('NOT_FOUND')
      }
      const logs = await rejection(store.logs(project, 'done-0000'))
      expect(isLarderError(logs) && logs.code).toBe('NOT_FOUND')
      expect(await store.get(elsewhere, otherJob.id)).toEqual(otherJob)
    }, 120_000)

    it(`appends log lines in order, reads the newest with a limit, and keeps the newest ${JOB_LOG_LINES_KEPT}`, async () => {
      const project = uniqueProject('jobs_logs')
      const job = sampleJob(project, { status: 'running' })
      const quiet = sampleJob(project, { createdAt: T + 1 })
      await store.create(job)
      await store.create(quiet)
      await store.appendLogs(project, job.id, [line(1), line(2, 'warn'), line(3, 'error')])
      await store.appendLogs(project, job.id, [])
      await (await harness.open()).appendLogs(project, job.id, [line(4), line(5)])
      expect(await store.logs(project, job.id)).toEqual(
        [1, 2, 3, 4, 5].map((i) => line(i, i === 2 ? 'warn' : i === 3 ? 'error' : 'info')),
      )
      expect(await store.logs(project, job.id, { limit: 2 })).toEqual([line(4), line(5)])
      expect(await store.logs(project, quiet.id)).toEqual([])
      const error = await rejection(store.logs(project, job.id, { limit: 0 }))
      expect(isLarderError(error) && error.code).toBe('INVALID_ARGUMENT')
      await store.appendLogs(project, job.id, [
        { at: T + 6, level: 'info', message: 'y'.repeat(JOB_TEXT_MAX_CHARS * 2) },
      ])
      const [cut] = await store.logs(project, job.id, { limit: 1 })
      expect(cut!.message.length).toBeLessThanOrEqual(JOB_TEXT_MAX_CHARS)
      expect(cut!.message.startsWith('yyyy')).toBe(true)
      // the bound: 6 lines so far, then enough to pass it in two appends
      const many = Array.from({ length: JOB_LOG_LINES_KEPT }, (_, i) => line(100 + i))
      await store.appendLogs(project, job.id, many.slice(0, JOB_LOG_LINES_KEPT - 3))
      await store.appendLogs(project, job.id, many.slice(JOB_LOG_LINES_KEPT - 3))
      const kept = await store.logs(project, job.id)
      expect(kept).toHaveLength(JOB_LOG_LINES_KEPT)
      expect(kept).toEqual(many)
      // one append larger than the bound keeps its newest lines
      const flood = Array.from({ length: JOB_LOG_LINES_KEPT + 5 }, (_, i) => line(5000 + i))
      await store.appendLogs(project, quiet.id, flood)
      expect(await store.logs(project, quiet.id)).toEqual(flood.slice(5))
      expect(await store.logs(project, quiet.id, { limit: 3 })).toEqual(flood.slice(-3))
    }, 120_000)

    it('lands the writes of several concurrent writers to different fields of one job', async () => {
      const project = uniqueProject('jobs_concurrent')
      const job = sampleJob(project, { status: 'running', startedAt: T })
      await store.create(job)
      const [a, b, c, d] = await Promise.all([0, 1, 2, 3].map(() => harness.open()))
      const rounds = 8
      const steps = Array.from({ length: rounds }, (_, i) => i + 1)
      await Promise.all([
        (async () => {
          for (const i of steps) await a!.update(project, job.id, { heartbeatAt: T + i })
        })(),
        (async () => {
          for (const i of steps) {
            await b!.update(project, job.id, {
              progress: { rowsDone: i * 10, rowsTotal: undefined, tasksDone: i, tasksTotal: rounds },
            })
          }
        })(),
        (async () => {
          for (const i of steps) {
            await c!.update(project, job.id, { result: { round: i } })
            await c!.appendLogs(project, job.id, [{ at: T + i, level: 'info', message: `c ${i}` }])
          }
        })(),
        (async () => {
          for (const i of steps) {
            if (i === rounds / 2) await d!.requestCancel(project, job.id)
            await d!.appendLogs(project, job.id, [{ at: T + i, level: 'warn', message: `d ${i}` }])
          }
        })(),
      ])
      const stored = await store.get(project, job.id)
      expect(stored.heartbeatAt).toBe(T + rounds)
      expect(stored.progress).toEqual({
        rowsDone: rounds * 10,
        rowsTotal: undefined,
        tasksDone: rounds,
        tasksTotal: rounds,
      })
      expect(stored.result).toEqual({ round: rounds })
      expect(stored.cancelRequestedAt).toBeDefined()
      expect(stored.status).toBe('running')
      const logs = (await store.logs(project, job.id)).map((l) => l.message)
      expect(logs).toHaveLength(2 * rounds)
      expect(logs.filter((m) => m.startsWith('c '))).toEqual(steps.map((i) => `c ${i}`))
      expect(logs.filter((m) => m.startsWith('d '))).toEqual(steps.map((i) => `d ${i}`))
    })
  })
}
