import { createHash } from 'node:crypto'
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { initRepo } from '../cli/commands/init.js'
import { Entity, FeatureView, Field, FileSource, Int64 } from '../core/index.js'
import { FeatureStore } from '../feature-store.js'
import { readReceiptFile, receiptText, type TrainingSetReceipt } from './index.js'

// Training-set receipts over the `local` template: DuckDB over a Parquet file, entity rows in a CSV file.

const NOW = new Date('2026-11-20T12:30:00Z')
const FEATURES = ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:avg_daily_trips']

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')

let roots: string[] = []
afterEach(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true })
  roots = []
})

/** A fresh `local` repo, applied, and a store opened on it. */
async function demo(): Promise<{ repo: string; store: FeatureStore; entities: string }> {
  const root = mkdtempSync(join(tmpdir(), 'larder-receipt-'))
  roots.push(root)
  const repo = join(root, 'demo')
  await initRepo(repo, 'local', NOW)
  const store = await FeatureStore.open(repo)
  await store.apply()
  return { repo, store, entities: join(repo, 'data', 'entities.csv') }
}

/** Writes the training set with a receipt beside it; returns the receipt's path. */
async function written(store: FeatureStore, entities: string, out: string): Promise<string> {
  const job = await store.getHistoricalFeatures({ entities, features: FEATURES })
  const result = await job.toParquet(out, { receipt: true })
  expect(result.receiptPath).toBe(`${out}.receipt.json`)
  return result.receiptPath!
}

/** Reopens the repo after its files changed, so nothing is served from the first store's caches. */
async function reopened(repo: string, store: FeatureStore): Promise<FeatureStore> {
  await store.close()
  return FeatureStore.open(repo)
}

/** Rewrites the repo's features.ts with `edit` and applies it. */
async function reapply(repo: string, edit: (text: string) => string): Promise<void> {
  const file = join(repo, 'features.ts')
  const before = readFileSync(file, 'utf8')
  const after = edit(before)
  expect(after).not.toBe(before)
  writeFileSync(file, after)
  const store = await FeatureStore.open(repo)
  try {
    await store.apply()
  } finally {
    await store.close()
  }
}

describe('training-set receipts', () => {
  it('records the objects, source files, entity file, query and output, and reproduces identically', async () => {
    const { repo, store, entities } = await demo()
    const out = join(repo, 'training.parquet')
    const path = await written(store, entities, out)
    const receipt = JSON.parse(readFileSync(path, 'utf8')) as TrainingSetReceipt
    expect(receipt).toMatchObject({
      format: 'larder.training-set-receipt/1',
      project: 'demo',
      offlineStore: 'duckdb',
      query: {
        features: FEATURES,
        featureService: null,
        fullFeatureNames: false,
        asOfKnownTime: false,
        startDate: null,
        endDate: null,
        resolvedFeatures: FEATURES,
      },
      entities: { kind: 'file', path: 'data/entities.csv', sha256: sha256(entities), rows: 9, weak: false },
      sources: [
        {
          name: 'driver_hourly_stats_source',
          kind: 'files',
          location: 'data/driver_stats.parquet',
          files: [
            { path: 'data/driver_stats.parquet', sha256: sha256(join(repo, 'data', 'driver_stats.parquet')) },
          ],
          weak: false,
        },
      ],
      output: {
        kind: 'parquet',
        path: 'training.parquet',
        rows: 9,
        columns: [
          'driver_id',
          'event_timestamp',
          'label_driver_reported_satisfaction',
          'val_to_add',
          'val_to_add_2',
          'conv_rate',
          'avg_daily_trips',
        ],
        sha256: sha256(out),
      },
    })
    expect(receipt.objects.map((o) => `${o.kind}:${o.name}`)).toEqual([
      'feature view:driver_hourly_stats',
      'entity:driver',
      'data source:driver_hourly_stats_source',
    ])
    expect(receipt.objects[0]!.sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(receipt.objects[0]!.definition).toMatchObject({ name: 'driver_hourly_stats', ttl: '86400s' })

    const result = await store.reproduce(path)
    expect(result.status).toBe('identical')
    expect(result.changes).toEqual([])
    expect(result.output.actual).toEqual({ sha256: sha256(out), rows: 9 })
    // Applying the same definitions again and materializing (registry bookkeeping) change no hash.
    await store.apply()
    await store.materialize({ start: '2026-11-19T00:00:00Z', end: '2026-11-20T12:00:00Z' })
    const after = await store.reproduce(path)
    expect(after.rebuilt!.objects).toEqual(receipt.objects)
    expect(after.changes).toEqual([])
    // The same again from a fresh process's view: the Parquet writer is deterministic.
    const again = await reopened(repo, store)
    try {
      expect((await again.reproduce(readReceiptFile(path))).status).toBe('identical')
    } finally {
      await again.close()
    }
  })

  it('names a source file that changed, and tells inputs that changed without changing the rows', async () => {
    const { repo, store, entities } = await demo()
    const path = await written(store, entities, join(repo, 'training.parquet'))
    const view = (await store.getFeatureView('driver_hourly_stats')) as FeatureView
    const offline = await store.offline()
    // After every entity row: the source changes, the training set does not.
    await offline.writeRows(view, [
      {
        driver_id: 1001,
        event_timestamp: '2026-11-21T00:00:00Z',
        created: '2026-11-21T00:00:00Z',
        conv_rate: 0.5,
        acc_rate: 0.5,
        avg_daily_trips: 5,
      },
    ])
    const late = await store.reproduce(path)
    expect(late.status).toBe('identical')
    expect(late.changes).toEqual([
      expect.objectContaining({
        kind: 'source file',
        name: 'data/driver_stats.parquet',
        change: 'changed',
        message: expect.stringContaining(
          'source "driver_hourly_stats_source": file data/driver_stats.parquet changed',
        ),
      }),
    ])
    // Ten minutes before the entity rows of the last hour: their values change.
    const rows = readFileSync(entities, 'utf8').trim().split('\n').slice(1)
    const [driver, at] = rows[0]!.split(',') as [string, string]
    const before = new Date(new Date(at).getTime() - 10 * 60_000).toISOString()
    await offline.writeRows(view, [
      {
        driver_id: Number(driver),
        event_timestamp: before,
        created: before,
        conv_rate: 0.25,
        acc_rate: 0.25,
        avg_daily_trips: 999_999,
      },
    ])
    const changed = await store.reproduce(path)
    expect(changed.status).toBe('changed')
    expect(changed.output.actual!.rows).toBe(9)
    expect(changed.output.actual!.sha256).not.toBe(changed.output.expected.sha256)
    expect(changed.changes.map((c) => [c.kind, c.name, c.change])).toEqual([
      ['source file', 'data/driver_stats.parquet', 'changed'],
    ])
    await store.close()
  })

  it('names a file added to a directory source, then the view and source removed', async () => {
    const { repo, store, entities } = await demo()
    // The view as the repo will define it, to write its first part file before apply describes it.
    const view = new FeatureView({
      name: 'driver_trips',
      entities: [new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })],
      schema: [new Field({ name: 'trips', dtype: Int64 })],
      source: new FileSource({ name: 'trips_source', path: 'data/trips', timestampField: 'event_timestamp' }),
    })
    mkdirSync(join(repo, 'data', 'trips'))
    const trip = (at: string, trips: number) => [{ driver_id: 1001, event_timestamp: at, trips }]
    await (await store.offline()).writeRows(view, trip('2026-11-19T00:00:00Z', 1))
    await store.close()
    await reapply(
      repo,
      (t) =>
        `${t}
export const tripsSource = new FileSource({ name: 'trips_source', path: 'data/trips', timestampField: 'event_timestamp' })
export const driverTrips = new FeatureView({
  name: 'driver_trips',
  entities: [driver],
  schema: [new Field({ name: 'trips', dtype: Int64 })],
  source: tripsSource,
})
`,
    )
    const store2 = await FeatureStore.open(repo)
    try {
      const offline = await store2.offline()
      const job = await store2.getHistoricalFeatures({ entities, features: ['driver_trips:trips'] })
      const { receipt, receiptPath } = await job.toParquet(join(repo, 'trips.parquet'), { receipt: true })
      expect(receipt!.sources).toEqual([
        {
          name: 'trips_source',
          kind: 'files',
          location: 'data/trips',
          files: [
            expect.objectContaining({ path: expect.stringMatching(/^data\/trips\/part-.*\.parquet$/) }),
          ],
          weak: false,
        },
      ])
      await offline.writeRows(view, trip('2026-11-19T01:00:00Z', 2))
      const result = await store2.reproduce(receiptPath!)
      expect(result.status).toBe('changed')
      const rebuilt = result.rebuilt!.sources[0]!
      expect(rebuilt.kind).toBe('files')
      const added = rebuilt.kind === 'files' ? rebuilt.files[1]!.path : ''
      expect(added).toMatch(/^data\/trips\/part-.*\.parquet$/)
      expect(result.changes).toEqual([
        expect.objectContaining({
          kind: 'source file',
          name: added,
          change: 'added',
          message: `source "trips_source": file ${added} was added`,
        }),
      ])
      // The view and its source removed from the repo: the set cannot be rebuilt, and says why.
      await reapply(repo, (t) => t.slice(0, t.indexOf('\nexport const tripsSource')))
      const gone = await store2.reproduce(receiptPath!)
      expect(gone.status).toBe('changed')
      expect(gone.output.actual).toBeNull()
      expect(gone.changes.map((c) => c.message)).toEqual([
        'feature view "driver_trips" is no longer in the registry',
        'data source "trips_source" is no longer in the registry',
        expect.stringMatching(/^the set cannot be rebuilt: .*driver_trips/),
      ])
    } finally {
      await store2.close()
    }
  })

  it('names a view whose definition changed, with the fields that differ', async () => {
    const { repo, store, entities } = await demo()
    const path = await written(store, entities, join(repo, 'training.parquet'))
    await store.close()
    // A description only: another definition, the same rows.
    await reapply(repo, (t) =>
      t.replace("description: 'Conversion rate'", "description: 'Share of rides accepted'"),
    )
    const store2 = await FeatureStore.open(repo)
    try {
      const described = await store2.reproduce(path)
      expect(described.status).toBe('identical')
      expect(described.changes).toEqual([
        expect.objectContaining({
          kind: 'definition',
          name: 'driver_hourly_stats',
          change: 'changed',
          fields: ['features ~conv_rate'],
          message: 'feature view "driver_hourly_stats": definition changed (features ~conv_rate)',
        }),
      ])
    } finally {
      await store2.close()
    }
    // A ttl shorter than the 45 minutes between the entity rows and their feature rows: nulls.
    await reapply(repo, (t) =>
      t.replace(
        "name: 'driver_hourly_stats',\n  entities: [driver],\n  ttl: '1d'",
        "name: 'driver_hourly_stats',\n  entities: [driver],\n  ttl: '30m'",
      ),
    )
    const store3 = await FeatureStore.open(repo)
    try {
      const result = await store3.reproduce(path)
      expect(result.status).toBe('changed')
      const change = result.changes.find((c) => c.kind === 'definition')
      expect(change?.fields).toEqual(['features ~conv_rate', 'ttl 86400s -> 1800s'])
      expect(change?.message).toContain('feature view "driver_hourly_stats": definition changed (')
      expect(result.changes.map((c) => c.kind)).toEqual(['definition'])
    } finally {
      await store3.close()
    }
  })

  it('names the entity file when its rows changed or it is gone', async () => {
    const { repo, store, entities } = await demo()
    const path = await written(store, entities, join(repo, 'training.parquet'))
    const lines = readFileSync(entities, 'utf8').trim().split('\n')
    appendFileSync(entities, `${lines[1]}\n`)
    const more = await store.reproduce(path)
    expect(more.status).toBe('changed')
    expect(more.output.actual!.rows).toBe(10)
    expect(more.changes).toEqual([
      expect.objectContaining({
        kind: 'entities',
        name: 'data/entities.csv',
        message: 'entity file data/entities.csv changed (9 -> 10 rows, +1)',
      }),
    ])
    rmSync(entities)
    const gone = await store.reproduce(path)
    expect(gone.status).toBe('changed')
    expect(gone.output.actual).toBeNull()
    expect(gone.changes.map((c) => [c.kind, c.change, c.message.split(':')[0]])).toEqual([
      ['entities', 'removed', 'entity file data/entities.csv was removed'],
      ['rebuild', 'changed', 'the set cannot be rebuilt'],
    ])
    await store.close()
  })

  it('calls a different output with identical inputs non-determinism', async () => {
    const { repo, store, entities } = await demo()
    const path = await written(store, entities, join(repo, 'training.parquet'))
    const receipt = readReceiptFile(path)
    const tampered = { ...receipt, output: { ...receipt.output, sha256: '0'.repeat(64) } }
    const result = await store.reproduce(tampered)
    expect(result.status).toBe('changed')
    expect(result.changes).toEqual([
      expect.objectContaining({
        kind: 'nondeterminism',
        message:
          'the output differs although every recorded input is identical: the retrieval is not deterministic',
      }),
    ])
    await store.close()
  })

  it('covers CSV output, a feature service with an on-demand view, and entity rows in memory', async () => {
    const { repo, store, entities } = await demo()
    const out = join(repo, 'training.csv')
    const job = await store.getHistoricalFeatures({ entities, featureService: 'driver_activity_v3' })
    const custom = join(repo, 'receipts', 'v3.json')
    await expect(job.toCsv(out, { receipt: custom })).rejects.toThrow(/receipt .*v3\.json cannot be written/)
    const { receipt, receiptPath } = await job.toCsv(out, { receipt: join(repo, 'v3.receipt.json') })
    expect(receiptPath).toBe(join(repo, 'v3.receipt.json'))
    expect(receipt!.output).toMatchObject({ kind: 'csv', path: 'training.csv', sha256: sha256(out) })
    expect(receipt!.query).toMatchObject({ features: null, featureService: 'driver_activity_v3' })
    expect(receipt!.objects.map((o) => `${o.kind}:${o.name}`)).toEqual([
      'feature service:driver_activity_v3',
      'feature view:driver_hourly_stats',
      'on demand feature view:transformed_conv_rate',
      'entity:driver',
      'data source:driver_hourly_stats_source',
      'data source:vals_to_add',
    ])
    expect((await store.reproduce(receiptPath!)).status).toBe('identical')
    // The on-demand view's rewritten batches go through a staging table: its Parquet is deterministic too.
    const v3 = await job.toParquet(join(repo, 'v3.parquet'), { receipt: true })
    expect((await store.reproduce(v3.receiptPath!)).status).toBe('identical')

    const rows = [
      { driver_id: 1001, event_timestamp: new Date('2026-11-20T10:15:00Z') },
      { driver_id: 1002, event_timestamp: new Date('2026-11-20T11:15:00Z') },
    ]
    const inMemory = await (
      await store.getHistoricalFeatures({ entities: rows, features: FEATURES })
    ).toParquet(join(repo, 'memory.parquet'), { receipt: true })
    expect(inMemory.receipt!.entities).toMatchObject({ kind: 'rows', rows: 2, weak: false })
    await expect(store.reproduce(inMemory.receiptPath!)).rejects.toThrow(
      "the receipt's 2 entity rows were given in memory (an array of rows); only their hash is recorded",
    )
    expect((await store.reproduce(inMemory.receiptPath!, { entities: rows })).status).toBe('identical')
    const other = await store.reproduce(inMemory.receiptPath!, { entities: rows.slice(0, 1) })
    expect(other.status).toBe('changed')
    expect(other.changes.map((c) => c.message)).toEqual([
      "the entity rows given differ from the receipt's (2 -> 1 row, -1)",
    ])
    await store.close()
  })

  it("keeps a saved dataset's receipt in the registry, out of its tags", async () => {
    const { repo, store, entities } = await demo()
    const job = await store.getHistoricalFeatures({ entities, features: FEATURES })
    const saved = await store.createSavedDataset(job, {
      name: 'training_v1',
      path: 'training.parquet',
      tags: { team: 'ml' },
      receipt: true,
    })
    expect(saved.receiptPath).toBe(join(repo, 'training.parquet.receipt.json'))
    const info = await store.getSavedDataset('training_v1', { allowCache: false })
    expect(info.tags).toEqual({ team: 'ml' })
    expect(JSON.parse(info.receiptJson!)).toEqual(saved.receipt)
    const proto = (await store.registry.load({ allowCache: false })).proto.savedDatasets[0]!
    expect(Object.keys(proto.spec!.tags).sort()).toEqual(['larder.dev/receipt', 'team'])
    expect((await store.reproduce({ savedDataset: 'training_v1' })).status).toBe('identical')
    const plain = await store.createSavedDataset(job, { name: 'training_v2', path: 'training2.parquet' })
    expect(plain.receipt).toBeUndefined()
    expect(existsSync(join(repo, 'training2.parquet.receipt.json'))).toBe(false)
    await expect(store.reproduce({ savedDataset: 'training_v2' })).rejects.toThrow(
      'saved dataset "training_v2" has no receipt',
    )
    await store.close()
  })

  it('refuses a receipt of another project or format, naming it', async () => {
    const { repo, store, entities } = await demo()
    const path = await written(store, entities, join(repo, 'training.parquet'))
    const receipt = readReceiptFile(path)
    await expect(store.reproduce({ ...receipt, project: 'other' })).rejects.toThrow(
      'the receipt is of project "other", this repo is project "demo"',
    )
    const broken = join(repo, 'broken.json')
    writeFileSync(
      broken,
      receiptText({ ...receipt, output: { ...receipt.output, rows: 'many' as unknown as number } }),
    )
    await expect(store.reproduce(broken)).rejects.toThrow(
      `receipt ${broken} is not a training-set receipt: output.rows`,
    )
    writeFileSync(broken, receiptText({ ...receipt, format: 'larder.training-set-receipt/9' as never }))
    await expect(store.reproduce(broken)).rejects.toThrow(
      'has receipt format "larder.training-set-receipt/9"',
    )
    await store.close()
  })
})
