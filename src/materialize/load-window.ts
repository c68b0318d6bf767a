import {
  type Abortable,
  type FeatureView,
  formatMicros,
  type Micros,
  nowMicros,
  throwIfAborted,
} from '../core/index.js'
import { type KeyPart, type OfflineStore, pullColumns } from '../offline/index.js'
import { type OnlineStore, viewRef } from '../online/online-store.js'
import type { MaterializeTarget } from './materialize.js'
import { type OnDemandWriter, onDemandWriters } from './on-demand-writes.js'
import type { RunTally } from './record-run.js'
import { writeRowEncoder } from './row-encoder.js'

/** A piece of a view's window: all of it, or the entity keys of one part. */
export interface WindowPiece {
  readonly view: FeatureView
  /** Inclusive. */
  readonly start: Micros
  /** Inclusive. */
  readonly end: Micros
  /** Only the join-key tuples of this part (the offline engine's key buckets). */
  readonly part?: KeyPart
}

export interface LoadOptions extends Abortable {
  /** Rows per offline batch and per online write. */
  readonly batchSize: number
  /** After each batch written, with the tally so far; the next batch is written once it resolves. */
  readonly onBatch?: (tally: RunTally) => void | Promise<void>
  /** Asks the offline engine for the piece's row count (an extra scan), given before the first batch. */
  readonly onRowCount?: (rows: number) => void
}

/** A fresh tally, started at `startedAt` (default: now, by the system clock). */
export function newTally(startedAt: Micros = nowMicros()): RunTally {
  return {
    startedAt,
    started: performance.now(),
    rows: 0,
    written: 0,
    skipped: 0,
    newestEvent: undefined,
  }
}

/** The on-demand views computed at write time from `view`'s rows (`writeToOnlineStore`). */
export async function writersFor(target: MaterializeTarget, view: FeatureView): Promise<OnDemandWriter[]> {
  const catalog = (await target.registry.load()).catalog(target.config.project)
  const stored = [...catalog.onDemandFeatureViews.values()].some((o) => o.writeToOnlineStore)
  return onDemandWriters(catalog, view, stored ? await target.onDemandViews?.() : undefined)
}

/**
 * Streams the latest row per entity key of one piece of a window from the offline store into the
 * online store (and the on-demand views computed from it), counting into `tally` as batches are
 * written. Reads the next batch while the current one is written, so memory follows the batch size.
 * Records nothing in the registry: the caller records the interval once every piece of the view is in.
 * Writes keep the newer value per key, so loading a piece twice, or pieces in any order, converges to
 * the same online state.
 */
export async function loadPiece(
  target: MaterializeTarget,
  offline: OfflineStore,
  online: OnlineStore,
  piece: WindowPiece,
  writers: readonly OnDemandWriter[],
  tally: RunTally,
  options: LoadOptions,
): Promise<void> {
  const { project, entityKeySerializationVersion } = target.config
  const ref = viewRef(project, piece.view)
  const encode = writeRowEncoder(ref, pullColumns(piece.view), entityKeySerializationVersion)
  const batches = offline
    .pullLatest(
      piece.view,
      // A number would be read as epoch milliseconds; RFC 3339 text keeps the microseconds.
      { start: formatMicros(piece.start), end: formatMicros(piece.end) },
      {
        signal: options.signal,
        batchSize: options.batchSize,
        ...(piece.part ? { part: piece.part } : {}),
        ...(options.onRowCount ? { onRowCount: options.onRowCount } : {}),
      },
    )
    [Symbol.asyncIterator]()
  try {
    let next = batches.next()
    for (;;) {
      const { done, value: batch } = await next
      if (done) break
      next = batches.next()
      next.catch(() => undefined)
      throwIfAborted(options.signal)
      const encoded = encode(batch)
      tally.rows += batch.numRows
      const stats = await online.write(ref, encoded, { signal: options.signal })
      for (const writer of writers) {
        await online.write(writer.ref, writer.rows(encoded), { signal: options.signal })
      }
      tally.written += stats.written
      tally.skipped += stats.skipped
      let newest = tally.newestEvent ?? Number.NEGATIVE_INFINITY
      for (const row of encoded) if (row.eventTs > newest) newest = row.eventTs
      if (encoded.length > 0) tally.newestEvent = newest
      await options.onBatch?.(tally)
    }
  } finally {
    await batches.return?.()
  }
  throwIfAborted(options.signal)
}
