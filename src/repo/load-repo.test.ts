// Loading a feature repo: definitions in any file of the repo, omitted schemas inferred from the
// source's columns at plan time, and paths listed in `.larderignore` never loaded.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initRepo } from '../cli/commands/init.js'
import { FeatureStore } from '../feature-store.js'

let root: string
let repo: string

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'larder-load-'))
  repo = join(root, 'demo')
  await initRepo(repo, 'local')
  writeFileSync(
    join(repo, 'inferred.ts'),
    `import { FeatureView } from 'larderjs'
import { driver, driverStatsSource } from './features.ts'

/** No schema: apply reads the features from the source's columns. */
export const inferredStats = new FeatureView({
  name: 'inferred_stats',
  entities: [driver],
  source: driverStatsSource,
})
`,
  )
  mkdirSync(join(repo, 'scratch'))
  // loading this file would fail the plan: ignoring it is what keeps the plan working
  writeFileSync(join(repo, 'scratch', 'broken.ts'), "throw new Error('scratch code must not be loaded')\n")
  writeFileSync(join(repo, 'notes.draft.ts'), "throw new Error('drafts must not be loaded')\n")
  writeFileSync(join(repo, '.larderignore'), '# work in progress\nscratch/\n*.draft.ts\n')
})

afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('loading a repo', () => {
  it('infers an omitted schema from the source, skips ignored paths, and plans no change after apply', async () => {
    const store = await FeatureStore.open(repo)
    try {
      const plan = await store.plan()
      const created = plan.changes.filter((c) => c.action === 'create').map((c) => `${c.kind}:${c.name}`)
      expect(created).toContain('feature view:inferred_stats')
      const inferred = plan.contents.featureViews.find((v) => v.name === 'inferred_stats')!
      // every source column but the join key and the two timestamps, typed from the Parquet file
      expect(inferred.features.map((f) => [f.name, f.dtype.name])).toEqual([
        ['conv_rate', 'Float32'],
        ['acc_rate', 'Float32'],
        ['avg_daily_trips', 'Int64'],
      ])
      await store.apply(plan)
      const again = await store.plan()
      expect(again.changes.filter((c) => c.action !== 'unchanged')).toEqual([])
      const registered = (await store.catalog({ allowCache: false })).featureViews.get('inferred_stats')!
      expect(registered.features.map((f) => f.name)).toEqual(['conv_rate', 'acc_rate', 'avg_daily_trips'])
    } finally {
      await store.close()
    }
  })
})
