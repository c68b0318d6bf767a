import { createReadStream, createWriteStream, rmSync } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import type pg from 'pg'
import { isLarderError, LarderError, throwIfAborted } from '../../core/index.js'
import type { Session } from '../local/session.js'
import type { PgDriver } from './postgres-driver.js'
import type { PgColumn } from './postgres-types.js'

/** Turns a PostgreSQL error message into the `LarderError` the caller should see. */
export type PgFailure = (serverMessage: string) => LarderError

/**
 * One pooled PostgreSQL connection for one operation. Aborting the signal cancels the running statement
 * on the server (`pg_cancel_backend`, sent from a connection of its own), and the operation then rejects
 * with a `LarderError` coded `ABORTED`. `release` rolls back an open transaction, so temporary tables
 * made `ON COMMIT DROP` never outlive the operation on a pooled connection.
 */
export class PgSession {
  readonly #client: pg.PoolClient
  readonly #driver: PgDriver
  readonly #signal: AbortSignal | undefined
  readonly #onAbort: () => void
  #inTransaction = false
  /** Settles when the statement in flight has ended. */
  #busy: Promise<void> = Promise.resolve()
  /** Settles when the cancel sent on abort has been delivered (or could not be). */
  #cancelling: Promise<void> = Promise.resolve()

  private constructor(
    client: pg.PoolClient,
    pool: pg.Pool,
    driver: PgDriver,
    signal: AbortSignal | undefined,
  ) {
    this.#client = client
    this.#driver = driver
    this.#signal = signal
    const pid = (client as unknown as { processID?: number }).processID
    this.#onAbort = () => {
      if (pid !== undefined) this.#cancelling = cancelBackend(driver, pool, pid)
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

  /**
   * Opens a transaction that `release` rolls back unless `commit` ran, at the server's default isolation
   * level or at `REPEATABLE READ`, where every statement reads the snapshot its first statement took.
   */
  async begin(isolation?: 'REPEATABLE READ'): Promise<void> {
    await this.query(isolation === undefined ? 'BEGIN' : `BEGIN ISOLATION LEVEL ${isolation}`)
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

  /**
   * Returns the connection to the pool, rolling back an open transaction first. Waits for a statement
   * still running (being cancelled) and for a cancel on its way, so that neither reaches the next
   * operation to take the connection.
   */
  async release(): Promise<void> {
    this.#signal?.removeEventListener('abort', this.#onAbort)
    await this.#busy
    await this.#cancelling
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

  async #guard<T>(fn: () => Promise<T>, fail: PgFailure | undefined): Promise<T> {
    throwIfAborted(this.#signal)
    const running = Promise.resolve().then(fn)
    this.#busy = running.then(
      () => undefined,
      () => undefined,
    )
    try {
      return await running
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

/**
 * Cancels the statement running on backend `pid` with `pg_cancel_backend`, from a connection of its own:
 * the pool may have no free connection, all of them running what is being cancelled. Never rejects; a
 * cancel that cannot be sent leaves the statement to run to its end.
 */
async function cancelBackend(driver: PgDriver, pool: pg.Pool, pid: number): Promise<void> {
  const client = new driver.pg.Client(pool.options)
  client.on('error', () => {})
  await client
    .connect()
    .then(() => client.query('SELECT pg_cancel_backend($1)', [pid]))
    .catch(() => undefined)
  await client.end().catch(() => undefined)
}

/** The sessions one operation works in: PostgreSQL for the join, a local DuckDB for files and Arrow. */
export interface Sessions {
  readonly pg: PgSession
  readonly duck: Session
  /** A directory for this operation's staging files, removed when it ends. */
  readonly dir: string
}

/** An operation's sessions; `close` releases them and removes the staging directory. */
export interface ClosableSessions extends Sessions {
  close(): Promise<void>
}

/**
 * One operation of the store: the sessions and staging directory it opened, and a signal that follows
 * the caller's and that `abort` fires too (the store does when it closes under running operations).
 * Sessions are opened with that signal, so aborting cancels the statement running on the server and
 * interrupts the local query. `close` releases whatever is open and may be called again: by the operation
 * when it ends, and by the store.
 */
export class Operation {
  readonly #controller = new AbortController()
  readonly #caller: AbortSignal | undefined
  readonly #forward: () => void
  readonly #ended: () => void
  /** Settles when the opening of the sessions has ended, opened or not (set by the store). */
  opening: Promise<unknown> = Promise.resolve()
  /** What the store has opened so far; `close` releases each and unsets it. */
  pg: PgSession | undefined
  duck: Session | undefined
  dir: string | undefined

  /** `ended` runs on every `close`. Throws ABORTED when `caller` has already fired. */
  constructor(caller: AbortSignal | undefined, ended: () => void) {
    throwIfAborted(caller)
    this.#caller = caller
    this.#ended = ended
    this.#forward = () => this.#controller.abort(caller?.reason)
    caller?.addEventListener('abort', this.#forward, { once: true })
  }

  /** The signal the operation's sessions are opened with. */
  get signal(): AbortSignal {
    return this.#controller.signal
  }

  /**
   * Aborts the operation: its running statement is cancelled on the server, its local query interrupted,
   * and what it runs next rejects with ABORTED, saying `reason`.
   */
  abort(reason: LarderError): void {
    this.#controller.abort(reason)
  }

  /**
   * The opened sessions. Reading one after the operation was aborted throws ABORTED; reading one it does
   * not hold (`pg` of a local operation, anything after `close`) throws INTERNAL.
   */
  sessions(): ClosableSessions {
    const open = <T>(value: T | undefined, what: string): T => {
      throwIfAborted(this.signal)
      if (value === undefined) {
        throw new LarderError('INTERNAL', `this operation of the postgres offline store holds no ${what}`, {
          hint: 'query PostgreSQL from an operation opened without local, and only until it is closed',
        })
      }
      return value
    }
    const pg = () => open(this.pg, 'PostgreSQL connection')
    const duck = () => open(this.duck, 'DuckDB session')
    const dir = () => open(this.dir, 'staging directory')
    return {
      get pg() {
        return pg()
      },
      get duck() {
        return duck()
      },
      get dir() {
        return dir()
      },
      close: () => this.close(),
    }
  }

  /** Releases the sessions and removes the staging directory, each once. */
  async close(): Promise<void> {
    this.#caller?.removeEventListener('abort', this.#forward)
    this.#ended()
    const { duck, pg, dir } = this
    this.duck = undefined
    this.pg = undefined
    this.dir = undefined
    duck?.close()
    await pg?.release()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  }
}
