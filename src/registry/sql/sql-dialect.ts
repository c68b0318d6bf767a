/** The rows a statement returned and how many rows it changed. */
export interface SqlResult {
  readonly rows: readonly Record<string, unknown>[]
  readonly affected: number
}

/** Runs one statement; `?` marks each positional parameter whatever the database. */
export interface SqlExecutor {
  run(sql: string, params?: readonly unknown[]): Promise<SqlResult>
}

/** An open database: statements, transactions, close. The subset of a driver the SQL registry uses. */
export interface SqlConnection {
  /**
   * Runs `fn` in one transaction, committed when `fn` resolves and rolled back when it throws. `read`
   * sees one consistent snapshot; `write` may change rows (SQLite takes its write lock up front).
   */
  transaction<T>(mode: 'read' | 'write', fn: (tx: SqlExecutor) => Promise<T>): Promise<T>
  /** Runs one statement outside an explicit transaction. */
  run(sql: string, params?: readonly unknown[]): Promise<SqlResult>
  close(): Promise<void>
}

/**
 * What differs between databases, as data and small SQL builders: column types, "insert unless the
 * key exists", upserts, locking reads and which errors mean "run the transaction again". One per
 * database, in its own file, which is the only place its driver is imported.
 */
export interface SqlDialect {
  /** The database's name, for messages. */
  readonly name: string
  /** Feast's `LargeBinary` column type on this database. */
  readonly blobType: string
  /** Appended to a SELECT in a write transaction to lock the rows read ('' where the transaction holds the lock already). */
  readonly lockRows: string
  /** `INSERT` of one row that does nothing (and changes no row) when the key exists. */
  insertIgnore(table: string, columns: readonly string[]): string
  /** `INSERT` of one row that replaces `update` columns when the key exists. */
  upsert(table: string, columns: readonly string[], key: readonly string[], update: readonly string[]): string
  /** True for a deadlock or serialization failure, after which the whole transaction may run again. */
  isRetryable(error: unknown): boolean
  /** Opens the database a registry URL names; relative SQLite paths resolve against `baseDir`. */
  open(url: string, baseDir: string): Promise<SqlConnection>
}

/** A dialect module, loaded lazily by the registry loader. */
export interface SqlDialectModule {
  readonly dialect: SqlDialect
}
