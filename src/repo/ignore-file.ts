import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** Paths never scanned for definitions. */
const ALWAYS_IGNORED = ['node_modules', '.git', 'dist', 'build', 'coverage']

/**
 * Reads `.larderignore` (one pattern a line, `#` comments, `*` within a segment, `**` across segments,
 * a trailing `/` for directories) and returns a test for repo-relative paths, with `/` separators.
 */
export function loadIgnore(repoPath: string): (relativePath: string, isDirectory: boolean) => boolean {
  let lines: string[] = []
  try {
    lines = readFileSync(join(repoPath, '.larderignore'), 'utf8').split(/\r?\n/)
  } catch {
    // no ignore file: only the built-in list applies
  }
  const patterns = lines
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => ({ dirOnly: l.endsWith('/'), regex: globToRegex(l.replace(/\/$/, '').replace(/^\//, '')) }))
  return (relativePath, isDirectory) => {
    const segments = relativePath.split('/')
    if (segments.some((s) => ALWAYS_IGNORED.includes(s) || (s.startsWith('.') && s !== '.'))) return true
    return patterns.some((p) => (!p.dirOnly || isDirectory) && p.regex.test(relativePath))
  }
}

function globToRegex(glob: string): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*'
      i++
      if (glob[i + 1] === '/') i++
    } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  // A pattern without a slash matches a name at any depth, as in .gitignore.
  const anchored = glob.includes('/') ? `^${re}` : `(^|/)${re}`
  return new RegExp(`${anchored}(/.*)?$`)
}
