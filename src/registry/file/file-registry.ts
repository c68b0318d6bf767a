import { randomUUID } from 'node:crypto'
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { fromBinary, toBinary } from '@bufbuild/protobuf'
import { type Abortable, LarderError, nowMicros, throwIfAborted } from '../../core/index.js'
import { type Registry as RegistryProto, RegistrySchema } from '../../gen/feast/core/Registry_pb.js'
import { timestampFromMicros } from '../proto-mapping.js'
import { type LoadOptions, type Registry, RegistryState } from '../registry.js'
import { withFileLock } from './file-lock.js'

export interface FileRegistryOptions {
  /** The registry file: Feast's `Registry` protobuf, exactly as Feast writes it. */
  path: string
  /** How long `load()` may answer from memory without looking at the file; 0 = check the file every time. */
  cacheTtlSeconds: number
}

interface FileStamp {
  mtimeMs: number
  size: number
  ino: number
}

/**
 * Feast's file registry: the whole `feast.core.Registry` message in one file, rewritten on each commit
 * through a temp file and a rename under an exclusive lock, with the version check of optimistic
 * concurrency done inside the lock.
 */
export class FileRegistry implements Registry {
  readonly path: string
  readonly #ttlMs: number
  #cached: { state: RegistryState; stamp: FileStamp | undefined; checkedAt: number } | undefined

  constructor(options: FileRegistryOptions) {
    this.path = options.path
    this.#ttlMs = options.cacheTtlSeconds * 1000
  }

  async load(options: LoadOptions = {}): Promise<RegistryState> {
    throwIfAborted(options.signal)
    const cached = this.#cached
    if (
      cached &&
      options.allowCache !== false &&
      this.#ttlMs > 0 &&
      Date.now() - cached.checkedAt < this.#ttlMs
    ) {
      return cached.state
    }
    const stamp = await this.#stamp()
    if (cached && options.allowCache !== false && sameStamp(cached.stamp, stamp)) {
      cached.checkedAt = Date.now()
      return cached.state
    }
    const state = await this.#read()
    this.#cached = { state, stamp, checkedAt: Date.now() }
    return state
  }

  async commit(base: RegistryState, next: RegistryProto, options: Abortable = {}): Promise<RegistryState> {
    await mkdir(dirname(this.path), { recursive: true })
    return withFileLock(
      this.path,
      async () => {
        const current = await this.#read()
        if (current.version !== base.version) {
          throw new LarderError(
            'CONFLICT',
            `the registry ${this.path} changed since it was read: another apply or materialization committed first`,
            {
              hint: 'run the command again; `larder plan` shows what changed',
              details: { expected: base.version, found: current.version },
            },
          )
        }
        throwIfAborted(options.signal)
        next.registrySchemaVersion = '1'
        next.versionId = randomUUID()
        next.lastUpdated = timestampFromMicros(nowMicros())
        await writeAtomically(this.path, toBinary(RegistrySchema, next))
        const state = new RegistryState(next.versionId, next)
        this.#cached = { state, stamp: await this.#stamp(), checkedAt: Date.now() }
        return state
      },
      options,
    )
  }

  async close(): Promise<void> {
    this.#cached = undefined
  }

  async #stamp(): Promise<FileStamp | undefined> {
    try {
      const s = await stat(this.path)
      return { mtimeMs: s.mtimeMs, size: s.size, ino: s.ino }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw e
    }
  }

  async #read(): Promise<RegistryState> {
    let bytes: Uint8Array
    try {
      bytes = await readFile(this.path)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        return new RegistryState('', fromBinary(RegistrySchema, new Uint8Array()))
      throw new LarderError(
        'REGISTRY_CORRUPT',
        `cannot read the registry ${this.path}: ${(e as Error).message}`,
        { cause: e },
      )
    }
    let proto: RegistryProto
    try {
      proto = fromBinary(RegistrySchema, bytes)
    } catch (cause) {
      throw corrupt(this.path, (cause as Error).message, cause)
    }
    if (proto.registrySchemaVersion !== '' && proto.registrySchemaVersion !== '1') {
      throw corrupt(this.path, `registry_schema_version is ${JSON.stringify(proto.registrySchemaVersion)}`)
    }
    return new RegistryState(proto.versionId, proto)
  }
}

function corrupt(path: string, why: string, cause?: unknown): LarderError {
  return new LarderError('REGISTRY_CORRUPT', `the registry ${path} is not a Feast registry (${why})`, {
    cause,
    hint: 'Larder left the file untouched: restore it from a backup, or move it away to start a new registry',
  })
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

function sameStamp(a: FileStamp | undefined, b: FileStamp | undefined): boolean {
  if (!a || !b) return a === b
  return a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino
}
