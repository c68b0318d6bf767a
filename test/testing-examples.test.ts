// The example user suite of examples/testing, run as a user runs it: against the built package (a bare
// `larderjs` resolves to this checkout's dist/ through the package's own link in node_modules), under
// node:test, vitest and jest, type-checked with the package's published types; and copies with one
// wrong expectation, which must fail under each runner with the harness's readable message.
import { execFile } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const EXAMPLES = join(ROOT, 'examples', 'testing')
const DIST = join(ROOT, 'dist', 'testing')
/** jiti's ESM loader hook: lets Node 20 run TypeScript test files (Node >= 23.6 strips types itself). */
const TS_LOADER = pathToFileURL(join(ROOT, 'node_modules', 'jiti', 'lib', 'jiti-register.mjs')).href
const VITEST = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs')
/** jest runs the example as ES modules, which needs Node's VM modules (`NODE_OPTIONS` in a user's shell). */
const JEST = ['--experimental-vm-modules', join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'), '--no-cache']

interface Run {
  readonly code: number
  readonly output: string
}

/**
 * Runs a command to its end and returns its exit code and output, with an environment free of this
 * run's vitest and npm variables (a nested runner would read them as its own) and without colours.
 */
function run(args: readonly string[], cwd: string): Promise<Run> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(VITEST|npm_|NODE_OPTIONS$|FORCE_COLOR$)/i.test(k)),
  )
  return new Promise((done) => {
    execFile(
      process.execPath,
      args,
      { cwd, env: { ...env, NO_COLOR: '1' }, maxBuffer: 64 << 20, timeout: 240_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        done({ code, output: `${stdout}\n${stderr}` })
      },
    )
  })
}

/** The bare module names a built module reaches through its relative imports, dynamic ones included. */
function reachableBareImports(entry: string): Set<string> {
  const seen = new Set<string>()
  const bare = new Set<string>()
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    // comments hold examples (`import * as defs from './features.js'`), not imports
    const text = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '')
    const statements =
      /^(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]|^import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm
    for (const m of text.matchAll(statements)) {
      const spec = (m[1] ?? m[2] ?? m[3])!
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec))
      else bare.add(spec)
    }
  }
  visit(entry)
  return bare
}

/** The example test file for a runner with the service's expected trips_today changed from 7 to 8. */
function withWrongExpectation(file: string): string {
  const text = readFileSync(join(EXAMPLES, file), 'utf8')
  const right = '{ conv_rate: 0.5, trips_today: 7, score: 3 }'
  expect(text, `${file} holds the expectation this test changes`).toContain(right)
  return text.replace(right, '{ conv_rate: 0.5, trips_today: 8, score: 3 }')
}

/** The README's code block of its section on testing feature code. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Testing feature code'))
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1]
  expect(block, 'the README has a TypeScript example under "Testing feature code"').toContain(
    'createTestStore',
  )
  return block!
}

const WRONG_LINES = [
  'expectOnlineValues: 1 of 3 values differ for entity row { driver_id: 1001, distance_km: 2 } at 2026-01-01T00:00:00Z',
  '✓ conv_rate: 0.5 (PRESENT, event 2025-12-31T23:00:00Z)',
  '✗ trips_today: expected 8 (PRESENT), got 7 (PRESENT, event 2025-12-31T23:00:00Z)',
  'actual: { conv_rate: 0.5, trips_today: 7, score: 3 }',
]

let project: string

beforeAll(() => {
  for (const name of ['index', 'test-store', 'expect-values', 'run-on-demand']) {
    const built = join(DIST, `${name}.js`)
    const source = join(ROOT, 'src', 'testing', `${name}.ts`)
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(source).mtimeMs) {
      throw new Error(
        `dist/testing/${name}.js is missing or older than src/testing/${name}.ts; build first: npx tsc -p tsconfig.build.json`,
      )
    }
  }
  // a user's project outside the checkout: the package, the runners and TypeScript (jest's transform
  // uses it) linked in, the example copied
  project = mkdtempSync(join(tmpdir(), 'larder-examples-'))
  mkdirSync(join(project, 'node_modules'))
  symlinkSync(ROOT, join(project, 'node_modules', 'larderjs'), 'dir')
  for (const name of ['vitest', 'typescript']) {
    symlinkSync(join(ROOT, 'node_modules', name), join(project, 'node_modules', name), 'dir')
  }
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'larder-user', private: true, type: 'module' }),
  )
  for (const file of [
    'features.ts',
    'fixtures.ts',
    'vitest.config.ts',
    'jest.config.js',
    'typescript-transform.js',
  ]) {
    copyFileSync(join(EXAMPLES, file), join(project, file))
  }
  // the README's example, beside the features.ts `larder init demo` writes
  mkdirSync(join(project, 'readme'))
  const demo = readFileSync(join(ROOT, 'templates', 'local', 'features.ts.txt'), 'utf8')
  writeFileSync(join(project, 'readme', 'features.ts'), demo.replaceAll('{{project}}', 'demo'))
  writeFileSync(join(project, 'readme', 'example.ts'), readmeExample())
  writeFileSync(join(project, 'wrong.node-test.test.ts'), withWrongExpectation('features.node-test.test.ts'))
  writeFileSync(join(project, 'wrong.vitest.test.ts'), withWrongExpectation('features.vitest.test.ts'))
  writeFileSync(join(project, 'wrong.jest.test.ts'), withWrongExpectation('features.jest.test.ts'))
})

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true })
})

describe('the example user suite in examples/testing', () => {
  it('imports larderjs/testing, whose built modules reach no test runner', () => {
    const bare = reachableBareImports(join(DIST, 'index.js'))
    // the scan follows dynamic imports (DuckDB is loaded by createTestStore) and finds a runner where one is
    expect(bare).toContain('@duckdb/node-api')
    expect(reachableBareImports(join(DIST, 'online-conformance.js'))).toContain('vitest')
    expect([...bare].filter((m) => /^(vitest|@vitest\/|jest|@jest\/|node:test$)/.test(m))).toEqual([])
  })

  it("type-checks against the built package's types", async () => {
    const tsc = await run([join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', EXAMPLES], ROOT)
    expect(tsc.output.trim()).toBe('')
    expect(tsc.code).toBe(0)
  })

  it('passes under node:test', async () => {
    const result = await run(
      [
        '--import',
        TS_LOADER,
        '--test',
        '--test-reporter=tap',
        relative(ROOT, join(EXAMPLES, 'features.node-test.test.ts')),
      ],
      ROOT,
    )
    expect(result.output).toMatch(/^# pass 4$/m)
    expect(result.output).toMatch(/^# fail 0$/m)
    expect(result.code, result.output).toBe(0)
  })

  it('passes under vitest', async () => {
    const result = await run([VITEST, 'run', '--root', EXAMPLES], ROOT)
    expect(result.output).toMatch(/Tests\s+4 passed \(4\)/)
    expect(result.code, result.output).toBe(0)
  })

  it('passes under jest', async () => {
    const result = await run([...JEST, '--config', join(EXAMPLES, 'jest.config.js')], ROOT)
    expect(result.output).toMatch(/Tests:\s+4 passed, 4 total/)
    expect(result.code, result.output).toBe(0)
  })

  it("runs the README's example against the demo repo's features", async () => {
    const result = await run(['--import', TS_LOADER, join('readme', 'example.ts')], project)
    expect(result.code, result.output).toBe(0)
  })

  it('fails under node:test on a wrong expectation, with the readable message', async () => {
    const result = await run(
      ['--import', TS_LOADER, '--test', '--test-reporter=tap', 'wrong.node-test.test.ts'],
      project,
    )
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/^# pass 3$/m)
    expect(result.output).toMatch(/^# fail 1$/m)
    for (const line of WRONG_LINES) expect(result.output).toContain(line)
  })

  it('fails under vitest on a wrong expectation, with the readable message', async () => {
    const result = await run(
      [VITEST, 'run', '--root', project, '--config', join(project, 'vitest.config.ts'), 'wrong'],
      project,
    )
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/Tests\s+1 failed \| 3 passed \(4\)/)
    for (const line of WRONG_LINES) expect(result.output).toContain(line)
  })

  it('fails under jest on a wrong expectation, with the readable message', async () => {
    const result = await run([...JEST, '--config', join(project, 'jest.config.js')], project)
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/Tests:\s+1 failed, 3 passed, 4 total/)
    for (const line of WRONG_LINES) expect(result.output).toContain(line)
  })
})
