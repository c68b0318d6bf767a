import { userInfo } from 'node:os'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../../config/index.js'
import { Int64, ValueType } from '../../core/index.js'
import { uniqueProject } from '../../testing/online-conformance.js'
import { describeWithService } from '../../testing/services.js'
import { describeTileStoreConformance } from '../../testing/tile-store-conformance.js'
import { createOnlineStore } from '../loader.js'
import type { OnlineStore, ViewRef } from '../online-store.js'
import { hasTiles, type TileStore, type TileViewRef } from '../tile-store.js'

const host = process.env.LARDER_TEST_PG_HOST ?? '127.0.0.1'
const port = Number(process.env.LARDER_TEST_PG_PORT ?? 5432)
const database = process.env.LARDER_TEST_PG_DATABASE ?? 'test'

/** The first of `postgres` and the OS user that can log in (trust auth), or why none can. */
async function findUser(): Promise<{ user?: string; unavailable?: string }> {
  const reasons: string[] = []
  for (const user of [process.env.LARDER_TEST_PG_USER ?? 'postgres', userInfo().username]) {
    const client = new pg.Client({ host, port, database, user, connectionTimeoutMillis: 2000 })
    try {
      await client.connect()
      return { user }
    } catch (e) {
      reasons.push(`${user}: ${(e as Error).message}`)
    } finally {
      await client.end().catch(() => {})
    }
  }
  return { unavailable: `no PostgreSQL login at ${host}:${port}/${database} (${reasons.join('; ')})` }
}

const { user, unavailable } = await findUser()
// each run has its own schema, created by the tile store on first use
const schema = `${uniqueProject('tiles')}_schema`

/** A store with its own pool on the test schema, as another process would open it. */
async function open(): Promise<OnlineStore & TileStore> {
  const store = await createOnlineStore(
    parseRepoConfig(
      `project: demo\nonline_store:\n  type: postgres\n  host: ${host}\n  port: ${port}\n  database: ${database}\n  user: ${user}\n  db_schema: ${schema}\n  conn_type: pool\n  max_conn: 4\n`,
      '/repo',
    ),
  )
  if (!hasTiles(store)) throw new Error('the postgres online store keeps no tiles')
  return store
}

describeWithService('postgres', unavailable, () => {
  const raw = new pg.Client({ host, port, database, user })
  beforeAll(() => raw.connect())
  afterAll(async () => {
    await raw.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await raw.end()
  })

  describeTileStoreConformance('postgres', async () => {
    const store = await open()
    return { store, close: () => store.close() }
  })

  describe('Postgres tiles: layout', () => {
    const project = uniqueProject('layout')
    const view: TileViewRef = {
      project,
      name: 'trips',
      joinKeys: [{ name: 'k', valueType: ValueType.INT64 }],
      hopMicros: 1_000_000,
      aggregations: [{ fn: 'sum', name: 'sum_fare', hops: 3, outputType: Int64 }],
      maxHops: 3,
    }
    const ref: ViewRef = { project, name: 'trips', joinKeys: view.joinKeys, features: [], storageTtl: 0 }
    const write = {
      id: 'm-1',
      entityKey: Uint8Array.of(1, 2),
      tile: 5_000_000_000,
      eventTs: 5_000_000_000_000_000,
      states: [{ kind: 'numbers', numbers: [1, 2.5] }] as const,
    }
    const columns = async (table: string) =>
      (
        await raw.query(
          'SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
          [schema, table],
        )
      ).rows.map((r) => `${r.column_name} ${r.data_type}`)

    it('creates the tables at once from two stores, keeps BIGINT tiles and JSON state texts, and tears them down', async () => {
      const [a, b] = [await open(), await open()]
      try {
        const stats = await Promise.all([a, b].map((s) => s.applyTiles(view, [write], write.eventTs)))
        expect(stats.map((s) => s.applied).sort()).toEqual([0, 1])
        expect(await columns(`${project}_trips__tiles`)).toEqual([
          'entity_key bytea',
          'tile bigint',
          'newest_ts bigint',
          'states text',
        ])
        expect(await columns(`${project}_trips__tile_marks`)).toEqual(['id text', 'marked_at bigint'])
        const { rows } = await raw.query(
          `SELECT entity_key, tile::text, newest_ts::text, states FROM "${schema}"."${project}_trips__tiles"`,
        )
        expect(rows).toEqual([
          {
            entity_key: Buffer.from([1, 2]),
            tile: '5000000000',
            newest_ts: String(write.eventTs),
            states: '["1,2.5"]',
          },
        ])
        await a.teardown({ keep: [ref], drop: [] })
        expect(await columns(`${project}_trips__tiles`)).toEqual([])
        expect(await columns(`${project}_trips__tile_marks`)).toEqual([])
        // the other store finds the tables gone and creates them again
        expect(await b.readTiles(view, [write.entityKey], 0)).toEqual([[]])
        expect(await b.applyTiles(view, [write], write.eventTs)).toMatchObject({ applied: 1 })
        await b.dropTiles(view)
      } finally {
        await a.close()
        await b.close()
      }
    })

    it('refuses a view whose tile table names PostgreSQL would cut', async () => {
      const store = await open()
      try {
        const long = { ...view, name: 'x'.repeat(60) }
        await expect(store.applyTiles(long, [write], write.eventTs)).rejects.toMatchObject({
          code: 'INVALID_DEFINITION',
          hint: expect.stringContaining('shorten'),
        })
        await store.teardown({ keep: [{ ...ref, name: 'x'.repeat(60) }], drop: [] })
      } finally {
        await store.close()
      }
    })
  })
})
