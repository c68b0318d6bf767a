import { tmpdir } from 'node:os'
import { dirname } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { describe, expect, it } from 'vitest'
import {
  availableMemory,
  DEFAULT_LATEST_ROWS_LIMIT_CAP,
  defaultMemoryLimit,
  defaultTempDirectory,
  LatestRowsMemory,
} from './duckdb-memory.js'

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

  it('gives DuckDB a quarter of the memory, between 64 MiB and 256 MiB (1 GiB for latest rows)', () => {
    expect(defaultMemoryLimit(24 * GIB)).toBe('256MiB')
    expect(defaultMemoryLimit(768 * MIB)).toBe('192MiB')
    expect(defaultMemoryLimit(128 * MIB)).toBe('64MiB')
    expect(defaultMemoryLimit(24 * GIB, DEFAULT_LATEST_ROWS_LIMIT_CAP)).toBe('1024MiB')
    expect(defaultMemoryLimit(2 * GIB, DEFAULT_LATEST_ROWS_LIMIT_CAP)).toBe('512MiB')
  })

  it('raises the database limit while any latest-row read runs, and lowers it after the last', async () => {
    const db = await DuckDBInstance.create(':memory:', { memory_limit: '256MiB' })
    const a = await db.connect()
    const b = await db.connect()
    const limit = async () =>
      String((await a.runAndReadAll("SELECT current_setting('memory_limit')")).getRows()[0]![0])
    const memory = new LatestRowsMemory('256MiB', '1024MiB')
    const runOn = (c: typeof a) => (sql: string) => c.run(sql)
    try {
      await Promise.all([memory.raise(runOn(a)), memory.raise(runOn(b))])
      expect(await limit()).toBe('1.0 GiB')
      await memory.lower(runOn(a))
      expect(await limit()).toBe('1.0 GiB')
      await memory.lower(runOn(b))
      expect(await limit()).toBe('256.0 MiB')
      // a failed change leaves the count right: the next read raises and lowers as before
      await memory.raise(runOn(a))
      await memory.lower(() => Promise.reject(new Error('connection closed')))
      expect(await limit()).toBe('1.0 GiB')
      await memory.raise(runOn(b))
      await memory.lower(runOn(b))
      expect(await limit()).toBe('256.0 MiB')
    } finally {
      a.closeSync()
      b.closeSync()
    }
  })

  it('spills into a directory of its own in the system temp directory', () => {
    const a = defaultTempDirectory()
    expect(dirname(a)).toBe(tmpdir())
    expect(a).toContain(`larder-duckdb-${process.pid}-`)
    expect(defaultTempDirectory()).not.toBe(a)
  })
})
