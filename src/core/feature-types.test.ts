// Type-level tests (checked by `npm run typecheck`, which includes this file) next to the run-time
// facts they describe: each Feast type's JS type against what the Value codec decodes.
import { describe, expect, expectTypeOf, it } from 'vitest'
import { FileSource } from './data-source.js'
import { Entity } from './entity.js'
import type { EntityKeyValue } from './entity-key.js'
import { FeatureService } from './feature-service.js'
import {
  type FeastJsType,
  type FeatureRefOf,
  type FeatureTypesOf,
  type FeatureValueOf,
  featureTypeMap,
} from './feature-types.js'
import { FeatureView, type FeatureViewProjection } from './feature-view.js'
import { Field } from './field.js'
import { OnDemandFeatureView } from './on-demand-feature-view.js'
import {
  Array as ArrayOf,
  type Bool,
  Bytes,
  Decimal,
  type FeastType,
  Float32,
  Float64,
  type ImageBytes,
  Int32,
  Int64,
  Json,
  type Map as MapType,
  Set as SetOf,
  String as Str,
  Struct,
  UnixTimestamp,
  Uuid,
} from './types.js'
import { decodeValue, encodeValue, type FeastRecord, type FeastValue } from './value-codec.js'

/** A value as it comes back from an online store: encoded with its declared type and decoded. */
function roundTrip(type: FeastType, value: unknown): FeastValue {
  return decodeValue(encodeValue(type, value))
}

const source = new FileSource({ name: 'src', path: 'data/x.parquet', timestampField: 'ts' })
const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
const stats = new FeatureView({
  name: 'stats',
  entities: [driver],
  schema: [
    new Field({ name: 'driver_id', dtype: Int64 }),
    new Field({ name: 'rate', dtype: Float32 }),
    new Field({ name: 'label', dtype: Str }),
  ],
  source,
})

describe('FeastJsType', () => {
  it('gives numbers for Float32, Float64 and Int32, as they decode', () => {
    expectTypeOf<FeastJsType<typeof Float32>>().toEqualTypeOf<number>()
    expectTypeOf<FeastJsType<typeof Float64>>().toEqualTypeOf<number>()
    expectTypeOf<FeastJsType<typeof Int32>>().toEqualTypeOf<number>()
    expect([roundTrip(Float32, 0.5), roundTrip(Float64, 1e300), roundTrip(Int32, -7)]).toEqual([
      0.5, 1e300, -7,
    ])
  })

  it('gives number | bigint for Int64 and UnixTimestamp: a bigint beyond 2^53', () => {
    expectTypeOf<FeastJsType<typeof Int64>>().toEqualTypeOf<number | bigint>()
    expectTypeOf<FeastJsType<typeof UnixTimestamp>>().toEqualTypeOf<number | bigint>()
    expect([
      roundTrip(Int64, 7),
      roundTrip(Int64, 2n ** 60n),
      roundTrip(UnixTimestamp, 1_700_000_000),
    ]).toEqual([7, 2n ** 60n, 1_700_000_000])
  })

  it('gives strings for the text types and Uint8Array for the bytes types', () => {
    for (const t of [Str, Json, Uuid, Decimal] as const) {
      expectTypeOf<FeastJsType<typeof t>>().toEqualTypeOf<string>()
    }
    expectTypeOf<FeastJsType<typeof Bytes>>().toEqualTypeOf<Uint8Array>()
    expectTypeOf<FeastJsType<typeof ImageBytes>>().toEqualTypeOf<Uint8Array>()
    expectTypeOf<FeastJsType<typeof Bool>>().toEqualTypeOf<boolean>()
    expectTypeOf<FeastJsType<typeof MapType>>().toEqualTypeOf<FeastRecord>()
    expect(roundTrip(Json, '{"a":1}')).toBe('{"a":1}')
    expect(roundTrip(Bytes, new Uint8Array([1]))).toBeInstanceOf(Uint8Array)
  })

  it('gives arrays and sets of their elements; timestamps and nested lists may hold null', () => {
    const stamps = ArrayOf(UnixTimestamp)
    const nested = ArrayOf(ArrayOf(Int64))
    const tags = SetOf(Str)
    expectTypeOf<FeastJsType<typeof stamps>>().toEqualTypeOf<(number | bigint | null)[]>()
    expectTypeOf<FeastJsType<typeof nested>>().toEqualTypeOf<((number | bigint)[] | null)[]>()
    expectTypeOf<FeastJsType<typeof tags>>().toEqualTypeOf<Set<string>>()
    expect(roundTrip(stamps, [1, null])).toEqual([1, null])
    expect(roundTrip(nested, [[1], null])).toEqual([[1], null])
    expect(roundTrip(tags, ['a'])).toEqual(new Set(['a']))
  })

  it('gives a struct its fields, each optional and nullable', () => {
    const address = Struct({ city: Str, zip: Int32 })
    expectTypeOf<FeastJsType<typeof address>>().toEqualTypeOf<{ city?: string | null; zip?: number | null }>()
    expect(roundTrip(address, { city: 'Lyon', zip: null })).toEqual({ city: 'Lyon', zip: null })
  })

  it('gives FeastValue for a type the compiler does not know', () => {
    expectTypeOf<FeastJsType<FeastType>>().toEqualTypeOf<FeastValue>()
  })
})

describe('FeatureTypesOf definitions', () => {
  it('keeps literal names and types through views, projections and services', () => {
    const odfv = new OnDemandFeatureView({
      name: 'doubled',
      sources: [stats.select(['rate'])],
      schema: [new Field({ name: 'rate2', dtype: Float64 })],
      transform: (r) => ({ rate2: (r.rate as number) * 2 }),
    })
    const service = new FeatureService({
      name: 'svc',
      features: [stats.select(['rate']).withName('s2'), odfv],
    })
    type M = FeatureTypesOf<[typeof stats, typeof odfv, typeof service, typeof driver]>
    expectTypeOf<FeatureRefOf<M>>().toEqualTypeOf<'stats:rate' | 'stats:label' | 'doubled:rate2'>()
    expectTypeOf<FeatureValueOf<M, 'stats:label'>>().toEqualTypeOf<string>()
    expectTypeOf<M['services']>().toEqualTypeOf<{ svc: { 's2:rate': number; 'doubled:rate2': number } }>()
    expectTypeOf<M['joinKeys']>().toEqualTypeOf<{ driver_id: number | bigint }>()
    expect(service.featureRefs).toEqual(['s2:rate', 'doubled:rate2'])
  })

  it('reads a module object and ignores what is not a definition', () => {
    const module = { stats, source, helper: () => 1, version: 3 }
    expectTypeOf<FeatureRefOf<FeatureTypesOf<typeof module>>>().toEqualTypeOf<'stats:rate' | 'stats:label'>()
  })

  it('keeps the wide types by default, so code written against them still compiles', () => {
    const views: FeatureView[] = [stats]
    const projection: FeatureViewProjection = stats.select(['rate'])
    let dtype: FeastType = Float64
    dtype = Int64
    const fields: Field[] = [...(stats.schema ?? [])]
    const services: FeatureService[] = [new FeatureService({ name: 's', features: [stats] })]
    // a view read from the registry is a plain FeatureView: any reference, untyped values
    type Wide = FeatureTypesOf<[FeatureView, Entity]>
    expectTypeOf<'any_view:any_feature'>().toExtend<FeatureRefOf<Wide>>()
    expectTypeOf<Wide['refs'][`${string}:${string}`]>().toEqualTypeOf<FeastValue>()
    expectTypeOf<keyof Wide['joinKeys']>().toEqualTypeOf<never>()
    expect([views.length, projection.nameToUse, dtype.name, fields.length, services.length]).toEqual([
      1,
      'stats',
      'Int64',
      3,
      1,
    ])
  })

  it('types an entity without a value type as any key value', () => {
    const loose = new Entity({ name: 'rider' })
    expectTypeOf<FeatureTypesOf<[typeof loose]>['joinKeys']>().toEqualTypeOf<{ rider: EntityKeyValue }>()
    expect(loose.joinKey).toBe('rider')
  })

  it('refuses a feature a typed view does not have when selecting', () => {
    // @ts-expect-error the view has no feature "rat"
    expect(() => stats.select(['rat'])).toThrow('feature "rat" not found in feature view "stats"')
  })
})

describe('featureTypeMap', () => {
  it('keeps the literal map, frozen, and gives the same types as definitions', () => {
    const map = featureTypeMap({
      project: 'demo',
      views: { stats: { rate: Float32, label: Str } },
      services: { svc: { 's2:rate': Float32 } },
      joinKeys: { driver_id: Int64 },
    })
    type M = FeatureTypesOf<typeof map>
    expectTypeOf<FeatureRefOf<M>>().toEqualTypeOf<'stats:rate' | 'stats:label'>()
    expectTypeOf<M['services']>().toEqualTypeOf<{ svc: { 's2:rate': number } }>()
    expectTypeOf<M['joinKeys']>().toEqualTypeOf<{ driver_id: number | bigint }>()
    expect(Object.isFrozen(map.views.stats)).toBe(true)
    expect(map.views.stats.rate).toBe(Float32)
  })

  it('refuses an entry that is not a Feast type, naming it', () => {
    const bad = { project: 'demo', views: { stats: { rate: 'Float32' } }, services: {}, joinKeys: {} }
    expect(() => featureTypeMap(bad as never)).toThrow(
      'featureTypeMap of project "demo": view "stats", feature "rate" has string, not a Feast type',
    )
    expect(() => featureTypeMap({} as never)).toThrow(
      'featureTypeMap was not given { project, views, services, joinKeys }',
    )
  })
})
