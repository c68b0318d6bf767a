// Runs benchmarks: every bench/*.ts, or those named on the command line (`npm run bench -- pit`).
// Each file is TypeScript loaded through jiti; a file runs when imported, and if it exports a default
// function, that function is awaited. Benchmarks print one JSON line per figure on stdout.
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createJiti } from 'jiti'

const here = dirname(fileURLToPath(import.meta.url))
const jiti = createJiti(import.meta.url)

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
const files =
  args.length > 0
    ? args.map(benchFile)
    : readdirSync(here)
        .filter((f) => f.endsWith('.ts'))
        .sort()
        .map((f) => join(here, f))

for (const file of files) {
  const mod = await jiti.import(file)
  if (typeof mod?.default === 'function') await mod.default()
}
