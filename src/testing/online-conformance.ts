import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Array as ArrayOf,
  Bool,
  Bytes,
  Decimal,
  type EntityKeySerializationVersion,
  type EntityKeyValue,
  type FeastType,
  Float32,
  Float64,
  Int32,
  Int64,
  isLarderError,
  Json,
  Map as MapType,
  type Micros,
  ScalarMap,
  Set as SetOf,
  String as Str,
  Struct,
  scalarMap,
  TimeUuid,
  toMicros,
  typedValue,
  UnixTimestamp,
  Uuid,
  ValueType,
  ZonedTimestamp,
  zonedTimestamp,
} from '../core/index.js'
import { decodeValue, encodeValue } from '../core/value-codec.js'
import {
  encodeWriteRow,
  entityKeyEncoder,
  type InfraPlan,
  type OnlineRow,
  type OnlineStore,
  type ViewRef,
} from '../online/online-store.js'

export interface OnlineConformanceOptions {
  /** The entity key layout the store's config selects (default 3). */
  readonly entityKeySerializationVersion?: EntityKeySerializationVersion
}

/** A project name no other test run uses, so test files may share a database or Redis. */
export function uniqueProject(prefix: string): string {
  const random = Math.floor(Math.random() * 36 ** 6).toString(36)
  return `${prefix.replace(/[^A-Za-z0-9_]/g, '_')}_${process.pid}_${Date.now().toString(36)}_${random}`
}

const SEC = 1_000_000
const T0: Micros = toMicros('2026-01-01T00:00:00Z')

/** Sample values of every value type, with the type that stores them. */
const TYPED_SAMPLES: readonly (readonly [string, FeastType, unknown])[] = [
  ['bytes', Bytes, Uint8Array.of(0, 1, 255)],
  ['string', Str, 'héllo'],
  ['int32', Int32, -7],
  ['int64', Int64, 2n ** 60n],
  ['float64', Float64, 0.1],
  ['float32', Float32, Math.fround(0.25)],
  ['bool', Bool, true],
  ['unix_timestamp', UnixTimestamp, 1_767_225_600],
  ['bytes_list', ArrayOf(Bytes), [Uint8Array.of(1), new Uint8Array(0)]],
  ['string_list', ArrayOf(Str), ['a', '']],
  ['int32_list', ArrayOf(Int32), [1, -2]],
  ['int64_list', ArrayOf(Int64), [1, 2n ** 62n]],
  ['float64_list', ArrayOf(Float64), [0.5, -1]],
  ['float32_list', ArrayOf(Float32), [0.5]],
  ['bool_list', ArrayOf(Bool), [true, false]],
  ['unix_timestamp_list', ArrayOf(UnixTimestamp), [1, null]],
  ['map', MapType, { a: 1, b: 'x', c: [0.5, 1] }],
  ['map_list', ArrayOf(MapType), [{ a: 1 }, {}]],
  ['bytes_set', SetOf(Bytes), new Set([Uint8Array.of(7)])],
  ['string_set', SetOf(Str), new Set(['a', 'b'])],
  ['int32_set', SetOf(Int32), new Set([3])],
  ['int64_set', SetOf(Int64), new Set([4, 5])],
  ['float64_set', SetOf(Float64), new Set([1.5])],
  ['float32_set', SetOf(Float32), new Set([2.5])],
  ['bool_set', SetOf(Bool), new Set([false])],
  ['unix_timestamp_set', SetOf(UnixTimestamp), new Set([10])],
  ['json', Json, '{"k":[1,2]}'],
  ['json_list', ArrayOf(Json), ['1', 'null']],
  ['struct', Struct({ id: Int64, tag: Str }), { id: 9, tag: 't' }],
  ['struct_list', ArrayOf(Struct({ id: Int64 })), [{ id: 1 }, { id: 2 }]],
  ['uuid', Uuid, '123e4567-e89b-12d3-a456-426614174000'],
  ['time_uuid', TimeUuid, 'c232ab00-9414-11ec-b3c8-9e6bdeced846'],
  ['uuid_list', ArrayOf(Uuid), ['123e4567-e89b-12d3-a456-426614174000']],
  ['time_uuid_list', ArrayOf(TimeUuid), []],
  ['uuid_set', SetOf(Uuid), new Set(['123e4567-e89b-12d3-a456-426614174000'])],
  ['time_uuid_set', SetOf(TimeUuid), new Set<string>()],
  ['value_list', ArrayOf(ArrayOf(Int64)), [[1, 2], []]],
  ['value_set', SetOf(ArrayOf(Str)), new Set([['x']])],
  ['decimal', Decimal, '12345678901234567890.123'],
  ['decimal_list', ArrayOf(Decimal), ['1.5']],
  ['decimal_set', SetOf(Decimal), new Set(['0'])],
  ['scalar_map', ScalarMap, scalarMap([[typedValue(ValueType.INT64, 1), 'one']])],
  ['zoned_timestamp', ZonedTimestamp, zonedTimestamp(1_767_225_600, 'Europe/Paris')],
]

/**
 * Registers the online store conformance suite: the behaviour every `OnlineStore` must have, run
 * against a real backend. `open` is called once; the suite tears down what it created and closes
 * the store. Behaviour a store does not have (per its `capabilities`) is skipped with the reason.
 *
 * @example describeOnlineStoreConformance('sqlite', () => createOnlineStore(config))
 */
export function describeOnlineStoreConformance(
  name: string,
  open: () => Promise<OnlineStore>,
  options: OnlineConformanceOptions = {},
): void {
  const version = options.entityKeySerializationVersion ?? 3
  const project = uniqueProject(`conf_${name}`)
  const view = (
    viewName: string,
    joinKeys: ViewRef['joinKeys'],
    features: [string, FeastType][],
    storageTtl = 0,
  ): ViewRef => ({
    project,
    name: viewName,
    joinKeys,
    features: features.map(([n, type]) => ({ name: n, type })),
    storageTtl,
  })
  const driver = [{ name: 'driver_id', valueType: ValueType.INT64 }]
  const stats = view('driver_stats', driver, [
    ['conv_rate', Float32],
    ['acc_rate', Float64],
    ['trips', Int64],
    ['note', Str],
  ])
  const profile = view('driver_profile', driver, [
    ['rating', Float64],
    ['vehicle', Str],
  ])
  const trips = view(
    'city_trips',
    [
      { name: 'driver_id', valueType: ValueType.INT64 },
      { name: 'city', valueType: ValueType.STRING },
    ],
    [['count', Int64]],
  )
  const global = view('global_stats', [], [['total_rides', Int64]])
  const typed = view(
    'typed_values',
    [{ name: 'sample_id', valueType: ValueType.STRING }],
    TYPED_SAMPLES.map(([n, type]) => [n, type]),
  )
  const expiring = view(
    'session_stats',
    [{ name: 'session_id', valueType: ValueType.STRING }],
    [['clicks', Int64]],
    0.5,
  )
  const scratch = view('scratch', driver, [['x', Int64]])
  const all = [stats, profile, trips, global, typed, expiring, scratch]
  const everything: InfraPlan = { keep: all, drop: [] }

  const keyOf = (v: ViewRef) => {
    const encode = entityKeyEncoder(v, version)
    return (...values: EntityKeyValue[]) => encode(values)
  }
  const statsKey = keyOf(stats)
  const names = (v: ViewRef) => v.features.map((f) => f.name)
  const statsRow = (id: number, eventTs: Micros, values: Record<string, unknown>) =>
    encodeWriteRow(stats, { entityKey: statsKey(id), values, eventTs, createdTs: eventTs })
  const decoded = (row: OnlineRow | undefined) =>
    row?.values.map((v) => (v === undefined ? undefined : decodeValue(v)))
  // stores may return Buffers (a Uint8Array subclass); compare the bytes
  const hex = (values: readonly (Uint8Array | undefined)[] | undefined) =>
    values?.map((v) =>
      v === undefined ? undefined : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex'),
    )

  describe(`${name}: OnlineStore conformance`, () => {
    let store: OnlineStore
    /** A timestamp as the store keeps it. */
    const stored = (ts: Micros) => {
      const r = store.capabilities.timestampResolutionMicros
      return Math.floor(ts / r) * r
    }
    /** Reading finds nothing, or the store reports that the view's storage does not exist. */
    const expectGone = async (v: ViewRef, keys: Uint8Array[]) => {
      try {
        expect(await store.read(v, keys, names(v))).toEqual(keys.map(() => undefined))
      } catch (e) {
        expect(isLarderError(e) && e.code).toBe('NOT_FOUND')
      }
    }

    beforeAll(async () => {
      store = await open()
      await store.update(everything)
    })

    afterAll(async () => {
      if (!store) return
      await store.teardown(everything)
      await store.close()
    })

    it('writes rows and reads them back with their event timestamps', async () => {
      const rows = [1001, 1002, 1003].map((id, i) =>
        statsRow(id, T0 + i * SEC + 123_456, {
          conv_rate: 0.5 + i,
          acc_rate: 0.25,
          trips: id * 10,
          note: `d${id}`,
        }),
      )
      expect(await store.write(stats, rows)).toEqual({ written: 3, skipped: 0 })
      const got = await store.read(stats, [statsKey(1001), statsKey(1002), statsKey(1003)], names(stats))
      expect(got.map((r) => r?.eventTs)).toEqual(rows.map((r) => stored(r.eventTs)))
      expect(got.map((r) => hex(r?.values))).toEqual(rows.map((r) => hex(r.values)))
      expect(decoded(got[2])).toEqual([2.5, 0.25, 10030, 'd1003'])
    })

    it('returns undefined for keys it does not hold, in request order, duplicates included', async () => {
      await store.write(stats, [statsRow(1101, T0, { trips: 1 })])
      const got = await store.read(stats, [statsKey(2001), statsKey(1101), statsKey(1101)], ['trips'])
      expect(got[0]).toBeUndefined()
      expect(decoded(got[1])).toEqual([1])
      expect(got[2]).toEqual(got[1])
      expect(await store.read(stats, [], names(stats))).toEqual([])
    })

    it('reads the requested features in request order; a feature it does not hold is undefined', async () => {
      await store.write(stats, [statsRow(1201, T0, { conv_rate: 0.5, note: 'n' })])
      const [row] = await store.read(stats, [statsKey(1201)], ['note', 'conv_rate', 'no_such_feature'])
      expect(decoded(row)).toEqual(['n', 0.5, undefined])
    })

    it('keeps null values as zero bytes', async () => {
      await store.write(stats, [statsRow(1301, T0, { conv_rate: null, note: null, trips: 0 })])
      const [row] = await store.read(stats, [statsKey(1301)], ['conv_rate', 'note', 'trips'])
      expect(row?.values.map((v) => v?.length)).toEqual([0, 0, 2])
      expect(decoded(row)).toEqual([null, null, 0])
    })

    it('keeps the newer value: a write older than the stored row is skipped', async (ctx) => {
      if (!store.capabilities.newerWins)
        ctx.skip('the store is configured to write without comparing timestamps')
      await store.write(stats, [statsRow(1401, T0 + 10 * SEC, { note: 'ten' })])
      expect(await store.write(stats, [statsRow(1401, T0 + 5 * SEC, { note: 'five' })])).toEqual({
        written: 0,
        skipped: 1,
      })
      let [row] = await store.read(stats, [statsKey(1401)], ['note'])
      expect(decoded(row)).toEqual(['ten'])
      expect(row?.eventTs).toBe(stored(T0 + 10 * SEC))
      expect(await store.write(stats, [statsRow(1401, T0 + 20 * SEC, { note: 'twenty' })])).toEqual({
        written: 1,
        skipped: 0,
      })
      ;[row] = await store.read(stats, [statsKey(1401)], ['note'])
      expect(decoded(row)).toEqual(['twenty'])
    })

    it('applies the newest row of a batch, wherever it stands in the batch', async (ctx) => {
      if (!store.capabilities.newerWins)
        ctx.skip('the store is configured to write without comparing timestamps')
      const stats1 = await store.write(stats, [
        statsRow(1501, T0 + 20 * SEC, { note: 'new' }),
        statsRow(1501, T0 + 10 * SEC, { note: 'old' }),
      ])
      const stats2 = await store.write(stats, [
        statsRow(1502, T0 + 10 * SEC, { note: 'old' }),
        statsRow(1502, T0 + 20 * SEC, { note: 'new' }),
      ])
      expect(stats1).toEqual({ written: 1, skipped: 1 })
      expect(stats2.written + stats2.skipped).toBe(2)
      const got = await store.read(stats, [statsKey(1501), statsKey(1502)], ['note'])
      expect(got.map(decoded)).toEqual([['new'], ['new']])
    })

    it('lets a write with the same event timestamp replace the stored row', async () => {
      await store.write(stats, [statsRow(1601, T0 + SEC, { note: 'first' })])
      await store.write(stats, [statsRow(1601, T0 + SEC, { note: 'second' })])
      const [row] = await store.read(stats, [statsKey(1601)], ['note'])
      expect(decoded(row)).toEqual(['second'])
    })

    it('round-trips a value of every value type, byte for byte', async () => {
      const key = keyOf(typed)('all-types')
      const values = Object.fromEntries(TYPED_SAMPLES.map(([n, , v]) => [n, v]))
      const row = encodeWriteRow(typed, { entityKey: key, values, eventTs: T0 })
      await store.write(typed, [row])
      const [got] = await store.read(typed, [key], names(typed))
      expect(hex(got?.values)).toEqual(hex(row.values))
      expect(decoded(got)).toEqual(TYPED_SAMPLES.map(([, , v]) => v))
    })

    it('keys composite entity keys by every join key', async () => {
      const key = keyOf(trips)
      const rows = (
        [
          [1001, 'paris', 1],
          [1001, 'lyon', 2],
          [1002, 'paris', 3],
        ] as const
      ).map(([id, city, count]) =>
        encodeWriteRow(trips, { entityKey: key(id, city), values: { count }, eventTs: T0 }),
      )
      await store.write(trips, rows)
      const got = await store.read(
        trips,
        [key(1002, 'paris'), key(1001, 'lyon'), key(1001, 'paris'), key(1002, 'lyon')],
        ['count'],
      )
      expect(got.map(decoded)).toEqual([[3], [2], [1], undefined])
    })

    it('stores an entity-less view under the dummy key', async () => {
      const key = keyOf(global)()
      await store.write(global, [
        encodeWriteRow(global, { entityKey: key, values: { total_rides: 42 }, eventTs: T0 }),
      ])
      const [row] = await store.read(global, [keyOf(global)()], ['total_rides'])
      expect(decoded(row)).toEqual([42])
    })

    it('reads several views in one call, one result per request in order', async () => {
      await store.write(profile, [
        encodeWriteRow(profile, {
          entityKey: statsKey(1001),
          values: { rating: 4.5, vehicle: 'van' },
          eventTs: T0,
        }),
      ])
      const requests = [
        { view: stats, keys: [statsKey(1001), statsKey(2001)], features: ['note'] },
        { view: profile, keys: [statsKey(1001)], features: ['vehicle', 'rating'] },
        { view: global, keys: [keyOf(global)()], features: ['total_rides'] },
        { view: stats, keys: [statsKey(1002)], features: ['trips', 'note'] },
      ]
      const got = await store.readMany(requests)
      expect(got.map((r) => r.map(decoded))).toEqual([
        [['d1001'], undefined],
        [['van', 4.5]],
        [[42]],
        [[10020, 'd1002']],
      ])
      for (let i = 0; i < requests.length; i++) {
        const r = requests[i]!
        expect(got[i]).toEqual(await store.read(r.view, r.keys, r.features))
      }
      expect(await store.readMany([])).toEqual([])
    })

    it('keeps views with the same join keys apart: dropping one leaves the other', async () => {
      await store.write(stats, [statsRow(1701, T0, { note: 'stays' })])
      await store.write(profile, [
        encodeWriteRow(profile, {
          entityKey: statsKey(1701),
          values: { rating: 1, vehicle: 'car' },
          eventTs: T0,
        }),
      ])
      await store.update({ keep: [], drop: [profile] })
      const [row] = await store.read(stats, [statsKey(1701)], ['note'])
      expect(decoded(row)).toEqual(['stays'])
      await expectGone(profile, [statsKey(1701), statsKey(1001)])
      await store.update({ keep: [profile], drop: [] })
      expect(await store.read(profile, [statsKey(1701)], names(profile))).toEqual([undefined])
    })

    it("expires rows after the view's storageTtl", async (ctx) => {
      if (!store.capabilities.nativeTtl) {
        ctx.skip(
          `${store.type} has no native expiry: rows stay until overwritten or torn down (serving reads rows older than storageTtl as NOT_FOUND)`,
        )
      }
      const key = keyOf(expiring)('s-1')
      await store.write(expiring, [
        encodeWriteRow(expiring, { entityKey: key, values: { clicks: 3 }, eventTs: T0 }),
      ])
      expect(decoded((await store.read(expiring, [key], ['clicks']))[0])).toEqual([3])
      await new Promise((resolve) => setTimeout(resolve, 1100))
      expect(await store.read(expiring, [key], ['clicks'])).toEqual([undefined])
    })

    it('tells whether it holds rows of a view, apart from the views sharing its keys', async (ctx) => {
      if (!store.hasRows) ctx.skip(`${store.type} has no hasRows probe`)
      const probe = view('probe_stats', driver, [['x', Int64]])
      await store.write(stats, [statsRow(2101, T0, { trips: 1 })])
      expect(await store.hasRows!(probe)).toBe(false)
      await store.update({ keep: [probe], drop: [] })
      try {
        expect(await store.hasRows!(probe)).toBe(false)
        expect(await store.hasRows!(stats)).toBe(true)
        await store.write(probe, [
          encodeWriteRow(probe, { entityKey: statsKey(2101), values: { x: 1 }, eventTs: T0 }),
        ])
        expect(await store.hasRows!(probe)).toBe(true)
        await store.teardown({ keep: [probe], drop: [] })
        expect(await store.hasRows!(probe)).toBe(false)
        expect(await store.hasRows!(stats)).toBe(true)
      } finally {
        await store.teardown({ keep: [probe], drop: [] })
      }
    })

    it('writes and reads a batch of 2,500 rows', async () => {
      const ids = Array.from({ length: 2500 }, (_, i) => 100_000 + i)
      const rows = ids.map((id) =>
        statsRow(id, T0 + SEC, { conv_rate: 0.5, acc_rate: id / 7, trips: id, note: `#${id}` }),
      )
      expect(await store.write(stats, rows)).toEqual({ written: 2500, skipped: 0 })
      const got = await store.read(
        stats,
        ids.map((id) => statsKey(id)),
        names(stats),
      )
      expect(got.every((r) => r?.eventTs === stored(T0 + SEC))).toBe(true)
      expect(decoded(got[1234])).toEqual([0.5, 101_234 / 7, 101_234, '#101234'])
      expect(got.map((r) => hex(r?.values))).toEqual(rows.map((r) => hex(r.values)))
    })

    it("drops a view's values on update and re-creates its storage empty", async () => {
      const row = encodeWriteRow(scratch, { entityKey: statsKey(1801), values: { x: 1 }, eventTs: T0 })
      await store.write(scratch, [row])
      await store.update({ keep: [], drop: [scratch] })
      await expectGone(scratch, [statsKey(1801)])
      await store.update({ keep: [scratch], drop: [] })
      await store.update({ keep: [scratch], drop: [] })
      expect(await store.read(scratch, [statsKey(1801)], ['x'])).toEqual([undefined])
      await store.write(scratch, [row])
      expect(decoded((await store.read(scratch, [statsKey(1801)], ['x']))[0])).toEqual([1])
    })

    it('tears down the values of the views it is given', async () => {
      await store.write(scratch, [
        encodeWriteRow(scratch, { entityKey: statsKey(1901), values: { x: 2 }, eventTs: T0 }),
      ])
      await store.teardown({ keep: [scratch], drop: [] })
      await expectGone(scratch, [statsKey(1901)])
      await store.update({ keep: [scratch], drop: [] })
    })

    it('either writes a view whose storage was never created or reports NOT_FOUND', async () => {
      const never = view('never_created', driver, [['x', Int64]])
      const row = encodeWriteRow(never, { entityKey: statsKey(1), values: { x: 1 }, eventTs: T0 })
      try {
        await store.write(never, [row])
      } catch (e) {
        expect(isLarderError(e) && e.code).toBe('NOT_FOUND')
        expect((e as Error).message).toContain('never_created')
      } finally {
        await store.teardown({ keep: [never], drop: [] })
      }
    })

    it('rejects rows without one value per feature', async () => {
      const bad = { entityKey: statsKey(1), values: [encodeValue(Float32, 1)], eventTs: T0 }
      await expect(store.write(stats, [bad])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
      expect(await store.write(stats, [])).toEqual({ written: 0, skipped: 0 })
    })

    it('rejects calls whose signal is already aborted', async () => {
      const controller = new AbortController()
      controller.abort()
      const signal = controller.signal
      await expect(store.read(stats, [statsKey(1001)], ['note'], { signal })).rejects.toThrow(/abort/i)
      await expect(
        store.readMany([{ view: stats, keys: [statsKey(1)], features: [] }], { signal }),
      ).rejects.toThrow(/abort/i)
      await expect(store.write(stats, [statsRow(1, T0, {})], { signal })).rejects.toThrow(/abort/i)
      await expect(store.update(everything, { signal })).rejects.toThrow(/abort/i)
    })
  })
}
