import { type ChildProcess, spawn } from 'node:child_process'
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { breakLock, LOCK_GRACE_MS, LOCK_LEASE_MS, withFileLock } from './file-lock.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'larder-lock-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'registry.db')
}

/** A live process unrelated to the lock: what a recycled PID looks like. */
function liveProcess(): ChildProcess {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' })
  cleanups.push(() => child.kill('SIGKILL'))
  expect(child.pid).toBeGreaterThan(0)
  return child
}

function writeLock(path: string, owner: Record<string, unknown>): string {
  const lockPath = `${path}.lock`
  writeFileSync(lockPath, JSON.stringify(owner))
  return lockPath
}

/** Sets a file's mtime `ms` in the past. */
function age(path: string, ms: number): void {
  const then = new Date(Date.now() - ms)
  utimesSync(path, then, then)
}

async function lockError(path: string, timeoutMs = 150) {
  return withFileLock(path, async () => 'acquired', { timeoutMs }).catch((e) => e)
}

describe('the file lock', () => {
  it('breaks an empty lock file once it is older than the grace period, and respects a younger one', async () => {
    const path = tempPath()
    const lockPath = `${path}.lock`
    writeFileSync(lockPath, '')
    const young = await lockError(path)
    expect(young.code).toBe('CONFLICT')
    expect(young.message).toContain(`the lock file ${lockPath} is empty`)
    expect(young.hint).toContain(`delete ${lockPath}`)
    expect(existsSync(lockPath)).toBe(true)

    age(lockPath, LOCK_GRACE_MS + 1000)
    expect(await withFileLock(path, async () => readFileSync(lockPath, 'utf8'))).toContain(
      `"pid":${process.pid}`,
    )
    expect(existsSync(lockPath)).toBe(false)
  })

  it('breaks an unparseable lock file older than the grace period', async () => {
    const path = tempPath()
    const lockPath = writeLock(path, { pid: 'not a pid' })
    expect((await lockError(path)).message).toContain('is unreadable')
    age(lockPath, LOCK_GRACE_MS + 1000)
    expect(await withFileLock(path, async () => 'acquired', { timeoutMs: 150 })).toBe('acquired')
  })

  it('breaks a lock whose lease expired although its PID is alive (a recycled PID)', async () => {
    const path = tempPath()
    const other = liveProcess()
    const since = new Date(Date.now() - 2 * LOCK_LEASE_MS)
    writeLock(path, {
      pid: other.pid,
      host: hostname(),
      token: 'crashed-holder',
      since: since.toISOString(),
      expires: new Date(since.getTime() + LOCK_LEASE_MS).toISOString(),
    })
    expect(await withFileLock(path, async () => 'acquired', { timeoutMs: 150 })).toBe('acquired')
    expect(existsSync(`${path}.lock`)).toBe(false)
  })

  it('breaks a lock written before leases existed once its lease counted from `since` is over', async () => {
    const path = tempPath()
    writeLock(path, {
      pid: liveProcess().pid,
      host: hostname(),
      token: 'old-format',
      since: new Date(Date.now() - 2 * LOCK_LEASE_MS).toISOString(),
    })
    expect(await withFileLock(path, async () => 'acquired', { timeoutMs: 150 })).toBe('acquired')
  })

  it('waits for a live holder with a fresh lease, then fails naming the holder, its lease and the lock file', async () => {
    const path = tempPath()
    const other = liveProcess()
    const expires = new Date(Date.now() + LOCK_LEASE_MS)
    const lockPath = writeLock(path, {
      pid: other.pid,
      host: hostname(),
      token: 'live-holder',
      since: new Date().toISOString(),
      expires: expires.toISOString(),
    })
    const error = await lockError(path)
    expect(error.code).toBe('CONFLICT')
    expect(error.message).toContain(`${path} is locked`)
    expect(error.message).toContain(`held by process ${other.pid} on ${hostname()}`)
    expect(error.message).toContain(`lease runs until ${expires.toISOString()}`)
    expect(error.message).toContain(lockPath)
    expect(error.hint).toContain(`delete ${lockPath}`)
    expect(JSON.parse(readFileSync(lockPath, 'utf8')).token).toBe('live-holder')
  })

  it('respects a fresh lease of a holder on another host, whose PID cannot be checked', async () => {
    const path = tempPath()
    writeLock(path, {
      pid: 999_999_999,
      host: `not-${hostname()}`,
      token: 'remote',
      since: new Date().toISOString(),
      expires: new Date(Date.now() + LOCK_LEASE_MS).toISOString(),
    })
    expect((await lockError(path)).message).toContain(`on not-${hostname()}`)
  })

  it('breaks the lock of a dead process on this host at once, whatever its lease', async () => {
    const path = tempPath()
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
    await new Promise((r) => child.on('exit', r))
    writeLock(path, {
      pid: child.pid,
      host: hostname(),
      token: 'dead',
      since: new Date().toISOString(),
      expires: new Date(Date.now() + LOCK_LEASE_MS).toISOString(),
    })
    expect(await withFileLock(path, async () => 'acquired', { timeoutMs: 150 })).toBe('acquired')
  })

  it('refreshes its lease while held, so a long holder is not broken', async () => {
    const path = tempPath()
    const lockPath = `${path}.lock`
    const leaseMs = 3000
    await withFileLock(
      path,
      async (lock) => {
        const first = JSON.parse(readFileSync(lockPath, 'utf8')).expires as string
        expect(Date.parse(first) - Date.parse(JSON.parse(readFileSync(lockPath, 'utf8')).since)).toBe(leaseMs)
        const deadline = Date.now() + 30_000
        while (JSON.parse(readFileSync(lockPath, 'utf8')).expires === first) {
          expect(Date.now(), 'the lease was never refreshed').toBeLessThan(deadline)
          await new Promise((r) => setTimeout(r, 50))
        }
        expect(Date.parse(JSON.parse(readFileSync(lockPath, 'utf8')).expires)).toBeGreaterThan(
          Date.parse(first),
        )
        expect((await lockError(path, 50)).code).toBe('CONFLICT')
        await lock.assertHeld()
      },
      { leaseMs },
    )
    expect(existsSync(lockPath)).toBe(false)
    expect(readdirSync(join(path, '..'))).toEqual([])
  })

  it('tells a holder whose lock was broken that it lost it, and leaves the new holder alone', async () => {
    const path = tempPath()
    const lockPath = `${path}.lock`
    const error = await withFileLock(path, async (lock) => {
      writeLock(path, {
        pid: process.pid,
        host: hostname(),
        token: 'someone-else',
        since: new Date().toISOString(),
        expires: new Date(Date.now() + LOCK_LEASE_MS).toISOString(),
      })
      await lock.assertHeld()
    }).catch((e) => e)
    expect(error.code).toBe('CONFLICT')
    expect(error.message).toContain(`the lock ${lockPath} of ${path} was broken by another process`)
    expect(JSON.parse(readFileSync(lockPath, 'utf8')).token).toBe('someone-else')
  })

  it('lets one holder at a time in, also when many break the same stale lock at once', async () => {
    const path = tempPath()
    const lockPath = writeLock(path, {
      pid: liveProcess().pid,
      host: hostname(),
      token: 'stale',
      since: new Date(Date.now() - 2 * LOCK_LEASE_MS).toISOString(),
      expires: new Date(Date.now() - LOCK_LEASE_MS).toISOString(),
    })
    const counter = `${path}.counter`
    writeFileSync(counter, '0')
    let inside = 0
    let most = 0
    await Promise.all(
      Array.from({ length: 24 }, () =>
        withFileLock(
          path,
          async (lock) => {
            inside++
            most = Math.max(most, inside)
            const n = Number(readFileSync(counter, 'utf8'))
            await new Promise((r) => setTimeout(r, 2))
            await lock.assertHeld()
            writeFileSync(counter, String(n + 1))
            inside--
          },
          { timeoutMs: 30_000 },
        ),
      ),
    )
    expect(most).toBe(1)
    expect(readFileSync(counter, 'utf8')).toBe('24')
    expect(existsSync(lockPath)).toBe(false)
  })

  it('does not break a fresh lock that replaced the one judged stale', async () => {
    const path = tempPath()
    const lockPath = writeLock(path, {
      pid: 1,
      host: hostname(),
      token: 'stale',
      since: '2000-01-01T00:00:00Z',
    })
    const judged = statSync(lockPath)
    const judgedText = readFileSync(lockPath, 'utf8')
    // between the verdict and the break, the stale holder is gone and a new one took the lock
    rmSync(lockPath)
    writeLock(path, { pid: process.pid, host: hostname(), token: 'fresh', since: new Date().toISOString() })
    await breakLock(lockPath, { ino: judged.ino, dev: judged.dev, text: judgedText })
    expect(JSON.parse(readFileSync(lockPath, 'utf8')).token).toBe('fresh')
    expect(readdirSync(join(path, '..'))).toEqual(['registry.db.lock'])

    const now = statSync(lockPath)
    await breakLock(lockPath, { ino: now.ino, dev: now.dev, text: readFileSync(lockPath, 'utf8') })
    expect(existsSync(lockPath)).toBe(false)
    expect(readdirSync(join(path, '..'))).toEqual([])
  })

  it('breaks nothing while another process holds the break guard, and clears a guard left by a dead one', async () => {
    const path = tempPath()
    const lockPath = writeLock(path, {
      pid: 1,
      host: hostname(),
      token: 'stale',
      since: '2000-01-01T00:00:00Z',
    })
    const stats = statSync(lockPath)
    const stale = { ino: stats.ino, dev: stats.dev, text: readFileSync(lockPath, 'utf8') }
    const guard = `${lockPath}.break`
    writeFileSync(guard, '{}')
    expect(await breakLock(lockPath, stale)).toBe(false)
    expect(existsSync(lockPath)).toBe(true)
    // a guard 10 s old: its breaker died mid-break; it is removed, and the next break goes through
    const old = new Date(Date.now() - 10_000)
    utimesSync(guard, old, old)
    expect(await breakLock(lockPath, stale)).toBe(false)
    expect(existsSync(guard)).toBe(false)
    expect(await breakLock(lockPath, stale)).toBe(true)
    expect(readdirSync(join(path, '..'))).toEqual([])
  })
})
