// An apply whose registry commit fails with CONFLICT drops the online tables it created for views new
// in it, and nothing else: two stores on one file registry and one SQLite online file, the second
// committing between the first one's infra step and its commit.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { FeatureStore } from './feature-store.js'
import { at, sampleData } from './materialize/__fixtures__/driver-data.js'
import {
  configText,
  createTestRepo,
  DRIVER_FEATURES,
  type TestRepo,
} from './materialize/__fixtures__/test-repo.js'

const CORE = fileURLToPath(new URL('./core/index.ts', import.meta.url))

/** The fixture's definitions plus new views and a feature service both writers define differently. */
function features(options: { newInA: boolean; contested: string }): string {
  const view = (name: string) =>
    `new FeatureView({ name: '${name}', entities: [driver], source: driverStatsSource, ` +
    "schema: [new Field({ name: 'driver_id', dtype: Int64 }), new Field({ name: 'trips', dtype: Int64 })] })"
  return [
    `export * from ${JSON.stringify(DRIVER_FEATURES)}`,
    `import { driver, driverStats, driverStatsSource } from ${JSON.stringify(DRIVER_FEATURES)}`,
    `import { FeatureService, FeatureView, Field, Int64 } from ${JSON.stringify(CORE)}`,
    `export const sharedNew = ${view('shared_new')}`,
    options.newInA ? `export const newInA = ${view('new_in_a')}` : '',
    `export const contested = new FeatureService({ name: 'contested', features: [driverStats.select(['${options.contested}'])] })`,
    '',
  ].join('\n')
}

function tables(path: string): string[] {
  const db = new Database(path, { readonly: true })
  try {
    return (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
        name: string
      }[]
    ).map((r) => r.name)
  } finally {
    db.close()
  }
}

describe('apply after a conflicting commit', () => {
  let repo: TestRepo | undefined
  const dirs: string[] = []
  afterEach(async () => {
    await repo?.close()
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })

  it('drops the tables it created for its new views, keeps the others, and reports CONFLICT', async () => {
    repo = await createTestRepo({ onlineStore: 'type: sqlite\npath: data/online.db', data: sampleData() })
    const { project } = repo
    await repo.store.materialize({ start: at(0), end: at(4), views: ['driver_stats'] })
    const onlinePath = join(repo.dir, 'data', 'online.db')
    const before = tables(onlinePath)
    expect(before).toContain(`${project}_driver_stats`)

    // B: another repo of the same project on the same registry and online file
    const other = mkdtempSync(join(tmpdir(), 'larder-apply-b-'))
    dirs.push(other)
    mkdirSync(join(other, 'data'))
    for (const file of readdirSync(join(repo.dir, 'data')).filter((f) => f.endsWith('.parquet'))) {
      copyFileSync(join(repo.dir, 'data', file), join(other, 'data', file))
    }
    writeFileSync(
      join(other, 'feature_store.yaml'),
      configText(project, `type: sqlite\npath: ${onlinePath}`).replace(
        'registry: data/registry.db',
        `registry: ${join(repo.dir, 'data', 'registry.db')}`,
      ),
    )
    writeFileSync(join(other, 'features.ts'), features({ newInA: false, contested: 'conv_rate' }))
    const b = await FeatureStore.open(other)

    writeFileSync(join(repo.dir, 'features.ts'), features({ newInA: true, contested: 'trips' }))
    const a = await repo.reopen()
    const plan = await a.plan()
    expect(plan.changes.filter((c) => c.action === 'create').map((c) => c.name)).toEqual(
      expect.arrayContaining(['new_in_a', 'shared_new', 'contested']),
    )
    // B commits right after A's infra step created A's tables
    const online = await a.online()
    const update = online.update.bind(online)
    let raced = false
    online.update = async (infra, opts) => {
      await update(infra, opts)
      if (!raced && infra.keep.length > 0) {
        raced = true
        expect(tables(onlinePath)).toEqual(
          expect.arrayContaining([`${project}_new_in_a`, `${project}_shared_new`]),
        )
        await b.apply()
      }
    }

    const error = await a.apply(plan).then(
      () => undefined,
      (e) => e,
    )
    expect(raced).toBe(true)
    expect(error?.code).toBe('CONFLICT')
    expect(error.message).toContain('changed since it was read')
    expect(error.message).toMatch(/"(shared_new|contested)" in project/)
    expect(error.hint).toContain('run the command again')

    const after = tables(onlinePath)
    expect(after).not.toContain(`${project}_new_in_a`)
    // created by A too, but B committed the view: its table stays
    expect(after).toContain(`${project}_shared_new`)
    // views that existed before keep their tables and rows
    for (const table of before) expect(after).toContain(table)
    const read = await b.getOnlineFeatures(
      { entities: { driver_id: [1001] }, features: ['driver_stats:trips'] },
      { now: at(4) },
    )
    expect(read.results[1]!.statuses).toEqual(['PRESENT'])
    await b.close()

    // re-running apply (the fix the error gives) against the current registry creates the table again
    await a.apply(await a.plan())
    expect(tables(onlinePath)).toContain(`${project}_new_in_a`)
  })
})
