/**
 * A resource created on first use and shared by every later caller (an engine's DuckDB instance, a
 * connection pool). A creation that fails is forgotten, so the next caller tries again instead of
 * getting the same failure forever.
 */
export class Lazy<T> {
  readonly #create: () => Promise<T>
  #value: Promise<T> | undefined

  constructor(create: () => Promise<T>) {
    this.#create = create
  }

  /** The resource, created by the first call (concurrent callers share one creation). */
  get(): Promise<T> {
    if (this.#value === undefined) {
      const created = this.#create()
      this.#value = created
      created.catch(() => {
        if (this.#value === created) this.#value = undefined
      })
    }
    return this.#value
  }

  /**
   * Forgets the resource and hands it to the caller, to close it: after a creation in progress has
   * ended; undefined when none was created or its creation failed. The next `get` creates a new one.
   */
  async take(): Promise<T | undefined> {
    const value = this.#value
    this.#value = undefined
    return value?.catch(() => undefined)
  }
}
