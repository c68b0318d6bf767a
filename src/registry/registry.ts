import { clone } from '@bufbuild/protobuf'
import { type Abortable, LarderError } from '../core/index.js'
import { type Registry as RegistryProto, RegistrySchema } from '../gen/feast/core/Registry_pb.js'
import { ProjectCatalog } from './catalog.js'

/**
 * One read of the registry: Feast's whole `Registry` message (every project) and the version it was
 * read at. Treat `proto` as immutable; `draft()` gives a copy to change and commit.
 */
export class RegistryState {
  /** The `version_id` read, or `''` when no registry exists yet. */
  readonly version: string
  readonly proto: RegistryProto
  readonly #catalogs = new Map<string, ProjectCatalog>()

  constructor(version: string, proto: RegistryProto) {
    this.version = version
    this.proto = proto
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
}

/** Where the registry lives. Implementations: the file registry (Feast's protobuf file). */
export interface Registry {
  /** Reads the registry, from the cache when allowed and fresh. A missing registry reads as empty. */
  load(options?: LoadOptions): Promise<RegistryState>
  /**
   * Writes `next` if nobody committed since `base` was read; otherwise fails with a CONFLICT error and
   * writes nothing. The write is atomic: readers see the old registry or the new one, never a mix.
   */
  commit(base: RegistryState, next: RegistryProto, options?: Abortable): Promise<RegistryState>
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
