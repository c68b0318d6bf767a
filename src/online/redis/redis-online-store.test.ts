import { createClient, RESP_TYPES } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../../config/index.js'
import {
  Bytes,
  encodeTimestamp,
  encodeValue,
  Float32,
  Int64,
  murmur3x86_32,
  redisFeatureField,
  String as Str,
  serializeEntityKey,
  toMicros,
  ValueType,
} from '../../core/index.js'
import { describeOnlineStoreConformance, uniqueProject } from '../../testing/online-conformance.js'
import {
  type RedisClusterHandle,
  redisClusterUnavailable,
  startRedisCluster,
} from '../../testing/redis-cluster.js'
import { describeWithService, freePort, redisUnavailable } from '../../testing/services.js'
import { createOnlineStore } from '../loader.js'
import { encodeWriteRow, type OnlineStore, type ViewRef } from '../online-store.js'
import { keySlot } from './redis-slots.js'

const [host, port] = (process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379').split(':') as [string, string]
const redisConfig = (options: string) =>
  parseRepoConfig(`project: demo\nonline_store:\n  type: redis\n${options.replace(/^/gm, '  ')}\n`, '/repo')

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** A seeded generator of integers in [0, n) (mulberry32), so a failing run can be replayed. */
function seeded(seed: number): (n: number) => number {
  let a = seed >>> 0
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)
  }
}

/**
 * Several stores (each its own connection, as separate processes would be) write interleaved batches
 * of the same keys, with older and newer times mixed within and across batches, all at once; the
 * stored row of each key must then be the one of its greatest time (the max-timestamp oracle). A
 * key's value is a function of its time, so rows tied on time write the same bytes and the oracle is
 * exact whichever of them lands last.
 */
function describeConcurrentWriters(name: string, open: () => Promise<OnlineStore>) {
  it(`${name}: concurrent writers never let an older row replace a newer one`, async () => {
    const writers = await Promise.all(Array.from({ length: 4 }, () => open()))
    const view: ViewRef = {
      project: uniqueProject('redis_race'),
      name: 'race',
      joinKeys: [{ name: 'id', valueType: ValueType.INT64 }],
      features: [
        { name: 'ts', type: Int64 },
        { name: 'tag', type: Int64 },
      ],
      storageTtl: 0,
    }
    const KEYS = 300
    const keys = Array.from({ length: KEYS }, (_, k) =>
      serializeEntityKey([{ joinKey: 'id', valueType: ValueType.INT64, value: k }]),
    )
    const random = seeded(17)
    const BASE = toMicros('2026-01-01T00:00:00Z')
    // times in a small range (many ties), some within one second (seconds equal, nanos differ)
    const timeOf = () => BASE + random(40) * 250_000 + random(3)
    const newest = new Array<number>(KEYS).fill(Number.NEGATIVE_INFINITY)
    const batches = writers.map(() =>
      Array.from({ length: 6 }, () =>
        Array.from({ length: 700 + random(600) }, () => {
          const k = random(KEYS)
          const eventTs = timeOf()
          if (eventTs > newest[k]!) newest[k] = eventTs
          return encodeWriteRow(view, {
            entityKey: keys[k]!,
            values: { ts: eventTs, tag: k * 1_000_003 + (eventTs % 1_000_003) },
            eventTs,
          })
        }),
      ),
    )
    try {
      const stats = await Promise.all(
        writers.flatMap((store, w) => batches[w]!.map((batch) => store.write(view, batch))),
      )
      const rows = batches.flat(2).length
      expect(stats.reduce((n, s) => n + s.written + s.skipped, 0)).toBe(rows)
      const stored = await writers[0]!.read(view, keys, ['ts', 'tag'])
      const got = stored.map((row) => row && [row.eventTs, ...row.values.map((v) => v && hex(v))])
      const want = newest.map((eventTs, k) => {
        if (eventTs === Number.NEGATIVE_INFINITY) return undefined
        const [ts, tag] = [
          encodeValue(Int64, eventTs),
          encodeValue(Int64, k * 1_000_003 + (eventTs % 1_000_003)),
        ]
        return [eventTs, hex(ts), hex(tag)]
      })
      expect(got).toEqual(want)
    } finally {
      await writers[0]!.teardown({ keep: [view], drop: [] })
      await Promise.all(writers.map((s) => s.close()))
    }
  })
}

describeWithService('redis', await redisUnavailable(host, Number(port)), () => {
  describeOnlineStoreConformance('redis', () =>
    createOnlineStore(redisConfig(`connection_string: ${host}:${port}`)),
  )
  describeOnlineStoreConformance('redis (skip_dedup)', () =>
    createOnlineStore(redisConfig(`connection_string: ${host}:${port}\nskip_dedup: true`)),
  )
  describeConcurrentWriters('redis', () =>
    createOnlineStore(redisConfig(`connection_string: ${host}:${port}`)),
  )

  describe('Redis online store: Feast layout', () => {
    const project = uniqueProject('redis_layout')
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
    const entityKey = serializeEntityKey([{ joinKey: 'driver_id', valueType: ValueType.INT64, value: 1001 }])
    const redisKey = Buffer.concat([entityKey, Buffer.from(project)])
    const raw = createClient({ socket: { host, port: Number(port) } }).withTypeMapping({
      [RESP_TYPES.BLOB_STRING]: Buffer,
    })
    let store: OnlineStore

    beforeAll(async () => {
      await raw.connect()
      store = await createOnlineStore(redisConfig(`connection_string: ${host}:${port}\nkey_ttl_seconds: 600`))
    })
    afterAll(async () => {
      await store?.teardown({ keep: [view], drop: [] })
      await store?.close()
      await raw.close()
    })

    it('writes the key, hash fields and values Feast writes', async () => {
      const eventTs = toMicros('2022-01-01T00:00:00Z')
      await store.write(view, [
        encodeWriteRow(view, { entityKey, values: { conv_rate: 0.5, trips: 7 }, eventTs }),
      ])
      const names = (await raw.sendCommand(['HKEYS', redisKey])) as Buffer[]
      const values = (await raw.sendCommand(['HMGET', redisKey, ...names])) as Buffer[]
      const fields = Object.fromEntries(names.map((k, i) => [hex(k), hex(values[i]!)]))
      expect(fields).toEqual({
        [hex(redisFeatureField('driver_hourly_stats', 'conv_rate'))]: '350000003f',
        [hex(redisFeatureField('driver_hourly_stats', 'trips'))]: '2007',
        [Buffer.from('_ts:driver_hourly_stats').toString('hex')]: '0880b3be8e06',
      })
      const ttl = await raw.pTTL(redisKey)
      expect(ttl).toBeGreaterThan(590_000)
      expect(ttl).toBeLessThanOrEqual(600_000)
    })

    it('reads a hash written the way Feast writes it', async () => {
      const key = serializeEntityKey([{ joinKey: 'driver_id', valueType: ValueType.INT64, value: 1002 }])
      const field = Buffer.alloc(4)
      field.writeUInt32LE(murmur3x86_32('driver_hourly_stats:trips'))
      await raw.hSet(Buffer.concat([key, Buffer.from(project)]), [
        [field, Buffer.from(encodeValue(Int64, 42))],
        ['_ts:driver_hourly_stats', Buffer.from(encodeTimestamp(toMicros('2022-01-02T03:04:05.678Z')))],
      ])
      const [row] = await store.read(view, [key], ['trips', 'conv_rate'])
      expect(row?.eventTs).toBe(toMicros('2022-01-02T03:04:05.678Z'))
      expect(row?.values.map((v) => v && hex(v))).toEqual(['202a', undefined])
    })

    it('removes a key on teardown only once no view has fields in it, and never touches other projects', async () => {
      const other = { ...view, project: `${project}x` }
      await store.write(other, [encodeWriteRow(other, { entityKey, values: { trips: 1 }, eventTs: 0 })])
      await raw.hSet(redisKey, '_ts:another_view', Buffer.from(encodeTimestamp(0)))
      await store.teardown({ keep: [view], drop: [] })
      expect((await raw.hKeys(redisKey)).map(String)).toEqual(['_ts:another_view'])
      await store.write(view, [encodeWriteRow(view, { entityKey, values: { trips: 1 }, eventTs: 0 })])
      await raw.hDel(redisKey, '_ts:another_view')
      await store.teardown({ keep: [view], drop: [] })
      expect(await raw.exists(redisKey)).toBe(0)
      expect(await store.read(other, [entityKey], ['trips'])).not.toEqual([undefined])
      await store.teardown({ keep: [other], drop: [] })
      expect(await store.read(other, [entityKey], ['trips'])).toEqual([undefined])
    })

    it('writes values of every length byte for byte, nulls as empty values', async () => {
      const wide: ViewRef = {
        ...view,
        name: 'wide',
        features: [
          { name: 'text', type: Str },
          { name: 'blob', type: Bytes },
          { name: 'gone', type: Int64 },
        ],
      }
      const keys = [1, 2, 3].map((id) =>
        serializeEntityKey([{ joinKey: 'driver_id', valueType: ValueType.INT64, value: 7000 + id }]),
      )
      const values = [
        { text: 'x'.repeat(200), blob: Buffer.alloc(70_000, 7), gone: null },
        { text: '', blob: Buffer.alloc(127, 1), gone: 1 },
        { text: 'é'.repeat(64), blob: Buffer.alloc(128, 2), gone: -1 },
      ]
      // times before and after the epoch, with and without nanos
      const times = [toMicros('1969-12-31T23:59:59.5Z'), 0, toMicros('2026-01-01T00:00:00.000001Z')]
      const rows = keys.map((entityKey, i) =>
        encodeWriteRow(wide, { entityKey, values: values[i]!, eventTs: times[i]! }),
      )
      expect(await store.write(wide, rows)).toEqual({ written: 3, skipped: 0 })
      const fields = [
        ...wide.features.map((f) => redisFeatureField('wide', f.name)),
        Buffer.from('_ts:wide'),
      ].map((f) => Buffer.from(f))
      for (const [i, row] of rows.entries()) {
        const key = Buffer.concat([keys[i]!, Buffer.from(project)])
        const stored = (await raw.sendCommand(['HMGET', key, ...fields])) as Buffer[]
        expect(stored.map(hex)).toEqual([...row.values.map(hex), hex(encodeTimestamp(times[i]!))])
      }
      await store.teardown({ keep: [wide], drop: [] })
    })

    it('reloads its Lua scripts after SCRIPT FLUSH', async () => {
      await raw.scriptFlush()
      const stats = await store.write(view, [
        encodeWriteRow(view, { entityKey, values: { trips: 3 }, eventTs: 5 }),
      ])
      expect(stats).toEqual({ written: 1, skipped: 0 })
    })
  })
})

describeWithService('redis cluster', await redisClusterUnavailable(), () => {
  let cluster: RedisClusterHandle | undefined
  beforeAll(async () => {
    cluster = await startRedisCluster(3)
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  describeOnlineStoreConformance('redis_cluster', () =>
    createOnlineStore(
      redisConfig(`connection_string: ${cluster!.connectionString}\nredis_type: redis_cluster`),
    ),
  )

  describeConcurrentWriters('redis_cluster', () =>
    createOnlineStore(
      redisConfig(`connection_string: ${cluster!.connectionString}\nredis_type: redis_cluster`),
    ),
  )

  it('computes the hash slot of binary keys as the cluster does', async () => {
    const client = createClient({ socket: { host: '127.0.0.1', port: cluster!.ports[0]! } }).withTypeMapping({
      [RESP_TYPES.BLOB_STRING]: Buffer,
    })
    await client.connect()
    try {
      const random = seeded(5)
      const keys = [
        Buffer.from('{user1000}.following'),
        Buffer.from('foo{}{bar}'),
        Buffer.from('foo{{bar}}zap'),
        Buffer.from('{'),
        Buffer.from('x}{'),
        Buffer.alloc(0),
        ...Array.from({ length: 300 }, () =>
          // bytes from a small alphabet with braces, so hash tags (empty, open, closed) come often
          Buffer.from(Array.from({ length: random(24) }, () => [0x7b, 0x7d, 0x00, 0xff, 0x61][random(5)]!)),
        ),
        ...Array.from({ length: 100 }, (_, i) =>
          Buffer.concat([
            serializeEntityKey([{ joinKey: 'driver_id', valueType: ValueType.INT64, value: i * 125 }]),
            Buffer.from('demo'),
          ]),
        ),
      ]
      for (const key of keys) {
        expect(keySlot(key), hex(key)).toBe(Number(await client.sendCommand(['CLUSTER', 'KEYSLOT', key])))
      }
    } finally {
      await client.close()
    }
  })

  it('spreads the entity keys of a batch over every master', async () => {
    const store = await createOnlineStore(
      redisConfig(`connection_string: ${cluster!.connectionString}\nredis_type: redis_cluster`),
    )
    const view: ViewRef = {
      project: uniqueProject('spread'),
      name: 'v',
      joinKeys: [{ name: 'id', valueType: ValueType.INT64 }],
      features: [{ name: 'x', type: Int64 }],
      storageTtl: 0,
    }
    const keys = Array.from({ length: 60 }, (_, i) =>
      serializeEntityKey([{ joinKey: 'id', valueType: ValueType.INT64, value: i }]),
    )
    try {
      await store.write(
        view,
        keys.map((entityKey, i) => encodeWriteRow(view, { entityKey, values: { x: i }, eventTs: 0 })),
      )
      const sizes = await Promise.all(
        cluster!.ports.map(async (p) => {
          const client = createClient({ socket: { host: '127.0.0.1', port: p } })
          await client.connect()
          const size = await client.dbSize()
          await client.close()
          return size
        }),
      )
      expect(sizes.every((n) => n > 0)).toBe(true)
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(60)
      expect((await store.read(view, keys, ['x'])).every((r) => r !== undefined)).toBe(true)
    } finally {
      await store.teardown({ keep: [view], drop: [] })
      await store.close()
    }
  })
})

describe('Redis online store: bad configuration', () => {
  it('fails fast, naming host and port, when Redis is down', async () => {
    const closed = await freePort()
    const started = Date.now()
    const error = await createOnlineStore(redisConfig(`connection_string: 127.0.0.1:${closed}`)).catch(
      (e: unknown) => e,
    )
    expect(Date.now() - started).toBeLessThan(5000)
    expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE' })
    expect((error as Error).message).toBe(
      `cannot connect to Redis at 127.0.0.1:${closed}: connect ECONNREFUSED 127.0.0.1:${closed}`,
    )
    expect((error as { hint: string }).hint).toContain('connection_string')
  })

  it('fails fast when no cluster node answers', async () => {
    const [a, b] = [await freePort(), await freePort()]
    const error = await createOnlineStore(
      redisConfig(`connection_string: 127.0.0.1:${a},127.0.0.1:${b}\nredis_type: redis_cluster`),
    ).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE' })
    expect((error as Error).message).toContain(
      `cannot connect to the Redis Cluster at 127.0.0.1:${a},127.0.0.1:${b}`,
    )
  })

  it('rejects a connection_string it cannot parse, and unknown settings in it', async () => {
    await expect(createOnlineStore(redisConfig('connection_string: "localhost:abc"'))).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message:
        'feature_store.yaml: online_store.connection_string (type redis): connection_string "localhost:abc": "localhost:abc" is not host:port',
    })
    await expect(
      createOnlineStore(redisConfig('connection_string: "localhost:6379,sentinel=1"')),
    ).rejects.toMatchObject({
      message: expect.stringContaining(
        'unknown setting "sentinel" (known: db, password, socket_connect_timeout, ssl, username)',
      ),
    })
    await expect(
      createOnlineStore(redisConfig('connection_string: "localhost:6379,db=2"\nredis_type: redis_cluster')),
    ).rejects.toMatchObject({ message: expect.stringContaining('a Redis Cluster has only database 0') })
  })
})
