import type * as Bullmq from 'bullmq'
import type { FlowJob, JobsOptions, Queue } from 'bullmq'
import { LarderError, type LarderErrorCode, type Micros } from '../../core/index.js'
import type { KeyPart } from '../../offline/index.js'
import type { JobRecord } from '../../registry/index.js'
import { jobError } from '../job-tracker.js'
import type { ViewPlan } from './task-plan.js'

/** What a `task` job of the flow carries: one piece of one view's window. */
export interface TaskData {
  readonly project: string
  /** The id of the Larder job. */
  readonly job: string
  readonly view: string
  /** The task's number within its view. */
  readonly task: number
  readonly start: Micros
  readonly end: Micros
  readonly part?: KeyPart
  readonly batchSize: number
}

/** What a `view` job carries: the view's window and how many tasks load it. */
export interface ViewData {
  readonly project: string
  readonly job: string
  readonly view: string
  /** The view's place in the job, for the order of the result. */
  readonly index: number
  readonly start: Micros
  readonly end: Micros
  readonly tasks: number
}

/** What the root `finish` job carries. */
export interface FinishData {
  readonly project: string
  readonly job: string
  readonly views: readonly string[]
}

/** What a task returns: its counts, summed by its view. */
export interface TaskTally {
  readonly rows: number
  readonly written: number
  readonly skipped: number
  readonly newestEvent: Micros | null
  readonly startedAt: Micros
  readonly finishedAt: Micros
}

/** The BullMQ job ids of a Larder job's flow: the root, one per view, one per task. */
export const flowIds = {
  root: (job: string) => job,
  view: (job: string, view: number) => `${job}.v${view}`,
  task: (job: string, view: number, task: number) => `${job}.v${view}.t${task}`,
}

export interface FlowSettings {
  readonly queue: string
  readonly attempts: number
  readonly batchSize: number
}

const BACKOFF_MS = 1000
const KEEP_DONE = { age: 24 * 3600 }
const KEEP_FAILED = { age: 7 * 24 * 3600 }

/**
 * The flow of a job: a root `finish` job whose children are one `view` job per view, whose children
 * are the view's `task` jobs. A task that fails for good (attempts spent, or unrecoverable) wakes its
 * view at once (`continueParentOnFailure`), which stores the job's failure; a view that fails fails the
 * root (`failParentOnFailure`). Every job is retried `attempts` times, backing off from 1 s.
 */
export function jobFlow(job: JobRecord, plan: readonly ViewPlan[], settings: FlowSettings): FlowJob {
  const base: JobsOptions = {
    attempts: settings.attempts,
    backoff: { type: 'exponential', delay: BACKOFF_MS },
    removeOnComplete: KEEP_DONE,
    removeOnFail: KEEP_FAILED,
  }
  const common = { project: job.project, job: job.id }
  return {
    name: 'finish',
    queueName: settings.queue,
    data: { ...common, views: plan.map((p) => p.window.view.name) } satisfies FinishData,
    opts: { ...base, jobId: flowIds.root(job.id) },
    children: plan.map(({ window, tasks }, v) => ({
      name: 'view',
      queueName: settings.queue,
      data: {
        ...common,
        view: window.view.name,
        index: v,
        start: window.start,
        end: window.end,
        tasks: tasks.length,
      } satisfies ViewData,
      opts: { ...base, jobId: flowIds.view(job.id, v), failParentOnFailure: true },
      children: tasks.map((t) => ({
        name: 'task',
        queueName: settings.queue,
        data: {
          ...common,
          view: window.view.name,
          task: t.index,
          start: t.start,
          end: t.end,
          ...(t.part ? { part: t.part } : {}),
          batchSize: settings.batchSize,
        } satisfies TaskData,
        opts: { ...base, jobId: flowIds.task(job.id, v, t.index), continueParentOnFailure: true },
      })),
    })),
  }
}

/** BullMQ states of a job that runs or will run. */
const LIVE: ReadonlySet<string> = new Set(['active', 'waiting', 'prioritized', 'delayed'])

/**
 * Removes the tasks of a job's flow that are not running (waiting, or delayed for a retry) and tells
 * whether a task of it still runs (or was put back to run, by a stalled check, meanwhile). The views
 * woken by the removal only do the job's bookkeeping. False when the flow is gone or was never enqueued.
 */
export async function stopFlow(bullmq: typeof Bullmq, queue: Queue, job: string): Promise<boolean> {
  const root = await bullmq.Job.fromId(queue, flowIds.root(job))
  if (!root) return false
  const tasks: string[] = []
  for (const key of (await root.getDependencies()).unprocessed ?? []) {
    const view = await bullmq.Job.fromId(queue, idOfKey(key))
    if (!view) continue
    await view.removeUnprocessedChildren()
    tasks.push(...((await view.getDependencies()).unprocessed ?? []).map(idOfKey))
  }
  const states = await Promise.all(tasks.map((id) => queue.getJobState(id)))
  return states.some((s) => LIVE.has(s))
}

/** The job id in a BullMQ job key (`<prefix>:<queue>:<id>`; ids hold no colon). */
export function idOfKey(key: string): string {
  return key.slice(key.lastIndexOf(':') + 1)
}

/** An error as a flow job's failure text, `CODE: message`, which {@link errorOfReason} reads back. */
export function reasonOf(error: unknown): string {
  const { code, message } = jobError(error)
  return `${code}: ${message}`
}

const REASON = /^([A-Z][A-Z_]*): ([\s\S]*)$/

/**
 * The error of a flow job's failure text: a LarderError with the code of `CODE: message`, or INTERNAL
 * for a text BullMQ wrote itself (a task stalled too often).
 */
export function errorOfReason(reason: string): LarderError {
  const m = REASON.exec(reason)
  return m ? new LarderError(m[1] as LarderErrorCode, m[2]!) : new LarderError('INTERNAL', reason)
}
