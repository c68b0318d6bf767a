import { type DuckDBType, DuckDBTypeId } from '@duckdb/node-api'
import { LarderError } from '../../core/index.js'
import { ident, sqlString } from '../local/quote.js'
import type { Session } from '../local/session.js'
import { postgresDialect } from './postgres-dialect.js'
import { codecOf, type PgColumn } from './postgres-types.js'

// Rows cross between PostgreSQL and the local DuckDB as CSV files: `COPY … TO STDOUT` into a file that
// DuckDB reads, and DuckDB's `COPY … TO` a file that `COPY … FROM STDIN` reads. Each statement is quoted
// by the rules of the database that runs it: `postgresDialect.ident` for PostgreSQL, `../local/quote.ts`
// for DuckDB.

const pgIdent = postgresDialect.ident

/**
 * Checks that every column of a result can travel out of PostgreSQL. Throws UNSUPPORTED naming the
 * column and its type otherwise, with `where` saying which object the result belongs to.
 */
export function checkCodecs(columns: readonly PgColumn[], where: string): void {
  for (const c of columns) {
    if (codecOf(c.type) === undefined) {
      throw new LarderError(
        'UNSUPPORTED',
        `column "${c.name}" of ${where} has the PostgreSQL type ${c.type}, which Larder cannot map to a Feast type`,
        {
          hint: "cast it in a query source (e.g. query: 'SELECT ..., col::text AS col FROM ...') to a number, text, boolean, bytea, timestamp, json or an array of those",
          details: { column: c.name, type: c.type },
        },
      )
    }
  }
}

/**
 * The PostgreSQL `COPY ... TO STDOUT` statement sending a query's rows as CSV, with each column rewritten
 * where its text form is not one the local engine reads (arrays go out as JSON).
 */
export function copyOutStatement(sql: string, columns: readonly PgColumn[]): string {
  const sends = columns.map(
    (c, i) =>
      codecOf(c.type)!.send.replace('$', `${pgIdent('__larder_o')}.${pgIdent(c.name)}`) +
      ` AS ${pgIdent(`c${i}`)}`,
  )
  const plain = columns.every((c) => codecOf(c.type)!.send === '$')
  const body = plain ? sql : `SELECT ${sends.join(', ')} FROM (${sql}) AS ${pgIdent('__larder_o')}`
  return `COPY (${body}) TO STDOUT (FORMAT csv)`
}

/**
 * A DuckDB relation reading a CSV file written by {@link copyOutStatement} back as typed columns
 * under their names.
 */
export function readCsvRelation(path: string, columns: readonly PgColumn[]): string {
  const spec = columns.map((c, i) => `${sqlString(`c${i}`)}: ${sqlString(codecOf(c.type)!.read)}`).join(', ')
  const select = columns.map(
    (c, i) => `${codecOf(c.type)!.convert.replace('$', ident(`c${i}`))} AS ${ident(c.name)}`,
  )
  return (
    `(SELECT ${select.join(', ')} FROM read_csv(${sqlString(path)}, header = false, auto_detect = false, ` +
    `allow_quoted_nulls = false, delim = ',', quote = '"', escape = '"', columns = {${spec}}))`
  )
}

/**
 * Writes a temporary table of the local DuckDB to a CSV file (no header) in the text forms PostgreSQL's
 * `COPY ... FROM STDIN (FORMAT csv)` reads, and returns its columns with the PostgreSQL type each maps
 * to (`pgTypeOfDuck`). Bytes go as hex (`\x0102`), lists of scalars as array literals; DuckDB's own CSV
 * text serves the other types.
 */
export async function stageCsv(duck: Session, table: string, path: string): Promise<PgColumn[]> {
  const described = await duck.run(`SELECT * FROM ${ident(table)} LIMIT 0`)
  const names = described.columnNames()
  const types = described.columnTypes()
  const fields = names.map((n, i) => `${pgText(ident(n), types[i]!)} AS ${ident(n)}`)
  await duck.run(
    `COPY (SELECT ${fields.join(', ')} FROM ${ident(table)}) TO ${sqlString(path)} (FORMAT csv, HEADER false)`,
  )
  return names.map((name, i) => ({ name, type: pgTypeOfDuck(types[i]!) }))
}

/** A DuckDB expression giving a column of type `t` in a form PostgreSQL parses as `pgTypeOfDuck(t)`. */
function pgText(expr: string, t: DuckDBType): string {
  if (t.typeId === DuckDBTypeId.BLOB) return `'\\x' || hex(${expr})`
  const element = listElement(t)
  if (element !== undefined && isScalar(element)) return pgArrayLiteral(expr, element)
  return isScalar(t) ? expr : `CAST(${expr} AS VARCHAR)`
}

/**
 * A DuckDB expression writing a list as PostgreSQL array text (`{"1","2",NULL}`): elements quoted and
 * escaped, a null element a bare `NULL`, which PostgreSQL parses into an array of any element type.
 */
function pgArrayLiteral(list: string, element: DuckDBType): string {
  const text = element.typeId === DuckDBTypeId.BLOB ? `'\\x' || hex(x)` : 'CAST(x AS VARCHAR)'
  const escaped = `replace(replace(${text}, '\\', '\\\\'), '"', '\\"')`
  const item = `CASE WHEN x IS NULL THEN 'NULL' ELSE '"' || ${escaped} || '"' END`
  return `CASE WHEN ${list} IS NULL THEN NULL ELSE '{' || array_to_string(list_transform(${list}, x -> ${item}), ',') || '}' END`
}

/** The element type of a list or array type, else undefined. */
function listElement(t: DuckDBType): DuckDBType | undefined {
  return t.typeId === DuckDBTypeId.LIST || t.typeId === DuckDBTypeId.ARRAY ? t.valueType : undefined
}

/** False for lists, structs and maps, which have no PostgreSQL counterpart but (lists of scalars) arrays. */
function isScalar(t: DuckDBType): boolean {
  return listElement(t) === undefined && t.typeId !== DuckDBTypeId.STRUCT && t.typeId !== DuckDBTypeId.MAP
}

const PG_TYPES: Readonly<Partial<Record<DuckDBTypeId, string>>> = {
  [DuckDBTypeId.BOOLEAN]: 'boolean',
  [DuckDBTypeId.TINYINT]: 'smallint',
  [DuckDBTypeId.UTINYINT]: 'smallint',
  [DuckDBTypeId.SMALLINT]: 'smallint',
  [DuckDBTypeId.USMALLINT]: 'integer',
  [DuckDBTypeId.INTEGER]: 'integer',
  [DuckDBTypeId.UINTEGER]: 'bigint',
  [DuckDBTypeId.BIGINT]: 'bigint',
  [DuckDBTypeId.UBIGINT]: 'numeric',
  [DuckDBTypeId.HUGEINT]: 'numeric',
  [DuckDBTypeId.UHUGEINT]: 'numeric',
  [DuckDBTypeId.DECIMAL]: 'numeric',
  [DuckDBTypeId.FLOAT]: 'real',
  [DuckDBTypeId.DOUBLE]: 'double precision',
  [DuckDBTypeId.VARCHAR]: 'text',
  [DuckDBTypeId.BLOB]: 'bytea',
  [DuckDBTypeId.UUID]: 'uuid',
  [DuckDBTypeId.DATE]: 'date',
  [DuckDBTypeId.TIMESTAMP]: 'timestamp without time zone',
  [DuckDBTypeId.TIMESTAMP_S]: 'timestamp without time zone',
  [DuckDBTypeId.TIMESTAMP_MS]: 'timestamp without time zone',
  [DuckDBTypeId.TIMESTAMP_NS]: 'timestamp without time zone',
  [DuckDBTypeId.TIMESTAMP_TZ]: 'timestamp with time zone',
}

/**
 * The PostgreSQL type of a column the local DuckDB types as `t`, for tables Larder creates from local
 * rows: lists of scalars become arrays of the element's type; types without a PostgreSQL counterpart
 * (nested lists, structs, maps, intervals, ...) become `text`.
 */
export function pgTypeOfDuck(t: DuckDBType): string {
  const element = listElement(t)
  if (element !== undefined) return isScalar(element) ? `${pgTypeOfDuck(element)}[]` : 'text'
  return PG_TYPES[t.typeId] ?? 'text'
}
