// Larder as a user gets it: the packed tarball installed into an empty project outside the checkout,
// type-checked by the user's TypeScript with skipLibCheck off, and run as a user's script that imports
// every entry point the README names. Nothing here imports Larder's sources.
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const README = readFileSync(join(ROOT, 'README.md'), 'utf8')
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
const versionOf = (name: string) =>
  JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version as string

let project: string

/**
 * Runs a command in the user's project, with an environment free of the npm variables that `npm test`
 * sets for this checkout (a nested npm would read them as its own config). The native build of
 * better-sqlite3 still sees `npm_config_nodedir` when CI sets it for a second Node.
 */
async function sh(cmd: string, args: readonly string[], cwd = project): Promise<string> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || /^npm_config_(nodedir|cache)$/i.test(k)),
  )
  try {
    const { stdout } = await run(cmd, args, { cwd, env, maxBuffer: 64 << 20 })
    return stdout
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string }
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}\n${stderr ?? ''}`)
  }
}

/** The README's `import { … } from 'larderjs…'` statements, verbatim. */
const readmeImports = [...README.matchAll(/^import\s+(?:type\s+)?\{[^}]*\}\s+from\s+'larderjs[^']*'/gm)].map(
  (m) => m[0],
)

/** A user's script: every entry point, the init'd repo applied, a training set, materialization, reads. */
const USER_SCRIPT = `
import { FeatureStore, Int64, LarderError, type OnlineFeaturesResponse, type ViewMaterialization } from 'larderjs'
import { LarderClient } from 'larderjs/client'
import { decodeValue, encodeValue, serializeEntityKey } from 'larderjs/feast'
import { MemoryOnlineStore } from 'larderjs/testing'

const store = await FeatureStore.open('demo')
const plan = await store.plan()
await store.apply(plan)

const job = await store.getHistoricalFeatures({
  entities: 'demo/data/entities.csv',
  features: ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:avg_daily_trips'],
})
const training = await job.toRows()
await job.toParquet('train.parquet')

const materialized: readonly ViewMaterialization[] = (await store.materializeIncremental({ end: new Date() })).views
const online: OnlineFeaturesResponse = await store.getOnlineFeatures({
  entities: { driver_id: [1001, 1002] },
  featureService: 'driver_activity_v1',
})
const onDemand = await store.getOnlineFeatures({
  entities: { driver_id: [1001], val_to_add: [1], val_to_add_2: [2] },
  featureService: 'driver_activity_v3',
})

let clientError = ''
try {
  await new LarderClient('http://127.0.0.1:9', { timeoutMs: 2000 }).version()
} catch (e) {
  clientError = e instanceof LarderError ? e.code : String(e)
}
const memory = new MemoryOnlineStore()
await memory.close()

const result = {
  changes: plan.changes.map((c) => c.action + ' ' + c.kind + ' ' + c.name).sort(),
  views: (await store.listFeatureViews()).map((v) => v.name).sort(),
  services: (await store.listFeatureServices({ tags: {} })).map((s) => s.name).sort(),
  described: await store.describe('feature view', 'driver_hourly_stats'),
  trainingRows: training.length,
  trainingColumns: Object.keys(training[0] ?? {}),
  trainingWithValues: training.filter((r) => r.conv_rate !== null).length,
  materialized: materialized.map((v) => v.view),
  onlineNames: online.metadata.featureNames,
  onlineStatuses: online.results.map((r) => r.statuses),
  onDemand: onDemand.results.map((r) => r.values),
  clientError,
  entityKey: Buffer.from(serializeEntityKey([{ joinKey: 'driver_id', valueType: Int64.valueType, value: 1001 }])).toString('hex'),
  value: decodeValue(encodeValue(Int64, 7)),
}
await store.close()
console.log(JSON.stringify(result, (_, v) => (typeof v === 'bigint' ? String(v) : v)))
`

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), 'larder-user-'))
  await sh('npm', ['pack', '--ignore-scripts', '--pack-destination', project], ROOT)
  const tarball = `./${PACKAGE.name}-${PACKAGE.version}.tgz`
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'larder-user', private: true, type: 'module' }),
  )
  await sh('npm', [
    'install',
    '--no-audit',
    '--no-fund',
    '--prefer-offline',
    tarball,
    `typescript@${versionOf('typescript')}`,
    `@types/node@${versionOf('@types/node')}`,
  ])
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'es2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        skipLibCheck: false,
        types: ['node'],
        outDir: 'out',
      },
      include: ['src'],
    }),
  )
  mkdirSync(join(project, 'src'))
  writeFileSync(join(project, 'src', 'main.ts'), USER_SCRIPT)
  readmeImports.forEach((statement, i) => {
    writeFileSync(join(project, 'src', `readme-${i}.ts`), `${statement}\nexport {}\n`)
  })
}, 900_000)

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true })
})

describe('the packed package, installed into an empty project', () => {
  it('installs without test runners or optional drivers', () => {
    for (const absent of ['vitest', 'redis', 'pg', 'pg-copy-streams']) {
      expect(existsSync(join(project, 'node_modules', absent)), absent).toBe(false)
    }
    expect(PACKAGE.peerDependenciesMeta).toMatchObject({ redis: { optional: true }, pg: { optional: true } })
  })

  it("type-checks a user's script and every README import with skipLibCheck off", async () => {
    expect(readmeImports.length).toBeGreaterThan(2)
    await sh('node', ['node_modules/typescript/bin/tsc', '-p', '.'])
    expect(existsSync(join(project, 'out', 'main.js'))).toBe(true)
  })

  it('gives the README every name its code uses, from the package root', async () => {
    const root = JSON.parse(
      await sh('node', [
        '--input-type=module',
        '-e',
        "console.log(JSON.stringify(Object.keys(await import('larderjs'))))",
      ]),
    ) as string[]
    const imported = new Set(
      readmeImports.flatMap((s) =>
        s
          .replace(/^[^{]*\{|\}.*$/gs, '')
          .split(',')
          .map(
            (n) =>
              n
                .trim()
                .replace(/^type\s+/, '')
                .split(/\s+as\s+/)
                .pop()!,
          ),
      ),
    )
    const used = new Set<string>()
    for (const [, block] of README.matchAll(/```ts\n([\s\S]*?)```/g)) {
      for (const [, name] of block!.matchAll(/(?:new\s+|\b)([A-Z][A-Za-z0-9]+)(?:\.\w+\(|\()/g))
        used.add(name!)
    }
    const missing = [...used].filter((n) => !imported.has(n) && !root.includes(n) && !(n in globalThis))
    expect(missing).toEqual([])
    expect(root).toContain('FeatureStore')
  })

  it('runs larder init, then a user script: apply, training set, materialize, online reads', async () => {
    await sh('node_modules/.bin/larder', ['init', 'demo'])
    const result = JSON.parse(await sh('node', ['out/main.js']))
    expect(result.changes).toContain('create feature view driver_hourly_stats')
    expect(result.views).toEqual(['driver_hourly_stats', 'driver_hourly_stats_fresh'])
    expect(result.services).toEqual(['driver_activity_v1', 'driver_activity_v2', 'driver_activity_v3'])
    expect(result.described.spec.name).toBe('driver_hourly_stats')
    expect(result.trainingRows).toBe(9)
    expect(result.trainingWithValues).toBe(9)
    expect(result.trainingColumns).toEqual([
      'driver_id',
      'event_timestamp',
      'label_driver_reported_satisfaction',
      'val_to_add',
      'val_to_add_2',
      'conv_rate',
      'avg_daily_trips',
    ])
    expect(existsSync(join(project, 'train.parquet'))).toBe(true)
    expect(result.materialized).toContain('driver_hourly_stats')
    expect(result.onlineNames).toEqual(['driver_id', 'conv_rate', 'avg_daily_trips'])
    expect(result.onlineStatuses.flat()).toEqual(Array(6).fill('PRESENT'))
    expect(result.onDemand[2][0]).toBeCloseTo(result.onDemand[1][0] + 1, 5)
    expect(result.clientError).toBe('BACKEND_UNAVAILABLE')
    expect(result.entityKey).toBe(
      '01000000' +
        '02000000' +
        '09000000' +
        '6472697665725f6964' +
        '04000000' +
        '08000000' +
        'e903000000000000',
    )
    expect(result.value).toBe(7)
  })

  it('makes a repo whose package.json installs and whose features.ts passes the project lint', async () => {
    const repo = join(project, 'demo')
    expect(existsSync(repo), 'the previous test made the repo').toBe(true)
    await sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], repo)
    expect(existsSync(join(repo, 'node_modules', 'larderjs', 'dist', 'index.js'))).toBe(true)
    await sh(
      join(ROOT, 'node_modules', '.bin', 'biome'),
      ['check', '--config-path', join(ROOT, 'biome.json'), '--vcs-enabled=false', 'features.ts'],
      repo,
    )
  })
})
