import { create, type Message } from '@bufbuild/protobuf'
import type { Timestamp } from '@bufbuild/protobuf/wkt'
import { knownNames, LarderError, nowMicros } from '../core/index.js'
import {
  type FeatureView,
  FeatureViewMetaSchema,
  FeatureViewState,
  MaterializationIntervalSchema,
} from '../gen/feast/core/FeatureView_pb.js'
import type { Infra } from '../gen/feast/core/InfraObject_pb.js'
import type { Registry as RegistryProto } from '../gen/feast/core/Registry_pb.js'
import { type Registry, type RegistryState, timestampFromMicros } from '../registry/index.js'
import {
  describeObject,
  OBJECT_TABLES,
  type ObjectTable,
  objectConflict,
  withActor,
} from '../registry/registry-objects.js'
import { NO_OBJECT, objectHash } from '../registry/remote/index.js'

/** One write a client asked for, kept until its transaction commits. */
export type StagedWrite =
  | {
      readonly op: 'put'
      readonly table: ObjectTable
      readonly project: string
      readonly name: string
      readonly message: Message
      /** The hash of the object the client read (`none`: absent); undefined from a Feast client. */
      readonly baseHash: string | undefined
    }
  | {
      readonly op: 'delete'
      /** The tables that may hold the object (a feature view of any flavour). */
      readonly tables: readonly ObjectTable[]
      readonly project: string
      readonly name: string
      readonly baseHash: string | undefined
    }
  | {
      readonly op: 'interval'
      readonly project: string
      readonly name: string
      readonly start: Timestamp | undefined
      readonly end: Timestamp | undefined
    }
  | { readonly op: 'infra'; readonly infra: Infra | undefined }

/** Who writes and how: a Larder client's transaction, or a Feast client's plain calls. */
export interface WriteScope {
  /** The Larder transaction id, or undefined for Feast's shared pending changes. */
  readonly transaction: string | undefined
  /** The registry version the Larder client read, for its `Commit`. */
  readonly baseVersion: string | undefined
  /** How many writes the Larder client sent before its `Commit`. */
  readonly operations: number | undefined
  readonly actor: string | undefined
}

const TABLES = new Map(OBJECT_TABLES.map((t) => [t.table, t]))

/** The object table of a kind by Feast's SQL table name. */
export function tableOf(name: string): ObjectTable {
  const table = TABLES.get(name)
  if (!table) throw new LarderError('INTERNAL', `no registry object table "${name}"`)
  return table
}

interface Pending {
  readonly writes: StagedWrite[]
  touchedAt: number
}

/** How long a transaction whose `Commit` never came is kept. */
const PENDING_TTL_MS = 10 * 60_000
/** How many registry states are kept to serve as the base of a client's commit. */
const KEPT_STATES = 32
/** How often a blind write (a Feast client's) runs again after another writer committed first. */
const BLIND_ATTEMPTS = 10

/**
 * The write side of the registry server: stages the Apply/Delete calls of a transaction and commits
 * them through `Registry.commit`, all or nothing. A Larder client's transaction commits on the state
 * it read (kept here by version), so the registry's own per-object optimistic check applies; when
 * that state is no longer kept, each object's hash is compared with the current one instead. A Feast
 * client's writes are blind, as in Feast: they commit on the current registry and retry on conflict.
 */
export class RegistryWriter {
  readonly #registry: Registry
  readonly #where: string
  readonly #pending = new Map<string, Pending>()
  readonly #states = new Map<string, RegistryState>()

  constructor(registry: Registry, where: string) {
    this.#registry = registry
    this.#where = where
  }

  /**
   * Reads the registry: with `allowCache`, the backend's cache after its cheap change check; without,
   * a full read. Keeps the state as a possible commit base.
   */
  async read(allowCache: boolean): Promise<RegistryState> {
    const state = await this.#registry.load(allowCache ? { revalidate: true } : { allowCache: false })
    this.#keep(state)
    return state
  }

  #keep(state: RegistryState): void {
    this.#states.delete(state.version)
    this.#states.set(state.version, state)
    while (this.#states.size > KEPT_STATES) this.#states.delete(this.#states.keys().next().value!)
  }

  /** Adds a write to the scope's transaction, or commits it at once when `commit` is true. */
  async write(scope: WriteScope, write: StagedWrite, commit: boolean): Promise<void> {
    this.#sweep()
    const key = scope.transaction ?? ''
    let pending = this.#pending.get(key)
    if (!pending) {
      pending = { writes: [], touchedAt: Date.now() }
      this.#pending.set(key, pending)
    }
    pending.writes.push(write)
    pending.touchedAt = Date.now()
    if (commit) await this.commit(scope)
  }

  /**
   * Commits the scope's staged writes in one `Registry.commit`. CONFLICT when an object changed since
   * the client read it; NOT_FOUND when a Feast client deletes an object that does not exist.
   */
  async commit(scope: WriteScope): Promise<void> {
    const key = scope.transaction ?? ''
    const pending = this.#pending.get(key)
    this.#pending.delete(key)
    const writes = pending?.writes ?? []
    if (scope.operations !== undefined && writes.length !== scope.operations) {
      throw new LarderError(
        'BACKEND_UNAVAILABLE',
        `the registry server received ${writes.length} of the ${scope.operations} changes of this commit; nothing was written`,
        { hint: 'run the command again' },
      )
    }
    if (writes.length === 0) return
    const run = () => (scope.transaction === undefined ? this.#blind(writes) : this.#checked(scope, writes))
    await (scope.actor ? withActor(scope.actor, run) : run())
  }

  async #checked(scope: WriteScope, writes: readonly StagedWrite[]): Promise<void> {
    const kept = scope.baseVersion === undefined ? undefined : this.#states.get(scope.baseVersion)
    let base = kept
    if (!base) {
      base = await this.read(false)
      for (const w of writes) {
        if (w.op !== 'put' && w.op !== 'delete') continue
        if (w.baseHash === undefined) continue
        const tables = w.op === 'put' ? [w.table] : w.tables
        const found = findIn(base.proto, tables, w.project, w.name)
        const table = found?.table ?? tables[0]!
        const hash = objectHash(table.schema, found?.message)
        if (hash !== w.baseHash) {
          const what = w.baseHash === NO_OBJECT ? 'created' : hash === NO_OBJECT ? 'deleted' : 'changed'
          throw objectConflict(this.#where, table, w.project, w.name, undefined, what)
        }
      }
    }
    const draft = base.draft()
    for (const w of writes) applyWrite(draft, w, false)
    this.#keep(await this.#registry.commit(base, draft))
  }

  async #blind(writes: readonly StagedWrite[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const base = await this.read(false)
      const draft = base.draft()
      for (const w of writes) applyWrite(draft, w, true)
      try {
        this.#keep(await this.#registry.commit(base, draft))
        return
      } catch (e) {
        if (!(e instanceof LarderError && e.code === 'CONFLICT') || attempt >= BLIND_ATTEMPTS) throw e
        await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt))
      }
    }
  }

  #sweep(): void {
    const now = Date.now()
    for (const [key, p] of this.#pending) if (now - p.touchedAt > PENDING_TTL_MS) this.#pending.delete(key)
  }
}

function findIn(
  registry: RegistryProto,
  tables: readonly ObjectTable[],
  project: string,
  name: string,
): { table: ObjectTable; message: Message; index: number } | undefined {
  for (const table of tables) {
    const list = table.list(registry)
    const index = list.findIndex((m) => table.projectOf(m) === project && table.nameOf(m) === name)
    if (index >= 0) return { table, message: list[index]!, index }
  }
  return undefined
}

/**
 * Applies one write to a draft registry. `stamp` (a Feast client's write) sets the creation and update
 * times as Feast's registry does on apply; a Larder client's objects arrive stamped and stay as sent.
 */
function applyWrite(draft: RegistryProto, w: StagedWrite, stamp: boolean): void {
  switch (w.op) {
    case 'put': {
      const list = w.table.list(draft)
      const index = list.findIndex((m) => w.table.projectOf(m) === w.project && w.table.nameOf(m) === w.name)
      if (stamp) stampTimes(w.message, index >= 0 ? list[index] : undefined)
      const next = [...list]
      if (index >= 0) next[index] = w.message
      else next.push(w.message)
      w.table.set(draft, next)
      return
    }
    case 'delete': {
      const found = findIn(draft, w.tables, w.project, w.name)
      if (!found) {
        if (w.baseHash !== undefined || w.tables[0]!.table === 'projects') {
          forgetProject(draft, w)
          return
        }
        throw notFound(draft, w.tables[0]!, w.project, w.name)
      }
      found.table.set(
        draft,
        found.table.list(draft).filter((_, i) => i !== found.index),
      )
      forgetProject(draft, w)
      return
    }
    case 'interval': {
      const table = tableOf('feature_views')
      const view = findIn(draft, [table], w.project, w.name)?.message as FeatureView | undefined
      if (!view) throw notFound(draft, table, w.project, w.name)
      const meta = view.meta ?? create(FeatureViewMetaSchema)
      meta.materializationIntervals.push(
        create(MaterializationIntervalSchema, { startTime: w.start, endTime: w.end }),
      )
      meta.lastUpdatedTimestamp = timestampFromMicros(nowMicros())
      meta.state = FeatureViewState.AVAILABLE_ONLINE
      view.meta = meta
      return
    }
    case 'infra':
      draft.infra = w.infra
      return
  }
}

/** Deleting a project also forgets its metadata (its uuid), as Feast's `delete_project` does. */
function forgetProject(draft: RegistryProto, w: { tables: readonly ObjectTable[]; name: string }): void {
  if (w.tables[0]!.table === 'projects')
    draft.projectMetadata = draft.projectMetadata.filter((m) => m.project !== w.name)
}

function stampTimes(message: Message, existing: Message | undefined): void {
  type Stamped = { meta?: { createdTimestamp?: Timestamp; lastUpdatedTimestamp?: Timestamp } }
  const meta = (message as Stamped).meta
  if (!meta || !('lastUpdatedTimestamp' in meta)) return
  const now = timestampFromMicros(nowMicros())
  meta.createdTimestamp =
    (existing as Stamped | undefined)?.meta?.createdTimestamp ?? meta.createdTimestamp ?? now
  meta.lastUpdatedTimestamp = now
}

/** NOT_FOUND naming the object and the names of its kind in the project. */
export function notFound(
  registry: RegistryProto,
  table: ObjectTable,
  project: string,
  name: string,
): LarderError {
  return new LarderError('NOT_FOUND', `${describeObject(table, project, name)} not found`, {
    hint: `known: ${knownNames(
      table
        .list(registry)
        .filter((m) => table.projectOf(m) === project)
        .map((m) => table.nameOf(m)),
    )}`,
    details: { kind: table.kind, project, name },
  })
}
