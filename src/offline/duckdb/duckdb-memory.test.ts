import { tmpdir } from 'node:os'
import { dirname } from 'node:path'
import { describe, expect, it } from 'vitest'
import { availableMemory, defaultMemoryLimit, defaultTempDirectory } from './duckdb-memory.js'

const MIB = 1024 * 1024
const GIB = 1024 * MIB

describe('DuckDB memory defaults', () => {
  it('reads the cgroup limit when it is below the host memory, else the host memory', () => {
    expect(availableMemory(512 * MIB, 16 * GIB)).toBe(512 * MIB)
    // no limit: Node reports 0, or a huge number, depending on its version
    expect(availableMemory(0, 16 * GIB)).toBe(16 * GIB)
    expect(availableMemory(2 ** 64, 16 * GIB)).toBe(16 * GIB)
    expect(availableMemory(undefined, 16 * GIB)).toBe(16 * GIB)
  })

  it('gives DuckDB a quarter of the memory, between 64 MiB and 1 GiB', () => {
    expect(defaultMemoryLimit(24 * GIB)).toBe('1024MiB')
    expect(defaultMemoryLimit(2 * GIB)).toBe('512MiB')
    expect(defaultMemoryLimit(768 * MIB)).toBe('192MiB')
    expect(defaultMemoryLimit(128 * MIB)).toBe('64MiB')
  })

  it('spills into a directory of its own in the system temp directory', () => {
    const a = defaultTempDirectory()
    expect(dirname(a)).toBe(tmpdir())
    expect(a).toContain(`larder-duckdb-${process.pid}-`)
    expect(defaultTempDirectory()).not.toBe(a)
  })
})
