/**
 * The part of a SQLite driver the online store uses: better-sqlite3's API, which `node:sqlite`'s
 * `DatabaseSync` also satisfies (positional `?` parameters only).
 */
export interface SqliteStatement {
  run(...params: unknown[]): { changes: number | bigint }
  get(...params: unknown[]): unknown
  all(...params: unknown[]): unknown[]
  iterate(...params: unknown[]): IterableIterator<unknown>
  /**
   * Optional: switches `all` to rows as arrays of column values (better-sqlite3 `raw(true)`; in
   * `node:sqlite`, `setReturnArrays(true)`). Reads are about 25% faster with it; without it rows are
   * objects and the store reads their values in column order.
   */
  raw?(toggle?: boolean): unknown
}

export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement
  exec(sql: string): unknown
  close(): unknown
}
