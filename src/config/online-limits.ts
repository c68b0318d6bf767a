import { z } from 'zod'

/**
 * The limits of one online read (`getOnlineFeatures` in process, `POST /get-online-features`, gRPC
 * `GetOnlineFeatures`), read from the `feature_server:` block. A read over a limit is refused with
 * RESOURCE_EXHAUSTED (HTTP 413) before any store is read.
 */
export interface OnlineLimits {
  /** Most entity rows one read may have (`max_entity_rows`). */
  readonly maxEntityRows: number
  /** Most features one read may name, as references or through a feature service (`max_features`). */
  readonly maxFeatures: number
  /** Most feature values one read may read: entity rows × features read (`max_feature_values`). */
  readonly maxFeatureValues: number
}

/**
 * The default limits. Measured on SQLite, a read of 100,000 entity rows × 3 features (300,000 values)
 * raised the process's RSS by about 235 MB: about 0.8 KB per feature value (the parsed request, the
 * store's rows, the value, status and timestamp columns and the JSON answer). So 500,000 values cost
 * about 400 MB at most, whatever the shape; 100,000 rows is what one HTTP body of a few MB names, and
 * 1,000 features is four times Feast's widest benchmark request (250).
 */
export const DEFAULT_ONLINE_LIMITS: OnlineLimits = Object.freeze({
  maxEntityRows: 100_000,
  maxFeatures: 1_000,
  maxFeatureValues: 500_000,
})

/** The keys of the `feature_server:` block that set {@link OnlineLimits}. */
export const ONLINE_LIMIT_KEYS: readonly string[] = ['max_entity_rows', 'max_features', 'max_feature_values']

/** `n` with a comma between groups of three digits (`toLocaleString` would load ICU data at start-up). */
const grouped = (n: number) => String(n).replace(/\B(?=(\d{3})+$)/g, ',')

const limit = (what: string, fallback: number) =>
  z
    .number()
    .int()
    .positive()
    .optional()
    .describe(
      `Larder: ${what} (default ${grouped(fallback)}); a larger read is refused with HTTP 413 before any store is read`,
    )

/** The zod shape of the limit keys, added to the `feature_server:` block's schema. */
export const onlineLimitsShape = {
  max_entity_rows: limit('most entity rows one online read may have', DEFAULT_ONLINE_LIMITS.maxEntityRows),
  max_features: limit(
    'most features one online read may name (as references, or through a feature service)',
    DEFAULT_ONLINE_LIMITS.maxFeatures,
  ),
  max_feature_values: limit(
    'most feature values one online read may read (entity rows × features)',
    DEFAULT_ONLINE_LIMITS.maxFeatureValues,
  ),
}

/** The limits a parsed `feature_server:` block sets, each defaulting to {@link DEFAULT_ONLINE_LIMITS}. */
export function onlineLimitsOf(
  block: { max_entity_rows?: number; max_features?: number; max_feature_values?: number } | undefined,
): OnlineLimits {
  return Object.freeze({
    maxEntityRows: block?.max_entity_rows ?? DEFAULT_ONLINE_LIMITS.maxEntityRows,
    maxFeatures: block?.max_features ?? DEFAULT_ONLINE_LIMITS.maxFeatures,
    maxFeatureValues: block?.max_feature_values ?? DEFAULT_ONLINE_LIMITS.maxFeatureValues,
  })
}
