import { join } from 'node:path'
import { LarderError } from '../../core/index.js'
import { describeEntities, ENTITY_TABLE } from '../local/entities.js'
import type { EntityInput } from '../offline-store.js'
import type { EntityColumn } from '../pit/plan.js'
import { ENTITY_TS, ROW_ID } from '../pit/spec.js'
import { postgresDialect } from './postgres-dialect.js'
import type { PgSession, Sessions } from './postgres-session.js'
import { stageCsv } from './postgres-transfer.js'
import { isPgTimestamp, pgInstant } from './postgres-types.js'

export { ENTITY_TABLE }

const q = postgresDialect.ident
/** Text that opens as a query is one, as Feast reads a string entity_df; anything else is a path. */
const SQL_TEXT = /^\s*\(*\s*(?:select|with|from|values)\s/i

/** An entity table described but not yet loaded. */
export interface PgEntityTable {
  readonly columns: readonly EntityColumn[]
  /**
   * Checks the chosen timestamp column and returns the loader that creates `ENTITY_TABLE` (a temporary
   * table dropped at commit; the caller holds a transaction) with the columns in order, the timestamp
   * column as `timestamptz`, plus `ROW_ID` and `ENTITY_TS`.
   */
  prepare(timestampColumn: string): (s: Sessions) => Promise<void>
}

/**
 * Describes the entity input. Query text runs in PostgreSQL. Rows, Arrow tables and Parquet or CSV
 * files are read by the local DuckDB (as the duckdb engine reads them) and uploaded with one
 * `COPY ... FROM STDIN`, never row by row.
 */
export async function describePgEntities(s: Sessions, input: EntityInput): Promise<PgEntityTable> {
  if (typeof input === 'string' && SQL_TEXT.test(input)) return describeQuery(s.pg, input)
  if (
    typeof input === 'object' &&
    input !== null &&
    !Array.isArray(input) &&
    typeof (input as { sql?: unknown }).sql === 'string'
  ) {
    return describeQuery(s.pg, (input as { sql: string }).sql)
  }
  const local = await describeEntities(s.duck, input)
  return {
    columns: local.columns,
    prepare(timestampColumn) {
      const loadLocal = local.prepare(timestampColumn)
      return async (sessions) => {
        await loadLocal(sessions.duck)
        const file = join(sessions.dir, 'entities.csv')
        const staged = await stageCsv(sessions.duck, ENTITY_TABLE, file)
        // the naive-UTC entity time becomes an instant, as in a query entity table
        const columns = staged.map((c) =>
          c.name === ENTITY_TS ? { ...c, type: 'timestamp with time zone' } : c,
        )
        await sessions.pg.query(
          `CREATE TEMP TABLE ${q(ENTITY_TABLE)} (${columns.map((c) => `${q(c.name)} ${c.type}`).join(', ')}) ON COMMIT DROP`,
        )
        await sessions.pg.copyIn(
          `COPY ${q(ENTITY_TABLE)} FROM STDIN (FORMAT csv)`,
          file,
          (message) =>
            new LarderError('DATA_SOURCE', `uploading the entity table to PostgreSQL failed: ${message}`, {
              hint: 'check the entity table',
            }),
        )
        await sessions.pg.query(`ANALYZE ${q(ENTITY_TABLE)}`)
      }
    },
  }
}

async function describeQuery(pg: PgSession, sql: string): Promise<PgEntityTable> {
  const shown = sql.length > 2000 ? `${sql.slice(0, 2000)}...` : sql
  const columns = await pg.describe(
    sql,
    (message) =>
      new LarderError('INVALID_ARGUMENT', `the entity SQL query failed: ${message}\nquery: ${shown}`, {
        hint: 'fix the query; it runs in PostgreSQL',
        details: { query: sql },
      }),
  )
  return {
    columns: columns.map((c) => ({ name: c.name, isTimestamp: isPgTimestamp(c.type) })),
    prepare(timestampColumn) {
      const type = columns.find((c) => c.name === timestampColumn)!.type
      const instant = pgInstant(q(timestampColumn), type)
      if (instant === undefined) {
        throw new LarderError(
          'INVALID_ARGUMENT',
          `the entity SQL query: column "${timestampColumn}" has type ${type}, which is not a timestamp`,
          { hint: 'give the entity timestamps as a timestamptz column or as ISO-8601 text' },
        )
      }
      const cols = columns.map((c) =>
        c.name === timestampColumn ? `(${instant})::timestamptz AS ${q(c.name)}` : q(c.name),
      )
      const create =
        `CREATE TEMP TABLE ${q(ENTITY_TABLE)} ON COMMIT DROP AS SELECT row_number() OVER () AS ${q(ROW_ID)}, ` +
        `${cols.join(', ')}, (${instant})::timestamptz AS ${q(ENTITY_TS)} FROM (${sql}) AS ${q('__larder_q')}`
      return async (s) => {
        await s.pg.query(
          create,
          [],
          (message) =>
            new LarderError('INVALID_ARGUMENT', `the entity SQL query cannot be loaded: ${message}`, {
              hint: "check its timestamps: ISO-8601 text such as '2026-11-22T10:00:00Z' or timestamptz values",
            }),
        )
        await s.pg.query(`ANALYZE ${q(ENTITY_TABLE)}`)
      }
    },
  }
}
