import { randomUUID } from 'node:crypto'
import { link, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { type Abortable, LarderError, throwIfAborted } from '../../core/index.js'

/**
 * How long a lock is good for after its holder last wrote it. The holder rewrites it every third of
 * that while it holds it, so only a holder that died, hung, or lost the file (a PID reused by an
 * unrelated process, a host that went away) lets it expire.
 */
export const LOCK_LEASE_MS = 60_000

/**
 * How old an empty or unparseable lock file must be (by its mtime) before it is broken. Larder writes
 * its lock in one step (a hard link of a complete file), so such a file comes from a crash, a full
 * disk or a filesystem without hard links, where the holder writes the file after creating it.
 */
export const LOCK_GRACE_MS = 5_000

/**
 * How old a break guard (`<lock>.break`, held for the few milliseconds one process takes to remove a
 * stale lock) must be before another process removes it: its breaker died while breaking.
 */
const BREAK_GUARD_STALE_MS = 5_000

/** How long `withFileLock` waits for a live holder by default. */
export const LOCK_TIMEOUT_MS = 10_000

/** What a lock file holds (JSON). Locks written before leases existed lack `expires`. */
interface LockOwner {
  pid: number
  host: string
  token: string
  /** When the holder took the lock (ISO). */
  since: string
  /** When the lease ends unless the holder refreshes it (ISO). */
  expires?: string
}

export interface FileLockOptions extends Abortable {
  /** How long to wait for a live holder before failing with CONFLICT; default {@link LOCK_TIMEOUT_MS}. */
  readonly timeoutMs?: number
  /** The lease this holder writes; default {@link LOCK_LEASE_MS}. Refreshed every third of it. */
  readonly leaseMs?: number
  /** How old an empty or unparseable lock must be to be broken; default {@link LOCK_GRACE_MS}. */
  readonly graceMs?: number
}

/** The lock `work` runs under. */
export interface HeldLock {
  /** The lock file: `<path>.lock`. */
  readonly lockPath: string
  /**
   * Resolves when the lock file is still this holder's; CONFLICT naming the lock file when another
   * process broke it (this holder's lease ran out unrefreshed, e.g. the process was suspended). Call it
   * right before the write the lock protects.
   */
  assertHeld(): Promise<void>
}

/** How a lock file was found: a holder to respect, or one to break. */
type Verdict =
  | { readonly stale: false; readonly holder: string }
  | { readonly stale: true; readonly identity: LockIdentity }

/** What identifies one lock file: inode numbers are reused, so its content too (a holder's token is random). */
interface LockIdentity {
  readonly ino: number
  readonly dev: number
  readonly text: string
}

/**
 * Holds an exclusive lock file (`<path>.lock`) while `work` runs, then removes it. The file names its
 * holder (pid, host, a token) and a lease: an expiry `leaseMs` ahead (default 60 s), rewritten every
 * `leaseMs / 3` while `work` runs, so long operations keep it. A lock is broken, and taken, when its
 * lease has expired (a holder that died, hung, or whose PID an unrelated process now has), when its
 * holder ran on this host and that PID is gone, or when it is empty or unparseable and older than
 * `graceMs` (default 5 s). A holder whose lease is fresh is waited for, up to `timeoutMs` (default
 * 10 s); then the call fails with CONFLICT naming the holder, its lease and the lock file, and how to
 * break it. Leases compare wall clocks: hosts sharing a registry over a network filesystem need
 * clocks within a few seconds of each other.
 *
 * @example await withFileLock(registryPath, async (lock) => { ...; await lock.assertHeld(); await write() })
 */
export async function withFileLock<T>(
  path: string,
  work: (lock: HeldLock) => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const lockPath = `${path}.lock`
  const leaseMs = options.leaseMs ?? LOCK_LEASE_MS
  const graceMs = options.graceMs ?? LOCK_GRACE_MS
  const owner: LockOwner = { pid: process.pid, host: hostname(), token: randomUUID(), since: '' }
  const deadline = Date.now() + (options.timeoutMs ?? LOCK_TIMEOUT_MS)
  for (let wait = 5; ; wait = Math.min(wait * 2, 200)) {
    throwIfAborted(options.signal)
    const now = Date.now()
    owner.since = new Date(now).toISOString()
    owner.expires = new Date(now + leaseMs).toISOString()
    if (await createLock(lockPath, JSON.stringify(owner))) break
    const verdict = await judge(lockPath, leaseMs, graceMs)
    if (verdict === undefined) continue
    if (verdict.stale && (await breakLock(lockPath, verdict.identity))) continue
    if (Date.now() > deadline) {
      const holder = verdict.stale
        ? `the lock file ${lockPath} is stale and another process is breaking it (${lockPath}.break)`
        : verdict.holder
      throw new LarderError('CONFLICT', `${path} is locked: ${holder}`, {
        hint:
          `wait for that process to finish and run the command again; if it is gone, delete ${lockPath} ` +
          '(a lock whose lease runs out is broken by the next writer)',
        details: { lockPath },
      })
    }
    await new Promise((r) => setTimeout(r, wait))
  }
  let lost = false
  // refreshes run one after another, and the release waits for the last, so none recreates the lock
  let refreshing: Promise<void> = Promise.resolve()
  const refresh = setInterval(
    () => {
      refreshing = refreshing
        .then(() => (lost ? true : refreshLock(lockPath, owner, leaseMs)))
        .then(
          (held) => {
            if (!held) lost = true
          },
          () => {},
        )
    },
    Math.max(1, Math.floor(leaseMs / 3)),
  )
  refresh.unref()
  const held: HeldLock = {
    lockPath,
    assertHeld: async () => {
      if (!lost && (await readOwner(lockPath))?.token === owner.token) return
      lost = true
      throw new LarderError(
        'CONFLICT',
        `the lock ${lockPath} of ${path} was broken by another process while this one held it (its lease of ${leaseMs / 1000} s ran out)`,
        { hint: 'run the command again; nothing was written', details: { lockPath } },
      )
    },
  }
  try {
    return await work(held)
  } finally {
    clearInterval(refresh)
    await refreshing
    if ((await readOwner(lockPath))?.token === owner.token) await unlink(lockPath).catch(() => {})
  }
}

/**
 * Creates the lock file with its whole content in one step: a complete temp file hard-linked to the
 * lock path (which fails when it exists). On a filesystem without hard links, falls back to an
 * exclusive create followed by a write. Resolves false when the lock exists.
 */
async function createLock(lockPath: string, content: string): Promise<boolean> {
  const temp = tempPath(lockPath, 'new')
  await writeFile(temp, content, { flag: 'wx' })
  try {
    await link(temp, lockPath)
    return true
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw e
  } finally {
    await unlink(temp).catch(() => {})
  }
  try {
    const handle = await open(lockPath, 'wx')
    try {
      await handle.writeFile(content)
    } finally {
      await handle.close()
    }
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw e
  }
}

/**
 * Reads the lock and its identity from one open handle. Undefined when it vanished meanwhile (try
 * again at once).
 */
async function judge(lockPath: string, leaseMs: number, graceMs: number): Promise<Verdict | undefined> {
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(lockPath, 'r')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
  try {
    const stats = await handle.stat()
    const text = await handle.readFile('utf8')
    const now = Date.now()
    const stale = { stale: true as const, identity: { ino: stats.ino, dev: stats.dev, text } }
    const owner = parseOwner(text)
    if (!owner) {
      if (now - stats.mtimeMs > graceMs) return stale
      const what = text.trim() === '' ? 'empty' : 'unreadable'
      return {
        stale: false,
        holder:
          `the lock file ${lockPath} is ${what}, last written ${new Date(stats.mtimeMs).toISOString()}, ` +
          `and is broken once it is ${graceMs / 1000} s old`,
      }
    }
    const expires = Date.parse(owner.expires ?? '') || Date.parse(owner.since) + leaseMs || 0
    if (now > expires) return stale
    if (owner.host === hostname() && isDead(owner.pid)) return stale
    return {
      stale: false,
      holder:
        `the lock file ${lockPath} is held by process ${owner.pid} on ${owner.host} since ${owner.since}, ` +
        `its lease runs until ${new Date(expires).toISOString()}`,
    }
  } finally {
    await handle.close()
  }
}

/**
 * Removes the stale lock file identified by `stale` (inode, device and content, read when it was
 * judged) without removing a fresh one another process took meanwhile. Breakers take turns through a
 * guard file, `<lock>.break`: under it, the lock is removed only while it is still the very file
 * judged stale, and since no process creates a lock while one exists and no other breaker runs, a
 * fresh lock is never touched. Resolves false, breaking nothing, while another process holds the
 * guard (a guard older than 5 s, left by a breaker that died, is removed). Exported for tests; not
 * part of the package's API.
 */
export async function breakLock(lockPath: string, stale: LockIdentity): Promise<boolean> {
  const guard = `${lockPath}.break`
  if (!(await createLock(guard, JSON.stringify({ pid: process.pid, host: hostname() })))) {
    const since = await stat(guard).then(
      (s) => s.mtimeMs,
      () => undefined,
    )
    if (since !== undefined && Date.now() - since > BREAK_GUARD_STALE_MS) await unlink(guard).catch(() => {})
    return false
  }
  try {
    const now = await identityOf(lockPath)
    if (now?.ino === stale.ino && now.dev === stale.dev && now.text === stale.text) {
      await unlink(lockPath).catch((e) => {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
      })
    }
    return true
  } finally {
    await unlink(guard).catch(() => {})
  }
}

/** The identity of the file at `path`, read from one open handle; undefined when there is none. */
async function identityOf(path: string): Promise<LockIdentity | undefined> {
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(path, 'r')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
  try {
    const stats = await handle.stat()
    return { ino: stats.ino, dev: stats.dev, text: await handle.readFile('utf8') }
  } finally {
    await handle.close()
  }
}

/** Rewrites the lock with a new expiry while it is still this owner's; false when it is not. */
async function refreshLock(lockPath: string, owner: LockOwner, leaseMs: number): Promise<boolean> {
  if ((await readOwner(lockPath))?.token !== owner.token) return false
  owner.expires = new Date(Date.now() + leaseMs).toISOString()
  const temp = tempPath(lockPath, 'refresh')
  try {
    await writeFile(temp, JSON.stringify(owner), { flag: 'wx' })
    await rename(temp, lockPath)
  } catch (e) {
    await unlink(temp).catch(() => {})
    throw e
  }
  return true
}

function tempPath(lockPath: string, what: string): string {
  return join(dirname(lockPath), `.${basename(lockPath)}.${process.pid}.${randomUUID().slice(0, 8)}.${what}`)
}

async function readOwner(lockPath: string): Promise<LockOwner | undefined> {
  try {
    return parseOwner(await readFile(lockPath, 'utf8'))
  } catch {
    return undefined
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as Partial<LockOwner> | null
    if (
      owner === null ||
      typeof owner !== 'object' ||
      !Number.isInteger(owner.pid) ||
      (owner.pid as number) <= 0 ||
      typeof owner.host !== 'string' ||
      typeof owner.token !== 'string' ||
      typeof owner.since !== 'string'
    ) {
      return undefined
    }
    return owner as LockOwner
  } catch {
    return undefined
  }
}

function isDead(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return false
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

/** Writes a file so that a reader sees either the old content or the new, never a partial file. */
export async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`)
  const handle = await open(temp, 'w')
  try {
    await handle.writeFile(bytes)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(temp, path)
  } catch (e) {
    await unlink(temp).catch(() => {})
    throw e
  }
}
