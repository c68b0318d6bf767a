// Typed feature references, checked twice: by the compiler (`npm run typecheck` includes this file, so
// every `@ts-expect-error` must meet an error and every `expectTypeOf` must hold) and by vitest, which
// runs the same reads against a real store to show the types describe what Larder returns.

import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import * as defs from './__fixtures__/typed-features.js'
import { LarderClient } from './client/index.js'
import {
  Entity,
  type EntityKeyValue,
  type FeastValue,
  type FeatureRefOf,
  type FeatureTypesOf,
  FeatureView,
  FileSource,
} from './core/index.js'
import { at, sampleData } from './materialize/__fixtures__/driver-data.js'
import { createTestRepo, type TestRepo } from './materialize/__fixtures__/test-repo.js'
import { type OnlineFeatureReader, type TypedFeatureStore, typedStore } from './typed-store.js'

const TYPED_FEATURES = fileURLToPath(new URL('./__fixtures__/typed-features.ts', import.meta.url))

type Defs = FeatureTypesOf<typeof defs>

/** One row of driver_extras for driver 1001, three hours after T0, in a Parquet file. */
async function writeExtras(path: string): Promise<void> {
  const select = `SELECT 1001::BIGINT AS driver_id, TIMESTAMP '${at(3).replace('T', ' ').replace('Z', '')}' AS event_timestamp,
    '\\x01\\x02'::BLOB AS avatar, [3, ${2n ** 60n}]::BIGINT[] AS visits, ['gold'] AS badges,
    [TIMESTAMP '2023-11-14 22:13:20'] AS logins, {'city': 'Lyon', 'zip': 69001::INTEGER} AS address,
    [[1, 2], [3]]::BIGINT[][] AS routes, '{"tier":1}' AS profile`
  const instance = await DuckDBInstance.create(':memory:')
  const db = await instance.connect()
  try {
    await db.run(`COPY (${select}) TO '${path}' (FORMAT parquet)`)
  } finally {
    db.closeSync()
    instance.closeSync()
  }
}

describe('typedStore over definitions', () => {
  let repo: TestRepo
  let typed: TypedFeatureStore<Defs, TestRepo['store']>
  beforeAll(async () => {
    repo = await createTestRepo({
      onlineStore: 'type: memory',
      definitions: TYPED_FEATURES,
      data: sampleData(),
      prepare: (dir) => writeExtras(join(dir, 'data', 'driver_extras.parquet')),
    })
    await repo.store.materialize({ start: at(0), end: at(4) })
    typed = typedStore(repo.store, defs)
  })
  afterAll(async () => {
    await repo?.close()
  })

  it('derives the references of each view from its schema, without its join keys', () => {
    expectTypeOf<'driver_stats:conv_rate'>().toExtend<FeatureRefOf<Defs>>()
    expectTypeOf<'transformed_conv_rate:conv_rate_plus_val1'>().toExtend<FeatureRefOf<Defs>>()
    expectTypeOf<'driver_extras:address'>().toExtend<FeatureRefOf<Defs>>()
    expectTypeOf<'driver_stats:driver_id'>().not.toExtend<FeatureRefOf<Defs>>()
    expectTypeOf<'driver_stats:conv_rat'>().not.toExtend<FeatureRefOf<Defs>>()
    expectTypeOf<keyof Defs['services']>().toEqualTypeOf<
      'driver_activity' | 'driver_odfv' | 'trip' | 'typed_service'
    >()
  })

  it('types each column as Larder decodes it, join keys first', async () => {
    const res = await typed.getOnlineFeatures(
      {
        entities: { driver_id: [1001, 1002] },
        features: [
          'driver_stats:conv_rate',
          'driver_stats:acc_rate',
          'driver_stats:trips',
          'driver_stats:rank',
          'driver_stats:label',
          'driver_stats:active',
          'driver_stats:seen',
          'driver_stats:tags',
          'driver_stats:scores',
        ],
      },
      { now: at(4) },
    )
    const [one, two] = res.rows()
    expectTypeOf(one!).toEqualTypeOf<{
      driver_id: number | bigint
      conv_rate: number | null
      acc_rate: number | null
      trips: number | bigint | null
      rank: number | null
      label: string | null
      active: boolean | null
      seen: number | bigint | null
      tags: string[] | null
      scores: number[] | null
    }>()
    expect(one).toEqual({
      driver_id: 1001,
      conv_rate: 0.375,
      acc_rate: 0.5,
      trips: 7,
      rank: 1,
      label: 'ok',
      active: true,
      seen: Date.parse(at(3)) / 1000,
      tags: ['a', 'b'],
      scores: [1.5, -2],
    })
    // an int64 beyond 2^53 is a bigint: the reason Int64 is `number | bigint`
    expect(two).toMatchObject({ driver_id: 1002, conv_rate: null, label: null, trips: 2n ** 60n + 1n })
    expectTypeOf(res.columns.conv_rate.values).toEqualTypeOf<readonly (number | null)[]>()
    expect(res.columns.conv_rate.statuses).toEqual(['PRESENT', 'NULL_VALUE'])
    expect(res.columns.driver_id.values).toEqual([1001, 1002])
  })

  it('types lists, sets, timestamps in lists, structs, nested lists, bytes and JSON', async () => {
    const res = await typed.getOnlineFeatures({
      entities: [{ driver_id: 1001 }],
      features: [
        'driver_extras:avatar',
        'driver_extras:visits',
        'driver_extras:badges',
        'driver_extras:logins',
        'driver_extras:address',
        'driver_extras:routes',
        'driver_extras:profile',
      ],
    })
    const row = res.rows()[0]!
    expectTypeOf(row).toEqualTypeOf<{
      driver_id: number | bigint
      avatar: Uint8Array | null
      visits: (number | bigint)[] | null
      badges: Set<string> | null
      logins: (number | bigint | null)[] | null
      address: { city?: string | null; zip?: number | null } | null
      routes: ((number | bigint)[] | null)[] | null
      profile: string | null
    }>()
    expect(row).toEqual({
      driver_id: 1001,
      avatar: new Uint8Array([1, 2]),
      visits: [3, 2n ** 60n],
      badges: new Set(['gold']),
      logins: [1_700_000_000],
      address: { city: 'Lyon', zip: 69001 },
      routes: [[1, 2], [3]],
      profile: '{"tier":1}',
    })
  })

  it('reads a feature service given as its definition: aliases, on-demand outputs, full names', async () => {
    const res = await typed.getOnlineFeatures(
      {
        entities: { driver_id: [1001], val_to_add: [1], val_to_add_2: [2] },
        featureService: defs.typedService,
        fullFeatureNames: true,
      },
      { now: at(4) },
    )
    const row = res.rows()[0]!
    expectTypeOf(row).toEqualTypeOf<{
      driver_id: number | bigint
      driver_stats__conv_rate: number | null
      driver_stats__trips: number | bigint | null
      extras__visits: (number | bigint)[] | null
      transformed_conv_rate__conv_rate_plus_val1: number | null
    }>()
    expect(row).toEqual({
      driver_id: 1001,
      driver_stats__conv_rate: 0.375,
      driver_stats__trips: 7,
      extras__visits: [3, 2n ** 60n],
      transformed_conv_rate__conv_rate_plus_val1: 1.375,
    })
  })

  it('reads a feature service by name, its join-key map read from the columns it names', async () => {
    const res = await typed.getOnlineFeatures(
      {
        entities: {
          driver_id: [1001],
          origin_id: [1001],
          destination_id: [1003],
          val_to_add: [1],
          val_to_add_2: [2],
        },
        featureService: 'trip',
        fullFeatureNames: true,
      },
      { now: at(4) },
    )
    const cols = res.columns
    expectTypeOf(cols.origin__conv_rate.values).toEqualTypeOf<readonly (number | null)[]>()
    expectTypeOf(cols.destination__conv_rate.values).toEqualTypeOf<readonly (number | null)[]>()
    expect([cols.origin__conv_rate.values, cols.destination__conv_rate.values]).toEqual([[0.375], [0.25]])
    expect(cols.transformed_conv_rate__conv_rate_plus_val1.values).toEqual([1.375])
  })

  it('does not compile what the store refuses at run time', async () => {
    const entities = { driver_id: [1001] }
    await expect(
      // @ts-expect-error a misspelled feature
      typed.getOnlineFeatures({ entities, features: ['driver_stats:conv_rat'] }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(
      // @ts-expect-error a misspelled view
      typed.getOnlineFeatures({ entities, features: ['driver_stat:conv_rate'] }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(
      // @ts-expect-error a join key is not a feature of its view
      typed.getOnlineFeatures({ entities, features: ['driver_stats:driver_id'] }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(
      // @ts-expect-error a service that does not exist
      typed.getOnlineFeatures({ entities, featureService: 'driver_activty' }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(
      // @ts-expect-error an Int64 join key given as text
      typed.getOnlineFeatures({ entities: { driver_id: ['1001'] }, features: ['driver_stats:conv_rate'] }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
  })

  it('does not compile a value used as another type', async () => {
    const res = await typed.getOnlineFeatures(
      { entities: { driver_id: [1001] }, features: ['driver_stats:conv_rate', 'driver_stats:trips'] },
      { now: at(4) },
    )
    const row = res.rows()[0]!
    // @ts-expect-error a Float32 column holds numbers (or null), not strings
    const rate: string = row.conv_rate
    // @ts-expect-error an Int64 column may hold a bigint
    const trips: number | null = row.trips
    // @ts-expect-error a column the request did not ask for
    const label = row.label
    expect([typeof rate, typeof trips, label]).toEqual(['number', 'number', undefined])
  })

  it('checks the references of getHistoricalFeatures too', async () => {
    const job = await typed.getHistoricalFeatures({
      entities: [{ driver_id: 1001, event_timestamp: at(4) }],
      features: ['driver_stats:conv_rate'],
    })
    expect((await job.toRows()).map((r) => r.conv_rate)).toEqual([0.375])
    const entities = [{ driver_id: 1001, event_timestamp: at(4) }]
    await expect(
      // @ts-expect-error a misspelled feature
      typed.getHistoricalFeatures({ entities, features: ['driver_stats:rate'] }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('gives a view without a schema a pattern reference and untyped values', () => {
    const vehicleStats = new FeatureView({
      name: 'vehicle_stats',
      entities: [new Entity({ name: 'vehicle' })],
      source: new FileSource({ name: 'vehicles', path: 'data/vehicles.parquet', timestampField: 'ts' }),
    })
    type Loose = FeatureTypesOf<[typeof vehicleStats]>
    expectTypeOf<Loose['joinKeys']>().toEqualTypeOf<{ vehicle: EntityKeyValue }>()
    expectTypeOf<'vehicle_stats:anything'>().toExtend<FeatureRefOf<Loose>>()
    expectTypeOf<Loose['refs']['vehicle_stats:anything']>().toEqualTypeOf<FeastValue>()
    expectTypeOf<'driver_stats:conv_rate'>().not.toExtend<FeatureRefOf<Loose>>()
  })
})

describe('typedStore arguments', () => {
  const reader: OnlineFeatureReader = {
    getOnlineFeatures: async () => ({ metadata: { featureNames: [], valueTypes: [] }, results: [] }),
  }

  it('refuses what is not a store or not definitions, naming what it was given', () => {
    expect(() => typedStore({} as OnlineFeatureReader, defs)).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: 'typedStore was given object, not a store',
      }),
    )
    expect(() => typedStore(reader, 'features' as unknown as object)).toThrow(
      'typedStore was given the string "features" as definitions, not an object or array',
    )
  })

  it('wraps a remote client, which offers no getHistoricalFeatures', () => {
    const remote = typedStore(new LarderClient('http://127.0.0.1:6566'), defs)
    expect(remote.store).toBeInstanceOf(LarderClient)
    // @ts-expect-error a remote client (or any online-only reader) builds no training data
    expect(() => remote.getHistoricalFeatures({ features: ['driver_stats:conv_rate'] })).toThrow(TypeError)
  })
})
