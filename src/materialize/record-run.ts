import { randomUUID } from 'node:crypto'
import { clockNow, isLarderError, type Micros } from '../core/index.js'
import { currentActor, type MaterializationRun } from '../registry/index.js'
import type { MaterializeOptions, MaterializeTarget } from './materialize.js'

/** The engine recorded for in-process materialization. */
export const LOCAL_ENGINE = 'local'

/** What one view's materialization counted so far; updated as batches are written. */
export interface RunTally {
  /** Wall-clock start, for the record. */
  readonly startedAt: Micros
  /** `performance.now()` at the start, for the duration. */
  readonly started: number
  rows: number
  written: number
  skipped: number
  /** The newest event timestamp among the rows handed to the online store. */
  newestEvent: Micros | undefined
}

/**
 * Records one view's run in the registry's run history, as run by `engine` (default `local`), finished
 * now by `target.clock` (the system clock when absent):
 * succeeded when `error` is undefined, else failed with the error's message (after its code, for a
 * LarderError: `ABORTED: …`). Never throws: a run that cannot be recorded (registry down, a
 * registry that keeps no history) is reported through `options.onWarning`, else `process.emitWarning`,
 * and the materialization's own outcome stands. It takes no abort signal, so a cancelled run is
 * recorded too.
 */
export async function recordRun(
  target: MaterializeTarget,
  window: { readonly view: { readonly name: string }; readonly start: Micros; readonly end: Micros },
  tally: RunTally,
  error: unknown,
  options: Pick<MaterializeOptions, 'onWarning'>,
  engine: string = LOCAL_ENGINE,
): Promise<MaterializationRun | undefined> {
  const finishedAt = clockNow(target.clock)
  const run: MaterializationRun = {
    id: randomUUID(),
    project: target.config.project,
    view: window.view.name,
    engine,
    status: error === undefined ? 'succeeded' : 'failed',
    ...(error === undefined ? {} : { error: errorText(error) }),
    start: window.start,
    end: window.end,
    rowsRead: tally.rows,
    rowsWritten: tally.written,
    rowsSkipped: tally.skipped,
    newestEvent: tally.newestEvent,
    runBy: currentActor(),
    startedAt: tally.startedAt,
    finishedAt,
    durationMs: Math.max(0, Math.round(performance.now() - tally.started)),
  }
  try {
    await target.registry.recordMaterializationRun(run)
    return run
  } catch (e) {
    const message = `the ${run.status} materialization run of feature view "${run.view}" was not recorded in the registry's run history: ${e instanceof Error ? e.message : String(e)}`
    if (options.onWarning) options.onWarning(message)
    else process.emitWarning(message, { code: 'LARDER_RUN_NOT_RECORDED' })
    return undefined
  }
}

function errorText(error: unknown): string {
  if (isLarderError(error)) return `${error.code}: ${error.message}`
  return error instanceof Error ? error.message : String(error)
}
