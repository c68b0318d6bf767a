import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'

/**
 * Parses YAML text, as the `yaml` package's `parse` does (its errors included). With `cache`, a parse
 * that JSON holds exactly is kept in the user's cache directory (`$XDG_CACHE_HOME`, else `~/.cache`,
 * under `larder/config/` by the SHA-256 of the text, readable by the user only), so a later process
 * given the same text reads that instead of loading the `yaml` package, a tenth of a `larder get`'s
 * start-up. Callers cache only text that holds nothing from the environment (no secret lands on
 * disk). Where the cache cannot be read or written, the text is parsed every time.
 */
export function parseYamlText(text: string, options: { readonly cache: boolean }): unknown {
  if (!options.cache) return yamlPackage().parse(text)
  const file = join(cacheDir(), `${createHash('sha256').update(text).digest('hex')}.json`)
  try {
    return JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    // not cached yet (or unreadable): parse it
  }
  const parsed: unknown = yamlPackage().parse(text)
  const json = JSON.stringify(parsed ?? null)
  if (isDeepStrictEqual(JSON.parse(json), parsed ?? null)) {
    try {
      mkdirSync(cacheDir(), { recursive: true, mode: 0o700 })
      const partial = `${file}.${process.pid}.tmp`
      writeFileSync(partial, json, { mode: 0o600 })
      renameSync(partial, file)
    } catch {
      // a read-only or missing home: no cache
    }
  }
  return parsed
}

/** Where parses are kept; see {@link parseYamlText}. */
function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'larder', 'config')
}

/** The `yaml` package, loaded on first use. */
function yamlPackage(): typeof import('yaml') {
  return createRequire(import.meta.url)('yaml') as typeof import('yaml')
}
