import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { FeatureStore } from '../feature-store.js'
import { PG_PARITY_TABLE } from '../offline/__fixtures__/pg-parity-features.js'
import { findPgUser, PG_DATABASE, PG_HOST, PG_PORT, testSchema } from '../offline/__fixtures__/pg-server.js'
import { uniqueProject } from '../testing/online-conformance.js'
import { describeWithService } from '../testing/services.js'

// Receipts with PostgreSQL as the offline store: a source table fingerprinted by row count and newest
// event (weak), an entity query (its row count), and training sets written to a table (digested; as a
// saved dataset and through job.toTable) and to a file; a view re-applied with another ttl is named.
// The cases that change the registry or make tables put them back or drop them.

const PARITY_MODULE = fileURLToPath(new URL('../offline/__fixtures__/pg-parity-features.ts', import.meta.url))
const ENTITY_SQL =
  "SELECT * FROM (VALUES (1::bigint, TIMESTAMPTZ '2026-01-02T00:00:00Z'), (2::bigint, TIMESTAMPTZ '2026-01-02T00:00:00Z')) AS e(driver_id, event_timestamp)"

const { user, unavailable } = await findPgUser()
const PACKAGE_VERSION: string = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
).version

/** The repo's features.ts: the parity view over receipt_src with the given ttl, and its entity. */
function featuresText(ttlSeconds: number): string {
  return `import { pgParityStats } from ${JSON.stringify(PARITY_MODULE)}\nexport const view = pgParityStats(${ttlSeconds}, 'receipt_src')\nexport { driver } from ${JSON.stringify(PARITY_MODULE)}\n`
}

describeWithService('training-set receipts over the postgres offline store', unavailable, () => {
  let db: { client: pg.Client; schema: string; drop(): Promise<void> }
  let dir: string
  let store: FeatureStore
  beforeAll(async () => {
    db = await testSchema(user!, 'larder_receipts')
    await db.client.query(`CREATE TABLE receipt_src ${PG_PARITY_TABLE}`)
    await db.client.query(
      `INSERT INTO receipt_src (driver_id, event_timestamp, created, f_long) VALUES
        (1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 10), (2, '2026-01-01T00:00:00Z', NULL, 20)`,
    )
    dir = mkdtempSync(join(tmpdir(), 'larder-receipts-pg-'))
    mkdirSync(join(dir, 'data'))
    writeFileSync(
      join(dir, 'feature_store.yaml'),
      [
        `project: ${uniqueProject('rcpt')}`,
        'registry: data/registry.db',
        'provider: local',
        'online_store:',
        '  type: sqlite',
        '  path: data/online.db',
        'offline_store:',
        '  type: postgres',
        `  host: ${PG_HOST}`,
        `  port: ${PG_PORT}`,
        `  database: ${PG_DATABASE}`,
        `  db_schema: ${db.schema}`,
        `  user: ${user}`,
        'entity_key_serialization_version: 3',
        '',
      ].join('\n'),
    )
    writeFileSync(join(dir, 'features.ts'), featuresText(0))
    store = await FeatureStore.open(dir)
    await store.apply()
  }, 120_000)
  afterAll(async () => {
    try {
      await store?.teardown()
    } finally {
      await store?.close()
      if (dir) rmSync(dir, { recursive: true, force: true })
      await db?.drop()
    }
  })

  const tables = async () =>
    (
      await db.client.query<{ t: string }>(
        'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1',
        [db.schema],
      )
    ).rows.map((r) => r.t)

  it('digests a saved table, reproduces it identically in a scratch table it drops, and names a changed source', async () => {
    const job = await store.getHistoricalFeatures({
      entities: { sql: ENTITY_SQL },
      features: ['parity_stats:f_long'],
    })
    const saved = await store.createSavedDataset(job, {
      name: 'training',
      table: 'training_set',
      receipt: true,
    })
    expect(saved.receiptPath).toBeUndefined()
    const receipt = saved.receipt!
    expect(receipt.offlineStore).toBe('postgres')
    expect(receipt.output).toMatchObject({ kind: 'table', table: 'training_set', rows: 2 })
    expect(receipt.output.columns).toEqual(['driver_id', 'event_timestamp', 'f_long'])
    expect(receipt.entities).toMatchObject({ kind: 'sql', sql: ENTITY_SQL, rows: 2, weak: true })
    expect(receipt.sources).toEqual([
      {
        name: 'parity_source',
        kind: 'table',
        relation: 'receipt_src',
        rows: 2,
        maxTimestamp: '2026-01-01T00:00:00Z',
        weak: true,
      },
    ])
    const digest = await (await store.offline()).digestTable!('training_set')
    expect(digest.sha256).toBe(receipt.output.sha256)

    const same = await store.reproduce({ savedDataset: 'training' })
    expect(same.status).toBe('identical')
    expect(same.changes).toEqual([])
    expect(same.notes).toContain(
      'source parity_source: fingerprinted by row count and newest event only; an update in place does not show',
    )
    expect(await tables()).toEqual(['receipt_src', 'training_set'])

    await db.client.query(
      "INSERT INTO receipt_src (driver_id, event_timestamp, created, f_long) VALUES (1, '2026-01-01T12:00:00Z', '2026-01-01T12:00:00Z', 11)",
    )
    const changed = await store.reproduce({ savedDataset: 'training' })
    expect(changed.status).toBe('changed')
    expect(changed.changes.map((c) => c.message)).toEqual([
      'source "parity_source" (receipt_src): 2 -> 3 rows, newest event 2026-01-01T00:00:00Z -> 2026-01-01T12:00:00Z',
    ])
    expect(await tables()).toEqual(['receipt_src', 'training_set'])
  }, 120_000)

  it("digests a table by its rows' text in byte order, whatever the order they were inserted in", async () => {
    const rows = ["(1, 'b', 2.5)", "(2, 'a', NULL)", "(3, 'é', -1)"]
    for (const [table, values] of [
      ['digest_a', rows],
      ['digest_b', [...rows].reverse()],
      ['digest_c', [rows[0], rows[1], "(3, 'é', -2)"]],
    ] as const) {
      await db.client.query(`CREATE TABLE ${table} (id bigint, label text, score double precision)`)
      await db.client.query(`INSERT INTO ${table} VALUES ${values.join(', ')}`)
    }
    const offline = await store.offline()
    const [a, b, c] = [
      await offline.digestTable!('digest_a'),
      await offline.digestTable!('digest_b'),
      await offline.digestTable!('digest_c', { drop: true }),
    ]
    expect(a).toEqual({
      columns: ['id', 'label', 'score'],
      rows: 3,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    })
    expect(b).toEqual(a)
    expect(c.sha256).not.toBe(a.sha256)
    expect(await tables()).not.toContain('digest_c')
    await expect(offline.digestTable!('digest_missing')).rejects.toThrow(
      'table digest_missing cannot be digested',
    )
    await db.client.query('DROP TABLE digest_a, digest_b')
  }, 120_000)

  it('writes a file receipt, and calls an update in place that the weak fingerprint misses non-determinism', async () => {
    const out = join(dir, 'training.parquet')
    const job = await store.getHistoricalFeatures({
      entities: { sql: ENTITY_SQL },
      features: ['parity_stats:f_long'],
    })
    const { receiptPath } = await job.toParquet(out, { receipt: true })
    expect((await store.reproduce(receiptPath!)).status).toBe('identical')
    await db.client.query('UPDATE receipt_src SET f_long = 99 WHERE driver_id = 2')
    const result = await store.reproduce(receiptPath!)
    expect(result.status).toBe('changed')
    expect(result.changes.map((c) => [c.kind, c.message])).toEqual([
      [
        'nondeterminism',
        'the output differs although every recorded input is identical: the retrieval is not deterministic, or a weakly fingerprinted input (a table, an entity query) changed unseen',
      ],
    ])
  }, 120_000)

  it('writes a table through job.toTable with a receipt file, and names a view re-applied with another ttl', async () => {
    const receiptFile = join(dir, 'ttl_set.receipt.json')
    const job = await store.getHistoricalFeatures({
      entities: { sql: ENTITY_SQL },
      features: ['parity_stats:f_long'],
    })
    const written = await job.toTable!('ttl_set', { receipt: receiptFile })
    expect(written.receiptPath).toBe(receiptFile)
    const receipt = written.receipt!
    expect(receipt.larderVersion).toBe(PACKAGE_VERSION)
    expect(receipt.output).toMatchObject({ kind: 'table', table: 'ttl_set', rows: 2 })
    expect((await store.reproduce(receiptFile)).status).toBe('identical')
    try {
      writeFileSync(join(dir, 'features.ts'), featuresText(3600))
      await store.apply()
      const result = await store.reproduce(receiptFile)
      expect(result.status).toBe('changed')
      expect(result.changes.map((c) => [c.kind, c.name, c.message])).toEqual([
        ['definition', 'parity_stats', 'feature view "parity_stats": definition changed (ttl 0s -> 3600s)'],
      ])
    } finally {
      writeFileSync(join(dir, 'features.ts'), featuresText(0))
      await store.apply()
      await db.client.query('DROP TABLE ttl_set')
    }
    expect((await store.reproduce(receiptFile)).status).toBe('identical')
  }, 120_000)

  it('names the change in the row count of an entity query over a table', async () => {
    await db.client.query(`CREATE TABLE receipt_entities AS ${ENTITY_SQL}`)
    try {
      const job = await store.getHistoricalFeatures({
        entities: { sql: 'SELECT driver_id, event_timestamp FROM receipt_entities' },
        features: ['parity_stats:f_long'],
      })
      const { receipt } = await job.toTable!('entity_set', { receipt: true })
      expect(receipt!.entities).toMatchObject({ kind: 'sql', rows: 2, weak: true })
      await db.client.query("INSERT INTO receipt_entities VALUES (1, TIMESTAMPTZ '2026-01-03T00:00:00Z')")
      const result = await store.reproduce(receipt!)
      expect(result.status).toBe('changed')
      expect(result.changes.map((c) => [c.kind, c.message])).toEqual([
        ['entities', 'the entity query returns other rows (2 -> 3 rows, +1)'],
      ])
    } finally {
      await db.client.query('DROP TABLE IF EXISTS receipt_entities, entity_set')
    }
  }, 120_000)
})
