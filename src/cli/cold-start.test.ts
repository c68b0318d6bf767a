// What `larder get` loads in a fresh process: the built CLI (dist/) is spawned, so build first
// (`npx tsc -p tsconfig.build.json`). A preloaded recorder lists every ES module Node loads and every
// native addon it opens; the assertions are on those lists, never on time.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { definitionCacheDir } from '../repo/load-repo.js'
import { larder } from './__fixtures__/run-larder.js'

const run = promisify(execFile)
const BIN = resolve(import.meta.dirname, '../../bin/larder.js')

/** Preloaded with --import: logs each native addon opened here and, through a loader hook, each module. */
const RECORDER = `import { appendFileSync } from 'node:fs'
import { register } from 'node:module'
const log = process.env.LARDER_MODULE_LOG
const dlopen = process.dlopen
process.dlopen = function (module, filename, ...rest) {
  appendFileSync(log, 'native ' + filename + '\\n')
  return dlopen.call(this, module, filename, ...rest)
}
register('./loader-hook.mjs', import.meta.url)
`
const LOADER_HOOK = `import { appendFileSync } from 'node:fs'
export async function load(url, context, next) {
  appendFileSync(process.env.LARDER_MODULE_LOG, 'module ' + url + '\\n')
  return next(url, context)
}
`

/** Modules a plain online read must not load: DuckDB, Arrow, the HTTP and gRPC servers, jiti. */
const NOT_FOR_A_READ = [
  /@duckdb\//,
  /duckdb.*\.node$/,
  /\/apache-arrow\//,
  /\/hono\//,
  /\/@hono\//,
  /\/@connectrpc\//,
  /\/jiti\//,
]

describe('larder get in a fresh process', () => {
  let root: string
  let repo: string
  let calls = 0

  /** Runs the built CLI in `repo` with the recorder; resolves to its output and what it loaded. */
  async function recorded(...argv: string[]) {
    const log = join(root, `modules-${++calls}.log`)
    writeFileSync(log, '')
    const result = await run(
      process.execPath,
      ['--import', join(root, 'recorder.mjs'), BIN, '-c', repo, ...argv],
      {
        env: { ...process.env, LARDER_MODULE_LOG: log, NO_COLOR: '1' },
      },
    ).catch((e: { code: number; stdout: string; stderr: string }) => e)
    const loaded = readFileSync(log, 'utf8').split('\n').filter(Boolean)
    return { code: 'code' in result ? result.code : 0, stdout: result.stdout, stderr: result.stderr, loaded }
  }

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'larder-cold-start-'))
    repo = join(root, 'demo')
    writeFileSync(join(root, 'recorder.mjs'), RECORDER)
    writeFileSync(join(root, 'loader-hook.mjs'), LOADER_HOOK)
    expect((await larder('init', repo)).code).toBe(0)
    expect((await larder('-c', repo, 'apply')).code).toBe(0)
    expect((await larder('-c', repo, 'materialize-incremental', new Date().toISOString())).code).toBe(0)
  }, 120_000)
  afterAll(() => {
    rmSync(root, { recursive: true, force: true })
  })

  it('reads a feature view without loading DuckDB, Arrow, the servers or the definition loader', async () => {
    const get = await recorded('get', 'driver_id=1001', '--features', 'driver_hourly_stats:conv_rate')
    expect(get.stderr).toBe('')
    expect(get.code).toBe(0)
    expect(get.stdout).toMatch(/driver_id=1001\s*│\s*conv_rate\s*│\s*[\d.]+\s*│\s*PRESENT/)
    // The recorder sees both kinds of load: the SQLite addon and the CLI's own modules.
    expect(get.loaded.some((l) => l.startsWith('native ') && l.includes('better_sqlite3'))).toBe(true)
    expect(get.loaded.some((l) => l.startsWith('module ') && l.endsWith('/cli/commands/get.js'))).toBe(true)
    expect(get.loaded.filter((l) => NOT_FOR_A_READ.some((re) => re.test(l)))).toEqual([])
    // Only the command that runs is imported.
    expect(get.loaded.filter((l) => /\/cli\/commands\/(?!get\.js|version\.js)/.test(l))).toEqual([])
  }, 60_000)

  it('loads DuckDB when a command needs the offline store (the recorder would see it)', async () => {
    const plan = await recorded('plan')
    expect(plan.code).toBe(0)
    expect(plan.loaded.some((l) => /@duckdb\//.test(l))).toBe(true)
  }, 60_000)

  it('runs an on-demand view from cached transpiled definitions, and sees an edited file', async () => {
    const cache = definitionCacheDir(repo)
    rmSync(cache, { recursive: true, force: true })
    const argv = [
      'get',
      'driver_id=1001,val_to_add=1,val_to_add_2=2',
      '--feature-service',
      'driver_activity_v3',
    ]
    const first = await recorded(...argv)
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/conv_rate_plus_val1\s*│\s*[\d.]+\s*│\s*PRESENT/)
    expect(first.loaded.filter((l) => /@duckdb\/|duckdb.*\.node$|\/apache-arrow\//.test(l))).toEqual([])
    expect(existsSync(cache) && readdirSync(cache).some((f) => f.startsWith('demo-features.'))).toBe(true)

    const second = await recorded(...argv)
    expect(second.code).toBe(0)
    const plusVal1 = (out: string) => /conv_rate_plus_val1\s*│\s*([\d.]+)/.exec(out)?.[1]
    expect(plusVal1(second.stdout)).toBe(plusVal1(first.stdout))

    // An edited definition file is transpiled again: its changed code is the deployed code, which the
    // read refuses because it differs from the registered one.
    const file = join(repo, 'features.ts')
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('+ (val_to_add as number)', '- (val_to_add as number)'),
    )
    const edited = await recorded(...argv)
    expect(edited.code).toBe(1)
    expect(edited.stderr).toContain('transformed_conv_rate')
  }, 60_000)
})
