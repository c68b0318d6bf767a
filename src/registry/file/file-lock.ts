import { randomUUID } from 'node:crypto'
import { open, readFile, rename, unlink } from 'node:fs/promises'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { type Abortable, LarderError, throwIfAborted } from '../../core/index.js'

interface LockOwner {
  pid: number
  host: string
  token: string
  since: string
}

/**
 * Holds an exclusive lock file (`<path>.lock`, created with O_EXCL) while `work` runs. A lock left by a
 * process that died on this host is broken; a live holder is waited for up to `timeoutMs`, then the
 * call fails with a CONFLICT error naming the holder.
 */
export async function withFileLock<T>(
  path: string,
  work: () => Promise<T>,
  options: Abortable & { timeoutMs?: number } = {},
): Promise<T> {
  const lockPath = `${path}.lock`
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    token: randomUUID(),
    since: new Date().toISOString(),
  }
  const deadline = Date.now() + (options.timeoutMs ?? 10_000)
  for (let wait = 5; ; wait = Math.min(wait * 2, 200)) {
    throwIfAborted(options.signal)
    try {
      const handle = await open(lockPath, 'wx')
      await handle.writeFile(JSON.stringify(owner))
      await handle.close()
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    }
    const holder = await readOwner(lockPath)
    if (holder && isDead(holder)) {
      await unlink(lockPath).catch(() => {})
      continue
    }
    if (Date.now() > deadline) {
      throw new LarderError(
        'CONFLICT',
        `the registry ${path} is locked by process ${holder?.pid ?? '?'} since ${holder?.since ?? '?'}`,
        {
          hint: `wait for that process to finish; if it is gone, delete ${lockPath}`,
        },
      )
    }
    await new Promise((r) => setTimeout(r, wait))
  }
  try {
    return await work()
  } finally {
    const holder = await readOwner(lockPath)
    if (holder?.token === owner.token) await unlink(lockPath).catch(() => {})
  }
}

async function readOwner(lockPath: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(lockPath, 'utf8')) as LockOwner
  } catch {
    return undefined
  }
}

function isDead(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false
  try {
    process.kill(owner.pid, 0)
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
