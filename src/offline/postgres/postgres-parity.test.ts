import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import type pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { formatMicros, toMicros } from '../../core/index.js'
import { FeatureStore } from '../../feature-store.js'
import { testOnlineStores } from '../../materialize/__fixtures__/online-stores.js'
import { parityStats } from '../../materialize/__fixtures__/parity-features.js'
import {
  DRIVERS,
  featureRow,
  offlineValue,
  SECOND,
  scenario,
  sourceRow,
  T0,
} from '../../materialize/__fixtures__/parity-scenario.js'
import { createTestRepo } from '../../materialize/__fixtures__/test-repo.js'
import { uniqueProject } from '../../testing/online-conformance.js'
import { describeWithService } from '../../testing/services.js'
import { PG_PARITY_FEATURES, PG_PARITY_TABLE, pgParityStats } from '../__fixtures__/pg-parity-features.js'
import { findPgUser, PG_DATABASE, PG_HOST, PG_PORT, testSchema } from '../__fixtures__/pg-server.js'
import { PostgresOfflineStore } from './postgres-offline-store.js'

// Offline/online parity with PostgreSQL as the offline store: rows are appended to a PostgreSQL table
// through the store's writeRows, materialized into each online store, and every online value must be
// the point-in-time value at the window's end. PARITY_RUNS sets the number of cases (default 6).

const PARITY_MODULE = fileURLToPath(new URL('../__fixtures__/pg-parity-features.ts', import.meta.url))
const RUNS = Number(process.env.PARITY_RUNS ?? 6)
const { user, unavailable } = await findPgUser()

/** A repo whose offline store is PostgreSQL (`schema` as db_schema), opened; the caller applies it. */
async function pgRepo(
  onlineStore: string,
  schema: string,
  features: string,
): Promise<{ dir: string; store: FeatureStore }> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-pg-parity-'))
  mkdirSync(join(dir, 'data'))
  const indent = (block: string) =>
    block
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => `  ${l}`)
      .join('\n')
  writeFileSync(
    join(dir, 'feature_store.yaml'),
    [
      `project: ${uniqueProject('pgp')}`,
      'registry: data/registry.db',
      'provider: local',
      'online_store:',
      indent(onlineStore),
      'offline_store:',
      indent(
        `type: postgres\nhost: ${PG_HOST}\nport: ${PG_PORT}\ndatabase: ${PG_DATABASE}\ndb_schema: ${schema}\nuser: ${user}`,
      ),
      'entity_key_serialization_version: 3',
      '',
    ].join('\n'),
  )
  writeFileSync(join(dir, 'features.ts'), features)
  return { dir, store: await FeatureStore.open(dir) }
}

/** Runs `body` on a repo from {@link pgRepo}, then tears its project down and removes it. */
async function withPgRepo(
  onlineStore: string,
  schema: string,
  features: string,
  body: (store: FeatureStore, dir: string) => Promise<void>,
): Promise<void> {
  const { dir, store } = await pgRepo(onlineStore, schema, features)
  try {
    await body(store, dir)
  } finally {
    try {
      await store.teardown()
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

for (const online of (await testOnlineStores()).filter((s) => s.name !== 'memory')) {
  describeWithService(
    `parity of ${online.name} with the postgres offline store`,
    unavailable ?? online.unavailable,
    () => {
      let db: { client: pg.Client; schema: string; drop(): Promise<void> }
      let tableNumber = 0
      beforeAll(async () => {
        db = await testSchema(user!, 'larder_parity')
      })
      afterAll(async () => {
        await db?.drop()
      })

      it('after materialize, every online value is the point-in-time value at the window end', async () => {
        await fc.assert(
          fc.asyncProperty(scenario, async ({ rows, ttl, endSecond }) => {
            const end = T0 + endSecond * SECOND
            const start = ttl > 0 ? end - ttl * SECOND : T0 - 3600 * SECOND
            const table = `parity_${tableNumber++}`
            await db.client.query(`CREATE TABLE ${table} ${PG_PARITY_TABLE}`)
            const view = pgParityStats(ttl, table)
            const writer = new PostgresOfflineStore({
              repoPath: '.',
              host: PG_HOST,
              port: PG_PORT,
              database: PG_DATABASE,
              db_schema: db.schema,
              user: user!,
              min_conn: 1,
              max_conn: 2,
              conn_type: 'pool',
              entity_select_mode: 'temp_table',
            })
            try {
              await writer.writeRows(view, rows.map(sourceRow))
            } finally {
              await writer.close()
            }
            await withPgRepo(
              online.config,
              db.schema,
              `import { pgParityStats } from ${JSON.stringify(PARITY_MODULE)}\nexport const view = pgParityStats(${ttl}, ${JSON.stringify(table)})\nexport { driver } from ${JSON.stringify(PARITY_MODULE)}\n`,
              async (store) => {
                await store.apply()
                await store.materialize({ start: formatMicros(start), end: formatMicros(end) })
                const drivers = Array.from({ length: DRIVERS + 1 }, (_, i) => i + 1)
                const refs = PG_PARITY_FEATURES.map(([f]) => `parity_stats:${f}`)
                const job = await store.getHistoricalFeatures({
                  entities: drivers.map((d) => ({ driver_id: d, event_timestamp: formatMicros(end) })),
                  features: refs,
                })
                const offline = new Map((await job.toRows()).map((r) => [Number(r.driver_id), r]))
                const served = await store.getOnlineFeatures(
                  { entities: { driver_id: drivers }, features: refs },
                  { now: formatMicros(end) },
                )
                drivers.forEach((d, i) => {
                  const expected = PG_PARITY_FEATURES.map(([f]) => offlineValue(f, offline.get(d)?.[f]))
                  const actual = PG_PARITY_FEATURES.map((_, f) => served.results[f + 1]!.values[i])
                  expect(actual, `driver ${d}`).toEqual(expected)
                })
              },
            )
          }),
          { numRuns: RUNS },
        )
      }, 300_000)
    },
  )
}

describeWithService('on-demand views over the postgres offline store', unavailable, () => {
  let db: { client: pg.Client; schema: string; drop(): Promise<void> }
  let tableNumber = 0
  beforeAll(async () => {
    db = await testSchema(user!, 'larder_odfv')
  })
  afterAll(async () => {
    await db?.drop()
  })

  // Rows fall within the view's ttl (3h) of the window end, so both sides see a current value; what is
  // compared is what the transformations make of it.
  const END_SECOND = 42 * 3600
  const TTL = 3 * 3600
  const recent = fc.uniqueArray(
    featureRow.map((r) => ({ ...r, second: END_SECOND - (r.second % TTL) })),
    { minLength: 1, maxLength: 40, selector: (r) => `${r.driver}:${r.second}:${r.createdLag}` },
  )
  const requests = fc.array(
    fc.record({
      driver: fc.integer({ min: 1, max: DRIVERS + 1 }),
      val: fc.integer({ min: -1000, max: 1000 }),
    }),
    { minLength: 1, maxLength: 8 },
  )

  it('gives the same outputs offline as online after materialization (row, batch, written)', async () => {
    await fc.assert(
      fc.asyncProperty(recent, requests, async (rows, asked) => {
        const end = formatMicros(T0 + END_SECOND * SECOND)
        const start = formatMicros(T0 + (END_SECOND - TTL) * SECOND)
        const table = `odfv_${tableNumber++}`
        await db.client.query(`CREATE TABLE ${table} ${PG_PARITY_TABLE}`)
        await withPgRepo(
          'type: sqlite\npath: data/online.db',
          db.schema,
          `import { pgOnDemand, pgParityStats } from ${JSON.stringify(PARITY_MODULE)}
export const view = pgParityStats(${TTL}, ${JSON.stringify(table)})
export const [rows, columns, written] = pgOnDemand(view)
export { driver } from ${JSON.stringify(PARITY_MODULE)}
`,
          async (store) => {
            await store.apply()
            await store.writeToOfflineStore({ featureViewName: 'parity_stats', df: rows.map(sourceRow) })
            await store.materialize({ start, end })
            const features = [
              'pg_rows:double_plus_val',
              'pg_rows:text_length',
              'pg_columns:double_plus_val',
              'pg_written:long_halved',
            ]
            const online = await store.getOnlineFeatures(
              {
                entities: { driver_id: asked.map((q) => q.driver), val_to_add: asked.map((q) => q.val) },
                features,
                fullFeatureNames: true,
              },
              { now: end },
            )
            const job = await store.getHistoricalFeatures({
              entities: asked.map((q) => ({ driver_id: q.driver, event_timestamp: end, val_to_add: q.val })),
              features,
              fullFeatureNames: true,
            })
            const names = online.metadata.featureNames.slice(1)
            const onlineRows = asked.map((_, i) =>
              Object.fromEntries(names.map((n, j) => [n, online.results[j + 1]!.values[i]])),
            )
            const offlineRows = (await job.toRows()).map((r) =>
              Object.fromEntries(names.map((n) => [n, r[n] ?? null])),
            )
            expect(offlineRows).toEqual(onlineRows)
          },
        )
      }),
      { numRuns: RUNS },
    )
  }, 300_000)
})

describeWithService('postgres offline store in a feature repo', unavailable, () => {
  let db: { client: pg.Client; schema: string; drop(): Promise<void> }
  beforeAll(async () => {
    db = await testSchema(user!, 'larder_repo')
    await db.client.query(`CREATE TABLE saved_src ${PG_PARITY_TABLE}`)
    await db.client.query(
      `INSERT INTO saved_src (driver_id, event_timestamp, created, f_long) VALUES
        (1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 10), (2, '2026-01-01T00:00:00Z', NULL, 20)`,
    )
  })
  afterAll(async () => {
    await db?.drop()
  })

  it("saves a training set to a table, registered as Feast's PostgreSQL saved-dataset storage", async () => {
    await withPgRepo(
      'type: sqlite\npath: data/online.db',
      db.schema,
      `import { pgParityStats } from ${JSON.stringify(PARITY_MODULE)}\nexport const view = pgParityStats(0, 'saved_src')\nexport { driver } from ${JSON.stringify(PARITY_MODULE)}\n`,
      async (store, dir) => {
        await store.apply()
        const job = await store.getHistoricalFeatures({
          entities: {
            sql:
              "SELECT driver_id, TIMESTAMPTZ '2026-01-02T00:00:00Z' + driver_id * INTERVAL '90 minutes 0.000007 seconds' " +
              'AS event_timestamp FROM saved_src',
          },
          features: ['parity_stats:f_long'],
        })
        const saved = await store.createSavedDataset(job, { name: 'training', table: 'training_set' })
        expect(saved.rows).toBe(2)
        expect(saved.table).toBe('training_set')
        // the event range PostgreSQL found over the uploaded entity rows, to the microsecond
        const sqlRange = {
          min: toMicros('2026-01-02T01:30:00.000007Z'),
          max: toMicros('2026-01-02T03:00:00.000014Z'),
        }
        expect(saved.eventRange).toEqual(sqlRange)
        const rows = await db.client.query('SELECT driver_id, f_long FROM training_set ORDER BY driver_id')
        expect(rows.rows.map((r) => [Number(r.driver_id), Number(r.f_long)])).toEqual([
          [1, 10],
          [2, 20],
        ])
        const proto = (await store.registry.load({ allowCache: false })).proto.savedDatasets[0]!
        expect(proto.meta!.minEventTimestamp).toMatchObject({
          seconds: BigInt(Math.floor(sqlRange.min / 1e6)),
          nanos: 7000,
        })
        expect(proto.meta!.maxEventTimestamp).toMatchObject({
          seconds: BigInt(Math.floor(sqlRange.max / 1e6)),
          nanos: 14000,
        })
        const kind = proto.spec!.storage!.kind
        expect(kind.case).toBe('customStorage')
        const configuration = (kind.value as { configuration: Uint8Array }).configuration
        expect(new TextDecoder().decode(configuration)).toBe(
          '{"name": "", "query": "", "table": "training_set"}',
        )
        const reopened = await FeatureStore.open(dir)
        try {
          expect((await reopened.getSavedDataset('training')).table).toBe('training_set')
          expect((await reopened.getSavedDataset('training')).eventRange).toEqual(sqlRange)
        } finally {
          await reopened.close()
        }
        const again = await store.createSavedDataset(job, { name: 'training2', table: 'training_set' }).then(
          () => undefined,
          (e: Error) => e,
        )
        expect(again?.message).toContain('writing the retrieval to table training_set failed')
        // JS rows go to PostgreSQL with COPY; the range of a file written from them
        const rowsJob = await store.getHistoricalFeatures({
          entities: [
            { driver_id: 2, event_timestamp: '2026-01-03T00:00:00.000001Z' },
            { driver_id: 1, event_timestamp: '2026-01-01T12:00:00+01:00' },
          ],
          features: ['parity_stats:f_long'],
        })
        const fromRows = await store.createSavedDataset(rowsJob, { name: 'from_rows', path: 'rows.parquet' })
        expect(fromRows.eventRange).toEqual({
          min: toMicros('2026-01-01T11:00:00Z'),
          max: toMicros('2026-01-03T00:00:00.000001Z'),
        })
        // entity-less range retrieval: the range's start and end
        const rangeJob = await store.getHistoricalFeatures({
          startDate: '2025-12-31T00:00:00Z',
          endDate: '2026-01-02T00:00:00Z',
          features: ['parity_stats:f_long'],
        })
        const fromRange = await store.createSavedDataset(rangeJob, { name: 'from_range', table: 'range_set' })
        expect(fromRange.eventRange).toEqual({
          min: toMicros('2025-12-31T00:00:00Z'),
          max: toMicros('2026-01-02T00:00:00Z'),
        })
      },
    )
  })
})

describeWithService('postgres offline store: offline writes from a repo', unavailable, () => {
  let db: { client: pg.Client; schema: string; drop(): Promise<void> }
  beforeAll(async () => {
    db = await testSchema(user!, 'larder_push')
    await db.client.query(
      'CREATE TABLE pushed (driver_id bigint, event_timestamp timestamptz, f_long bigint)',
    )
  })
  afterAll(async () => {
    await db?.drop()
  })

  it('push (online_and_offline, offline) and writeToOfflineStore append to the table; a bad cell writes nothing', async () => {
    const count = async () => Number((await db.client.query('SELECT count(*) AS n FROM pushed')).rows[0].n)
    await withPgRepo(
      'type: sqlite\npath: data/online.db',
      db.schema,
      `import { pgPushed } from ${JSON.stringify(PARITY_MODULE)}\nconst p = pgPushed('pushed')\nexport const pushed = p.pushSource\nexport const view = p.view\nexport { driver } from ${JSON.stringify(PARITY_MODULE)}\n`,
      async (store) => {
        await store.apply()
        const pushed = await store.push({
          pushSourceName: 'pushed',
          to: 'online_and_offline',
          df: {
            driver_id: [1, 2],
            event_timestamp: ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'],
            f_long: [10, 20],
          },
        })
        expect(pushed.views[0]!.offlineRows).toBe(2)
        await store.writeToOfflineStore({
          featureViewName: 'pushed_stats',
          df: [{ driver_id: 3, event_timestamp: '2026-01-01T01:00:00Z', f_long: 30 }],
        })
        expect(await count()).toBe(3)
        const offlineOnly = await store.push({
          pushSourceName: 'pushed',
          to: 'offline',
          df: { driver_id: [6], event_timestamp: ['2026-01-01T03:00:00Z'], f_long: [60] },
        })
        expect(offlineOnly.views[0]!.offlineRows).toBe(1)
        expect(await count()).toBe(4)
        const bad = await store
          .writeToOfflineStore({
            featureViewName: 'pushed_stats',
            df: {
              driver_id: [4, 5],
              event_timestamp: ['2026-01-01T02:00:00Z', '2026-01-01T02:00:00Z'],
              f_long: [40, 'x'],
            },
          })
          .then(
            () => undefined,
            (e: Error) => e,
          )
        expect(bad?.message).toContain('f_long')
        expect(await count()).toBe(4)
        const job = await store.getHistoricalFeatures({
          entities: [1, 2, 3, 6].map((d) => ({ driver_id: d, event_timestamp: '2026-01-02T00:00:00Z' })),
          features: ['pushed_stats:f_long'],
        })
        expect((await job.toRows()).map((r) => r.f_long)).toEqual([10, 20, 30, 60])
        const online = await store.getOnlineFeatures({
          entities: { driver_id: [1, 2, 6] },
          features: ['pushed_stats:f_long'],
        })
        expect(online.results[1]!.values).toEqual([10, 20, null])
      },
    )
  })
})

describeWithService('postgres and duckdb offline stores side by side', unavailable, () => {
  let db: { client: pg.Client; schema: string; drop(): Promise<void> }
  beforeAll(async () => {
    db = await testSchema(user!, 'larder_mixed')
    await db.client.query(`CREATE TABLE stats_a ${PG_PARITY_TABLE}`)
    await db.client.query(
      'CREATE TABLE pushed (driver_id bigint, event_timestamp timestamptz, f_long bigint)',
    )
    await db.client.query(
      `INSERT INTO stats_a (driver_id, event_timestamp, created, f_long) VALUES (1, '2026-01-01T00:00:00Z', NULL, 11);
       INSERT INTO pushed VALUES (1, '2026-01-01T00:00:00Z', 22)`,
    )
  })
  afterAll(async () => {
    await db?.drop()
  })

  it('serves a feature service over two PostgreSQL tables next to a project on Parquet files', async () => {
    const files = await createTestRepo({
      onlineStore: 'type: sqlite\npath: data/online.db',
      featuresFile: `import { parityStats } from ${JSON.stringify(fileURLToPath(new URL('../../materialize/__fixtures__/parity-features.ts', import.meta.url)))}\nexport const view = parityStats(0)\n`,
      data: new Map([
        [
          parityStats(0),
          [
            {
              driver_id: 1,
              event_timestamp: '2026-01-01T00:00:00Z',
              created: '2026-01-01T00:00:00Z',
              f_long: 33,
            },
          ],
        ],
      ]),
    })
    try {
      await withPgRepo(
        'type: sqlite\npath: data/online.db',
        db.schema,
        `import { FeatureService } from ${JSON.stringify(fileURLToPath(new URL('../../core/index.ts', import.meta.url)))}
import { pgParityStats, pgPushed } from ${JSON.stringify(PARITY_MODULE)}
export const stats = pgParityStats(0, 'stats_a')
const p = pgPushed('pushed')
export const pushed = p.pushSource
export const pushedStats = p.view
export const both = new FeatureService({ name: 'both', features: [stats.select(['f_long']), pushedStats.select(['f_long'])] })
export { driver } from ${JSON.stringify(PARITY_MODULE)}
`,
        async (store) => {
          await store.apply()
          const entities = [{ driver_id: 1, event_timestamp: '2026-01-02T00:00:00Z' }]
          const pgRows = await (
            await store.getHistoricalFeatures({ entities, featureService: 'both', fullFeatureNames: true })
          ).toRows()
          expect(pgRows).toEqual([
            {
              driver_id: 1,
              event_timestamp: '2026-01-02T00:00:00Z',
              parity_stats__f_long: 11,
              pushed_stats__f_long: 22,
            },
          ])
          const fileRows = await (
            await files.store.getHistoricalFeatures({ entities, features: ['parity_stats:f_long'] })
          ).toRows()
          expect(fileRows.map((r) => r.f_long)).toEqual([33])
          expect((await store.offline()).type).toBe('postgres')
          expect((await files.store.offline()).type).toBe('duckdb')
        },
      )
    } finally {
      await files.close()
    }
  })
})

describeWithService('postgres offline store: apply-time checks', unavailable, () => {
  let db: { client: pg.Client; schema: string; drop(): Promise<void> }
  beforeAll(async () => {
    db = await testSchema(user!, 'larder_apply')
    await db.client.query(
      'CREATE TABLE narrow (driver_id bigint, event_timestamp timestamptz, f_long bigint)',
    )
  })
  afterAll(async () => {
    await db?.drop()
  })

  const plan = async (table: string) => {
    const { dir, store } = await pgRepo(
      'type: sqlite\npath: data/online.db',
      db.schema,
      `import { pgParityStats } from ${JSON.stringify(PARITY_MODULE)}\nexport const view = pgParityStats(0, ${JSON.stringify(table)})\nexport { driver } from ${JSON.stringify(PARITY_MODULE)}\n`,
    )
    try {
      return await store.plan().then(
        () => undefined,
        (e: Error) => e,
      )
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }

  it('names a missing table and a declared column the table lacks at plan/apply, not at query time', async () => {
    expect((await plan('missing_table'))?.message).toContain(
      'PostgreSQLSource "parity_source" (table missing_table) cannot be read: relation "missing_table" does not exist',
    )
    expect((await plan('narrow'))?.message).toContain('has no column "created"')
  })
})
