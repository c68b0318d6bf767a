import { clone } from '@bufbuild/protobuf'
import { type Abortable, LarderError } from '../core/index.js'
import { type Registry as RegistryProto, RegistrySchema } from '../gen/feast/core/Registry_pb.js'
import { ProjectCatalog } from './catalog.js'
import type { JobStore } from './jobs.js'
import type {
  ListMaterializationRunsOptions,
  MaterializationRun,
  RecordMaterializationRunOptions,
} from './materialization-runs.js'

/**
 * One read of the registry: Feast's whole `Registry` message (every project) and the version it was
 * read at. Treat `proto` as immutable; `draft()` gives a copy to change and commit.
 */
export class RegistryState {
  /** The `version_id` read, or `''` when no registry exists yet. */
  readonly version: string
  readonly proto: RegistryProto
  /**
   * The bytes of each object as its store holds them, by `objectKey`, when the store keeps objects
   * apart (the SQL registry): a commit checks each object it changes against these.
   */
  readonly stored: ReadonlyMap<string, Uint8Array> | undefined
  readonly #catalogs = new Map<string, ProjectCatalog>()

  constructor(version: string, proto: RegistryProto, stored?: ReadonlyMap<string, Uint8Array>) {
    this.version = version
    this.proto = proto
    this.stored = stored
  }

  /** The project's objects as definitions (decoded once per state). */
  catalog(project: string): ProjectCatalog {
    let c = this.#catalogs.get(project)
    if (!c) {
      c = new ProjectCatalog(this.proto, project)
      this.#catalogs.set(project, c)
    }
    return c
  }

  /** A deep copy of the registry message to modify and pass to `commit`. */
  draft(): RegistryProto {
    return clone(RegistrySchema, this.proto)
  }
}

export interface LoadOptions extends Abortable {
  /** Serve a cached copy while it is fresh (`cache_ttl_seconds`). Default true. */
  allowCache?: boolean
  /**
   * Ignore the cache's age but keep the cached copy when a cheap check (one row, or the file's stamp)
   * shows the registry did not change since it was read. For periodic refreshes. Default false.
   */
  revalidate?: boolean
}

/**
 * Where the registry lives. Implementations: the file registry (Feast's protobuf file), the SQL
 * registry (Feast's tables, one row per object) and the remote registry (a registry server);
 * `createRegistry` picks one from the config. Besides Feast's objects it keeps Larder's history of
 * materialization runs, outside Feast's message.
 */
export interface Registry {
  /** Reads the registry, from the cache when allowed and fresh. A missing registry reads as empty. */
  load(options?: LoadOptions): Promise<RegistryState>
  /**
   * Writes the objects that differ between `base.proto` and `next`, all or nothing. Optimistic
   * concurrency per object: when another writer committed a change to one of those objects since
   * `base` was read, the commit fails with CONFLICT naming the object (and who changed it, when
   * known) and writes nothing; changes to other objects meanwhile are kept, not overwritten. The
   * exception is bookkeeping: when the other writer only recorded materialization intervals on a
   * feature view this commit redefines, both are kept. Readers see the old registry or the new one,
   * never a mix.
   */
  commit(base: RegistryState, next: RegistryProto, options?: Abortable): Promise<RegistryState>
  /**
   * Stores one materialization run, apart from Feast's registry message: it never conflicts with a
   * commit, changes no version, and concurrent recorders all land. Then drops the view's runs beyond
   * the newest `keep` (default `MATERIALIZATION_RUNS_KEPT`). INVALID_ARGUMENT for a malformed run.
   */
  recordMaterializationRun(run: MaterializationRun, options?: RecordMaterializationRunOptions): Promise<void>
  /**
   * The project's recorded materialization runs (one view's with `view`), newest first (by start time),
   * at most `limit` (default `DEFAULT_RUNS_LISTED`). An empty list when none is recorded.
   */
  listMaterializationRuns(
    project: string,
    options?: ListMaterializationRunsOptions,
  ): Promise<MaterializationRun[]>
  /**
   * Larder's jobs (materializations, retrievals, stream processors), kept beside Feast's message like
   * the runs: the job store of every engine that keeps no state of its own (the local engine).
   */
  readonly jobs: JobStore
  close(): Promise<void>
}

/**
 * Applies `change` to a fresh read and commits it, retrying on conflict. For bookkeeping that does not
 * depend on what a user saw (materialization intervals, saved datasets); `apply` must not retry blindly.
 */
export async function updateRegistry(
  registry: Registry,
  change: (draft: RegistryProto, state: RegistryState) => void,
  options: Abortable & { attempts?: number } = {},
): Promise<RegistryState> {
  const attempts = options.attempts ?? 10
  for (let attempt = 1; ; attempt++) {
    const state = await registry.load({ allowCache: false, signal: options.signal })
    const draft = state.draft()
    change(draft, state)
    try {
      return await registry.commit(state, draft, options)
    } catch (e) {
      if (!(e instanceof LarderError && e.code === 'CONFLICT') || attempt >= attempts) throw e
      await new Promise((r) => setTimeout(r, Math.random() * 50 * attempt))
    }
  }
}
