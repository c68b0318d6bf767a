import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { relative, sep } from 'node:path'
import { type Abortable, LarderError } from '../../core/index.js'
import type { SourceFile } from '../offline-store.js'

/**
 * The SHA-256 (hex) and size of a file's bytes, read as a stream, so a file of any size costs little
 * memory. Rejects with DATA_SOURCE naming the file when it cannot be read, ABORTED when `signal` fires.
 *
 * @example const { sha256, bytes } = await sha256File('training.parquet')
 */
export async function sha256File(
  path: string,
  opts: Abortable = {},
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  try {
    for await (const chunk of createReadStream(path, { signal: opts.signal })) {
      hash.update(chunk as Buffer)
      bytes += (chunk as Buffer).length
    }
  } catch (cause) {
    if (opts.signal?.aborted) {
      throw new LarderError('ABORTED', `hashing ${path} was aborted`, { cause })
    }
    throw new LarderError('DATA_SOURCE', `cannot read ${path} to hash it: ${(cause as Error).message}`, {
      cause,
      hint: 'check that the file exists and is readable',
      details: { path },
    })
  }
  return { sha256: hash.digest('hex'), bytes }
}

/**
 * The SHA-256 (hex) of `prefix` followed by a file's bytes, and the number of lines in the file (its
 * newline characters): the digest of a table whose rows were copied out one per line.
 */
export async function sha256Lines(
  prefix: string,
  path: string,
  opts: Abortable = {},
): Promise<{ sha256: string; lines: number }> {
  const hash = createHash('sha256').update(prefix)
  let lines = 0
  for await (const chunk of createReadStream(path, { signal: opts.signal })) {
    const bytes = chunk as Buffer
    hash.update(bytes)
    for (let i = bytes.indexOf(10); i !== -1; i = bytes.indexOf(10, i + 1)) lines++
  }
  return { sha256: hash.digest('hex'), lines }
}

/** Hashes each file, in order, naming it by its path relative to `base` with `/` separators. */
export async function sourceFileDigests(
  files: readonly string[],
  base: string,
  opts: Abortable = {},
): Promise<SourceFile[]> {
  const out: SourceFile[] = []
  for (const file of files) {
    const { sha256, bytes } = await sha256File(file, opts)
    out.push({ path: relative(base, file).split(sep).join('/'), bytes, sha256 })
  }
  return out
}
