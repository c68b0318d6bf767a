import { mkdirSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { LarderError } from '../../core/index.js'
import type { SqlConnection, SqlDialect, SqlExecutor, SqlResult } from './sql-dialect.js'
import { sqliteAddonOptions } from './sqlite-addon.js'

/**
 * The file a `sqlite:` URL names, as SQLAlchemy reads it: `sqlite:///rel/path.db` is relative (here to
 * the repo), `sqlite:////abs/path.db` absolute, `sqlite://` or `sqlite:///:memory:` in memory.
 */
export function sqlitePath(url: string, baseDir: string): string {
  const m = /^sqlite(\+[a-z0-9_]+)?:\/\/(\/?)(.*)$/i.exec(url)
  if (!m) {
    throw new LarderError('INVALID_CONFIG', `registry path "${url}" is not a sqlite URL`, {
      hint: 'write sqlite:///data/registry.sqlite (relative to the repo) or sqlite:////absolute/path.sqlite',
    })
  }
  const rest = (m[3] ?? '').replace(/\?.*$/, '')
  if (rest === '' || rest === ':memory:') return ':memory:'
  return isAbsolute(rest) ? rest : resolve(baseDir, rest)
}

/** SQLite through `better-sqlite3`: one connection, WAL, writers wait for each other's lock. */
export const dialect: SqlDialect = {
  name: 'SQLite',
  blobType: 'BLOB',
  largeTextType: 'TEXT',
  // SQLite compares text byte for byte (its BINARY collation) unless told otherwise.
  exactVarchar: (length) => `VARCHAR(${length})`,
  // BEGIN IMMEDIATE holds the database's write lock for the whole transaction.
  lockRows: '',
  insertIgnore: (table, columns) =>
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON CONFLICT DO NOTHING`,
  upsert: (table, columns, key, update) =>
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${update.map((c) => `${c} = excluded.${c}`).join(', ')}`,
  isRetryable: (e) => /^SQLITE_BUSY/.test((e as { code?: string })?.code ?? ''),
  async open(url, baseDir): Promise<SqlConnection> {
    const path = sqlitePath(url.replace(/^sqlite\+[a-z0-9_]+:/i, 'sqlite:'), baseDir)
    if (path === ':memory:') return openFile(path)
    // Handles on one file in one process share a connection: better-sqlite3 blocks the event loop
    // while it waits for a lock, so a second connection would wait on a transaction it stalls.
    let entry = SHARED.get(path)
    if (!entry) {
      entry = { connection: openFile(path), handles: 0 }
      SHARED.set(path, entry)
    }
    entry.handles++
    const shared = entry
    let closed = false
    return {
      run: (sql, params) => shared.connection.run(sql, params),
      transaction: (mode, fn) => shared.connection.transaction(mode, fn),
      close: async () => {
        if (closed) return
        closed = true
        if (--shared.handles === 0) {
          SHARED.delete(path)
          await shared.connection.close()
        }
      },
    }
  },
}

const SHARED = new Map<string, { connection: SqlConnection; handles: number }>()

function openFile(path: string): SqlConnection {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path, sqliteAddonOptions())
  db.pragma('busy_timeout = 10000')
  if (path !== ':memory:') db.pragma('journal_mode = WAL')
  const run = (sql: string, params: readonly unknown[] = []): SqlResult => {
    const statement = db.prepare(sql)
    const values = params.map((p) => (typeof p === 'boolean' ? Number(p) : p))
    if (statement.reader) return { rows: statement.all(...values) as Record<string, unknown>[], affected: 0 }
    return { rows: [], affected: statement.run(...values).changes }
  }
  const tx: SqlExecutor = { run: async (sql, params) => run(sql, params) }
  // One connection: transactions of this process take turns.
  let queue: Promise<unknown> = Promise.resolve()
  return {
    run: async (sql, params) => run(sql, params),
    transaction(mode, fn) {
      const next = queue.then(async () => {
        db.exec(mode === 'read' ? 'BEGIN' : 'BEGIN IMMEDIATE')
        try {
          const result = await fn(tx)
          db.exec('COMMIT')
          return result
        } catch (e) {
          if (db.inTransaction) db.exec('ROLLBACK')
          throw e
        }
      })
      queue = next.catch(() => {})
      return next
    },
    close: async () => {
      await queue
      db.close()
    },
  }
}
