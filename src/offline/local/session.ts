import type {
  DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  DuckDBMaterializedResult,
  DuckDBPreparedStatement,
  DuckDBResult,
} from '@duckdb/node-api'
import { isLarderError, LarderError, throwIfAborted } from '../../core/index.js'

/** Turns an engine error into the `LarderError` the caller should see. */
export type FailureMessage = (engineMessage: string) => LarderError

/**
 * One DuckDB connection for one operation. Aborting the signal interrupts the running query, and the
 * operation then rejects with a `LarderError` coded `ABORTED` (its cause is the signal's reason).
 * Closing the session drops its temporary tables.
 */
export class Session {
  readonly #conn: DuckDBConnection
  readonly #signal: AbortSignal | undefined
  readonly #onAbort: () => void

  private constructor(conn: DuckDBConnection, signal: AbortSignal | undefined) {
    this.#conn = conn
    this.#signal = signal
    this.#onAbort = () => conn.interrupt()
    signal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  /** Connects with the session settings Larder relies on (UTC). */
  static async open(instance: DuckDBInstance, signal: AbortSignal | undefined): Promise<Session> {
    throwIfAborted(signal)
    const conn = await instance.connect()
    const session = new Session(conn, signal)
    await session.run("SET TimeZone = 'UTC'")
    return session
  }

  get connection(): DuckDBConnection {
    return this.#conn
  }

  /** Runs a statement and reads its whole result. */
  run(sql: string, fail?: FailureMessage): Promise<DuckDBMaterializedResult> {
    return this.#guard(() => this.#conn.run(sql), fail)
  }

  /** Starts a query whose result is read chunk by chunk with `fetch`. */
  stream(sql: string, fail?: FailureMessage): Promise<DuckDBResult> {
    return this.#guard(() => this.#conn.stream(sql), fail)
  }

  /** The next chunk of a streamed result, or null at its end. */
  async fetch(result: DuckDBResult, fail?: FailureMessage): Promise<DuckDBDataChunk | null> {
    const chunk = await this.#guard(() => result.fetchChunk(), fail)
    return chunk && chunk.rowCount > 0 ? chunk : null
  }

  /** Prepares a statement without running it (its column names and types are known). */
  prepare(sql: string, fail?: FailureMessage): Promise<DuckDBPreparedStatement> {
    return this.#guard(() => this.#conn.prepare(sql), fail)
  }

  close(): void {
    this.#signal?.removeEventListener('abort', this.#onAbort)
    this.#conn.closeSync()
  }

  async #guard<T>(fn: () => Promise<T>, fail: FailureMessage | undefined): Promise<T> {
    throwIfAborted(this.#signal)
    try {
      return await fn()
    } catch (error) {
      throwIfAborted(this.#signal)
      if (isLarderError(error)) throw error
      const message = error instanceof Error ? error.message : String(error)
      const failure = fail
        ? fail(message)
        : new LarderError('DATA_SOURCE', `the offline engine (DuckDB) failed: ${message}`, {
            hint: 'check the sources and the entity table named in the message',
          })
      throw failure.cause === undefined ? withCause(failure, error) : failure
    }
  }
}

function withCause(e: LarderError, cause: unknown): LarderError {
  return new LarderError(e.code, e.message, { cause, hint: e.hint, details: e.details })
}
