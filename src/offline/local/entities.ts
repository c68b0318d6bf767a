import {
  BIGINT,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
  TIMESTAMP,
  timestampValue,
} from '@duckdb/node-api'
import { isArrowTable, type Table } from 'apache-arrow'
import { LarderError } from '../../core/index.js'
import type { EntityInput, Row } from '../offline-store.js'
import type { EntityColumn } from '../pit/plan.js'
import { ENTITY_TS, ROW_ID } from '../pit/spec.js'
import { timestampMicros } from './arrow.js'
import { SQL_TEXT } from './entity-query.js'
import { describeLocation, locateEntityFile, readExpression } from './files.js'
import {
  arrowToColumns,
  type ColumnBuffer,
  createTable,
  describeArrow,
  describeRows,
  rowsToColumns,
} from './load-columns.js'
import { ident } from './quote.js'
import type { Session } from './session.js'
import { isTimestampType, toUtcTimestamp } from './timestamps.js'

/** The temporary table holding the prepared entity table of one operation. */
export const ENTITY_TABLE = '__larder_entities'

/** An entity table described but not yet loaded. */
export interface EntityTable {
  readonly columns: readonly EntityColumn[]
  /**
   * Checks the chosen timestamp column and returns the loader that creates `ENTITY_TABLE` on a session:
   * the columns in order (the timestamp column as UTC instants) plus `ROW_ID` and `ENTITY_TS`.
   */
  prepare(timestampColumn: string): (session: Session) => Promise<void>
}

const q = ident
const RAW_TS = '__larder_raw_ts'

/** Describes the entity input: JS rows and Arrow tables are converted (and checked) here, in JS. */
export async function describeEntities(session: Session, input: EntityInput): Promise<EntityTable> {
  if (typeof input === 'string') {
    return SQL_TEXT.test(input)
      ? describeQuery(session, input)
      : describeRelation(session, locateEntityFile(input))
  }
  if (isArrowTable(input))
    return inMemory(describeArrow(input), (ts) => arrowToColumns(input as Table, ts, 'entity table'))
  if (Array.isArray(input)) {
    const rows = input as readonly Row[]
    return inMemory(describeRows(rows), (ts) => rowsToColumns(rows, ts, 'entity table'))
  }
  if (typeof input === 'object' && input !== null && typeof (input as { sql?: unknown }).sql === 'string') {
    return describeQuery(session, (input as { sql: string }).sql)
  }
  throw new LarderError('INVALID_ARGUMENT', 'entities must be rows, an Arrow table, a file path or { sql }', {
    hint: "pass e.g. [{ driver_id: 1001, event_timestamp: new Date() }] or 'entities.parquet'",
  })
}

function inMemory(
  columns: EntityColumn[],
  convert: (timestamps: ReadonlySet<string>) => ColumnBuffer[],
): EntityTable {
  return {
    columns,
    prepare(timestampColumn) {
      const buffers = convert(new Set([timestampColumn]))
      const ts = buffers.find((b) => b.name === timestampColumn)!
      const length = ts.values.length
      const rowIds: DuckDBValue[] = Array.from({ length }, (_, i) => BigInt(i + 1))
      const entityTs = ts.values.map((v) => {
        const micros = timestampMicros(v)
        return micros === undefined ? null : timestampValue(micros)
      })
      const all: ColumnBuffer[] = [
        { name: ROW_ID, type: BIGINT, values: rowIds },
        ...buffers,
        { name: ENTITY_TS, type: TIMESTAMP, values: entityTs },
      ]
      return (session) => createTable(session.connection, ENTITY_TABLE, all)
    },
  }
}

async function describeRelation(
  session: Session,
  loc: ReturnType<typeof locateEntityFile>,
): Promise<EntityTable> {
  const { names, types } = await describeLocation(session, loc)
  return fromRelation(readExpression(loc), names, types, loc.label)
}

async function describeQuery(session: Session, sql: string): Promise<EntityTable> {
  const shown = sql.length > 2000 ? `${sql.slice(0, 2000)}...` : sql
  const stmt = await session.prepare(
    sql,
    (message) =>
      new LarderError('INVALID_ARGUMENT', `the entity SQL query failed: ${message}\nquery: ${shown}`, {
        hint: 'fix the query; it runs in DuckDB, where files are read with read_parquet(...) or read_csv(...)',
        details: { query: sql },
      }),
  )
  const names = Array.from({ length: stmt.columnCount }, (_, i) => stmt.columnName(i))
  const types = Array.from({ length: stmt.columnCount }, (_, i) => stmt.columnType(i))
  stmt.destroySync()
  return fromRelation(`(${sql})`, names, types, 'the entity SQL query')
}

function fromRelation(relation: string, names: string[], types: DuckDBType[], label: string): EntityTable {
  return {
    columns: names.map((name, i) => ({ name, isTimestamp: isTimestampType(types[i]!) })),
    prepare(timestampColumn) {
      const type = types[names.indexOf(timestampColumn)]!
      const normal = toUtcTimestamp(q(timestampColumn), type, 'lenient')
      if (normal === undefined) {
        throw new LarderError(
          'INVALID_ARGUMENT',
          `${label}: column "${timestampColumn}" has type ${type}, which is not a timestamp`,
          { hint: 'give the entity timestamps as a TIMESTAMP column or as ISO-8601 strings' },
        )
      }
      const cols = names.map((n) =>
        n === timestampColumn ? `CAST(${normal} AS TIMESTAMPTZ) AS ${q(n)}` : q(n),
      )
      // text timestamps are parsed leniently and kept raw, to name the first value that does not parse
      const text = type.typeId === DuckDBTypeId.VARCHAR
      const raw = text ? `, ${q(timestampColumn)} AS ${q(RAW_TS)}` : ''
      const sql =
        `CREATE OR REPLACE TEMP TABLE ${q(ENTITY_TABLE)} AS SELECT row_number() OVER () AS ${q(ROW_ID)}, ` +
        `${cols.join(', ')}, ${normal} AS ${q(ENTITY_TS)}${raw} FROM ${relation}`
      return async (session) => {
        await session.run(
          sql,
          (message) =>
            new LarderError('DATA_SOURCE', `${label} cannot be read: ${message}`, {
              hint: 'check the entity table',
            }),
        )
        if (!text) return
        const bad = await session.run(
          `SELECT ${q(RAW_TS)} FROM ${q(ENTITY_TABLE)} WHERE ${q(RAW_TS)} IS NOT NULL AND ${q(ENTITY_TS)} IS NULL LIMIT 1`,
        )
        const rows = await bad.getRows()
        if (rows.length > 0) {
          throw new LarderError(
            'INVALID_ARGUMENT',
            `${label}: column "${timestampColumn}" holds ${JSON.stringify(rows[0]![0])}, which is not a timestamp`,
            { hint: "write timestamps as ISO-8601, e.g. '2026-11-22T10:00:00Z' (no offset means UTC)" },
          )
        }
      }
    },
  }
}
