import type { Micros } from '../../core/index.js'

/**
 * The plain-data description of a resolved point-in-time join. Every engine builds its SQL from this
 * one shape, so there is one semantics:
 *
 * for each entity row and each view, the feature row whose join keys equal the entity's, with the
 * greatest event timestamp `<=` the entity timestamp and, when `ttlMicros > 0`, `>=` the entity
 * timestamp minus the ttl; ties on the event timestamp go to the greatest created timestamp, a null
 * created timestamp ranking below every other. With `asOfKnownTime`, a row whose created timestamp is
 * null or later than the entity timestamp is no candidate (in views that have a created column). No
 * candidate gives nulls. Every entity row is kept, in order, duplicates included. Rows that tie on the
 * event timestamp and the created timestamp (or on the event timestamp alone, in a view without a created
 * column) go to the one that comes last in the source: the greatest `SOURCE_POSITION` (file name, then
 * row within the file), as Feast's file offline store keeps the last of equal rows. Materialization
 * (`buildLatestQuery`) follows the same rule, so a value read online after materializing a window
 * ending at t is the value the join gives at t.
 */
export interface PitSpec {
  readonly entity: PitEntity
  readonly views: readonly PitView[]
  readonly asOfKnownTime: boolean
}

/** Hidden column of the prepared entity relation: the 1-based position of the row in the entity table. */
export const ROW_ID = '__larder_row'
/** Hidden column of the prepared entity relation: the entity timestamp as a naive-UTC timestamp. */
export const ENTITY_TS = '__larder_ts'
/** Column names with this prefix are reserved for the join's own columns. */
export const RESERVED_PREFIX = '__larder'
/**
 * Column of every view relation: a number ordering the source's rows as they stand in the source, files
 * by name and rows by their place in the file (greater = later). Only its order matters.
 */
export const SOURCE_POSITION = '__larder_pos'
/** Feast's name for the entity timestamp column. */
export const EVENT_TIMESTAMP = 'event_timestamp'

/**
 * The entity table, prepared by the engine as a relation with the columns `columns` (the user's, in
 * order; the timestamp column holding UTC instants) plus `ROW_ID` and `ENTITY_TS`.
 */
export interface PitEntity {
  readonly relation: string
  readonly columns: readonly string[]
  readonly timestampColumn: string
  /** The smallest and greatest entity timestamps, when known; used to prune source rows. */
  readonly bounds?: { readonly min: Micros; readonly max: Micros }
}

/** A join key: its column in the source and the entity-table column it is matched against. */
export interface PitKey {
  readonly source: string
  readonly entity: string
}

/** A feature to read: its source column and its output column name. */
export interface PitFeature {
  readonly source: string
  readonly output: string
}

/** One feature view of the request, with field mapping and the projection's join-key map applied. */
export interface PitView {
  /** The name features are reported under (the projection's alias, else the view's name). */
  readonly name: string
  /**
   * A table expression for the view's source whose timestamp and created columns hold naive-UTC
   * timestamps (the engine converts other timestamp types on the way in), with the column
   * `SOURCE_POSITION`.
   */
  readonly relation: string
  readonly keys: readonly PitKey[]
  /** Source column of the event timestamp. */
  readonly timestamp: string
  /** Source column of the created timestamp, if the source declares one. */
  readonly created: string | undefined
  /** The look-back in microseconds; 0 means no lower bound. */
  readonly ttlMicros: number
  readonly features: readonly PitFeature[]
  /** Windowed aggregations read beside the features (a stream feature view's), if any. */
  readonly windows?: PitWindows
}

/**
 * The aggregate functions of windowed aggregations under their canonical names (`mean` is `avg`,
 * `stddev` is `std`, `variance` is `var`).
 */
export type WindowFunction =
  | 'sum'
  | 'count'
  | 'min'
  | 'max'
  | 'avg'
  | 'std'
  | 'var'
  | 'count_distinct'
  | 'last'

/** One windowed aggregation of a view: a function of one source column over a window ending at t. */
export interface PitAggregation {
  readonly fn: WindowFunction
  /** Source column aggregated. */
  readonly source: string
  readonly output: string
  /** The window's length in microseconds, a whole number of hops. */
  readonly windowMicros: number
  /**
   * The type the result is cast to (and the input too, for the arithmetic functions sum, avg, std and
   * var, so a sum of Float32 values accumulates in Float64); undefined keeps the column's own type.
   */
  readonly cast: 'int64' | 'float64' | undefined
}

/**
 * The windowed aggregations of a view, one semantics for every engine and for the online tiles:
 *
 * with hop h (`hopMicros`, the view's tiling hop size) and window W (a multiple of h), tile k covers
 * event times [k·h, (k+1)·h), counted from the Unix epoch in UTC microseconds. The value of an
 * aggregation for an entity row at time t aggregates the events of the row's join keys whose event
 * timestamp lies in [(⌊t/h⌋ + 1 − W/h)·h, t]: the W/h tiles ending with the tile that holds t, counting
 * only events at or before t (the current tile is partial, as it is online). With `asOfKnownTime`, an
 * event of a view with a created column counts only when its created timestamp is set and `<=` t.
 * Every source row is an event (no deduplication); rows with a null join key never match.
 *
 * Functions ignore null values, except `last`: `count` counts non-null values (0 for an empty window),
 * `count_distinct` counts distinct non-null values exactly (0 for an empty window), `sum`, `min`, `max`
 * and `avg` are null when no value is set, `std` and `var` are the sample statistics (null below two
 * values). `last` is the value (null included) of the event with the greatest event timestamp, then the
 * greatest created timestamp (null lowest), then the greatest `SOURCE_POSITION`, the tie rule of the
 * point-in-time join. The view's ttl plays no part.
 */
export interface PitWindows {
  readonly hopMicros: number
  readonly aggregations: readonly PitAggregation[]
}

/** An inclusive range of event timestamps. */
export interface MicrosRange {
  readonly start: Micros
  readonly end: Micros
}
