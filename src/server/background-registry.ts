import type { Abortable } from '../core/index.js'
import type { Registry as RegistryProto } from '../gen/feast/core/Registry_pb.js'
import {
  type JobStore,
  type ListMaterializationRunsOptions,
  type LoadOptions,
  type MaterializationRun,
  microsFromTimestamp,
  type RecordMaterializationRunOptions,
  type Registry,
  type RegistryState,
} from '../registry/index.js'

export interface BackgroundRegistryOptions {
  /** Seconds between background reloads; 0 or less disables the timer (reload only on `refresh()`). */
  readonly intervalSeconds: number
  /** Called when a background reload fails; the previous registry keeps being served. */
  readonly onError?: (error: unknown) => void
}

/**
 * A registry for a long-running server: reads are answered from the last registry loaded, never
 * waiting for a reload, and reloads happen in the background every `intervalSeconds` and on
 * `refresh()`. A read with `allowCache: false` and every commit go to the underlying registry (and
 * a commit's result becomes the served registry at once). Materialization runs are read and recorded
 * on the underlying registry. A reload that finds the same version keeps
 * the served state object, so what was derived from it (catalogs, read plans) stays cached.
 *
 * @example
 * const registry = new BackgroundRegistry(store.registry, { intervalSeconds: 600 })
 * await registry.load() // the first read waits for the first load; later reads never do
 */
export class BackgroundRegistry implements Registry {
  readonly #inner: Registry
  readonly #onError: ((error: unknown) => void) | undefined
  #state: RegistryState | undefined
  /** When the served registry was last confirmed current (loaded, committed, or revalidated). */
  #confirmedAt: number | undefined
  #loading: Promise<RegistryState> | undefined
  #timer: NodeJS.Timeout | undefined

  constructor(inner: Registry, options: BackgroundRegistryOptions) {
    this.#inner = inner
    this.#onError = options.onError
    if (options.intervalSeconds > 0) {
      this.#timer = setInterval(() => {
        this.refresh().catch((e) => this.#onError?.(e))
      }, options.intervalSeconds * 1000)
      this.#timer.unref()
    }
  }

  /** The registry being served, without waiting; undefined before the first load finished. */
  get current(): RegistryState | undefined {
    return this.#state
  }

  /**
   * Seconds since the served registry was last known to match its source (a load, a commit, or a
   * refresh whose version check found no change); undefined before the first load.
   */
  get ageSeconds(): number | undefined {
    return this.#confirmedAt === undefined ? undefined : (Date.now() - this.#confirmedAt) / 1000
  }

  load(options: LoadOptions = {}): Promise<RegistryState> {
    if (options.allowCache === false) return this.#inner.load(options).then((s) => this.#serve(s))
    if (this.#state) return Promise.resolve(this.#state)
    return this.refresh(options)
  }

  /**
   * Brings the served registry up to date and serves the result once loaded; reads meanwhile get the
   * previous one. Asks the source with a cheap version check first (one row of the SQL registry, the
   * file's stamp) and reads everything only when it changed. Concurrent calls share one reload.
   * Rejects (and keeps serving the previous registry) when the source cannot be read.
   */
  refresh(options: Abortable = {}): Promise<RegistryState> {
    this.#loading ??= this.#inner
      .load({ revalidate: true, signal: options.signal })
      .then((s) => this.#serve(s))
      .finally(() => {
        this.#loading = undefined
      })
    return this.#loading
  }

  async commit(base: RegistryState, next: RegistryProto, options?: Abortable): Promise<RegistryState> {
    return this.#serve(await this.#inner.commit(base, next, options))
  }

  /** Goes to the underlying registry: runs are not part of the served state. */
  recordMaterializationRun(
    run: MaterializationRun,
    options?: RecordMaterializationRunOptions,
  ): Promise<void> {
    return this.#inner.recordMaterializationRun(run, options)
  }

  /** Goes to the underlying registry, never cached. */
  listMaterializationRuns(
    project: string,
    options?: ListMaterializationRunsOptions,
  ): Promise<MaterializationRun[]> {
    return this.#inner.listMaterializationRuns(project, options)
  }

  /** The underlying registry's jobs, never cached. */
  get jobs(): JobStore {
    return this.#inner.jobs
  }

  /** Stops the background reloads. The underlying registry stays open: its owner closes it. */
  async close(): Promise<void> {
    clearInterval(this.#timer)
  }

  /**
   * Serves `state` unless the same version is served already or the served one is newer (a reload
   * that raced a commit), and returns `state` to its reader.
   */
  #serve(state: RegistryState): RegistryState {
    this.#confirmedAt = Date.now()
    const served = this.#state
    if (served === undefined || (served.version !== state.version && updatedAt(state) >= updatedAt(served))) {
      this.#state = state
    }
    return state
  }
}

function updatedAt(state: RegistryState): number {
  return microsFromTimestamp(state.proto.lastUpdated) ?? 0
}
