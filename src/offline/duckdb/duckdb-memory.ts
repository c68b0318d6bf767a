import { randomBytes } from 'node:crypto'
import { tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'

const MIB = 1024 * 1024

/**
 * The largest default memory limit of joins and every other query: what keeps DuckDB and Node within
 * about 512 MiB of RSS together on the 1M x 10M join, which spills past it.
 */
export const DEFAULT_MEMORY_LIMIT_CAP = 256 * MIB

/**
 * The largest default memory limit while a materialization reads the latest rows: their ordered
 * DISTINCT ON does not spill, and ran out of memory at 256 MiB on a few hundred thousand keys.
 */
export const DEFAULT_LATEST_ROWS_LIMIT_CAP = 1024 * MIB

/** The share of the process's memory (its cgroup limit, else the host's RAM) DuckDB takes by default. */
const DEFAULT_MEMORY_SHARE = 0.25

/**
 * The memory the process may use: its cgroup limit when it runs under one smaller than the host's RAM
 * (`process.constrainedMemory`), else the host's RAM, in bytes.
 */
export function availableMemory(constrained = process.constrainedMemory?.(), total = totalmem()): number {
  return constrained !== undefined && constrained > 0 && constrained < total ? constrained : total
}

/**
 * DuckDB's `memory_limit` when `feature_store.yaml` sets none: a quarter of `availableMemory()`, at most
 * `cap` (`DEFAULT_MEMORY_LIMIT_CAP`, 256 MiB; `DEFAULT_LATEST_ROWS_LIMIT_CAP` while latest rows are
 * read) and at least 64 MiB, as DuckDB text (e.g. `'256MiB'`). DuckDB's own default (80% of RAM) lets
 * one large join take gigabytes from the process that embeds it; with this one a join larger than the
 * limit spills to the temp directory instead.
 */
export function defaultMemoryLimit(available = availableMemory(), cap = DEFAULT_MEMORY_LIMIT_CAP): string {
  const bytes = Math.min(cap, Math.max(64 * MIB, available * DEFAULT_MEMORY_SHARE))
  return `${Math.floor(bytes / MIB)}MiB`
}

/**
 * DuckDB's `temp_directory` when `feature_store.yaml` sets none: a directory of this store's own in the
 * system temp directory, so processes never share spill files and none lands in the working directory.
 * DuckDB creates it; the store removes it when it closes.
 */
export function defaultTempDirectory(): string {
  return join(tmpdir(), `larder-duckdb-${process.pid}-${randomBytes(4).toString('hex')}`)
}

/**
 * Raises a DuckDB database's memory limit from `normal` to `raised` while any latest-row read runs,
 * and lowers it after the last one. `SET memory_limit` applies to the whole database, so the changes
 * run one at a time, each setting the limit that the number of running reads asks for then.
 */
export class LatestRowsMemory {
  #running = 0
  #applied: Promise<unknown> = Promise.resolve()

  constructor(
    readonly normal: string,
    readonly raised: string,
  ) {}

  /** Counts a latest-row read in; resolves once the raised limit is set (`run` runs a statement). */
  raise(run: (sql: string) => Promise<unknown>): Promise<void> {
    this.#running++
    return this.#apply(run)
  }

  /** Counts a read out; the last one out sets the normal limit again. Never rejects. */
  lower(run: (sql: string) => Promise<unknown>): Promise<void> {
    this.#running--
    return this.#apply(run).catch(() => {
      // the limit stays raised until the next change: memory, not correctness
    })
  }

  #apply(run: (sql: string) => Promise<unknown>): Promise<void> {
    const step = this.#applied.then(() =>
      run(`SET memory_limit = '${this.#running > 0 ? this.raised : this.normal}'`),
    )
    this.#applied = step.catch(() => {})
    return step.then(() => {})
  }
}
