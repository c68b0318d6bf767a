import { DEFAULT_ONLINE_LIMITS, type OnlineLimits, type RepoConfig } from '../config/index.js'
import { LarderError, throwIfAborted } from '../core/index.js'
import type { OnlinePlan } from './online-plan.js'

/**
 * The limits of a read: each given in `overrides` (the `limits` option of `getOnlineFeatures`), else
 * the repo's `feature_server:` block, else {@link DEFAULT_ONLINE_LIMITS}.
 */
export function effectiveLimits(config: RepoConfig, overrides: Partial<OnlineLimits> = {}): OnlineLimits {
  const base = config.onlineLimits ?? DEFAULT_ONLINE_LIMITS
  return {
    maxEntityRows: overrides.maxEntityRows ?? base.maxEntityRows,
    maxFeatures: overrides.maxFeatures ?? base.maxFeatures,
    maxFeatureValues: overrides.maxFeatureValues ?? base.maxFeatureValues,
  }
}

/**
 * The number of entity rows of a request's entities, without reading them: the length of the array
 * of rows, or the longest column (ragged columns are refused later, with their names).
 */
export function entityRowCount(entities: unknown): number {
  if (Array.isArray(entities)) return entities.length
  if (typeof entities !== 'object' || entities === null) return 0
  let rows = 0
  for (const column of Object.values(entities)) {
    if (Array.isArray(column) && column.length > rows) rows = column.length
  }
  return rows
}

/**
 * Throws RESOURCE_EXHAUSTED when a request has more entity rows or names more features than the
 * limits allow; checked before the registry is read, so a hostile request costs no more than counting.
 */
export function checkRequestSize(rows: number, features: number | undefined, limits: OnlineLimits): void {
  if (rows > limits.maxEntityRows) {
    throw overLimit(
      `the request has ${n(rows)} entity rows, more than the limit of ${n(limits.maxEntityRows)} per online read`,
      `split the entities into reads of at most ${n(limits.maxEntityRows)} rows, or raise feature_server.max_entity_rows in feature_store.yaml (limits.maxEntityRows of getOnlineFeatures)`,
      { entity_rows: rows, limit: limits.maxEntityRows, key: 'feature_server.max_entity_rows' },
    )
  }
  if (features !== undefined) checkFeatureCount(features, limits)
}

/**
 * Throws RESOURCE_EXHAUSTED when the resolved read asks for more features than `maxFeatures` (a
 * feature service can hold many) or more values than `maxFeatureValues` (entity rows × features
 * read, counting the features on-demand views read without returning them).
 */
export function checkPlanSize(plan: OnlinePlan, rows: number, limits: OnlineLimits): void {
  checkFeatureCount(plan.featureColumns.length, limits)
  let perRow = plan.featureColumns.length
  for (const read of plan.reads) for (const at of read.outputs) if (at < 0) perRow++
  const values = rows * perRow
  if (values > limits.maxFeatureValues) {
    throw overLimit(
      `the request reads ${n(values)} feature values (${n(rows)} entity rows × ${n(perRow)} features), more than the limit of ${n(limits.maxFeatureValues)} per online read`,
      `read fewer rows or features at a time (at most ${n(Math.max(1, Math.floor(limits.maxFeatureValues / Math.max(1, perRow))))} rows with these features), or raise feature_server.max_feature_values in feature_store.yaml (limits.maxFeatureValues of getOnlineFeatures)`,
      {
        feature_values: values,
        entity_rows: rows,
        features: perRow,
        limit: limits.maxFeatureValues,
        key: 'feature_server.max_feature_values',
      },
    )
  }
}

function checkFeatureCount(features: number, limits: OnlineLimits): void {
  if (features <= limits.maxFeatures) return
  throw overLimit(
    `the request names ${n(features)} features, more than the limit of ${n(limits.maxFeatures)} per online read`,
    `read the features in several requests, or raise feature_server.max_features in feature_store.yaml (limits.maxFeatures of getOnlineFeatures)`,
    { features, limit: limits.maxFeatures, key: 'feature_server.max_features' },
  )
}

function overLimit(message: string, hint: string, details: Record<string, unknown>): LarderError {
  return new LarderError('RESOURCE_EXHAUSTED', message, { hint, details })
}

function n(value: number): string {
  return value.toLocaleString('en-US')
}

/** Units of work (values decoded, keys encoded, rows fanned out) between two yields to the event loop. */
const UNITS_PER_SLICE = 16_384

/**
 * Paces the CPU-bound steps of a large read: after every {@link UNITS_PER_SLICE} units of work it lets
 * the event loop run (`setImmediate`), so other requests (`/health`) are answered while a read of
 * 100,000 rows assembles, and it stops the work with ABORTED once `signal` fired. A small read never
 * yields.
 *
 * @example for (...) { decode(); if (pace.add(1)) await pace.yield() }
 */
export class Pace {
  readonly #signal: AbortSignal | undefined
  #units = 0

  constructor(signal?: AbortSignal) {
    this.#signal = signal
  }

  /** Counts `units` of work done; true when a yield is due. */
  add(units: number): boolean {
    this.#units += units
    return this.#units >= UNITS_PER_SLICE
  }

  /** Units of work left before a yield is due (at least 1): work that fits needs no pacing. */
  room(): number {
    return Math.max(1, UNITS_PER_SLICE - this.#units)
  }

  /** Lets the event loop run, then throws ABORTED if the signal fired meanwhile. */
  async yield(): Promise<void> {
    this.#units = 0
    await new Promise<void>((resolve) => setImmediate(resolve))
    throwIfAborted(this.#signal)
  }
}
