// The lock file that serializes appends to a single-file source across processes: mutual exclusion
// between real child processes (each doing a read-modify-write that loses updates without the lock),
// and the ways a lock is broken (its holder is gone, or it was not renewed within the lease) or kept.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isLarderError } from '../../core/index.js'
import { withFileLock } from './file-lock.js'

const BUILT = resolve(fileURLToPath(new URL('../../../dist/offline/local/file-lock.js', import.meta.url)))

let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'larder-lock-'))
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

/** Runs a child process that increments the counter file `rounds` times, each under the lock. */
function incrementer(counter: string, rounds: number): Promise<number | null> {
  const script = `
    import { readFileSync, writeFileSync } from 'node:fs'
    import { withFileLock } from ${JSON.stringify(`file://${BUILT}`)}
    const counter = ${JSON.stringify(counter)}
    const step = async () => {
      const n = Number(readFileSync(counter, 'utf8'))
      await new Promise((r) => setTimeout(r, Math.random() * 3))
      writeFileSync(counter, String(n + 1))
    }
    for (let i = 0; i < ${rounds}; i++) await withFileLock(counter, step, { timeoutMs: 60_000 })
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' })
  return new Promise((r) => child.once('exit', (code) => r(code)))
}

describe('withFileLock', () => {
  it('lets one process at a time through: no increment of four processes is lost', async () => {
    const counter = join(dir, 'counter-locked')
    writeFileSync(counter, '0')
    const codes = await Promise.all([1, 2, 3, 4].map(() => incrementer(counter, 25)))
    expect(codes).toEqual([0, 0, 0, 0])
    expect(Number(readFileSync(counter, 'utf8'))).toBe(100)
    expect(existsSync(`${counter}.lock`)).toBe(false)
  }, 60_000)

  it('is what keeps the increment from being lost: two overlapping steps lose one without it', async () => {
    // Deterministic where processes racing are not: both steps read before either writes.
    const step = async (counter: string) => {
      const n = Number(readFileSync(counter, 'utf8'))
      await new Promise((r) => setTimeout(r, 20))
      writeFileSync(counter, String(n + 1))
    }
    const unlocked = join(dir, 'overlap-unlocked')
    writeFileSync(unlocked, '0')
    await Promise.all([step(unlocked), step(unlocked)])
    expect(readFileSync(unlocked, 'utf8')).toBe('1')
    const locked = join(dir, 'overlap-locked')
    writeFileSync(locked, '0')
    await Promise.all([withFileLock(locked, () => step(locked)), withFileLock(locked, () => step(locked))])
    expect(readFileSync(locked, 'utf8')).toBe('2')
  })

  it('waits for a live holder, then fails with BACKEND_UNAVAILABLE naming it, having done nothing', async () => {
    const path = join(dir, 'held')
    const owner = { pid: process.pid, host: hostname(), token: 'other-holder', since: '2026-01-01T00:00:00Z' }
    writeFileSync(`${path}.lock`, JSON.stringify(owner))
    let ran = false
    const error = await withFileLock(
      path,
      async () => {
        ran = true
      },
      { timeoutMs: 200, label: 'FileSource "held"' },
    ).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(ran).toBe(false)
    expect(isLarderError(error)).toBe(true)
    expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE' })
    expect((error as Error).message).toContain(
      `FileSource "held" is locked for writing by process ${process.pid}`,
    )
    expect(JSON.parse(readFileSync(`${path}.lock`, 'utf8'))).toEqual(owner)
  })

  it('breaks a lock not renewed within the lease (an empty file, or a holder whose pid was recycled)', async () => {
    for (const content of [
      '',
      JSON.stringify({ pid: process.pid, host: hostname(), token: 'stuck', since: 'x' }),
    ]) {
      const path = join(dir, `stale-${content.length}`)
      writeFileSync(`${path}.lock`, content)
      const old = new Date(Date.now() - 10_000)
      utimesSync(`${path}.lock`, old, old)
      let ran = false
      await withFileLock(
        path,
        async () => {
          ran = true
        },
        { leaseMs: 5_000, timeoutMs: 2_000 },
      )
      expect(ran).toBe(true)
      expect(existsSync(`${path}.lock`)).toBe(false)
    }
  })

  it('renews its own lock while the work runs longer than the lease', async () => {
    const path = join(dir, 'long')
    const order: string[] = []
    const first = withFileLock(
      path,
      async () => {
        order.push('first start')
        await new Promise((r) => setTimeout(r, 600))
        order.push('first end')
      },
      { leaseMs: 150 },
    )
    await new Promise((r) => setTimeout(r, 50))
    const second = withFileLock(
      path,
      async () => {
        order.push('second')
      },
      { leaseMs: 150 },
    )
    await Promise.all([first, second])
    expect(order).toEqual(['first start', 'first end', 'second'])
  })
})
