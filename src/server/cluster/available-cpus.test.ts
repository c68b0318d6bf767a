import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { availableCpus } from './available-cpus.js'

let dir: string | undefined

/** cgroup files in a temporary directory; a file given as undefined does not exist. */
function cgroup(files: { cpuMax?: string; cfsQuota?: string; cfsPeriod?: string }) {
  dir = mkdtempSync(join(tmpdir(), 'larder-cgroup-'))
  const paths = {
    cpuMax: join(dir, 'cpu.max'),
    cfsQuota: join(dir, 'cpu.cfs_quota_us'),
    cfsPeriod: join(dir, 'cpu.cfs_period_us'),
  }
  for (const key of ['cpuMax', 'cfsQuota', 'cfsPeriod'] as const) {
    const text = files[key]
    if (text !== undefined) writeFileSync(paths[key], `${text}\n`)
  }
  return paths
}

afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = undefined
})

describe('availableCpus', () => {
  const cpus = availableParallelism()

  it('is the CPUs Node sees when no cgroup limits them', () => {
    expect(availableCpus(cgroup({}))).toBe(cpus)
    expect(availableCpus(cgroup({ cpuMax: 'max 100000' }))).toBe(cpus)
    expect(availableCpus(cgroup({ cfsQuota: '-1', cfsPeriod: '100000' }))).toBe(cpus)
  })

  it('is a cgroup v2 limit rounded up, never above the CPUs, at least 1', () => {
    expect(availableCpus(cgroup({ cpuMax: '50000 100000' }))).toBe(1)
    expect(availableCpus(cgroup({ cpuMax: '10000 100000' }))).toBe(1)
    expect(availableCpus(cgroup({ cpuMax: `${cpus * 100000 + 1} 100000` }))).toBe(cpus)
    if (cpus >= 2) expect(availableCpus(cgroup({ cpuMax: '150000 100000' }))).toBe(2)
  })

  it('reads cgroup v1 quota and period when there is no cgroup v2 file', () => {
    expect(availableCpus(cgroup({ cfsQuota: '100000', cfsPeriod: '100000' }))).toBe(1)
    expect(availableCpus(cgroup({ cfsQuota: '100000', cpuMax: 'max 100000' }))).toBe(cpus)
  })
})
