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
  /** A column for text of any length (JSON documents); plain `TEXT` where it is unbounded. */
  readonly largeTextType: string
  /**
   * A `VARCHAR(length)` compared by code point, whatever the database's default collation: case-sensitive
   * and in the order of JavaScript's `<` (for text without astral characters), for keys that every
   * backend must match and order alike (job ids and their projects).
   */
  exactVarchar(length: number): string
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

/** How many times a transaction runs in all when it keeps failing with a deadlock or serialization failure. */
export const MAX_TRANSACTION_ATTEMPTS = 5

/**
 * Runs `work` (a whole transaction) and runs it again, after a short random pause, when it fails with
 * an error the dialect calls retryable, up to {@link MAX_TRANSACTION_ATTEMPTS} runs in all; any other
 * error, or the last one, is thrown.
 */
export async function retrying<T>(dialect: SqlDialect, work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work()
    } catch (e) {
      if (!dialect.isRetryable(e) || attempt >= MAX_TRANSACTION_ATTEMPTS) throw e
      await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt))
    }
  }
}
