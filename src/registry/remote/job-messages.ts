import { create } from '@bufbuild/protobuf'
import { LarderError, type Micros } from '../../core/index.js'
import {
  type JobLogLine as JobLogLineMessage,
  JobLogLineSchema,
  type Job as JobMessage,
  type JobPatch as JobPatchMessage,
  JobPatchSchema,
  type JobProgress as JobProgressMessage,
  JobProgressSchema,
  JobSchema,
  type ViewProgress as ViewProgressMessage,
} from '../../gen/larder/registry/Jobs_pb.js'
import type {
  JobKind,
  JobLogLine,
  JobPatch,
  JobProgress,
  JobRecord,
  JobStatus,
  ViewProgress,
} from '../jobs.js'

// Conversions between Larder's job model and the `larder.registry.Jobs` messages. Records and patches
// are checked by the store they reach, not here; the senders check them before converting (a count
// that is not an integer has no int64).

/** A job as the `larder.registry.Jobs` service carries it. */
export function jobToMessage(job: JobRecord): JobMessage {
  return create(JobSchema, {
    id: job.id,
    project: job.project,
    kind: job.kind,
    engine: job.engine,
    status: job.status,
    featureViews: job.featureViews === null ? undefined : { names: [...job.featureViews] },
    requestJson: JSON.stringify(job.request),
    progress: progressToMessage(job.progress),
    createdBy: job.createdBy,
    runner: job.runner,
    createdAtMicros: BigInt(job.createdAt),
    startedAtMicros: optionalBigInt(job.startedAt),
    finishedAtMicros: optionalBigInt(job.finishedAt),
    heartbeatAtMicros: BigInt(job.heartbeatAt),
    cancelRequestedAtMicros: optionalBigInt(job.cancelRequestedAt),
    error: job.error,
    resultJson: job.result === undefined ? undefined : JSON.stringify(job.result),
  })
}

/** The job a message carries; INVALID_ARGUMENT naming the field when a JSON document does not parse. */
export function jobFromMessage(m: JobMessage): JobRecord {
  return {
    id: m.id,
    project: m.project,
    kind: m.kind as JobKind,
    engine: m.engine,
    status: m.status as JobStatus,
    featureViews: m.featureViews ? [...m.featureViews.names] : null,
    request: parseJson(m.requestJson, `job "${m.id}" request`) as Record<string, unknown>,
    // A message without progress reaches the store as a record without it, which the store refuses.
    progress: (m.progress ? progressFromMessage(m.progress) : undefined) as JobProgress,
    createdBy: m.createdBy,
    runner: m.runner,
    createdAt: Number(m.createdAtMicros) as Micros,
    startedAt: optionalNumber(m.startedAtMicros),
    finishedAt: optionalNumber(m.finishedAtMicros),
    heartbeatAt: Number(m.heartbeatAtMicros) as Micros,
    cancelRequestedAt: optionalNumber(m.cancelRequestedAtMicros),
    error: m.error ? { code: m.error.code, message: m.error.message } : undefined,
    result: m.resultJson === undefined ? undefined : parseJson(m.resultJson, `job "${m.id}" result`),
  }
}

/** A patch as the service carries it: only the fields it sets. */
export function patchToMessage(patch: JobPatch): JobPatchMessage {
  return create(JobPatchSchema, {
    status: patch.status,
    startedAtMicros: optionalBigInt(patch.startedAt),
    finishedAtMicros: optionalBigInt(patch.finishedAt),
    heartbeatAtMicros: optionalBigInt(patch.heartbeatAt),
    progress: patch.progress === undefined ? undefined : progressToMessage(patch.progress),
    error: patch.error,
    resultJson: patch.result === undefined ? undefined : JSON.stringify(patch.result),
  })
}

/** The patch a message carries, with only the fields it sets. */
export function patchFromMessage(m: JobPatchMessage): JobPatch {
  return {
    ...(m.status === undefined ? {} : { status: m.status as JobStatus }),
    ...(m.startedAtMicros === undefined ? {} : { startedAt: Number(m.startedAtMicros) }),
    ...(m.finishedAtMicros === undefined ? {} : { finishedAt: Number(m.finishedAtMicros) }),
    ...(m.heartbeatAtMicros === undefined ? {} : { heartbeatAt: Number(m.heartbeatAtMicros) }),
    ...(m.progress === undefined ? {} : { progress: progressFromMessage(m.progress) }),
    ...(m.error === undefined ? {} : { error: { code: m.error.code, message: m.error.message } }),
    ...(m.resultJson === undefined ? {} : { result: parseJson(m.resultJson, 'job patch result') }),
  }
}

/** A log line as the service carries it. */
export function logLineToMessage(line: JobLogLine): JobLogLineMessage {
  return create(JobLogLineSchema, { atMicros: BigInt(line.at), level: line.level, message: line.message })
}

/** The log line a message carries (the store it reaches checks it). */
export function logLineFromMessage(m: JobLogLineMessage): JobLogLine {
  return { at: Number(m.atMicros) as Micros, level: m.level as JobLogLine['level'], message: m.message }
}

function progressToMessage(p: JobProgress): JobProgressMessage {
  return create(JobProgressSchema, {
    ...countsToMessage(p),
    views:
      p.views === undefined
        ? undefined
        : {
            views: Object.fromEntries(Object.entries(p.views).map(([name, v]) => [name, countsToMessage(v)])),
          },
  })
}

function progressFromMessage(m: JobProgressMessage): JobProgress {
  const counts = countsFromMessage(m)
  if (!m.views) return counts
  return {
    ...counts,
    views: Object.fromEntries(Object.entries(m.views.views).map(([name, v]) => [name, countsFromMessage(v)])),
  }
}

function countsToMessage(p: ViewProgress) {
  return {
    rowsDone: BigInt(p.rowsDone),
    rowsTotal: optionalBigInt(p.rowsTotal),
    tasksDone: BigInt(p.tasksDone),
    tasksTotal: BigInt(p.tasksTotal),
  }
}

function countsFromMessage(m: ViewProgressMessage | JobProgressMessage): ViewProgress {
  return {
    rowsDone: Number(m.rowsDone),
    rowsTotal: optionalNumber(m.rowsTotal),
    tasksDone: Number(m.tasksDone),
    tasksTotal: Number(m.tasksTotal),
  }
}

function optionalBigInt(n: number | undefined): bigint | undefined {
  return n === undefined ? undefined : BigInt(n)
}

function optionalNumber(n: bigint | undefined): number | undefined {
  return n === undefined ? undefined : Number(n)
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new LarderError('INVALID_ARGUMENT', `${what} is not JSON: ${(cause as Error).message}`, { cause })
  }
}
