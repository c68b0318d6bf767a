import { LarderError } from '../../core/index.js'
import { pgString } from './postgres-dialect.js'
import { codecOf, type PgColumn } from './postgres-types.js'

const q = (name: string) => `"${name.replaceAll('"', '""')}"`

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
 * The `COPY ... TO STDOUT` statement sending a query's rows as CSV, with each column rewritten where
 * its text form is not one the local engine reads (arrays go out as JSON).
 */
export function copyOutStatement(sql: string, columns: readonly PgColumn[]): string {
  const sends = columns.map(
    (c, i) => codecOf(c.type)!.send.replace('$', `${q('__larder_o')}.${q(c.name)}`) + ` AS ${q(`c${i}`)}`,
  )
  const plain = columns.every((c) => codecOf(c.type)!.send === '$')
  const body = plain ? sql : `SELECT ${sends.join(', ')} FROM (${sql}) AS ${q('__larder_o')}`
  return `COPY (${body}) TO STDOUT (FORMAT csv)`
}

/**
 * A DuckDB relation reading a CSV file written by {@link copyOutStatement} back as typed columns
 * under their names.
 */
export function readCsvRelation(path: string, columns: readonly PgColumn[]): string {
  const spec = columns.map((c, i) => `${pgString(`c${i}`)}: ${pgString(codecOf(c.type)!.read)}`).join(', ')
  const select = columns.map((c, i) => `${codecOf(c.type)!.convert.replace('$', q(`c${i}`))} AS ${q(c.name)}`)
  return (
    `(SELECT ${select.join(', ')} FROM read_csv(${pgString(path)}, header = false, auto_detect = false, ` +
    `allow_quoted_nulls = false, delim = ',', quote = '"', escape = '"', columns = {${spec}}))`
  )
}

/** The PostgreSQL type of a column the local engine (DuckDB) describes as `duckType`, for uploads. */
export function pgTypeOfDuck(duckType: string): string {
  const t = duckType.toUpperCase()
  if (t.startsWith('DECIMAL')) return 'numeric'
  const known: Readonly<Record<string, string>> = {
    BIGINT: 'bigint',
    INTEGER: 'integer',
    SMALLINT: 'smallint',
    TINYINT: 'smallint',
    UTINYINT: 'smallint',
    USMALLINT: 'integer',
    UINTEGER: 'bigint',
    UBIGINT: 'numeric',
    HUGEINT: 'numeric',
    DOUBLE: 'double precision',
    FLOAT: 'real',
    VARCHAR: 'text',
    BOOLEAN: 'boolean',
    'TIMESTAMP WITH TIME ZONE': 'timestamp with time zone',
    TIMESTAMP: 'timestamp without time zone',
    TIMESTAMP_S: 'timestamp without time zone',
    TIMESTAMP_MS: 'timestamp without time zone',
    TIMESTAMP_NS: 'timestamp without time zone',
    DATE: 'date',
    UUID: 'uuid',
  }
  return known[t] ?? 'text'
}
