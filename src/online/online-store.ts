import type { z } from 'zod'
import type { RepoConfig } from '../config/index.js'
import {
  DUMMY_ENTITY_ID,
  DUMMY_ENTITY_VALUE,
  type EntityKeySerializationVersion,
  type EntityKeyValue,
  encodeValue,
  entityKeySerializer,
  type FeastType,
  type FeatureView,
  type JoinKey,
  LarderError,
  type Micros,
  serializeEntityKey,
  ValueType,
} from '../core/index.js'

/** Options every async operation takes. An aborted signal rejects with its reason (an AbortError). */
export interface Abortable {
  readonly signal?: AbortSignal
}

/** A feature as the online store sees it. */
export interface OnlineFeature {
  readonly name: string
  readonly type: FeastType
}

/**
 * What an online store needs to know about a feature view. `name` is the view's online table name:
 * the view name, or `<name>_v<N>` when online versioning is on.
 */
export interface ViewRef {
  readonly project: string
  readonly name: string
  /** The join keys with their value types, in declaration order; empty for an entity-less view. */
  readonly joinKeys: readonly JoinKey[]
  readonly features: readonly OnlineFeature[]
  /** Physical expiry in seconds (may be fractional); 0 keeps values until overwritten. */
  readonly storageTtl: number
}

/**
 * The online view of a feature view in a project. Join key types come from the view's schema
 * (Feast's `entity_columns`), falling back to the entity's declared type.
 *
 * @example viewRef('demo', driverHourlyStats)
 */
export function viewRef(project: string, view: FeatureView): ViewRef {
  const columns = new Map(view.entityColumns.map((f) => [f.name, f.dtype]))
  const joinKeys = view.entities.map((entity): JoinKey => {
    const type = columns.get(entity.joinKey) ?? entity.valueType
    if (!type) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `the type of join key "${entity.joinKey}" of feature view "${view.name}" is not known`,
        {
          hint: `declare it, e.g. new Field({ name: '${entity.joinKey}', dtype: Int64 }) in the view's schema`,
        },
      )
    }
    return Object.freeze({ name: entity.joinKey, valueType: type.valueType })
  })
  return Object.freeze({
    project,
    name: view.name,
    joinKeys: Object.freeze(joinKeys),
    features: Object.freeze(view.features.map((f) => Object.freeze({ name: f.name, type: f.dtype }))),
    storageTtl: view.storageTtl,
  })
}

/**
 * Returns the function that turns a view's join key values (in `view.joinKeys` order) into the entity
 * key bytes the stores use. An entity-less view always gets Feast's dummy key (`__dummy_id = ""`).
 *
 * @example entityKeyEncoder(view, config.entityKeySerializationVersion)([1001])
 */
export function entityKeyEncoder(
  view: ViewRef,
  version: EntityKeySerializationVersion,
): (values: readonly EntityKeyValue[]) => Uint8Array {
  if (view.joinKeys.length === 0) {
    const dummy = serializeEntityKey(
      [{ joinKey: DUMMY_ENTITY_ID, valueType: ValueType.STRING, value: DUMMY_ENTITY_VALUE }],
      version,
    )
    return () => dummy
  }
  return entityKeySerializer(view.joinKeys, version)
}

/**
 * One entity row to write: values are already-encoded `feast.types.Value` bytes, one per feature of
 * the view in `view.features` order (zero bytes for null), so a batch is encoded once and each store
 * writes bytes.
 */
export interface OnlineWriteRow {
  /** Entity key bytes (see {@link entityKeyEncoder}). */
  readonly entityKey: Uint8Array
  readonly values: readonly Uint8Array[]
  readonly eventTs: Micros
  readonly createdTs?: Micros
}

export type OnlineWriteBatch = readonly OnlineWriteRow[]

/** Entity rows applied and rows left out because the store already held a newer value (`written + skipped` = rows given). */
export interface WriteStats {
  readonly written: number
  readonly skipped: number
}

/** An entity row as plain values, for push and tests; see {@link encodeWriteRow}. */
export interface OnlineRecord {
  readonly entityKey: Uint8Array
  /** Feature name to value in the JS representation of the Value codec; a missing feature is null. */
  readonly values: Readonly<Record<string, unknown>>
  readonly eventTs: Micros
  readonly createdTs?: Micros
}

/** Encodes a record's values by the view's feature types into a write row. */
export function encodeWriteRow(view: ViewRef, record: OnlineRecord): OnlineWriteRow {
  return {
    entityKey: record.entityKey,
    values: view.features.map((f) => encodeValue(f.type, record.values[f.name])),
    eventTs: record.eventTs,
    createdTs: record.createdTs,
  }
}

/**
 * A stored entity row: its event timestamp (microseconds, cut to the store's
 * `timestampResolutionMicros`) and the requested features' Value bytes in request order. A value is
 * `undefined` when the store holds nothing for that feature, and zero bytes when it holds null.
 */
export interface OnlineRow {
  readonly eventTs: Micros
  readonly values: readonly (Uint8Array | undefined)[]
}

/** One entry per requested key, in request order: the row, or undefined when the key is not stored. */
export type OnlineReadResult = readonly (OnlineRow | undefined)[]

/** One view's part of a multi-view read. */
export interface OnlineReadRequest {
  readonly view: ViewRef
  readonly keys: readonly Uint8Array[]
  readonly features: readonly string[]
}

/** Online storage to create (`keep`) and remove (`drop`). */
export interface InfraPlan {
  /** Views whose storage must exist afterwards: created if missing, left alone if present. */
  readonly keep: readonly ViewRef[]
  /** Views whose storage and values are removed. */
  readonly drop: readonly ViewRef[]
}

/** What a store can do, as data; callers and the conformance suite branch on these, never on `type`. */
export interface OnlineStoreCapabilities {
  /**
   * A write replaces a stored row only when its event timestamp is at least the stored one (ties:
   * the later write wins), within a batch as across batches. False only when configured off.
   */
  readonly newerWins: boolean
  /** Values expire by themselves after the view's `storageTtl` (or a store-wide TTL). */
  readonly nativeTtl: boolean
  /** Event timestamps are kept to this many microseconds: 1 is exact, 1_000_000 is whole seconds. */
  readonly timestampResolutionMicros: number
}

/**
 * An online store: the latest feature values per entity key, in Feast's layout for the backend.
 * Every method may be called concurrently; `close()` releases connections and files.
 */
export interface OnlineStore {
  /** The `online_store.type` it was opened for. */
  readonly type: string
  readonly capabilities: OnlineStoreCapabilities
  /** Creates the storage of `plan.keep` (idempotent) and removes that of `plan.drop`. */
  update(plan: InfraPlan, opts?: Abortable): Promise<void>
  /**
   * Writes a batch of rows for one view, atomically where the backend allows (one transaction in
   * SQLite and Postgres). Throws NOT_FOUND when the view's storage was never created.
   */
  write(view: ViewRef, rows: OnlineWriteBatch, opts?: Abortable): Promise<WriteStats>
  /** Reads rows of one view; `features` are names of the view's features. */
  read(
    view: ViewRef,
    keys: readonly Uint8Array[],
    features: readonly string[],
    opts?: Abortable,
  ): Promise<OnlineReadResult>
  /** Reads several views in as few round trips as the backend allows; one result per request, in order. */
  readMany(requests: readonly OnlineReadRequest[], opts?: Abortable): Promise<OnlineReadResult[]>
  /**
   * Whether the store holds at least one row of the view; false when it holds none, also when the
   * view's storage does not exist. A probe that stops at the first row found (in Redis, where views
   * share hashes, a SCAN of the project's keys over the view's join keys). Optional for stores written
   * outside Larder; every built-in store has it.
   */
  hasRows?(view: ViewRef, opts?: Abortable): Promise<boolean>
  /** Removes the storage and values of every view in the plan (`keep` and `drop` alike). */
  teardown(plan: InfraPlan, opts?: Abortable): Promise<void>
  close(): Promise<void>
}

/**
 * A backend's config module: the zod schema of its `online_store` options (strict, so unknown keys
 * are reported). Loaded without the driver, so option errors come first.
 */
export interface OnlineStoreConfigModule<Options = unknown> {
  readonly optionsSchema: z.ZodType<Options>
}

/** A backend's store module: opens a store, connecting eagerly so a misconfiguration fails here. */
export interface OnlineStoreModule<Options = unknown> {
  openOnlineStore(options: Options, config: RepoConfig, opts?: Abortable): Promise<OnlineStore>
}
