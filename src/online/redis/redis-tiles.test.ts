import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../../config/index.js'
import {
  decodeState,
  encodeState,
  eventState,
  type FeastType,
  Float64,
  Int64,
  isLarderError,
  type Micros,
  mergeStates,
  String as Str,
  serializeEntityKey,
  type TileAggregation,
  type TileFunction,
  type TileState,
  tileIndex,
  ValueType,
} from '../../core/index.js'
import { uniqueProject } from '../../testing/online-conformance.js'
import {
  type RedisClusterHandle,
  redisClusterUnavailable,
  startRedisCluster,
} from '../../testing/redis-cluster.js'
import { describeWithService, redisUnavailable } from '../../testing/services.js'
import { describeTileStoreConformance } from '../../testing/tile-store-conformance.js'
import { createOnlineStore } from '../loader.js'
import type { OnlineStore, ViewRef } from '../online-store.js'
import {
  hasTiles,
  MARK_RETENTION_MICROS,
  type StoredTile,
  type TileStore,
  type TileViewRef,
  type TileWrite,
} from '../tile-store.js'
import { parseConnectionString } from './redis-config.js'
import { connectRedis, type RedisCommand, type RedisConnection } from './redis-connection.js'
import { prefixPattern, tileKey, tileKeyPrefix } from './redis-keys.js'
import { keySlot } from './redis-slots.js'
import { RedisTiles } from './redis-tiles.js'

const [host, port] = (process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379').split(':') as [string, string]
const SECOND = 1_000_000
const HOUR = 3600 * SECOND
const T0: Micros = 1_767_225_600_000_000 // 2026-01-01T00:00:00Z, on a whole hour

type Agg = readonly [TileFunction, number, FeastType]

function tileView(project: string, name: string, hopMicros: number, aggs: readonly Agg[]): TileViewRef {
  const aggregations = aggs.map(
    ([fn, hops, outputType], i): TileAggregation => ({ fn, name: `a${i}`, hops, outputType }),
  )
  return {
    project,
    name,
    joinKeys: [{ name: 'k', valueType: ValueType.INT64 }],
    hopMicros,
    aggregations,
    maxHops: Math.max(...aggregations.map((a) => a.hops)),
  }
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
const keyOf = (k: number) => serializeEntityKey([{ joinKey: 'k', valueType: ValueType.INT64, value: k }])

interface Event {
  readonly id: string
  readonly k: number
  readonly ts: Micros
  /** One value per aggregation. */
  readonly values: readonly unknown[]
  readonly created?: number
  readonly order?: string
}

function write(view: TileViewRef, e: Event): TileWrite {
  const at = { ts: e.ts, created: e.created ?? -Infinity, order: e.order ?? e.id.padStart(8, '0') }
  return {
    id: e.id,
    entityKey: keyOf(e.k),
    tile: tileIndex(e.ts, view.hopMicros),
    eventTs: e.ts,
    states: view.aggregations.map((a, i) => eventState(a, e.values[i], at)),
  }
}

/**
 * What a store keeping tiles in the text form must hold after these writes (each id once, in order):
 * per entity and tile, the states folded with mergeStates, as read back from their text.
 */
function expected(view: TileViewRef, writes: readonly TileWrite[]): Map<string, StoredTile[]> {
  type Tile = { newestTs: Micros; states: (TileState | undefined)[] }
  const byKey = new Map<string, Map<number, Tile>>()
  const seen = new Set<string>()
  for (const w of writes) {
    if (seen.has(w.id)) continue
    seen.add(w.id)
    const k = hex(w.entityKey)
    const tiles = byKey.get(k) ?? new Map<number, Tile>()
    byKey.set(k, tiles)
    const tile: Tile = tiles.get(w.tile) ?? {
      newestTs: w.eventTs,
      states: view.aggregations.map(() => undefined),
    }
    tiles.set(w.tile, tile)
    tile.newestTs = Math.max(tile.newestTs, w.eventTs)
    tile.states = tile.states.map((s, i) => mergeStates(view.aggregations[i]!.fn, s, w.states[i]))
  }
  return new Map(
    [...byKey].map(([k, tiles]) => [
      k,
      [...tiles]
        .sort(([a], [b]) => a - b)
        .map(([tile, t]) => ({
          tile,
          newestTs: t.newestTs,
          states: t.states.map((s, i) => s && decodeState(view.aggregations[i]!.fn, encodeState(s))),
        })),
    ]),
  )
}

/** A connection that records every command it sends, to check which keys each touches. */
function recording(connection: RedisConnection, sent: RedisCommand[]): RedisConnection {
  return {
    where: connection.where,
    cluster: connection.cluster,
    pipeline: (commands, readonly) => {
      sent.push(...commands)
      return connection.pipeline(commands, readonly)
    },
    loadScript: (script) => connection.loadScript(script),
    scan: (pattern) => connection.scan(pattern),
    close: () => connection.close(),
  }
}

/** The Redis online store at `connectionString`, opened through the loader, as a tile store. */
async function openTileStore(connectionString: string, cluster: boolean): Promise<OnlineStore & TileStore> {
  const config = parseRepoConfig(
    `project: demo\nonline_store:\n  type: redis\n  connection_string: ${connectionString}\n${
      cluster ? '  redis_type: redis_cluster\n' : ''
    }`,
    '/repo',
  )
  const store = await createOnlineStore(config)
  if (!hasTiles(store)) throw new Error('the Redis online store keeps no tiles')
  return store
}

/** The tile store conformance suite on the Redis online store at `connectionString`. */
function describeConformance(name: string, connectionString: () => string, cluster: boolean) {
  describeTileStoreConformance(name, async () => {
    const store = await openTileStore(connectionString(), cluster)
    return { store, close: () => store.close() }
  })
}

/**
 * The focused tests of the Redis tiles, on one server or a cluster; `raw` is a plain connection to
 * inspect keys with.
 */
function describeRedisTiles(name: string, connectionString: () => string, cluster: boolean) {
  describe(`${name}: Redis tiles`, () => {
    const project = uniqueProject(`redis_tiles_${name}`)
    const views: TileViewRef[] = []
    let number = 0
    const newView = (hopMicros: number, aggs: readonly Agg[]) => {
      const view = tileView(project, `tv${number++}`, hopMicros, aggs)
      views.push(view)
      return view
    }
    const openStore = () => openTileStore(connectionString(), cluster)
    let store: OnlineStore & TileStore
    let raw: RedisConnection
    const fieldsOf = async (view: TileViewRef, k: number): Promise<Record<string, string>> => {
      const key = tileKey(tileKeyPrefix(view.project, view.name), keyOf(k))
      const [reply] = (await raw.pipeline([{ key, args: ['HGETALL', key] }], true)) as [Buffer[]]
      const out: Record<string, string> = {}
      for (let i = 0; i < reply.length; i += 2) out[reply[i]!.toString()] = reply[i + 1]!.toString()
      return out
    }
    const pttl = async (view: TileViewRef, k: number) => {
      const key = tileKey(tileKeyPrefix(view.project, view.name), keyOf(k))
      const [ttl] = await raw.pipeline([{ key, args: ['PTTL', key] }], true)
      return Number(ttl)
    }
    const countKeys = async (prefix: Buffer) => {
      let n = 0
      for await (const keys of raw.scan(prefixPattern(prefix))) n += keys.length
      return n
    }

    beforeAll(async () => {
      store = await openStore()
      raw = await connectRedis(parseConnectionString(connectionString()), cluster)
    })
    afterAll(async () => {
      for (const view of views) await store?.dropTiles(view)
      await store?.close()
      await raw?.close()
    })

    it('keeps one hash per view and entity: states by tile and aggregation, the newest time, the marks', async () => {
      const view = newView(HOUR, [
        ['sum', 2, Int64],
        ['last', 2, Str],
      ])
      const stats = await store.applyTiles(
        view,
        [
          write(view, { id: '1-0', k: 7, ts: T0 + 5, values: [3, 'a'] }),
          write(view, { id: '1-1', k: 7, ts: T0 + 9, values: [4, null] }),
        ],
        T0,
      )
      expect(stats).toEqual({ applied: 2, duplicates: 0, expired: 0 })
      const tile = tileIndex(T0, HOUR)
      expect(await fieldsOf(view, 7)).toEqual({
        [`${tile}:0`]: '2,7',
        [`${tile}:1`]: `${T0 + 9},,000001-1,`,
        [`${tile}:n`]: String(T0 + 9),
        'm:1-0': String(T0),
        'm:1-1': String(T0),
        lo: String(tile),
        hi: String(tile),
        mo: String(T0),
      })
    })

    it('round-trips every function exactly as mergeStates folds them, floats to the last bit', async () => {
      const fns: TileFunction[] = [
        'sum',
        'count',
        'min',
        'max',
        'avg',
        'std',
        'var',
        'count_distinct',
        'last',
      ]
      const view = newView(SECOND, [
        ...fns.map((fn): Agg => [fn, 3, fn === 'last' || fn === 'count_distinct' ? Str : Float64]),
      ])
      const awkward = [0.1, 1 / 3, -2.5e-300, 1e300, -0, 2 ** 53 + 2, 5e-324, 123456.789, Math.PI, -1e-7]
      const writes = awkward.map((x, i) =>
        write(view, {
          id: `f${i}`,
          k: i % 2,
          ts: T0 + (i % 3) * SECOND + i,
          values: [...fns.slice(0, 7).map(() => x), `v"/\\é${i % 4}`, `s${i}`],
          created: i % 4 === 0 ? undefined : T0 + (i % 3),
        }),
      )
      // in several batches, so that states are merged both in one script call and across calls
      for (const batch of [writes.slice(0, 3), writes.slice(3, 4), writes.slice(4)]) {
        await store.applyTiles(view, batch, T0)
      }
      const want = expected(view, writes)
      const got = await store.readTiles(view, [keyOf(0), keyOf(1)], 0)
      expect(got).toEqual([want.get(hex(keyOf(0))), want.get(hex(keyOf(1)))])
    })

    it('matches mergeStates exactly on random numbers and batches', async () => {
      const view = newView(SECOND, [
        ['sum', 2, Float64],
        ['var', 2, Float64],
        ['min', 2, Float64],
        ['avg', 2, Float64],
      ])
      let run = 0
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.double({ min: -1e150, max: 1e150, noNaN: true }), fc.nat(2)), {
            minLength: 1,
            maxLength: 30,
          }),
          fc.integer({ min: 1, max: 7 }),
          async (events, size) => {
            const k = 1000 + run++
            const writes = events.map(([x, tile], i) =>
              write(view, { id: `p${i}`, k, ts: T0 + tile * SECOND + i, values: [x, x, x, x] }),
            )
            for (let i = 0; i < writes.length; i += size)
              await store.applyTiles(view, writes.slice(i, i + size), T0)
            const [got] = await store.readTiles(view, [keyOf(k)], 0)
            expect(got).toEqual(expected(view, writes).get(hex(keyOf(k))))
          },
        ),
        { numRuns: 40 },
      )
    })

    it('gives the same tiles whether an entity’s events come one per call or together', async () => {
      // one event per entity in a call takes the script's single-event path, several the general one
      const fns: TileFunction[] = [
        'sum',
        'count',
        'min',
        'max',
        'avg',
        'std',
        'var',
        'count_distinct',
        'last',
      ]
      const view = newView(SECOND, [
        ...fns.map((fn): Agg => [fn, 3, fn === 'last' || fn === 'count_distinct' ? Str : Float64]),
      ])
      let run = 0
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.nat(3), fc.nat(2)), {
            minLength: 1,
            maxLength: 12,
          }),
          async (events) => {
            const [single, together] = [2000 + 2 * run, 2001 + 2 * run++]
            const writesOf = (k: number) =>
              events.map(([x, tile, created], i) =>
                write(view, {
                  id: `o${i}`,
                  k,
                  ts: T0 + tile * SECOND + (i % 3),
                  values: [...fns.slice(0, 7).map(() => x), `d${Math.round(x) % 3}`, `l${i}`],
                  created: created === 0 ? undefined : T0 + created,
                }),
              )
            const one = writesOf(single)
            // each event alone, then each again (a redelivery, skipped)
            for (const w of [...one, ...one]) await store.applyTiles(view, [w], T0)
            const all = writesOf(together)
            expect(await store.applyTiles(view, [...all, all[0]!], T0)).toMatchObject({
              applied: all.length,
              duplicates: 1,
            })
            const [a, b] = await store.readTiles(view, [keyOf(single), keyOf(together)], 0)
            expect(a).toEqual(expected(view, one).get(hex(keyOf(single))))
            expect(b).toEqual(a)
          },
        ),
        { numRuns: 25 },
      )
    })

    it('writes a sum that overflowed to infinity back as a number', async () => {
      const view = newView(SECOND, [
        ['sum', 1, Float64],
        ['max', 1, Float64],
      ])
      const writes = [1.7e308, 1.7e308, -1.7e308].map((x, i) =>
        write(view, { id: `i${i}`, k: 1, ts: T0, values: [i < 2 ? x : 1, x] }),
      )
      await store.applyTiles(view, writes, T0)
      const [[tile]] = (await store.readTiles(view, [keyOf(1)], 0)) as [StoredTile[]]
      expect(tile!.states).toEqual([
        { kind: 'numbers', numbers: [3, Infinity] },
        { kind: 'numbers', numbers: [1.7e308] },
      ])
    })

    it('skips redeliveries, also within one batch, and applies released ids again', async () => {
      const view = newView(SECOND, [['count', 1, Int64]])
      const batch = [1, 2, 3].map((i) => write(view, { id: `r${i}`, k: 1, ts: T0 + i, values: [i] }))
      expect(await store.applyTiles(view, [...batch, batch[0]!], T0)).toEqual({
        applied: 3,
        duplicates: 1,
        expired: 0,
      })
      expect(await store.applyTiles(view, batch, T0)).toEqual({ applied: 0, duplicates: 3, expired: 0 })
      await store.releaseMarks(view, batch.slice(1))
      expect(Object.keys(await fieldsOf(view, 1)).filter((f) => f.startsWith('m:'))).toEqual(['m:r1'])
      expect(await store.applyTiles(view, batch, T0)).toEqual({ applied: 2, duplicates: 1, expired: 0 })
      const [[tile]] = (await store.readTiles(view, [keyOf(1)], 0)) as [StoredTile[]]
      expect(tile!.states).toEqual([{ kind: 'numbers', numbers: [5] }])
    })

    it('forgets a mark never released once MARK_RETENTION_MICROS has passed, by the callers’ clock', async () => {
      const view = newView(HOUR, [['count', 48, Int64]])
      const lost = write(view, { id: 'lost', k: 1, ts: T0, values: [1] })
      await store.applyTiles(view, [lost], T0)
      const other = (id: string) => write(view, { id, k: 1, ts: T0 + 1, values: [1] })
      expect(await store.applyTiles(view, [other('o1'), lost], T0 + MARK_RETENTION_MICROS)).toEqual({
        applied: 1,
        duplicates: 1,
        expired: 0,
      })
      expect(await store.applyTiles(view, [other('o2'), lost], T0 + MARK_RETENTION_MICROS + 1)).toEqual({
        applied: 2,
        duplicates: 0,
        expired: 0,
      })
      const fields = await fieldsOf(view, 1)
      expect(
        Object.keys(fields)
          .filter((f) => f.startsWith('m:'))
          .sort(),
      ).toEqual(['m:lost', 'm:o1', 'm:o2'])
      expect(fields.mo).toBe(String(T0 + MARK_RETENTION_MICROS))
    })

    it('removes tiles that left every window, by name after a short gap and by listing after a long one', async () => {
      const view = newView(SECOND, [
        ['sum', 3, Int64],
        ['count', 1, Int64],
      ])
      const base = tileIndex(T0, SECOND)
      const at = (id: string, s: number) => write(view, { id, k: 1, ts: T0 + s * SECOND, values: [1, 1] })
      await store.applyTiles(
        view,
        [0, 1, 2, 3, 4].map((s) => at(`t${s}`, s)),
        T0 + 4 * SECOND,
      )
      const tilesOf = async () =>
        [
          ...new Set(
            Object.keys(await fieldsOf(view, 1))
              .filter((f) => /^\d+:/.test(f))
              .map((f) => Number(f.split(':')[0]) - base),
          ),
        ].sort((a, b) => a - b)
      expect(await tilesOf()).toEqual([2, 3, 4])
      expect(await store.applyTiles(view, [at('t6', 6), at('t3b', 3)], T0 + 6 * SECOND)).toEqual({
        applied: 1,
        duplicates: 0,
        expired: 1,
      })
      expect(await tilesOf()).toEqual([4, 6])
      await store.applyTiles(view, [at('t1000', 1000)], T0 + 1000 * SECOND)
      expect(await tilesOf()).toEqual([1000])
      expect((await fieldsOf(view, 1)).lo).toBe(String(base + 998))
    })

    it('expires an idle key when its newest tile leaves every window, but not before the mark retention', async () => {
      const long = newView(HOUR, [['count', 48, Int64]])
      await store.applyTiles(long, [write(long, { id: 'l', k: 1, ts: T0 + 10, values: [1] })], T0)
      const ttl = (49 * HOUR) / 1000
      expect(await pttl(long, 1)).toBeLessThanOrEqual(ttl)
      expect(await pttl(long, 1)).toBeGreaterThan(ttl - 60_000)
      // an older tile does not shorten it
      await store.applyTiles(long, [write(long, { id: 'm', k: 1, ts: T0 - HOUR, values: [1] })], T0)
      expect(await pttl(long, 1)).toBeGreaterThan(ttl - 60_000)
      const short = newView(SECOND, [['count', 2, Int64]])
      await store.applyTiles(short, [write(short, { id: 's', k: 1, ts: T0, values: [1] })], T0)
      expect(await pttl(short, 1)).toBeLessThanOrEqual(MARK_RETENTION_MICROS / 1000)
      expect(await pttl(short, 1)).toBeGreaterThan(MARK_RETENTION_MICROS / 1000 - 60_000)
    })

    it('loses no update when two stores apply to one entity at once', async () => {
      const view = newView(SECOND, [
        ['sum', 1, Int64],
        ['count_distinct', 1, Int64],
      ])
      const other = await openStore()
      try {
        const batches = Array.from({ length: 30 }, (_, b) =>
          Array.from({ length: 8 }, (_, i) =>
            write(view, { id: `c${b}.${i}`, k: 1, ts: T0 + i, values: [b, b * 8 + i] }),
          ),
        )
        const stats = await Promise.all(
          [store, other].flatMap((s) => batches.map((batch) => s.applyTiles(view, batch, T0))),
        )
        expect(stats.reduce((n, s) => n + s.applied, 0)).toBe(240)
        expect(stats.reduce((n, s) => n + s.duplicates, 0)).toBe(240)
        const [[tile]] = (await other.readTiles(view, [keyOf(1)], 0)) as [StoredTile[]]
        expect(tile!.states[0]).toEqual({ kind: 'numbers', numbers: [240, (8 * (29 * 30)) / 2] })
        expect(tile!.states[1]?.kind === 'distinct' && tile!.states[1].values.size).toBe(240)
      } finally {
        await other.close()
      }
    })

    it('applies and releases a batch in one script call (one per hash slot in a cluster), each call’s keys in one slot', async () => {
      const view = newView(SECOND, [['count', 1, Int64]])
      const sent: RedisCommand[] = []
      const connection = await connectRedis(parseConnectionString(connectionString()), cluster)
      const tiles = new RedisTiles(recording(connection, sent))
      try {
        await tiles.loadScript()
        const writes = Array.from({ length: 60 }, (_, i) =>
          write(view, { id: `e${i}`, k: i % 20, ts: T0 + i, values: [1] }),
        )
        const keys = Array.from({ length: 20 }, (_, k) =>
          tileKey(tileKeyPrefix(project, view.name), keyOf(k)),
        )
        const calls = cluster ? new Set(keys.map(keySlot)).size : 1
        const scripts = () => sent.splice(0).filter((c) => c.args[0] === 'EVALSHA')
        const keysOf = (c: RedisCommand) => c.args.slice(3, 3 + Number(c.args[2])) as Buffer[]
        expect(await tiles.applyTiles(view, writes, T0)).toMatchObject({ applied: 60 })
        const applies = scripts()
        await tiles.releaseMarks(view, writes)
        const releases = scripts()
        for (const batch of [applies, releases]) {
          expect(batch).toHaveLength(calls)
          expect(batch.flatMap(keysOf).map(hex).sort()).toEqual(keys.map(hex).sort())
          for (const c of batch) {
            expect(keysOf(c)[0]).toEqual(c.key)
            if (cluster) expect(new Set(keysOf(c).map(keySlot)).size).toBe(1)
          }
        }
        for (const k of [0, 7, 19])
          expect(Object.keys(await fieldsOf(view, k)).filter((f) => f.startsWith('m:'))).toEqual([])
        await tiles.readTiles(view, [keyOf(1), keyOf(2)], 0)
        await tiles.dropTiles(view)
        for (const c of sent.filter((c) => c.args[0] !== 'EVALSHA')) expect(c.args[1]).toEqual(c.key)
      } finally {
        await connection.close()
      }
    })

    it('cuts a batch into script calls of at most 500 events, an entity’s events never split', async () => {
      const view = newView(SECOND, [['sum', 1, Int64]])
      const sent: RedisCommand[] = []
      const connection = await connectRedis(parseConnectionString(connectionString()), cluster)
      const tiles = new RedisTiles(recording(connection, sent))
      try {
        await tiles.loadScript()
        // entity 0 has 700 events (one call of its own), the 600 others one each
        const writes = [
          ...Array.from({ length: 700 }, (_, i) => write(view, { id: `big${i}`, k: 0, ts: T0, values: [1] })),
          ...Array.from({ length: 600 }, (_, i) =>
            write(view, { id: `s${i}`, k: 1 + i, ts: T0, values: [i] }),
          ),
        ]
        expect(await tiles.applyTiles(view, writes, T0)).toEqual({ applied: 1300, duplicates: 0, expired: 0 })
        const calls = sent.filter((c) => c.args[0] === 'EVALSHA')
        // per call: EVALSHA, sha, n, n keys, 7 head arguments, a count per key, 4 arguments per event
        const eventsOf = (c: RedisCommand) => (c.args.length - 3 - 2 * Number(c.args[2]) - 7) / 4
        expect(calls.reduce((n, c) => n + eventsOf(c), 0)).toBe(1300)
        expect(calls.filter((c) => eventsOf(c) > 500).map(eventsOf)).toEqual([700])
        if (!cluster) expect(calls).toHaveLength(3)
        const [[big], [last]] = (await tiles.readTiles(view, [keyOf(0), keyOf(600)], 0)) as [
          StoredTile[],
          StoredTile[],
        ]
        expect(big!.states[0]).toEqual({ kind: 'numbers', numbers: [700, 700] })
        expect(last!.states[0]).toEqual({ kind: 'numbers', numbers: [1, 599] })
      } finally {
        await connection.close()
      }
    })

    it('drops only the view’s tiles, and a teardown drops the tiles of the views in its plan', async () => {
      const a = newView(SECOND, [['count', 1, Int64]])
      const b = newView(SECOND, [['count', 1, Int64]])
      const c = newView(SECOND, [['count', 1, Int64]])
      const elsewhere = tileView(`${project}_x`, a.name, SECOND, [['count', 1, Int64]])
      views.push(elsewhere)
      for (const view of [a, b, c, elsewhere]) {
        await store.applyTiles(
          view,
          [1, 2, 3].map((k) => write(view, { id: `d${k}`, k, ts: T0, values: [1] })),
          T0,
        )
      }
      await store.dropTiles(a)
      expect(await countKeys(tileKeyPrefix(project, a.name))).toBe(0)
      expect(await countKeys(tileKeyPrefix(elsewhere.project, a.name))).toBe(3)
      const asView = (t: TileViewRef): ViewRef => ({
        project: t.project,
        name: t.name,
        joinKeys: t.joinKeys,
        features: [],
        storageTtl: 0,
      })
      await store.teardown({ keep: [asView(b)], drop: [asView(c)] })
      expect(await countKeys(tileKeyPrefix(project, b.name))).toBe(0)
      expect(await countKeys(tileKeyPrefix(project, c.name))).toBe(0)
      expect(await countKeys(tileKeyPrefix(elsewhere.project, a.name))).toBe(3)
    })

    it('reloads its script after SCRIPT FLUSH', async () => {
      const view = newView(SECOND, [['count', 1, Int64]])
      const key = tileKey(tileKeyPrefix(project, view.name), keyOf(1))
      await raw.pipeline([{ key, args: ['SCRIPT', 'FLUSH'] }], false)
      expect(await store.applyTiles(view, [write(view, { id: 'x', k: 1, ts: T0, values: [1] })], T0)).toEqual(
        {
          applied: 1,
          duplicates: 0,
          expired: 0,
        },
      )
    })

    it('fails with DATA_SOURCE naming the field when a stored state is not one', async () => {
      const view = newView(SECOND, [['avg', 1, Float64]])
      const tile = tileIndex(T0, SECOND)
      await store.applyTiles(view, [write(view, { id: 'ok', k: 1, ts: T0, values: [1] })], T0)
      const key = tileKey(tileKeyPrefix(project, view.name), keyOf(1))
      await raw.pipeline([{ key, args: ['HSET', key, `${tile}:0`, '1,x'] }], false)
      const error = await store
        .applyTiles(view, [write(view, { id: 'next', k: 1, ts: T0, values: [2] })], T0)
        .catch((e: unknown) => e)
      expect(isLarderError(error) && error.code).toBe('DATA_SOURCE')
      expect((error as Error).message).toContain(`"${tile}:0"`)
      expect((error as { hint: string }).hint).toContain('replay')
      await expect(store.readTiles(view, [keyOf(1)], 0)).rejects.toMatchObject({ code: 'DATA_SOURCE' })
    })

    it('rejects writes that do not fit the view with INVALID_ARGUMENT', async () => {
      const view = newView(SECOND, [['count', 1, Int64]])
      const ok = write(view, { id: 'a', k: 1, ts: T0, values: [1] })
      await expect(store.applyTiles(view, [{ ...ok, states: [] }], T0)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      })
      const distinct = eventState({ fn: 'count_distinct', name: 'x', hops: 1, outputType: Int64 }, 1, {
        ts: T0,
        created: -Infinity,
        order: '',
      })
      await expect(store.applyTiles(view, [{ ...ok, states: [distinct] }], T0)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('a distinct state for count aggregation "a0"'),
        hint: expect.stringContaining('eventState'),
      })
      await expect(store.applyTiles(view, [{ ...ok, tile: 0.5 }], T0)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      })
    })
  })
}

describeWithService('redis', await redisUnavailable(host, Number(port)), () => {
  describeRedisTiles('redis', () => `${host}:${port}`, false)
  describeConformance('redis', () => `${host}:${port}`, false)
})

describeWithService('redis cluster', await redisClusterUnavailable(), () => {
  let cluster: RedisClusterHandle | undefined
  beforeAll(async () => {
    cluster = await startRedisCluster(3)
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })
  describeRedisTiles('redis_cluster', () => cluster!.connectionString, true)
  describeConformance('redis_cluster', () => cluster!.connectionString, true)
})
