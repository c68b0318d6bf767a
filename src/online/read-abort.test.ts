// An aborted read stops its work in the store: SQLite runs no further SELECT, Redis sends no further
// pipeline, and PostgreSQL cancels the statement in flight on the server (nothing left in
// pg_stat_activity while the lock it waits for is still held). An aborted write rolls back.
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../config/index.js'
import { encodeValue, Float64, Int64, LarderError, ValueType } from '../core/index.js'
import { testOnlineStores } from '../materialize/__fixtures__/online-stores.js'
import { uniqueProject } from '../testing/online-conformance.js'
import { describeWithService } from '../testing/services.js'
import { createOnlineStore } from './loader.js'
import { entityKeyEncoder, type OnlineStore, type OnlineWriteRow, type ViewRef } from './online-store.js'
import { optionsSchema, parseConnectionString } from './redis/redis-config.js'
import { connectRedis, type RedisConnection } from './redis/redis-connection.js'
import { RedisOnlineStore } from './redis/redis-online-store.js'
import type { SqliteDatabase } from './sqlite/sqlite-database.js'
import { SqliteOnlineStore } from './sqlite/sqlite-online-store.js'

const STORES = await testOnlineStores()
const storeConfig = (name: string) => STORES.find((s) => s.name === name)!

function view(prefix: string): ViewRef {
  return {
    project: uniqueProject(prefix),
    name: 'stats',
    joinKeys: [{ name: 'id', valueType: ValueType.INT64 }],
    features: [
      { name: 'rate', type: Float64 },
      { name: 'trips', type: Int64 },
    ],
    storageTtl: 0,
  }
}

function keys(ref: ViewRef, count: number): Uint8Array[] {
  const encode = entityKeyEncoder(ref, 3)
  return Array.from({ length: count }, (_, i) => encode([i]))
}

function rows(ref: ViewRef, count: number): OnlineWriteRow[] {
  return keys(ref, count).map((entityKey, i) => ({
    entityKey,
    values: [encodeValue(Float64, i / 2), encodeValue(Int64, i)],
    eventTs: 1_767_225_600_000_000,
  }))
}

/** The reason an abort gives, so the rejection can be told from any other. */
const stopped = () => new LarderError('ABORTED', 'stopped by the test')

describe('an aborted SQLite read runs no further SELECT', () => {
  const ref = view('abort_sqlite')
  let selects = 0
  let onSelect: (() => void) | undefined
  let store: SqliteOnlineStore

  beforeAll(async () => {
    const db = new Database(':memory:')
    // the real database, with each SELECT of several keys counted
    const counting: SqliteDatabase = {
      prepare(sql) {
        const statement = db.prepare(sql)
        if (!sql.startsWith('WITH k(place, key)')) return statement
        return new Proxy(statement, {
          get(target, property) {
            if (property === 'all') {
              return (...params: unknown[]) => {
                selects++
                onSelect?.()
                return target.all(...params)
              }
            }
            const value = Reflect.get(target, property)
            return typeof value === 'function' ? value.bind(target) : value
          },
        })
      },
      exec: (sql) => db.exec(sql),
      close: () => db.close(),
    }
    store = new SqliteOnlineStore(counting, ':memory:')
    await store.update({ keep: [ref], drop: [] })
    await store.write(ref, rows(ref, 20_000))
  })
  afterAll(async () => {
    await store?.close()
  })

  it('reads 20,000 keys in 40 SELECTs, and stops after the one during which the signal fired', async () => {
    const wanted = keys(ref, 20_000)
    selects = 0
    onSelect = undefined
    const [all] = await store.readMany([{ view: ref, keys: wanted, features: ['rate', 'trips'] }])
    expect(all!.filter((r) => r !== undefined)).toHaveLength(20_000)
    expect(selects).toBe(40)

    const abort = new AbortController()
    selects = 0
    onSelect = () => {
      if (selects === 2) abort.abort(stopped())
    }
    await expect(
      store.readMany([{ view: ref, keys: wanted, features: ['rate', 'trips'] }], { signal: abort.signal }),
    ).rejects.toThrow('stopped by the test')
    expect(selects).toBe(2)
  })
})

const redis = storeConfig('redis')
describeWithService('an aborted Redis read sends no further pipeline', redis.unavailable, () => {
  const ref = view('abort_redis')
  let sent = 0
  let store: OnlineStore
  let connection: RedisConnection

  beforeAll(async () => {
    const config = parseRepoConfig(
      `project: demo\nonline_store:\n  ${redis.config.replace(/\n/g, '\n  ')}\n`,
      '/repo',
    )
    const options = config.onlineStore!.options as { connection_string: string }
    const real = await connectRedis(parseConnectionString(options.connection_string), false)
    // the real connection, with the commands of each pipeline counted
    connection = {
      ...real,
      where: real.where,
      cluster: false,
      pipeline(commands, readonly) {
        sent += commands.length
        return real.pipeline(commands, readonly)
      },
    } as RedisConnection
    const parsed = optionsSchema.parse(config.onlineStore!.options)
    store = await RedisOnlineStore.open(connection, parsed, 3)
    await store.update({ keep: [ref], drop: [] })
    await store.write(ref, rows(ref, 25_000))
  })
  afterAll(async () => {
    await store?.teardown({ keep: [ref], drop: [] })
    await store?.close()
  })

  it('reads 25,000 keys in three pipelines, and sends only the first once the signal fired', async () => {
    const wanted = keys(ref, 25_000)
    sent = 0
    const [all] = await store.readMany([{ view: ref, keys: wanted, features: ['rate', 'trips'] }])
    expect(all!.filter((r) => r !== undefined)).toHaveLength(25_000)
    expect(sent).toBe(25_000)

    sent = 0
    const abort = new AbortController()
    // the read sends its first pipeline before it first waits; the signal fires right after
    const reading = store.readMany([{ view: ref, keys: wanted, features: ['rate', 'trips'] }], {
      signal: abort.signal,
    })
    abort.abort(stopped())
    await expect(reading).rejects.toThrow('stopped by the test')
    expect(sent).toBe(10_000)
  })
})

const postgres = storeConfig('postgres')
describeWithService('an aborted PostgreSQL call is cancelled on the server', postgres.unavailable, () => {
  const ref = view('abort_pg')
  const table = `"public"."${ref.project}_${ref.name}"`
  let store: OnlineStore
  let admin: pg.Client
  let login: pg.ClientConfig

  /** Backends of the store (application_name larder) running a statement on the view's table. */
  async function busy(): Promise<{ pid: number; wait: string | null }[]> {
    const { rows: found } = await admin.query<{ pid: number; wait: string | null }>(
      `SELECT pid, wait_event_type AS wait FROM pg_stat_activity
        WHERE application_name = 'larder' AND state = 'active' AND query LIKE $1`,
      [`%${ref.project}%`],
    )
    return found
  }

  /** Polls `probe` until it holds, up to `tries` times 20 ms apart; false if it never did. */
  async function eventually(probe: () => Promise<boolean>, tries = 500): Promise<boolean> {
    for (let i = 0; i < tries; i++) {
      if (await probe()) return true
      await new Promise((r) => setTimeout(r, 20))
    }
    return false
  }

  beforeAll(async () => {
    const config = parseRepoConfig(
      `project: demo\nonline_store:\n  ${postgres.config.replace(/\n/g, '\n  ')}\n`,
      '/repo',
    )
    store = await createOnlineStore(config)
    await store.update({ keep: [ref], drop: [] })
    await store.write(ref, rows(ref, 100))
    const o = config.onlineStore!.options as Record<string, unknown>
    login = { host: String(o.host), port: Number(o.port), database: String(o.database), user: String(o.user) }
    admin = new pg.Client(login)
    await admin.connect()
  })
  afterAll(async () => {
    await admin?.end()
    await store?.teardown({ keep: [ref], drop: [] })
    await store?.close()
  })

  /** Runs `work` while another session holds an ACCESS EXCLUSIVE lock on the view's table. */
  async function whileLocked(work: (locker: pg.Client) => Promise<void>): Promise<void> {
    const locker = new pg.Client(login)
    await locker.connect()
    try {
      await locker.query('BEGIN')
      await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`)
      await work(locker)
    } finally {
      await locker.query('ROLLBACK').catch(() => {})
      await locker.end()
    }
  }

  it('cancels a read waiting on a lock: no statement is left once the signal fired', async () => {
    await whileLocked(async () => {
      const abort = new AbortController()
      const reading = store.readMany([{ view: ref, keys: keys(ref, 10), features: ['rate'] }], {
        signal: abort.signal,
      })
      reading.catch(() => {})
      expect(await eventually(async () => (await busy()).some((b) => b.wait === 'Lock'))).toBe(true)
      abort.abort(stopped())
      await expect(reading).rejects.toThrow('stopped by the test')
      // the lock is still held: only a cancel can have ended the SELECT
      expect(await eventually(async () => (await busy()).length === 0)).toBe(true)
    })
    const [after] = await store.readMany([{ view: ref, keys: keys(ref, 10), features: ['rate'] }])
    expect(after!.every((r) => r !== undefined)).toBe(true)
  })

  it('cancels and rolls back a write waiting on a lock', async () => {
    const fresh = rows(ref, 200).slice(100)
    await whileLocked(async () => {
      const abort = new AbortController()
      const writing = store.write(ref, fresh, { signal: abort.signal })
      writing.catch(() => {})
      expect(await eventually(async () => (await busy()).some((b) => b.wait === 'Lock'))).toBe(true)
      abort.abort(stopped())
      await expect(writing).rejects.toThrow('stopped by the test')
      expect(await eventually(async () => (await busy()).length === 0)).toBe(true)
    })
    const [after] = await store.readMany([
      { view: ref, keys: fresh.map((r) => r.entityKey), features: ['rate'] },
    ])
    expect(after!.every((r) => r === undefined)).toBe(true)
  })
})
