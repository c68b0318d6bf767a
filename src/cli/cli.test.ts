import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { larder } from './__fixtures__/run-larder.js'

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'larder-cli-'))
}

/** A fresh `larder init` repo, applied once. */
async function appliedRepo(): Promise<string> {
  const repo = join(tempDir(), 'demo')
  expect((await larder('init', repo)).code).toBe(0)
  const applied = await larder('-c', repo, 'apply')
  expect(applied.stderr).toBe('')
  expect(applied.code).toBe(0)
  return repo
}

describe('larder init, apply, list', () => {
  let repo: string
  beforeAll(async () => {
    repo = await appliedRepo()
  })

  it('creates a runnable repo with relative paths and sample data', () => {
    for (const f of [
      'feature_store.yaml',
      'features.ts',
      '.gitignore',
      'package.json',
      'data/driver_stats.parquet',
    ]) {
      expect(existsSync(join(repo, f)), f).toBe(true)
    }
    const yaml = readFileSync(join(repo, 'feature_store.yaml'), 'utf8')
    expect(yaml).toContain('project: demo')
    expect(yaml).not.toContain(repo)
    expect(JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).dependencies.larderjs).toBeDefined()
  })

  it('lists what apply registered, as a table and as JSON', async () => {
    const table = await larder('-c', repo, 'list', 'feature-views')
    expect(table.stdout).toContain('driver_hourly_stats')
    expect(table.stdout).toMatch(
      /│ NAME +│ ENTITIES +│ FEATURES +│ SOURCE +│ TTL +│ ONLINE +│ MATERIALIZED UNTIL +│ TAGS +│/,
    )
    expect((await larder('-c', repo, 'list', 'entities')).stdout).toMatch(/│ JOIN KEY +│/)
    expect((await larder('-c', repo, 'list', 'on-demand-feature-views')).stdout).toMatch(
      /│ WRITE TO ONLINE STORE +│/,
    )
    expect((await larder('-c', repo, 'list', 'saved-datasets')).stdout).toBe(
      'No saved datasets in project "demo" (save one with `larder get-historical-features --save-as NAME`)\n',
    )
    const json = JSON.parse((await larder('-c', repo, 'list', 'feature-views', '--json')).stdout)
    expect(json.map((v: { name: string }) => v.name).sort()).toEqual([
      'driver_hourly_stats',
      'driver_hourly_stats_fresh',
    ])
    expect(json[0].features).toEqual(['conv_rate', 'acc_rate', 'avg_daily_trips'])
    const services = JSON.parse((await larder('-c', repo, 'list', 'feature-services', '--json')).stdout)
    expect(services.map((s: { name: string }) => s.name).sort()).toEqual([
      'driver_activity_v1',
      'driver_activity_v2',
      'driver_activity_v3',
    ])
    const odfvs = JSON.parse((await larder('-c', repo, 'list', 'on-demand-feature-views', '--json')).stdout)
    expect(odfvs).toEqual([
      {
        name: 'transformed_conv_rate',
        sources: ['driver_hourly_stats', 'vals_to_add'],
        features: ['conv_rate_plus_val1', 'conv_rate_plus_val2'],
        mode: 'typescript-row',
        writeToOnlineStore: false,
        tags: {},
      },
    ])
    const entities = JSON.parse((await larder('-c', repo, 'list', 'entities', '--json')).stdout)
    expect(entities).toEqual([
      expect.objectContaining({ name: 'driver', joinKey: 'driver_id', type: 'Int64' }),
    ])
    const sources = JSON.parse((await larder('-c', repo, 'list', 'data-sources', '--json')).stdout)
    expect(sources.map((s: { name: string }) => s.name).sort()).toEqual([
      'driver_hourly_stats_source',
      'driver_stats_push_source',
      'vals_to_add',
    ])
    expect(JSON.parse((await larder('-c', repo, 'list', 'projects', '--json')).stdout)).toEqual([
      { name: 'demo' },
    ])
    const tagged = JSON.parse(
      (await larder('-c', repo, 'list', 'feature-views', '--json', '--tags', 'team:nobody')).stdout,
    )
    expect(tagged).toEqual([])
  })

  it('plans no change after apply, and describes objects as Feast stores them', async () => {
    const plan = await larder('-c', repo, 'plan')
    expect(plan.stdout).toContain('no changes')
    const described = JSON.parse(
      (await larder('-c', repo, 'describe', 'feature-view', 'driver_hourly_stats', '--json')).stdout,
    )
    expect(described.spec.name).toBe('driver_hourly_stats')
    expect(described.spec.ttl).toBe('86400s')
    const odfv = JSON.parse(
      (await larder('-c', repo, 'describe', 'on-demand-feature-view', 'transformed_conv_rate', '--json'))
        .stdout,
    )
    expect(odfv.spec.featureTransformation.userDefinedFunction.bodyText).toContain('conv_rate_plus_val1')
    const missing = await larder('-c', repo, 'describe', 'feature-view', 'nope')
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('driver_hourly_stats')
  })

  it('dumps the registry, also from a file path', async () => {
    const dump = JSON.parse(
      (await larder('registry-dump', '--registry', join(repo, 'data/registry.db'))).stdout,
    )
    expect(dump.registrySchemaVersion).toBe('1')
    expect(dump.featureViews).toHaveLength(2)
  })

  it('shows a typed diff after an edit and deletes what the repo dropped', async () => {
    const edited = join(tempDir(), 'edited')
    await larder('init', edited)
    await larder('-c', edited, 'apply')
    const features = join(edited, 'features.ts')
    const text = readFileSync(features, 'utf8')
    writeFileSync(
      features,
      text
        .replace(
          "ttl: '1d',\n  schema: [\n    new Field({ name: 'conv_rate', dtype: Float32, description",
          "ttl: '2d',\n  schema: [\n    new Field({ name: 'conv_rate', dtype: Float32, description",
        )
        .replace(/export const driverActivityV2[\s\S]*$/, ''),
    )
    const plan = JSON.parse((await larder('-c', edited, 'plan', '--json')).stdout)
    const changed = plan.changes.filter((c: { action: string }) => c.action !== 'unchanged')
    expect(changed).toEqual([
      { kind: 'feature view', name: 'driver_hourly_stats', action: 'update', changedFields: ['ttl'] },
      { kind: 'feature service', name: 'driver_activity_v2', action: 'delete', changedFields: [] },
    ])
    expect((await larder('-c', edited, 'apply')).code).toBe(0)
    const services = JSON.parse((await larder('-c', edited, 'list', 'feature-services', '--json')).stdout)
    expect(services.map((s: { name: string }) => s.name)).toEqual([
      'driver_activity_v1',
      'driver_activity_v3',
    ])
  })

  it('plans a change of transformation code, and refuses to serve code that was not applied', async () => {
    const edited = await appliedRepo()
    const features = join(edited, 'features.ts')
    writeFileSync(
      features,
      readFileSync(features, 'utf8').replace(
        '(conv_rate as number) + (val_to_add as number)',
        '(conv_rate as number) + 2 * (val_to_add as number)',
      ),
    )
    const plan = JSON.parse((await larder('-c', edited, 'plan', '--json')).stdout)
    const changed = plan.changes.filter((c: { action: string }) => c.action !== 'unchanged')
    expect(changed).toEqual([
      {
        kind: 'on demand feature view',
        name: 'transformed_conv_rate',
        action: 'update',
        changedFields: [expect.stringMatching(/^transformation code [0-9a-f]{12} -> [0-9a-f]{12}$/)],
      },
    ])
    const drifted = await larder(
      '-c',
      edited,
      'get',
      'driver_id=1001,val_to_add=1,val_to_add_2=2',
      '--features',
      'transformed_conv_rate:conv_rate_plus_val1',
    )
    expect(drifted.code).not.toBe(0)
    expect(drifted.stderr).toContain(
      'the deployed transformation of on-demand feature view "transformed_conv_rate" differs from the registered one',
    )
    expect((await larder('-c', edited, 'apply')).code).toBe(0)
    const served = await larder(
      '-c',
      edited,
      'get',
      'driver_id=1001,val_to_add=1,val_to_add_2=2',
      '--features',
      'transformed_conv_rate:conv_rate_plus_val1',
    )
    expect(served.code).toBe(0)
  })

  it('tears the project down', async () => {
    const gone = await appliedRepo()
    expect((await larder('-c', gone, 'teardown')).code).toBe(0)
    expect((await larder('-c', gone, 'list', 'feature-views')).stdout).toContain('No feature views')
  })
})

describe('bad input changes nothing and says what to fix', () => {
  async function expectRejected(repo: string, edit: () => void, ...messages: string[]) {
    const registry = join(repo, 'data/registry.db')
    const before = readFileSync(registry)
    edit()
    const result = await larder('-c', repo, 'apply')
    expect(result.code).toBe(1)
    for (const m of messages) expect(result.stderr).toContain(m)
    expect(result.stderr).toMatch(/hint:/)
    expect(result.stderr).not.toMatch(/^\s+at /m)
    expect(readFileSync(registry).equals(before)).toBe(true)
  }

  it('an unknown type', async () => {
    const repo = await appliedRepo()
    const f = join(repo, 'features.ts')
    await expectRejected(
      repo,
      () =>
        writeFileSync(
          f,
          readFileSync(f, 'utf8').replace(
            'dtype: Float32, description',
            "dtype: 'float' as never, description",
          ),
        ),
      'features.ts',
      'Field "conv_rate"',
      'Float32',
    )
  })

  it('a feature view whose entity is not defined, named by its line', async () => {
    const repo = await appliedRepo()
    const f = join(repo, 'features.ts')
    const text = readFileSync(f, 'utf8')
    const line = text.slice(0, text.indexOf('entities: [driver],')).split('\n').length
    await expectRejected(
      repo,
      () => writeFileSync(f, text.replace('entities: [driver],', 'entities: [customer],')),
      `error: features.ts:${line}: customer is not defined`,
      `hint: fix the error at features.ts:${line}`,
    )
  })

  it('a definition file that does not parse, named by file:line:col', async () => {
    const repo = await appliedRepo()
    await expectRejected(
      repo,
      () =>
        writeFileSync(
          join(repo, 'more.ts'),
          "import { Entity } from 'larderjs'\n\nexport const rider = new Entity({ name: 'rider', joinKeys: ['rider_id'] }\nexport const x = 1\n",
        ),
      'error: more.ts:4:1: Unexpected token, expected ","',
      'hint: fix the syntax at more.ts:4:1',
    )
    const verbose = await larder('-c', repo, '--verbose', 'plan')
    expect(verbose.stderr).toMatch(/^\s+at /m)
  })

  it('a duplicate name across files', async () => {
    const repo = await appliedRepo()
    await expectRejected(
      repo,
      () =>
        writeFileSync(
          join(repo, 'more.ts'),
          "import { Entity } from 'larderjs'\nexport const other = new Entity({ name: 'driver', joinKeys: ['id'] })\n",
        ),
      'entity "driver" is defined twice',
      'features.ts',
      'more.ts',
    )
  })

  it('a typo in feature_store.yaml', async () => {
    const repo = await appliedRepo()
    const f = join(repo, 'feature_store.yaml')
    await expectRejected(
      repo,
      () => writeFileSync(f, readFileSync(f, 'utf8').replace('offline_store:', 'offline_stor:')),
      '"offline_stor"',
      'offline_store',
    )
  })

  it('a missing data file', async () => {
    const repo = await appliedRepo()
    const f = join(repo, 'features.ts')
    await expectRejected(
      repo,
      () =>
        writeFileSync(
          f,
          readFileSync(f, 'utf8').replace('data/driver_stats.parquet', 'data/missing.parquet'),
        ),
      'data/missing.parquet',
    )
  })

  it('a corrupt registry file, left untouched', async () => {
    const repo = await appliedRepo()
    const registry = join(repo, 'data/registry.db')
    writeFileSync(registry, 'garbage that is not a protobuf\n')
    const result = await larder('-c', repo, 'apply')
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('not a Feast registry')
    expect(readFileSync(registry, 'utf8')).toBe('garbage that is not a protobuf\n')
  })

  it('a repo without feature_store.yaml, an unknown command kind', async () => {
    const empty = tempDir()
    const result = await larder('-c', empty, 'plan')
    expect(result.stderr).toContain('no feature_store.yaml')
    expect(result.stderr).toContain('larder init')
    const kind = await larder('-c', empty, 'list', 'widgets')
    expect(kind.stderr).toContain('known kinds')
  })

  it('init into a non-empty directory', async () => {
    const repo = await appliedRepo()
    const result = await larder('init', repo)
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('not empty')
  })
})

describe('other commands', () => {
  it('prints the version and a JSON Schema for feature_store.yaml', async () => {
    expect((await larder('version')).stdout).toMatch(/^larder \d+\.\d+\.\d+/)
    const schema = JSON.parse((await larder('config-schema')).stdout)
    expect(schema.properties.project).toBeDefined()
    expect(JSON.stringify(schema.properties.online_store)).toContain('connection_string')
  })
  it('has --help on every command, each default said once, and --json where it prints data', async () => {
    const top = await larder('--help')
    const commands = [...top.stdout.matchAll(/^ {2}([a-z][a-z-]*) /gm)]
      .map((m) => m[1]!)
      .filter((c) => c !== 'help')
    expect(commands).toContain('get-historical-features')
    // commands that print no data (or always JSON) have no --json
    const withoutJson = [
      'init',
      'teardown',
      'get-historical-features',
      'jobs',
      'jobs logs',
      'permissions',
      'registry',
      'registry migrate',
      'registry-dump',
      'serve-registry',
      'config-schema',
      'codegen',
      'serve',
      'ui',
      'worker',
      'stream',
    ]
    const queue = ['', ...commands]
    for (const cmd of queue) {
      const r = await larder(...cmd.split(' ').filter(Boolean), '--help')
      expect(r.code, cmd).toBe(0)
      // a command group: its subcommands are checked too
      if (cmd && /^Commands:/m.test(r.stdout)) {
        const sub = r.stdout.slice(r.stdout.search(/^Commands:/m))
        for (const [, name] of sub.matchAll(/^ {2}([a-z][a-z-]*) /gm))
          if (name !== 'help') queue.push(`${cmd} ${name}`)
      }
      expect(r.stdout, cmd).toContain(`Usage: larder ${cmd}`)
      // one entry per option or argument, its wrapped lines joined
      const entries = r.stdout.split(/\n(?= {2}\S)/).map((e) => e.replace(/\s+/g, ' '))
      for (const entry of entries)
        expect(entry.match(/default/gi)?.length ?? 0, `${cmd}: ${entry}`).toBeLessThan(2)
      if (cmd && !withoutJson.includes(cmd)) expect(r.stdout, cmd).toMatch(/^ {2}--json /m)
    }
  })

  it('refuses impossible times in arguments, naming the value and the accepted forms', async () => {
    const cases: [string[], string][] = [
      [
        ['materialize', '2026-02-30', '2026-03-01'],
        'START "2026-02-30" is not a valid timestamp: February 2026 has 28 days, not 30',
      ],
      [
        ['materialize', '2024-02-29', '2025-02-29T00:00:00Z'],
        'END "2025-02-29T00:00:00Z" is not a valid timestamp: February 2025 has 28 days, not 29',
      ],
      [
        ['materialize-incremental', '2026-01-01T25:00:00'],
        'END "2026-01-01T25:00:00" is not a valid timestamp: hour 25 is not in 00-23',
      ],
      [
        ['materialize-incremental', '2026-13-01'],
        'END "2026-13-01" is not a valid timestamp: month 13 is not in 01-12',
      ],
      [
        [
          'get-historical-features',
          '--features',
          'v:f',
          '--start-date',
          '2026-01-01T10:60',
          '--end-date',
          '2026-01-02',
          '-o',
          'x.parquet',
        ],
        '--start-date "2026-01-01T10:60" is not a valid timestamp: minute 60 is not in 00-59',
      ],
      [
        [
          'get-historical-features',
          '--features',
          'v:f',
          '--start-date',
          '2026-01-01',
          '--end-date',
          'tomorrow',
          '-o',
          'x.parquet',
        ],
        '--end-date "tomorrow" is not a valid timestamp',
      ],
    ]
    const empty = tempDir()
    for (const [argv, message] of cases) {
      const r = await larder('-c', empty, ...argv)
      expect(r.code, argv.join(' ')).toBe(1)
      expect(r.stderr, argv.join(' ')).toContain(`error: ${message}`)
      expect(r.stderr, argv.join(' ')).toMatch(
        /hint: write an ISO-8601 time: 2026-11-22, .*2026-11-22T10:00:00\.123456.*\+02:00/,
      )
    }
  })
})
