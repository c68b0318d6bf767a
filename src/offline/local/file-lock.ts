import { randomUUID } from 'node:crypto'
import { link, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises'
import { hostname } from 'node:os'
import { type Abortable, LarderError, throwIfAborted } from '../../core/index.js'

/** Options of {@link withFileLock}. */
export interface FileLockOptions extends Abortable {
  /** How long to wait for a live holder before failing, default 60 s. */
  readonly timeoutMs?: number
  /**
   * How long a lock whose holder stopped renewing it is honoured, default 30 s. The holder touches
   * the lock file every third of this, so only a holder that is gone (or hung) lets it go stale.
   */
  readonly leaseMs?: number
  /** Names the locked thing in errors, e.g. `FileSource "driver_stats" (/repo/data/stats.parquet)`. */
  readonly label?: string
}

interface LockOwner {
  readonly pid: number
  readonly host: string
  readonly token: string
  readonly since: string
}

/**
 * Runs `work` holding an exclusive lock on `path` shared by every process on the machine (and on a
 * shared file system): the lock file `<path>.lock`, created with O_EXCL, holding the owner's pid, host
 * and a token. The holder renews it (its modification time) every `leaseMs / 3`; a lock not renewed
 * for `leaseMs` (its holder died, hung, or left an empty file) or held by a process of this host that
 * no longer exists is broken and taken. A live holder is waited for up to `timeoutMs`; then the call
 * fails with BACKEND_UNAVAILABLE naming the holder, having done nothing. The lock is released when
 * `work` settles (only if it is still this holder's).
 *
 * @example await withFileLock('/repo/data/stats.parquet', () => rewrite(), { label: 'FileSource "stats"' })
 */
export async function withFileLock<T>(
  path: string,
  work: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const lockPath = `${path}.lock`
  const leaseMs = options.leaseMs ?? 30_000
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    token: randomUUID(),
    since: new Date().toISOString(),
  }
  const deadline = Date.now() + (options.timeoutMs ?? 60_000)
  for (let wait = 2; ; wait = Math.min(wait * 2, 100)) {
    throwIfAborted(options.signal)
    if (await tryCreate(lockPath, owner)) break
    const held = await inspect(lockPath)
    if (held !== undefined && (Date.now() - held.mtimeMs > leaseMs || (held.owner && isGone(held.owner)))) {
      await breakStale(lockPath, held.ino)
      continue
    }
    if (Date.now() > deadline) {
      const who = held?.owner
        ? `process ${held.owner.pid} on ${held.owner.host} since ${held.owner.since}`
        : 'another process'
      throw new LarderError(
        'BACKEND_UNAVAILABLE',
        `${options.label ?? path} is locked for writing by ${who}; waited ${options.timeoutMs ?? 60_000} ms`,
        {
          hint: `retry later; nothing was written. A lock whose holder is gone is broken after ${leaseMs} ms (the file ${lockPath})`,
          details: { path, lock: lockPath },
        },
      )
    }
    // jitter keeps waiting processes from retrying in lockstep
    await new Promise((r) => setTimeout(r, wait + Math.random() * wait))
  }
  const renew = setInterval(
    () => {
      const now = new Date()
      utimes(lockPath, now, now).catch(() => {})
    },
    Math.max(10, Math.floor(leaseMs / 3)),
  )
  renew.unref()
  try {
    return await work()
  } finally {
    clearInterval(renew)
    const held = await inspect(lockPath)
    if (held?.owner?.token === owner.token) await unlink(lockPath).catch(() => {})
  }
}

/** Creates the lock file with the owner in it; false when it exists. */
async function tryCreate(lockPath: string, owner: LockOwner): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(lockPath, 'wx')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw new LarderError('DATA_SOURCE', `cannot create the lock file ${lockPath}: ${(e as Error).message}`, {
      cause: e,
      hint: 'the process needs write access to the directory of the offline source',
    })
  }
  try {
    await handle.writeFile(JSON.stringify(owner))
  } finally {
    await handle.close()
  }
  return true
}

/** The lock file's identity, age and owner (undefined owner: empty or unreadable); undefined when absent. */
async function inspect(
  lockPath: string,
): Promise<{ ino: number; mtimeMs: number; owner: LockOwner | undefined } | undefined> {
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(lockPath)
  } catch {
    return undefined
  }
  let owner: LockOwner | undefined
  try {
    const parsed = JSON.parse(await readFile(lockPath, 'utf8')) as Partial<LockOwner>
    if (typeof parsed.pid === 'number' && typeof parsed.token === 'string') owner = parsed as LockOwner
  } catch {
    owner = undefined
  }
  return { ino: info.ino, mtimeMs: info.mtimeMs, owner }
}

/**
 * Removes a stale lock file, but only the one judged stale: it is first renamed aside (atomic, so two
 * breakers cannot both take it) and checked to be the same file (inode); a fresh lock taken in between
 * is put back unless yet another one exists.
 */
async function breakStale(lockPath: string, ino: number): Promise<void> {
  const aside = `${lockPath}.${randomUUID().slice(0, 8)}.stale`
  try {
    await rename(lockPath, aside)
  } catch {
    return // someone else broke or released it
  }
  try {
    if ((await stat(aside)).ino !== ino) await link(aside, lockPath).catch(() => {})
  } finally {
    await unlink(aside).catch(() => {})
  }
}

/** Whether the owner was a process of this host that no longer exists. */
function isGone(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false
  if (owner.pid === process.pid) return false
  try {
    process.kill(owner.pid, 0)
    return false
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH'
  }
}
