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
}

/** An inclusive range of event timestamps. */
export interface MicrosRange {
  readonly start: Micros
  readonly end: Micros
}
