import mysql from 'mysql2/promise'
import type { SqlConnection, SqlDialect, SqlExecutor, SqlResult } from './sql-dialect.js'

type Queryable = Pick<mysql.Pool, 'query'>

function executor(conn: Queryable): SqlExecutor {
  return {
    async run(sql, params = []): Promise<SqlResult> {
      const [result] = await conn.query(sql, params as unknown[])
      if (Array.isArray(result)) return { rows: result as Record<string, unknown>[], affected: 0 }
      return { rows: [], affected: (result as mysql.ResultSetHeader).affectedRows }
    },
  }
}

/** Feast's `mysql+pymysql://…` names the Python driver; `mysql2` wants `mysql://…`. */
export function mysqlConnectionString(url: string): string {
  return url.replace(/^[a-z]+(\+[a-z0-9_]+)?:\/\//i, 'mysql://')
}

/** MySQL and MariaDB through `mysql2`'s promise API: InnoDB, LONGBLOB protos, a small pool. */
export const dialect: SqlDialect = {
  name: 'MySQL',
  blobType: 'LONGBLOB',
  largeTextType: 'LONGTEXT',
  exactVarchar: (length) => `VARCHAR(${length}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
  lockRows: ' FOR UPDATE',
  insertIgnore: (table, columns) =>
    `INSERT IGNORE INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
  upsert: (table, columns, _key, update) =>
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON DUPLICATE KEY UPDATE ${update.map((c) => `${c} = VALUES(${c})`).join(', ')}`,
  isRetryable: (e) => [1213, 1205].includes((e as { errno?: number })?.errno ?? 0),
  async open(url): Promise<SqlConnection> {
    const pool = mysql.createPool({ uri: mysqlConnectionString(url), connectionLimit: 4 })
    const outside = executor(pool)
    return {
      run: (sql, params) => outside.run(sql, params),
      async transaction(mode, fn) {
        const conn = await pool.getConnection()
        try {
          await conn.query(
            mode === 'read' ? 'START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY' : 'START TRANSACTION',
          )
          const result = await fn(executor(conn))
          await conn.query('COMMIT')
          return result
        } catch (e) {
          await conn.query('ROLLBACK').catch(() => {})
          throw e
        } finally {
          conn.release()
        }
      },
      close: () => pool.end(),
    }
  },
}
