import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

/** Where a container's CPU limit is read from: cgroup v2, then v1. */
export interface CgroupPaths {
  /** cgroup v2 `cpu.max`: `<quota> <period>`, or `max <period>` without a limit. */
  readonly cpuMax: string
  /** cgroup v1 `cpu.cfs_quota_us` (`-1` without a limit) and `cpu.cfs_period_us`. */
  readonly cfsQuota: string
  readonly cfsPeriod: string
}

const CGROUP: CgroupPaths = {
  cpuMax: '/sys/fs/cgroup/cpu.max',
  cfsQuota: '/sys/fs/cgroup/cpu/cpu.cfs_quota_us',
  cfsPeriod: '/sys/fs/cgroup/cpu/cpu.cfs_period_us',
}

/**
 * How many CPUs this process may use: `os.availableParallelism()`, lowered to the container's CPU
 * limit (its cgroup quota divided by its period, rounded up) when there is one; at least 1. A limit
 * file that is missing or unreadable means no limit.
 *
 * @example availableCpus() // 2 on a 2-core host, or in a container limited to 1.5 CPUs
 */
export function availableCpus(paths: CgroupPaths = CGROUP): number {
  const limit = cgroupCpuLimit(paths)
  const cpus = availableParallelism()
  return Math.max(1, limit === undefined ? cpus : Math.min(cpus, Math.ceil(limit)))
}

/** The CPU limit of the cgroup in CPUs (e.g. 1.5), or undefined without one. */
function cgroupCpuLimit(paths: CgroupPaths): number | undefined {
  const v2 = read(paths.cpuMax)
  if (v2 !== undefined) {
    const [quota, period] = v2.split(/\s+/)
    return ratio(quota, period)
  }
  return ratio(read(paths.cfsQuota), read(paths.cfsPeriod))
}

function ratio(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota)
  const p = Number(period)
  // `max` (v2) and `-1` (v1) mean unlimited; both fail this test
  return Number.isFinite(q) && q > 0 && Number.isFinite(p) && p > 0 ? q / p : undefined
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    return undefined
  }
}
