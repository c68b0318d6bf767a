// Appends to a PostgreSQL table: a value the column type refuses names its column, row and value and
// writes nothing; `beforeCommit` runs inside the transaction (the rows not yet visible to others), a
// throw there rolls the append back, and the caller's signal no longer cancels the commit once it ran.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { parseRepoConfig } from '../../config/index.js'
import {
  Entity,
  FeatureView,
  Field,
  Float64,
  Int32,
  Int64,
  isLarderError,
  LarderError,
  PostgreSQLSource,
  String as Str,
} from '../../core/index.js'
import { describeWithService } from '../../testing/services.js'
import { findPgUser, PG_DATABASE, PG_HOST, PG_PORT, testSchema } from '../__fixtures__/pg-server.js'
import { createOfflineStore } from '../loader.js'
import type { OfflineStore, Row } from '../offline-store.js'

const { user, unavailable } = await findPgUser()
const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })

describeWithService('appending to a PostgreSQL table', unavailable, () => {
  let db: Awaited<ReturnType<typeof testSchema>>
  let store: OfflineStore
  const view = new FeatureView({
    name: 'rides',
    entities: [driver],
    source: new PostgreSQLSource({ name: 'rides', table: 'rides', timestampField: 'ts' }),
    schema: [
      new Field({ name: 'seats', dtype: Int32 }),
      new Field({ name: 'code', dtype: Str }),
      new Field({ name: 'fare', dtype: Float64 }),
    ],
  })
  const rows = (values: Record<string, unknown>[]): Row[] =>
    values.map((v, i) => ({
      driver_id: 10 + i,
      ts: '2026-01-02T00:00:00Z',
      seats: 1,
      code: 'a',
      fare: 1,
      ...v,
    }))
  const count = async () => Number((await db.client.query('SELECT count(*) AS n FROM rides')).rows[0].n)

  beforeAll(async () => {
    db = await testSchema(user!, 'larder_pg_append')
    await db.client.query(
      'CREATE TABLE rides (driver_id bigint, ts timestamptz, seats smallint, code varchar(3), fare double precision)',
    )
    store = await createOfflineStore(
      parseRepoConfig(
        [
          'project: p',
          'registry: data/registry.db',
          'offline_store:',
          '  type: postgres',
          `  host: ${PG_HOST}`,
          `  port: ${PG_PORT}`,
          `  database: ${PG_DATABASE}`,
          `  db_schema: ${db.schema}`,
          `  user: ${user}`,
          '',
        ].join('\n'),
        '.',
      ),
    )
  })

  afterAll(async () => {
    await store?.close()
    await db?.drop()
  })

  it('names the column, row and value the table refuses, and appends nothing', async () => {
    for (const [bad, column, value] of [
      [{ seats: 40_000 }, 'seats', '40000'],
      [{ code: 'toolong' }, 'code', 'toolong'],
    ] as const) {
      const error = await store.writeRows(view, rows([{}, {}, bad])).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isLarderError(error), String(error)).toBe(true)
      expect(error).toMatchObject({
        code: 'INVALID_ARGUMENT',
        details: { view: 'rides', column, row: 2, value },
      })
      expect((error as Error).message).toContain(`column "${column}", row 2`)
      expect((error as LarderError).hint).toMatch(/nothing was written/)
      expect(await count()).toBe(0)
    }
  })

  it('runs beforeCommit inside the transaction; a throw there appends nothing', async () => {
    let seen: number | undefined
    await store.writeRows(view, rows([{}, {}]), {
      beforeCommit: async () => {
        seen = await count()
      },
    })
    expect(seen).toBe(0)
    expect(await count()).toBe(2)
    await expect(
      store.writeRows(view, rows([{}]), {
        beforeCommit: async () => {
          throw new LarderError('BACKEND_UNAVAILABLE', 'the online store is down')
        },
      }),
    ).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' })
    expect(await count()).toBe(2)
  })

  it('commits once beforeCommit ran, even if the caller aborts meanwhile', async () => {
    const controller = new AbortController()
    await store.writeRows(view, rows([{}]), {
      signal: controller.signal,
      beforeCommit: async () => {
        controller.abort(new Error('client went away'))
        await new Promise((r) => setTimeout(r, 20))
      },
    })
    expect(await count()).toBe(3)
    // aborted before the staging ends: nothing
    await expect(store.writeRows(view, rows([{}]), { signal: controller.signal })).rejects.toMatchObject({
      code: 'ABORTED',
    })
    expect(await count()).toBe(3)
  })
})
