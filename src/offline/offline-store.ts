import type { RecordBatch, Table } from 'apache-arrow'
import type {
  Abortable,
  Aggregation,
  BatchSource,
  FeastType,
  FeatureView,
  FeatureViewProjection,
  Micros,
  TimestampInput,
} from '../core/index.js'
import type { KeyPart } from './pit/sql.js'

/** A row as plain JS values, keyed by column name. */
export type Row = Record<string, unknown>

/**
 * The entity table of a historical retrieval: one row per (entity keys, timestamp) to label.
 *
 * - an array of row objects (timestamps as `Date`, ISO strings or epoch milliseconds; naive means UTC);
 * - an Arrow table;
 * - the path of a Parquet or CSV file (relative paths resolve against the current directory);
 * - a query the engine runs to produce the rows: text opening with `SELECT`, `WITH`, `FROM` or
 *   `VALUES` (as Feast's string `entity_df`), or `{ sql }` for any other query text.
 */
export type EntityInput = readonly Row[] | Table | string | { readonly sql: string }

/**
 * Features of one feature view, as a projection (alias, join-key map) plus the names to read, and the
 * windowed aggregations to compute over the same source (a stream feature view's, read through its
 * `storageView`). `features` may be empty when `windows` is given.
 */
export interface FeatureSelection {
  readonly projection: FeatureViewProjection
  readonly features: readonly string[]
  readonly windows?: WindowSelection
}

/**
 * Windowed aggregations over a view's source, each reported under its output name (after the view's
 * features). Their semantics are `PitWindows`' (`pit/spec.ts`).
 */
export interface WindowSelection {
  /** Seconds: the tiling hop size, the resolution at which windows are cut. */
  readonly hopSeconds: number
  /** The aggregations requested, in order; their columns must be in the view's schema. */
  readonly aggregations: readonly Aggregation[]
}

/**
 * A resolved historical-retrieval request. Give either `entities`, or `startDate` and `endDate`
 * (entity-less range retrieval: every row of the views in the range, latest per key and timestamp).
 */
export interface HistoricalRequest {
  readonly entities?: EntityInput
  readonly features: readonly FeatureSelection[]
  /** Name feature columns `<view or alias>__<feature>` instead of `<feature>` (default false). */
  readonly fullFeatureNames?: boolean
  /**
   * Also require a feature row's created timestamp to be `<=` the entity timestamp, so a value written
   * after the moment being labelled is never used (default false). Rows with a null created timestamp
   * are then excluded from views that declare a created timestamp column.
   */
  readonly asOfKnownTime?: boolean
  readonly startDate?: TimestampInput
  readonly endDate?: TimestampInput
  /**
   * Rewrites each record batch of the join's result before it leaves the job (on-demand views
   * append their outputs this way). Files are still written by the engine, from the rewritten batches.
   */
  readonly transform?: ResultTransform
}

/** A batch-by-batch rewrite of a retrieval's result; it must keep the rows and their order. */
export interface ResultTransform {
  /** The output column names, given the join's. */
  columns(joined: readonly string[]): string[]
  /**
   * One batch of the join's result, rewritten. For an empty result, the job calls it with an empty batch
   * of the join's schema to learn the output's columns and types (`toArrow`, files and tables).
   */
  apply(batch: RecordBatch): RecordBatch
}

/** An inclusive time range: `start <= event timestamp <= end`. */
export interface TimeRange {
  readonly start: TimestampInput
  readonly end: TimestampInput
}

/** Options of `pullLatest`. */
export interface PullOptions extends Abortable {
  /** Rows per yielded record batch (default 65,536). */
  readonly batchSize?: number
  /**
   * Asks for the number of rows the pull will yield, which costs the engine an extra scan of the
   * window's keys: called once, before the first batch.
   */
  readonly onRowCount?: (rows: number) => void
  /**
   * Only the join-key tuples of this part: the engine's key buckets (`keyBucket` of the dialect), so
   * that `of` pulls with `index` 0 to `of - 1` together yield each tuple exactly once. For splitting a
   * window across workers.
   */
  readonly part?: KeyPart
}

/** A column of a source as the engine sees it. */
export interface SourceColumn {
  /** The column's name in the source (before `fieldMapping`). */
  readonly name: string
  /** The inferred Feast type; `Invalid` when the engine type has no Feast equivalent. */
  readonly type: FeastType
  /** The engine's own type name, e.g. `TIMESTAMP WITH TIME ZONE`. */
  readonly sourceType: string
}

/** Rows to append to a view's offline source. */
export type WriteInput = readonly Row[] | Table | RecordBatch

/** Options of an offline append. */
export interface WriteOptions extends Abortable {
  /**
   * Names the append so that doing it again adds nothing: rows appended again under a key already
   * appended replace the first append (a directory source's part file is named by the key) or are
   * skipped (a database table records the keys it took). Without a key every append adds its rows.
   * A single-file source cannot honour a key and appends every time.
   */
  readonly idempotencyKey?: string
  /**
   * Runs once the rows are staged and checked against the destination's column types, just before
   * the append becomes visible (the file renamed into place, the transaction committed), while the
   * destination is held (a single-file source stays locked). If it throws, nothing is appended and
   * `writeRows` rejects with its error. For writing elsewhere (the online store) only when this
   * append can no longer fail on its data. The signal is not consulted after it starts.
   */
  readonly beforeCommit?: () => Promise<void>
}

/**
 * The least and greatest event timestamp of a retrieval's entity rows, in microseconds since the epoch
 * (UTC); Feast's `SavedDatasetMeta.min_event_timestamp` and `max_event_timestamp`.
 */
export interface EventRange {
  readonly min: Micros
  readonly max: Micros
}

/** What writing a result to a file or a table did. */
export interface WriteResult {
  /** Rows written. */
  readonly rows: number
  /**
   * The least and greatest timestamp of the entity rows this write labelled, as the engine found them
   * while running the join (no second read of the entity rows); for entity-less range retrieval, the
   * range's start and end. Absent when no entity row has a timestamp, or the engine does not say.
   */
  readonly eventRange?: EventRange
}

/**
 * A historical retrieval that has been planned but not run. Nothing is read until one of the
 * methods is called, and each call runs the join again. Large results never become JS objects unless
 * `toRows` is called: `toParquet` and `toCsv` are written by the engine. Aborting a method's signal
 * interrupts its query; the method then rejects with a `LarderError` with code `ABORTED`.
 */
export interface RetrievalJob {
  /** Output columns in order: the entity columns, then the features. */
  readonly columns: readonly string[]
  /** What the planner decided on the caller's behalf, e.g. which column it took as the entity timestamp. */
  readonly notices: readonly string[]
  /** The whole result as an Arrow table. Timestamps keep microseconds. */
  toArrow(opts?: Abortable): Promise<Table>
  /** Writes the result to a Parquet file, atomically (a temporary file renamed into place). */
  toParquet(path: string, opts?: Abortable): Promise<WriteResult>
  /** Writes the result to a CSV file with a header, atomically. */
  toCsv(path: string, opts?: Abortable): Promise<WriteResult>
  /**
   * The first `limit` rows (all when omitted) as objects. Timestamps are RFC 3339 strings in UTC with
   * microseconds; 64-bit integers are numbers when they fit, else bigints.
   */
  toRows(limit?: number, opts?: Abortable): Promise<Row[]>
  /** The result as Arrow record batches, in order, holding one batch in memory at a time. */
  stream(opts?: Abortable): AsyncIterable<RecordBatch>
  /**
   * Present on engines over a database: writes the result to a new table of that database (the name
   * as written in SQL, e.g. `training.drivers_2026`), without the rows leaving the server when the job
   * has no transform. Fails if the table exists.
   */
  toTable?(table: string, opts?: Abortable): Promise<WriteResult>
}

/**
 * What a batch source holds at one moment, as a training-set receipt records it: the content hash of
 * every file a file source resolves to, or the row count and newest event time of a table or query.
 */
export type SourceFingerprint = FilesFingerprint | TableFingerprint

/** The files of a file source, each with its size and SHA-256. Any change to a file shows. */
export interface FilesFingerprint {
  readonly kind: 'files'
  /** The source's path as declared: a file, a directory or a glob. */
  readonly location: string
  /**
   * The files it resolves to, in source order; paths relative to the feature repo with `/` separators.
   * Empty when nothing matches.
   */
  readonly files: readonly SourceFile[]
  readonly weak: false
}

/** One file of a file source. */
export interface SourceFile {
  readonly path: string
  readonly bytes: number
  readonly sha256: string
}

/**
 * A table or query source by its row count and newest event timestamp. Weak: an update that keeps
 * both (a value rewritten in place, a row replaced by one as old) does not show.
 */
export interface TableFingerprint {
  readonly kind: 'table'
  /** The table as written in SQL, or the query text. */
  readonly relation: string
  readonly rows: number
  /** The greatest event timestamp (RFC 3339, UTC, microseconds); null for an empty source. */
  readonly maxTimestamp: string | null
  readonly weak: true
}

/**
 * The content of a table of the engine's database, independent of its physical row order: the SHA-256
 * of its column names and types (one `name type` line each, then an empty line) followed by every row's
 * text form (PostgreSQL's `row::text`, one line each, as `COPY ... TO` writes text) sorted by byte order.
 */
export interface TableDigest {
  readonly columns: readonly string[]
  readonly rows: number
  readonly sha256: string
}

/** Options of {@link OfflineStore.digestTable}. */
export interface DigestTableOptions extends Abortable {
  /** Drop the table once digested, in the same transaction (default false). */
  readonly drop?: boolean
}

/** The offline store: point-in-time joins, the reads of materialization, and offline writes. */
export interface OfflineStore {
  /** The backend type, e.g. `duckdb`. */
  readonly type: string
  /** Plans a point-in-time join; fails fast on unknown columns or a bad entity table. */
  getHistoricalFeatures(req: HistoricalRequest, opts?: Abortable): Promise<RetrievalJob>
  /**
   * The latest row per entity key with `start <= event timestamp <= end` (ties broken by the created
   * timestamp), as record batches. Columns: the view's join keys, its features, then its timestamp field
   * and created timestamp column (UTC). Rows with a null join key are skipped. See `pullColumns`.
   */
  pullLatest(view: FeatureView, range: TimeRange, opts?: PullOptions): AsyncIterable<RecordBatch>
  /**
   * Appends rows (columns named as in the view: join keys, features, timestamp field, created column)
   * to the view's source, so that a concurrent reader sees either the old or the new data, never part.
   */
  writeRows(view: FeatureView, rows: WriteInput, opts?: WriteOptions): Promise<void>
  /** The columns of a source with inferred Feast types, for schema inference at apply time. */
  describeSource(source: BatchSource, opts?: Abortable): Promise<SourceColumn[]>
  /**
   * What a source holds now (see {@link SourceFingerprint}), for training-set receipts. Present on every
   * engine that ships with Larder; a source of a kind the engine cannot read is UNSUPPORTED.
   */
  fingerprintSource?(source: BatchSource, opts?: Abortable): Promise<SourceFingerprint>
  /**
   * Present on engines over a database (with `RetrievalJob.toTable`): the digest of a table (see
   * {@link TableDigest}), optionally dropping it. DATA_SOURCE when the table cannot be read.
   */
  digestTable?(table: string, opts?: DigestTableOptions): Promise<TableDigest>
  /** Releases the engine. Jobs created by this store cannot run afterwards. */
  close(): Promise<void>
}
