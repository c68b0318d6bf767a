import { create } from '@bufbuild/protobuf'
import type { Micros } from '../../core/index.js'
import {
  MaterializationRunSchema,
  type MaterializationRun as RunMessage,
} from '../../gen/larder/registry/MaterializationRuns_pb.js'
import type { MaterializationRun, MaterializationRunStatus } from '../materialization-runs.js'

/** A materialization run as the `larder.registry.MaterializationRuns` service carries it. */
export function runToMessage(run: MaterializationRun): RunMessage {
  return create(MaterializationRunSchema, {
    id: run.id,
    project: run.project,
    view: run.view,
    engine: run.engine,
    status: run.status,
    error: run.error,
    startMicros: BigInt(run.start),
    endMicros: BigInt(run.end),
    rowsRead: BigInt(run.rowsRead),
    rowsWritten: BigInt(run.rowsWritten),
    rowsSkipped: BigInt(run.rowsSkipped),
    newestEventMicros: run.newestEvent === undefined ? undefined : BigInt(run.newestEvent),
    runBy: run.runBy,
    startedAtMicros: BigInt(run.startedAt),
    finishedAtMicros: BigInt(run.finishedAt),
    durationMs: run.durationMs,
  })
}

/** The run a message carries (the registry it is recorded in checks it). */
export function runFromMessage(m: RunMessage): MaterializationRun {
  const run: MaterializationRun = {
    id: m.id,
    project: m.project,
    view: m.view,
    engine: m.engine,
    status: m.status as MaterializationRunStatus,
    start: Number(m.startMicros) as Micros,
    end: Number(m.endMicros) as Micros,
    rowsRead: Number(m.rowsRead),
    rowsWritten: Number(m.rowsWritten),
    rowsSkipped: Number(m.rowsSkipped),
    newestEvent: m.newestEventMicros === undefined ? undefined : (Number(m.newestEventMicros) as Micros),
    runBy: m.runBy,
    startedAt: Number(m.startedAtMicros) as Micros,
    finishedAt: Number(m.finishedAtMicros) as Micros,
    durationMs: m.durationMs,
  }
  return m.error === undefined ? run : { ...run, error: m.error }
}
