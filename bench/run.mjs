// Runs benchmarks: every bench/*.ts, or those named on the command line (`npm run bench -- pit`).
// Each file runs in a process of its own (fresh memory per file), with peak-rss.mjs preloaded so that
// every JSON line it prints carries `peak_rss_mib`. In that process the file is TypeScript loaded
// through jiti; it runs when imported, and if it exports a default function, that function is awaited.
// Benchmarks print one JSON line per figure on stdout. The run stops at the first file that fails,
// with its exit code.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
/** Given as the first argument, runs the one file that follows in this process. */
const IN_PROCESS = '--in-process'

function benchFile(arg) {
  const candidates = [resolve(arg), join(here, arg), join(here, `${arg}.ts`)]
  const found = candidates.find((c) => c.endsWith('.ts') && existsSync(c))
  if (!found) {
    const known = readdirSync(here).filter((f) => f.endsWith('.ts'))
    throw new Error(`no benchmark "${arg}"; known: ${known.join(', ') || '(none)'}`)
  }
  return found
}

const args = process.argv.slice(2)
if (args[0] === IN_PROCESS) {
  const { createJiti } = await import('jiti')
  const mod = await createJiti(import.meta.url).import(args[1])
  if (typeof mod?.default === 'function') await mod.default()
} else {
  const files =
    args.length > 0
      ? args.map(benchFile)
      : readdirSync(here)
          .filter((f) => f.endsWith('.ts'))
          .sort()
          .map((f) => join(here, f))
  const preload = pathToFileURL(join(here, 'peak-rss.mjs')).href
  for (const file of files) {
    const run = spawnSync(
      process.execPath,
      [...process.execArgv, '--import', preload, fileURLToPath(import.meta.url), IN_PROCESS, file],
      { stdio: 'inherit' },
    )
    if (run.error) throw run.error
    if (run.status !== 0) {
      console.error(`benchmark ${file} failed (${run.signal ?? `exit ${run.status}`})`)
      process.exit(run.status ?? 1)
    }
  }
}
