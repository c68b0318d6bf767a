import { userInfo } from 'node:os'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../../config/index.js'
import { encodeValue, Float32, Int64, serializeEntityKey, toMicros, ValueType } from '../../core/index.js'
import { describeOnlineStoreConformance, uniqueProject } from '../../testing/online-conformance.js'
import { describeWithService, freePort } from '../../testing/services.js'
import { createOnlineStore } from '../loader.js'
import { encodeWriteRow, type OnlineStore, type ViewRef } from '../online-store.js'

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
const pgConfig = (extra = '') =>
  parseRepoConfig(
    `project: demo\nonline_store:\n  type: postgres\n  host: ${host}\n  port: ${port}\n  database: ${database}\n  user: ${user}\n${extra}`,
    '/repo',
  )

describeWithService('postgres', unavailable, () => {
  describeOnlineStoreConformance('postgres', () =>
    createOnlineStore(pgConfig('  conn_type: pool\n  max_conn: 4\n')),
  )

  describe('Postgres online store: Feast layout', () => {
    const project = uniqueProject('layout')
    const schema = `${project}_schema`
    const view: ViewRef = {
      project,
      name: 'driver_hourly_stats',
      joinKeys: [{ name: 'driver_id', valueType: ValueType.INT64 }],
      features: [
        { name: 'conv_rate', type: Float32 },
        { name: 'trips', type: Int64 },
      ],
      storageTtl: 0,
    }
    const table = `${project}_driver_hourly_stats`
    const key = serializeEntityKey([{ joinKey: 'driver_id', valueType: ValueType.INT64, value: 1001 }])
    const raw = new pg.Client({ host, port, database, user })
    let store: OnlineStore

    beforeAll(async () => {
      await raw.connect()
      store = await createOnlineStore(pgConfig(`  db_schema: ${schema}\n`))
      await store.update({ keep: [view], drop: [] })
    })
    afterAll(async () => {
      await store?.teardown({ keep: [view], drop: [] })
      await store?.close()
      await raw.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await raw.end()
    })

    it("creates Feast's table and index in db_schema", async () => {
      const { rows } = await raw.query(
        'SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
        [schema, table],
      )
      expect(rows.map((r) => `${r.column_name} ${r.data_type}`)).toEqual([
        'entity_key bytea',
        'feature_name text',
        'value bytea',
        'value_text text',
        'vector_value bytea',
        'event_ts timestamp with time zone',
        'created_ts timestamp with time zone',
      ])
      const indexes = await raw.query(
        'SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2',
        [schema, table],
      )
      expect(indexes.rows.map((r) => r.indexname).sort()).toEqual([`${table}_ek`, `${table}_pkey`])
    })

    it('stores values, text and microsecond timestamps as Feast does', async () => {
      const eventTs = toMicros('2022-01-01T00:00:00.123456Z')
      await store.write(view, [
        encodeWriteRow(view, { entityKey: key, values: { conv_rate: 0.5, trips: 7 }, eventTs }),
      ])
      const { rows } = await raw.query(
        `SELECT encode(entity_key, 'hex') AS k, feature_name AS f, encode(value, 'hex') AS v, value_text AS t, ` +
          `to_char(event_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS e FROM "${schema}"."${table}" ORDER BY feature_name`,
      )
      expect(rows).toEqual([
        {
          k: Buffer.from(key).toString('hex'),
          f: 'conv_rate',
          v: '350000003f',
          t: null,
          e: '2022-01-01 00:00:00.123456',
        },
        {
          k: Buffer.from(key).toString('hex'),
          f: 'trips',
          v: '2007',
          t: '7',
          e: '2022-01-01 00:00:00.123456',
        },
      ])
      expect((await store.read(view, [key], ['trips']))[0]?.eventTs).toBe(eventTs)
    })

    it('reads rows written the way Feast writes them (naive UTC timestamps)', async () => {
      const other = serializeEntityKey([{ joinKey: 'driver_id', valueType: ValueType.INT64, value: 1002 }])
      await raw.query(
        `INSERT INTO "${schema}"."${table}" (entity_key, feature_name, value, event_ts, created_ts) VALUES ($1, 'trips', $2, '2022-01-02 03:04:05.5', NULL)`,
        [Buffer.from(other), Buffer.from(encodeValue(Int64, 42))],
      )
      const [row] = await store.read(view, [other], ['trips', 'conv_rate'])
      expect(row?.eventTs).toBe(toMicros('2022-01-02T03:04:05.5Z'))
      expect(row?.values.map((v) => v && Buffer.from(v).toString('hex'))).toEqual(['202a', undefined])
    })
  })
})

describe('Postgres online store: bad configuration', () => {
  it('fails fast, naming host and port, when PostgreSQL is down', async () => {
    const closed = await freePort()
    const started = Date.now()
    const error = await createOnlineStore(
      parseRepoConfig(
        `project: demo\nonline_store:\n  type: postgres\n  host: 127.0.0.1\n  port: ${closed}\n  database: test\n  user: postgres\n`,
        '/repo',
      ),
    ).catch((e: unknown) => e)
    expect(Date.now() - started).toBeLessThan(5000)
    expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE' })
    expect((error as Error).message).toBe(
      `cannot connect to PostgreSQL at 127.0.0.1:${closed} (database "test", user "postgres"): connect ECONNREFUSED 127.0.0.1:${closed}`,
    )
  })

  it('lists the known keys for an unknown one', async () => {
    const error = await createOnlineStore(
      parseRepoConfig(
        'project: demo\nonline_store:\n  type: postgres\n  host: h\n  database: d\n  user: u\n  schema: x\n',
        '/repo',
      ),
    ).catch((e: unknown) => e)
    expect(error).toMatchObject({
      code: 'INVALID_CONFIG',
      message: 'feature_store.yaml: unknown key "schema" in online_store (type postgres)',
      hint:
        'known keys: conn_type, database, db_schema, host, keepalives_idle, max_conn, min_conn, password, port, ' +
        'sslcert_path, sslkey_path, sslmode, sslrootcert_path, type, user',
    })
  })
})
