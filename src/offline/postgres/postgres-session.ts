import { createReadStream, createWriteStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import type pg from 'pg'
import { isLarderError, LarderError, throwIfAborted } from '../../core/index.js'
import type { PgDriver } from './postgres-driver.js'
import type { PgColumn } from './postgres-types.js'

/** Turns a PostgreSQL error message into the `LarderError` the caller should see. */
export type PgFailure = (serverMessage: string) => LarderError

/**
 * One pooled PostgreSQL connection for one operation. Aborting the signal cancels the running statement
 * on the server (`pg_cancel_backend`), and the operation then rejects with a `LarderError` coded
 * `ABORTED`. `release` rolls back an open transaction, so temporary tables made `ON COMMIT DROP` never
 * outlive the operation on a pooled connection.
 */
export class PgSession {
  readonly #client: pg.PoolClient
  readonly #pool: pg.Pool
  readonly #driver: PgDriver
  readonly #signal: AbortSignal | undefined
  readonly #onAbort: () => void
  #inTransaction = false

  private constructor(
    client: pg.PoolClient,
    pool: pg.Pool,
    driver: PgDriver,
    signal: AbortSignal | undefined,
  ) {
    this.#client = client
    this.#pool = pool
    this.#driver = driver
    this.#signal = signal
    const pid = (client as unknown as { processID?: number }).processID
    this.#onAbort = () => {
      if (pid !== undefined) pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => {})
    }
    signal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  /** Takes a connection from the pool. */
  static async open(pool: pg.Pool, driver: PgDriver, signal: AbortSignal | undefined): Promise<PgSession> {
    throwIfAborted(signal)
    return new PgSession(await pool.connect(), pool, driver, signal)
  }

  /** Runs a statement with positional parameters and returns its rows. */
  async query<R extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params: readonly unknown[] = [],
    fail?: PgFailure,
  ): Promise<pg.QueryResult<R>> {
    return this.#guard(() => this.#client.query<R>(sql, params as unknown[]), fail)
  }

  /** Opens a transaction that `release` rolls back unless `commit` ran. */
  async begin(): Promise<void> {
    await this.query('BEGIN')
    this.#inTransaction = true
  }

  async commit(): Promise<void> {
    await this.query('COMMIT')
    this.#inTransaction = false
  }

  /** The columns a query yields (it is planned, not run), with their types as `format_type` prints them. */
  async describe(sql: string, fail?: PgFailure): Promise<PgColumn[]> {
    const result = await this.query(`SELECT * FROM (${sql}) AS "__larder_d" LIMIT 0`, [], fail)
    const oids = result.fields.map((f) => f.dataTypeID)
    const mods = result.fields.map((f) => f.dataTypeModifier)
    const types = await this.query<{ t: string }>(
      'SELECT format_type(o, NULLIF(m, -1)) AS t FROM unnest($1::oid[], $2::int[]) WITH ORDINALITY AS a(o, m, i) ORDER BY i',
      [oids, mods],
    )
    return result.fields.map((f, i) => ({ name: f.name, type: types.rows[i]!.t }))
  }

  /** Streams `COPY (...) TO STDOUT` into a file. */
  async copyOut(sql: string, path: string, fail?: PgFailure): Promise<void> {
    await this.#guard(
      () => pipeline(this.#client.query(this.#driver.copyTo(sql) as never) as never, createWriteStream(path)),
      fail,
    )
  }

  /** Streams a file into `COPY ... FROM STDIN`. */
  async copyIn(sql: string, path: string, fail?: PgFailure): Promise<void> {
    await this.#guard(
      () =>
        pipeline(createReadStream(path), this.#client.query(this.#driver.copyFrom(sql) as never) as never),
      fail,
    )
  }

  /** Returns the connection to the pool, rolling back an open transaction first. */
  async release(): Promise<void> {
    this.#signal?.removeEventListener('abort', this.#onAbort)
    if (this.#inTransaction) {
      try {
        await this.#client.query('ROLLBACK')
      } catch (error) {
        this.#client.release(error as Error)
        return
      }
    }
    this.#client.release()
  }

  /** The pool this session came from. */
  get pool(): pg.Pool {
    return this.#pool
  }

  async #guard<T>(fn: () => Promise<T>, fail: PgFailure | undefined): Promise<T> {
    throwIfAborted(this.#signal)
    try {
      return await fn()
    } catch (error) {
      throwIfAborted(this.#signal)
      if (isLarderError(error)) throw error
      const message = error instanceof Error ? error.message : String(error)
      const failure = fail
        ? fail(message)
        : new LarderError('DATA_SOURCE', `the offline store (PostgreSQL) failed: ${message}`, {
            hint: 'check the sources and the entity table named in the message',
          })
      throw new LarderError(failure.code, failure.message, {
        cause: error,
        hint: failure.hint,
        details: failure.details,
      })
    }
  }
}
