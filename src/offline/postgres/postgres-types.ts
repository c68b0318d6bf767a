import {
  Array as ArrayOf,
  Bool,
  Bytes,
  type FeastType,
  Float32,
  Float64,
  Int32,
  Int64,
  Invalid,
  Json,
  String as StringType,
  UnixTimestamp,
  Uuid,
  ValueType,
} from '../../core/index.js'

/** A column of a PostgreSQL relation: its name and its type as `format_type` prints it. */
export interface PgColumn {
  readonly name: string
  readonly type: string
}

/**
 * How values of one PostgreSQL type travel out of the server: COPY writes them as CSV text, which the
 * local engine (DuckDB) reads as `read` and turns into its own type with `convert`. `send` rewrites the
 * value on the server first when its text form is not one DuckDB reads (arrays go out as JSON).
 */
interface Codec {
  readonly feast: FeastType
  /** The DuckDB type the CSV field is read as. */
  readonly read: string
  /** The DuckDB expression turning the field (`$`) into its final value; `$` alone when read is final. */
  readonly convert: string
  /** The server-side expression sending the column (`$`). */
  readonly send: string
  /** Whether btree orders the type (else the tie order compares its text). */
  readonly ordered: boolean
}

const scalar = (feast: FeastType, read: string, ordered = true, convert = '$'): Codec => ({
  feast,
  read,
  convert,
  send: '$',
  ordered,
})

const SCALARS: Readonly<Record<string, Codec>> = {
  smallint: scalar(Int32, 'SMALLINT'),
  integer: scalar(Int32, 'INTEGER'),
  bigint: scalar(Int64, 'BIGINT'),
  real: scalar(Float32, 'FLOAT'),
  'double precision': scalar(Float64, 'DOUBLE'),
  numeric: scalar(Float64, 'DOUBLE'),
  text: scalar(StringType, 'VARCHAR', false),
  'character varying': scalar(StringType, 'VARCHAR', false),
  character: scalar(StringType, 'VARCHAR', false),
  name: scalar(StringType, 'VARCHAR', false),
  boolean: scalar(Bool, 'VARCHAR', true, "($ = 't')"),
  bytea: scalar(Bytes, 'VARCHAR', true, 'unhex(substr($, 3))'),
  'timestamp with time zone': scalar(UnixTimestamp, 'TIMESTAMPTZ'),
  'timestamp without time zone': scalar(UnixTimestamp, 'TIMESTAMP'),
  date: scalar(UnixTimestamp, 'DATE'),
  json: scalar(Json, 'VARCHAR', false),
  jsonb: scalar(Json, 'VARCHAR', false),
  uuid: scalar(Uuid, 'VARCHAR'),
}

/** DuckDB element types of arrays, which travel as JSON. */
const ARRAY_ELEMENTS: Readonly<Record<string, string>> = {
  smallint: 'SMALLINT',
  integer: 'INTEGER',
  bigint: 'BIGINT',
  real: 'FLOAT',
  'double precision': 'DOUBLE',
  numeric: 'DOUBLE',
  text: 'VARCHAR',
  'character varying': 'VARCHAR',
  boolean: 'BOOLEAN',
  'timestamp with time zone': 'TIMESTAMPTZ',
  'timestamp without time zone': 'TIMESTAMP',
}

/** The base type of `format_type` text: `character varying(20)` becomes `character varying`. */
function baseType(type: string): string {
  return type.replace(/\(.*?\)/g, '').trim()
}

/** The codec of a PostgreSQL type, or undefined when Larder cannot map it. */
export function codecOf(type: string): Codec | undefined {
  const base = baseType(type)
  if (base.endsWith('[]')) {
    const element = base.slice(0, -2)
    const duck = ARRAY_ELEMENTS[element]
    const feast = SCALARS[element]?.feast
    if (duck === undefined || feast === undefined) return undefined
    return {
      feast: ArrayOf(feast),
      read: 'VARCHAR',
      convert: `CAST(CAST($ AS JSON) AS ${duck}[])`,
      send: 'array_to_json($)',
      ordered: false,
    }
  }
  return SCALARS[base]
}

/**
 * The Feast type of a PostgreSQL column type, as `larder apply` infers schemas: `smallint` and
 * `integer` are Int32, `bigint` Int64, `real` Float32, `double precision` and `numeric` Float64, text
 * types String, `boolean` Bool, `bytea` Bytes, timestamps and dates UnixTimestamp, `json`/`jsonb` Json,
 * `uuid` Uuid, one-dimensional arrays of numbers, text, booleans and timestamps Array(...). Other types
 * give `Invalid`.
 */
export function feastTypeOfPg(type: string): FeastType {
  return codecOf(type)?.feast ?? Invalid
}

/** True for the types an event or created timestamp may have without conversion. */
export function isPgTimestamp(type: string): boolean {
  const base = baseType(type)
  return base === 'timestamp with time zone' || base === 'timestamp without time zone'
}

/** An expression giving the column as an instant, or undefined when the type cannot hold one. */
export function pgInstant(expr: string, type: string): string | undefined {
  const base = baseType(type)
  if (isPgTimestamp(base)) return expr
  if (base === 'date' || base === 'text' || base === 'character varying') return `(${expr})::timestamptz`
  return undefined
}

/**
 * An expression over the column that btree orders the same on every server: ordered types as they are,
 * other types (text included, whose order depends on the collation) as the UTF-8 bytes of their text.
 */
export function tieOrderExpr(expr: string, type: string): string {
  const codec = codecOf(type)
  return codec?.ordered ? expr : `convert_to((${expr})::text, 'UTF8')`
}

const WRITTEN_AS: Readonly<Record<number, string>> = {
  [ValueType.BYTES]: 'bytea',
  [ValueType.STRING]: 'text',
  [ValueType.INT32]: 'integer',
  [ValueType.INT64]: 'bigint',
  [ValueType.DOUBLE]: 'double precision',
  [ValueType.FLOAT]: 'real',
  [ValueType.BOOL]: 'boolean',
  [ValueType.UNIX_TIMESTAMP]: 'timestamp with time zone',
}

/** The PostgreSQL type of a column holding this Feast type, for tables Larder creates; else undefined. */
export function pgTypeOf(t: FeastType): string | undefined {
  if (t.element !== undefined && t.element.element === undefined && t.element.fields === undefined) {
    const element = WRITTEN_AS[t.element.valueType]
    return element === undefined ? undefined : `${element}[]`
  }
  return t.element === undefined && t.fields === undefined ? WRITTEN_AS[t.valueType] : undefined
}
