import { describe, expect, it } from 'vitest'
import {
  Array as ArrayOf,
  Entity,
  FeatureService,
  FeatureView,
  Field,
  FileSource,
  Float32,
  formatDuration,
  formatMicros,
  Int64,
  LarderError,
  PushSource,
  parseDuration,
  parseFeatureRef,
  parseTypeName,
  Set as SetOf,
  String as Str,
  Struct,
  toMicros,
  typeFromValueType,
  typeTags,
  ValueType,
} from './index.js'

const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
const source = new FileSource({
  name: 'driver_stats_source',
  path: 'data/driver_stats.parquet',
  timestampField: 'event_timestamp',
  createdTimestampColumn: 'created',
})
const stats = new FeatureView({
  name: 'driver_hourly_stats',
  entities: [driver],
  ttl: '1d',
  schema: [
    new Field({ name: 'driver_id', dtype: Int64 }),
    new Field({ name: 'conv_rate', dtype: Float32 }),
    new Field({ name: 'avg_daily_trips', dtype: Int64 }),
  ],
  source,
})

function errorOf(fn: () => unknown): LarderError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(LarderError)
    return e as LarderError
  }
  throw new Error('expected an error')
}

describe('durations', () => {
  it('parses strings and seconds', () => {
    expect(parseDuration('2h')).toBe(7200)
    expect(parseDuration('1d')).toBe(86_400)
    expect(parseDuration('30d')).toBe(2_592_000)
    expect(parseDuration('1h30m')).toBe(5400)
    expect(parseDuration(0)).toBe(0)
    expect(parseDuration('500ms')).toBe(0.5)
    expect(formatDuration(5400)).toBe('1h30m')
  })
  it('rejects nonsense with the value named', () => {
    expect(errorOf(() => parseDuration('two hours', 'ttl')).message).toContain('"two hours"')
    expect(() => parseDuration(-1)).toThrow(LarderError)
  })
})

describe('timestamps', () => {
  it('reads naive times as UTC and keeps microseconds', () => {
    expect(toMicros('2022-01-01T00:00:00')).toBe(1_640_995_200_000_000)
    expect(toMicros('2022-01-01 00:00:00.000001')).toBe(1_640_995_200_000_001)
    expect(toMicros('2022-01-01T02:00:00+02:00')).toBe(1_640_995_200_000_000)
    expect(formatMicros(1_640_995_200_000_001)).toBe('2022-01-01T00:00:00.000001Z')
    expect(formatMicros(1_640_995_200_000_000)).toBe('2022-01-01T00:00:00Z')
    expect(() => toMicros('yesterday')).toThrow(/not a valid timestamp/)
  })
})

describe('types', () => {
  it('maps Feast types to ValueType numbers', () => {
    expect(Int64.valueType).toBe(ValueType.INT64)
    expect(ArrayOf(Int64).valueType).toBe(ValueType.INT64_LIST)
    expect(SetOf(Str).valueType).toBe(ValueType.STRING_SET)
    expect(ArrayOf(ArrayOf(Int64)).valueType).toBe(ValueType.VALUE_LIST)
  })
  it('round-trips struct and nested types through registry tags', () => {
    const s = Struct({ a: Int64, b: ArrayOf(Str) })
    const back = typeFromValueType(s.valueType, typeTags(s))
    expect(back?.name).toBe(s.name)
    const nested = ArrayOf(ArrayOf(Int64))
    expect(typeFromValueType(nested.valueType, typeTags(nested))?.name).toBe('Array(Array(Int64))')
    expect(parseTypeName('Array(INT64)').valueType).toBe(ValueType.INT64_LIST)
  })
  it('tolerates unknown value type numbers', () => {
    expect(typeFromValueType(999)).toBeUndefined()
  })
})

describe('definitions', () => {
  it('splits a schema into entity columns and features', () => {
    expect(stats.features.map((f) => f.name)).toEqual(['conv_rate', 'avg_daily_trips'])
    expect(stats.entityColumns.map((f) => f.name)).toEqual(['driver_id'])
    expect(stats.ttl).toBe(86_400)
    expect(stats.maxAge).toBe(86_400)
    expect(stats.with({ maxAge: 0 }).maxAge).toBe(0)
  })
  it('builds projections and feature services', () => {
    const origin = stats.withName('origin').withJoinKeyMap({ driver_id: 'origin_id' }).select(['conv_rate'])
    expect(origin.nameToUse).toBe('origin')
    const service = new FeatureService({ name: 'svc', features: [stats, origin] })
    expect(service.featureRefs).toEqual([
      'driver_hourly_stats:conv_rate',
      'driver_hourly_stats:avg_daily_trips',
      'origin:conv_rate',
    ])
  })
  it('names the object and the fix on bad input', () => {
    const e = errorOf(() => new Field({ name: 'x', dtype: 'float' as never }))
    expect(e.message).toContain('Field "x"')
    expect(e.hint).toContain('Float32')
    expect(errorOf(() => new Entity({ name: 'e', joinKeys: ['a', 'b'] })).hint).toContain(
      'one entity per key',
    )
    expect(
      errorOf(() => new FeatureView({ ...stats.options(), entities: ['driver' as never] })).message,
    ).toContain('entities[0] is not an Entity')
    expect(errorOf(() => new FeatureView({ ...stats.options(), ttl: 'soon' })).message).toContain('ttl')
    expect(errorOf(() => new FeatureView({ ...stats.options(), colour: 'red' } as never)).hint).toContain(
      'known options',
    )
    // @ts-expect-error a typed view's select rejects an unknown feature at compile time as well
    expect(errorOf(() => stats.select(['nope'])).hint).toContain('conv_rate')
    expect(errorOf(() => new FeatureService({ name: 's', features: [stats, stats] })).hint).toContain(
      'withName',
    )
  })
  it('reads the batch source through a push source', () => {
    const push = new PushSource({ name: 'driver_push', batchSource: source })
    const pushed = stats.with({ source: push })
    expect(pushed.batchSource).toBe(source)
    expect(pushed.pushSource).toBe(push)
  })
  it('parses feature references', () => {
    expect(parseFeatureRef('driver_hourly_stats:conv_rate')).toEqual({
      view: 'driver_hourly_stats',
      feature: 'conv_rate',
    })
    expect(() => parseFeatureRef('conv_rate')).toThrow(/<view>:<feature>/)
  })
})

describe('ValueType numbers', () => {
  it('equal the generated feast.types.ValueType enum', async () => {
    const { ValueType_Enum } = await import('../gen/feast/types/Value_pb.js')
    for (const [name, n] of Object.entries(ValueType)) {
      const generatedName = name === 'UNKNOWN' ? 'INVALID' : name
      expect((ValueType_Enum as unknown as Record<string, number>)[generatedName], name).toBe(n)
    }
  })
})
