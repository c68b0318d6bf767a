import { randomBytes } from 'node:crypto'
import { tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'

const MIB = 1024 * 1024

/**
 * The largest default memory limit. 256 MiB kept the 1M x 10M join near 500 MiB of RSS, but DuckDB
 * cannot spill every operator: a materialization's latest-rows query over a few hundred thousand
 * rows ran out of memory there. 1 GiB holds those; a user who needs less sets `memory_limit`.
 */
export const DEFAULT_MEMORY_LIMIT_CAP = 1024 * MIB

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
 * `DEFAULT_MEMORY_LIMIT_CAP` (1 GiB) and at least 64 MiB, as DuckDB text (e.g. `'1024MiB'`). DuckDB's own
 * default (80% of RAM) lets one large join take gigabytes from the process that embeds it; with this one
 * a join larger than the limit spills to the temp directory instead.
 */
export function defaultMemoryLimit(available = availableMemory()): string {
  const bytes = Math.min(DEFAULT_MEMORY_LIMIT_CAP, Math.max(64 * MIB, available * DEFAULT_MEMORY_SHARE))
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
