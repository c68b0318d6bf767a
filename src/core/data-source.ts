import { type Branded, definitionKind, kindOf } from './brand.js'
import { LarderError } from './errors.js'
import { Field } from './field.js'
import type { StreamSource } from './stream-source.js'
import { checkColumnName, checkKnownKeys, checkName, checkTags, optionalString } from './validate.js'

/** Options every source takes. */
export interface CommonSourceOptions {
  name?: string
  description?: string
  tags?: Record<string, string>
  owner?: string
}

/** Options shared by sources that hold timestamped rows in a table or files. */
export interface BatchSourceOptions extends CommonSourceOptions {
  /** The column with each row's event time. */
  timestampField?: string
  /** The column with the time the row was written; breaks ties between rows with equal event times. */
  createdTimestampColumn?: string
  /** Renames source columns to feature names: `{ source_column: 'feature_name' }`. */
  fieldMapping?: Record<string, string>
  datePartitionColumn?: string
}

/** The option names of {@link CommonSourceOptions}. */
export const COMMON_SOURCE_KEYS = ['name', 'description', 'tags', 'owner'] as const
const BATCH_KEYS = [
  ...COMMON_SOURCE_KEYS,
  'timestampField',
  'createdTimestampColumn',
  'fieldMapping',
  'datePartitionColumn',
] as const

/** Name, description, tags and owner, checked; every source extends it. */
export abstract class SourceBase {
  readonly name: string
  readonly description: string
  readonly tags: Readonly<Record<string, string>>
  readonly owner: string

  protected constructor(kind: string, name: string, options: CommonSourceOptions) {
    this.name = checkName(kind, name)
    const where = `${kind} "${this.name}"`
    this.description = optionalString(where, 'description', options.description)
    this.tags = checkTags(where, options.tags)
    this.owner = optionalString(where, 'owner', options.owner)
  }
}

abstract class BatchSourceBase extends SourceBase {
  readonly timestampField: string
  readonly createdTimestampColumn: string
  readonly fieldMapping: Readonly<Record<string, string>>
  readonly datePartitionColumn: string

  protected constructor(kind: string, name: string, options: BatchSourceOptions) {
    super(kind, name, options)
    const where = `${kind} "${this.name}"`
    this.timestampField = optionalString(where, 'timestampField', options.timestampField)
    this.createdTimestampColumn = optionalString(
      where,
      'createdTimestampColumn',
      options.createdTimestampColumn,
    )
    this.datePartitionColumn = optionalString(where, 'datePartitionColumn', options.datePartitionColumn)
    this.fieldMapping = checkFieldMapping(where, options.fieldMapping)
  }

  /** The source column that holds a Feast-side column name (the reverse of `fieldMapping`). */
  sourceColumn(name: string): string {
    for (const [from, to] of Object.entries(this.fieldMapping)) if (to === name) return from
    return name
  }
}

/** Copies and freezes a `fieldMapping`, checking that both sides of every entry are column names. */
export function checkFieldMapping(where: string, mapping: unknown): Readonly<Record<string, string>> {
  const checked = checkTags(`${where} fieldMapping`, mapping)
  for (const [from, to] of Object.entries(checked)) {
    checkColumnName(`${where} fieldMapping`, from)
    checkColumnName(`${where} fieldMapping`, to)
  }
  return checked
}

export type FileFormat = 'parquet' | 'csv'

export interface FileSourceOptions extends BatchSourceOptions {
  /** A Parquet or CSV file, a directory of them, or a glob; relative to the feature repo. */
  path: string
  /** Inferred from the path's extension when omitted (Parquet for directories and globs). */
  fileFormat?: FileFormat
}

/**
 * Rows in Parquet or CSV files, read by the DuckDB offline engine.
 *
 * @example new FileSource({ name: 'driver_stats_source', path: 'data/driver_stats.parquet',
 *   timestampField: 'event_timestamp', createdTimestampColumn: 'created' })
 */
export class FileSource extends BatchSourceBase implements Branded<'FileSource'> {
  readonly [definitionKind] = 'FileSource' as const
  readonly path: string
  readonly fileFormat: FileFormat

  constructor(options: FileSourceOptions) {
    checkKnownKeys('FileSource', options, [...BATCH_KEYS, 'path', 'fileFormat'])
    if (typeof options.path !== 'string' || options.path === '') {
      throw new LarderError(
        'INVALID_DEFINITION',
        `FileSource ${JSON.stringify(options.name ?? '')} has no path`,
        {
          hint: "give it the Parquet or CSV file to read, e.g. path: 'data/driver_stats.parquet'",
        },
      )
    }
    super('FileSource', options.name ?? options.path, options)
    this.path = options.path
    const format = options.fileFormat ?? (/\.csv(\.gz)?$/i.test(options.path) ? 'csv' : 'parquet')
    if (format !== 'parquet' && format !== 'csv') {
      throw new LarderError(
        'INVALID_DEFINITION',
        `FileSource "${this.name}" has fileFormat ${JSON.stringify(format)}`,
        {
          hint: "use 'parquet' or 'csv'",
        },
      )
    }
    this.fileFormat = format
    Object.freeze(this)
  }
}

export interface PostgreSQLSourceOptions extends BatchSourceOptions {
  name: string
  /** A table name; give either `table` or `query`. */
  table?: string
  /** A SELECT whose rows are the source; give either `table` or `query`. */
  query?: string
}

/** Rows in a PostgreSQL table or query (read by the PostgreSQL offline engine). */
export class PostgreSQLSource extends BatchSourceBase implements Branded<'PostgreSQLSource'> {
  readonly [definitionKind] = 'PostgreSQLSource' as const
  readonly table: string
  readonly query: string

  constructor(options: PostgreSQLSourceOptions) {
    checkKnownKeys('PostgreSQLSource', options, [...BATCH_KEYS, 'table', 'query'])
    super('PostgreSQLSource', options.name, options)
    const where = `PostgreSQLSource "${this.name}"`
    this.table = optionalString(where, 'table', options.table)
    this.query = optionalString(where, 'query', options.query)
    if ((this.table === '') === (this.query === '')) {
      throw new LarderError('INVALID_DEFINITION', `${where} needs exactly one of table and query`, {
        hint: "write table: 'driver_stats' or query: 'SELECT ...'",
      })
    }
    Object.freeze(this)
  }
}

/**
 * The `custom_options.configuration` text of a PostgreSQL source (and of Feast's PostgreSQL saved-dataset
 * storage) as Feast writes it: Python's `json.dumps({"name": ..., "query": ..., "table": ...})`, with its
 * `", "` and `": "` separators and every character outside printable ASCII escaped as `\uXXXX`, so the
 * bytes match a registry Feast wrote.
 */
export function postgresOptionsJson(options: { name: string; query: string; table: string }): string {
  const text = (v: string) =>
    JSON.stringify(v).replace(
      /[\u007f-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    )
  return `{"name": ${text(options.name)}, "query": ${text(options.query)}, "table": ${text(options.table)}}`
}

/** A source of timestamped rows that historical retrieval and materialization can read. */
export type BatchSource = FileSource | PostgreSQLSource

/** True when `value` is a batch source (file or PostgreSQL), from any copy of the package. */
export function isBatchSource(value: unknown): value is BatchSource {
  const kind = kindOf(value)
  return kind === 'FileSource' || kind === 'PostgreSQLSource'
}

export interface PushSourceOptions extends CommonSourceOptions {
  name: string
  /** Where pushed rows go offline and where materialization reads them. */
  batchSource?: BatchSource
}

/**
 * The target of `store.push()` and `POST /push`: pushed rows are written to every feature view whose
 * source is this push source.
 */
export class PushSource extends SourceBase implements Branded<'PushSource'> {
  readonly [definitionKind] = 'PushSource' as const
  readonly batchSource: BatchSource | undefined

  constructor(options: PushSourceOptions) {
    checkKnownKeys('PushSource', options, [...COMMON_SOURCE_KEYS, 'batchSource'])
    super('PushSource', options.name, options)
    if (options.batchSource !== undefined && !isBatchSource(options.batchSource)) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `PushSource "${this.name}" has a batchSource that is not a batch source`,
        {
          hint: 'pass a FileSource or PostgreSQLSource',
        },
      )
    }
    this.batchSource = options.batchSource
    Object.freeze(this)
  }
}

export interface RequestSourceOptions extends CommonSourceOptions {
  name: string
  /** The fields a request supplies. */
  schema: readonly Field[]
}

/** Values supplied with each request, for on-demand feature views. */
export class RequestSource extends SourceBase implements Branded<'RequestSource'> {
  readonly [definitionKind] = 'RequestSource' as const
  readonly schema: readonly Field[]

  constructor(options: RequestSourceOptions) {
    checkKnownKeys('RequestSource', options, [...COMMON_SOURCE_KEYS, 'schema'])
    super('RequestSource', options.name, options)
    if (!globalThis.Array.isArray(options.schema) || options.schema.length === 0) {
      throw new LarderError('INVALID_DEFINITION', `RequestSource "${this.name}" has no schema`, {
        hint: "list the request fields, e.g. schema: [new Field({ name: 'val_to_add', dtype: Int64 })]",
      })
    }
    this.schema = Object.freeze(options.schema.map((f) => (f instanceof Field ? f : new Field(f))))
    Object.freeze(this)
  }
}

export type DataSource = FileSource | PostgreSQLSource | PushSource | RequestSource | StreamSource

const DATA_SOURCE_KINDS: ReadonlySet<string> = new globalThis.Set([
  'FileSource',
  'PostgreSQLSource',
  'PushSource',
  'RequestSource',
  'KafkaSource',
  'KinesisSource',
  'RedisStreamSource',
  'NatsSource',
])

/** True when `value` is any data source definition. */
export function isDataSource(value: unknown): value is DataSource {
  return DATA_SOURCE_KINDS.has(kindOf(value) ?? '')
}
