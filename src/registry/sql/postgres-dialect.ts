import pg from 'pg'
import type { SqlConnection, SqlDialect, SqlExecutor, SqlResult } from './sql-dialect.js'

/** `?` placeholders to PostgreSQL's `$1, $2, …` (the registry's SQL has no `?` in literals). */
function numbered(sql: string): string {
  let i = 0
  return sql.replace(/\?/g, () => `$${++i}`)
}

function executor(client: pg.ClientBase | pg.Pool): SqlExecutor {
  return {
    async run(sql, params = []): Promise<SqlResult> {
      const r = await client.query(numbered(sql), params as unknown[])
      return { rows: r.rows, affected: r.rowCount ?? 0 }
    },
  }
}

/** Feast's `postgresql+psycopg://…` and friends name the Python driver; `pg` wants `postgresql://…`. */
export function postgresConnectionString(url: string): string {
  return url.replace(/^[a-z]+(\+[a-z0-9_]+)?:\/\//i, 'postgresql://')
}

/** PostgreSQL through `pg`: a small pool; writes run at READ COMMITTED, reads on a repeatable-read snapshot. */
export const dialect: SqlDialect = {
  name: 'PostgreSQL',
  blobType: 'BYTEA',
  largeTextType: 'TEXT',
  exactVarchar: (length) => `VARCHAR(${length}) COLLATE "C"`,
  lockRows: ' FOR UPDATE',
  insertIgnore: (table, columns) =>
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON CONFLICT DO NOTHING`,
  upsert: (table, columns, key, update) =>
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${update.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`,
  isRetryable: (e) => ['40001', '40P01'].includes((e as { code?: string })?.code ?? ''),
  async open(url): Promise<SqlConnection> {
    const pool = new pg.Pool({ connectionString: postgresConnectionString(url), max: 4 })
    // An idle client's error (a restarted server) must not crash the process; the next query reports it.
    pool.on('error', () => {})
    const outside = executor(pool)
    return {
      run: (sql, params) => outside.run(sql, params),
      async transaction(mode, fn) {
        const client = await pool.connect()
        try {
          await client.query(mode === 'read' ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN')
          const result = await fn(executor(client))
          await client.query('COMMIT')
          return result
        } catch (e) {
          await client.query('ROLLBACK').catch(() => {})
          throw e
        } finally {
          client.release()
        }
      },
      close: () => pool.end(),
    }
  },
}
