import { randomUUID } from 'node:crypto'
import { mkdir, readFile, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fromBinary, toBinary } from '@bufbuild/protobuf'
import { type Abortable, LarderError, nowMicros, throwIfAborted } from '../../core/index.js'
import { type Registry as RegistryProto, RegistrySchema } from '../../gen/feast/core/Registry_pb.js'
import {
  checkRun,
  compareRunsNewestFirst,
  type ListMaterializationRunsOptions,
  type MaterializationRun,
  type RecordMaterializationRunOptions,
  runsKept,
  runsLimit,
} from '../materialization-runs.js'
import { timestampFromMicros } from '../proto-mapping.js'
import { type LoadOptions, type Registry, RegistryState } from '../registry.js'
import {
  type ChangeStamp,
  currentActor,
  type ObjectChange,
  objectChanges,
  rebaseCommit,
} from '../registry-objects.js'
import { FileJobStore } from './file-jobs.js'
import { withFileLock, writeAtomically } from './file-lock.js'
import { openRegistryFile, sealRegistry, stripIntegrityField } from './registry-integrity.js'
import { JsonSideFile } from './side-file.js'

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
 * through a temp file and a rename under an exclusive lock (a lease, see `withFileLock`), with the
 * version check of optimistic concurrency done inside the lock. Larder's writes start with an
 * integrity header (see `sealRegistry`), an unknown field to Feast, so a truncated or damaged file is
 * REGISTRY_CORRUPT instead of a registry with fewer objects; files Feast wrote load unchecked.
 */
export class FileRegistry implements Registry {
  readonly path: string
  /** Jobs in the side files `<registry>.jobs.json` and `<registry>.jobs.logs.json` (see {@link FileJobStore}). */
  readonly jobs: FileJobStore
  readonly #ttlMs: number
  readonly #runs: JsonSideFile<{ runs: MaterializationRun[] }>
  #cached: { state: RegistryState; stamp: FileStamp | undefined; checkedAt: number } | undefined

  constructor(options: FileRegistryOptions) {
    this.path = options.path
    this.#ttlMs = options.cacheTtlSeconds * 1000
    this.jobs = new FileJobStore(options.path)
    this.#runs = new JsonSideFile(`${options.path}.runs.json`, {
      what: 'the materialization run history',
      decode: (json) => {
        const runs = (json as { runs?: unknown } | null)?.runs
        if (!Array.isArray(runs)) throw new Error('no "runs" list')
        return { runs: (runs as MaterializationRun[]).map(checkRun) }
      },
      empty: () => ({ runs: [] }),
    })
  }

  async load(options: LoadOptions = {}): Promise<RegistryState> {
    throwIfAborted(options.signal)
    const cached = this.#cached
    if (
      cached &&
      options.allowCache !== false &&
      !options.revalidate &&
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
      async (lock) => {
        const current = await this.#read()
        let changed: ObjectChange[]
        let toWrite: RegistryProto
        if (current.version === base.version) {
          changed = objectChanges(base.proto, next)
          toWrite = next
        } else {
          // Someone committed since `base` was read: replay this commit's changes on theirs, object by
          // object, failing only where both touched the same object.
          const stamps = await this.#readStamps()
          const rebased = rebaseCommit(
            this.path,
            base.proto,
            next,
            current.proto,
            (key) => stamps[key],
            RegistrySchema,
          )
          changed = rebased.changed
          toWrite = rebased.merged
        }
        throwIfAborted(options.signal)
        toWrite.registrySchemaVersion = '1'
        toWrite.versionId = randomUUID()
        toWrite.lastUpdated = timestampFromMicros(nowMicros())
        stripIntegrityField(toWrite)
        await lock.assertHeld()
        await writeAtomically(this.path, sealRegistry(toBinary(RegistrySchema, toWrite)))
        if (changed.length > 0) await this.#writeStamps(changed)
        const state = new RegistryState(toWrite.versionId, toWrite)
        this.#cached = { state, stamp: await this.#stamp(), checkedAt: Date.now() }
        return state
      },
      options,
    )
  }

  /** The side file where Larder notes who changed each object and when (Feast never reads it). */
  get changesPath(): string {
    return `${this.path}.changes.json`
  }

  async #readStamps(): Promise<Record<string, ChangeStamp>> {
    try {
      return JSON.parse(await readFile(this.changesPath, 'utf8')) as Record<string, ChangeStamp>
    } catch {
      return {}
    }
  }

  async #writeStamps(changed: readonly ObjectChange[]): Promise<void> {
    const stamps = await this.#readStamps()
    const stamp: ChangeStamp = { by: currentActor(), at: nowMicros() }
    for (const c of changed) stamps[c.key] = stamp
    await writeAtomically(this.changesPath, Buffer.from(JSON.stringify(stamps)))
  }

  /**
   * The side file of materialization runs, `<registry>.runs.json` (Feast never reads it): every
   * project's runs as JSON, rewritten through a temp file and a rename under its own lock file
   * (`<registry>.runs.json.lock`), so recording a run never waits for nor touches a registry commit.
   */
  get runsPath(): string {
    return this.#runs.path
  }

  async recordMaterializationRun(
    run: MaterializationRun,
    options: RecordMaterializationRunOptions = {},
  ): Promise<void> {
    const checked = checkRun(run)
    const keep = runsKept(options)
    await this.#runs.update(({ runs }) => {
      const mine = [checked, ...runs.filter((r) => sameView(r, checked))].sort(compareRunsNewestFirst)
      return { runs: [...runs.filter((r) => !sameView(r, checked)), ...mine.slice(0, keep)] }
    }, options)
  }

  async listMaterializationRuns(
    project: string,
    options: ListMaterializationRunsOptions = {},
  ): Promise<MaterializationRun[]> {
    const limit = runsLimit(options)
    throwIfAborted(options.signal)
    return (await this.#runs.read()).runs
      .filter((r) => r.project === project && (options.view === undefined || r.view === options.view))
      .sort(compareRunsNewestFirst)
      .slice(0, limit)
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
    const { body } = openRegistryFile(this.path, bytes)
    let proto: RegistryProto
    try {
      proto = fromBinary(RegistrySchema, body)
    } catch (cause) {
      throw corrupt(this.path, (cause as Error).message, cause)
    }
    stripIntegrityField(proto)
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

function sameView(a: MaterializationRun, b: MaterializationRun): boolean {
  return a.project === b.project && a.view === b.view
}

function sameStamp(a: FileStamp | undefined, b: FileStamp | undefined): boolean {
  if (!a || !b) return a === b
  return a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino
}
