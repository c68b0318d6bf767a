import { mkdir, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { type Abortable, LarderError, throwIfAborted } from '../../core/index.js'
import { withFileLock, writeAtomically } from './file-lock.js'

export interface JsonSideFileOptions<T> {
  /** What the file holds, for messages: `the materialization run history`. */
  readonly what: string
  /** The content of a parsed file; throws (any error, its message is shown) when it is malformed. */
  readonly decode: (json: unknown) => T
  /** The content of a file that does not exist yet. */
  readonly empty: () => T
}

/**
 * A JSON file beside the registry that Feast never reads (the run history, the jobs). It is only ever
 * replaced whole by temp file and rename, so a reader without a lock sees one complete version;
 * changes are read-modify-write under the file's own lock (`<path>.lock`), so writers in any number of
 * processes take turns and none loses another's change, and none waits for a registry commit.
 */
export class JsonSideFile<T> {
  readonly path: string
  readonly #options: JsonSideFileOptions<T>

  constructor(path: string, options: JsonSideFileOptions<T>) {
    this.path = path
    this.#options = options
  }

  /** The content; `empty()` when the file does not exist, REGISTRY_CORRUPT naming the file when it does not decode. */
  async read(): Promise<T> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return this.#options.empty()
      throw e
    }
    try {
      return this.#options.decode(JSON.parse(text))
    } catch (cause) {
      throw new LarderError(
        'REGISTRY_CORRUPT',
        `${this.#options.what} ${this.path} is not readable: ${(cause as Error).message}`,
        {
          cause,
          hint: `delete ${this.path}: only ${this.#options.what} is lost, the registry itself is untouched`,
        },
      )
    }
  }

  /**
   * Under the lock, reads the content and writes what `change` returns as JSON (nothing when it returns
   * undefined). Resolves with the content as stored after. When `change` throws, the file stays as it
   * was and the error propagates; a lock held elsewhere past its timeout is CONFLICT (see `withFileLock`).
   */
  async update(
    change: (current: T) => T | undefined | Promise<T | undefined>,
    options: Abortable = {},
  ): Promise<T> {
    await mkdir(dirname(this.path), { recursive: true })
    return withFileLock(
      this.path,
      async (lock) => {
        const current = await this.read()
        const next = await change(current)
        if (next === undefined) return current
        throwIfAborted(options.signal)
        await lock.assertHeld()
        await writeAtomically(this.path, Buffer.from(JSON.stringify(next)))
        return next
      },
      options,
    )
  }
}
