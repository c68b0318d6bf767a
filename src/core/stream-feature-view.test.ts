import { describe, expect, it } from 'vitest'
import { AGGREGATION_FUNCTIONS, Aggregation } from './aggregation.js'
import { FileSource, PushSource } from './data-source.js'
import { Entity } from './entity.js'
import { FeatureService } from './feature-service.js'
import { Field } from './field.js'
import { StreamFeatureView, type StreamFeatureViewOptions } from './stream-feature-view.js'
import {
  KafkaSource,
  KinesisSource,
  NatsSource,
  RedisStreamSource,
  withBatchSource,
} from './stream-source.js'
import { Array as ArrayOf, Float32, Int32, Int64, String as Str, UnixTimestamp } from './types.js'

const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
const trips = new FileSource({
  name: 'trips_file',
  path: 'data/trips.parquet',
  timestampField: 'event_timestamp',
})
const stream = new RedisStreamSource({
  name: 'trips_stream',
  stream: 'trips',
  timestampField: 'event_timestamp',
  batchSource: trips,
})
const schema = [
  new Field({ name: 'driver_id', dtype: Int64 }),
  new Field({ name: 'fare', dtype: Float32 }),
  new Field({ name: 'distance', dtype: Int32 }),
  new Field({ name: 'city', dtype: Str }),
  new Field({ name: 'pickup', dtype: UnixTimestamp }),
  new Field({ name: 'stops', dtype: ArrayOf(Str) }),
]

function view(changes: Partial<StreamFeatureViewOptions> = {}): StreamFeatureView {
  return new StreamFeatureView({
    name: 'trip_stats',
    source: stream,
    entities: [driver],
    schema,
    ...changes,
  } as StreamFeatureViewOptions)
}

function errorOf(build: () => unknown): { code: string; message: string; hint: string | undefined } {
  try {
    build()
  } catch (e) {
    const err = e as { code: string; message: string; hint?: string }
    return { code: err.code, message: err.message, hint: err.hint }
  }
  throw new Error('expected an error')
}

describe('Aggregation', () => {
  it("names its output as Feast's resolved_name: {function}_{column}_{whole seconds}s, or the name given", () => {
    expect(new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h' }).outputName).toBe(
      'sum_fare_3600s',
    )
    expect(new Aggregation({ column: 'fare', function: 'avg', timeWindow: 90.5 }).outputName).toBe(
      'avg_fare_90s',
    )
    expect(new Aggregation({ column: 'fare', function: 'MAX', timeWindow: '1d' }).outputName).toBe(
      'MAX_fare_86400s',
    )
    expect(
      new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h', name: 'fares_1h' }).outputName,
    ).toBe('fares_1h')
  })

  it('defaults the slide interval to the window, as Feast does', () => {
    const a = new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h' })
    expect(a.slideInterval).toBe(3600)
    expect(
      new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h', slideInterval: '5m' })
        .slideInterval,
    ).toBe(300)
    expect(a.describe()).toBe('sum(fare) over 1h')
  })

  it("knows Feast's functions and Larder's count_distinct and last", () => {
    expect([...AGGREGATION_FUNCTIONS].sort()).toEqual(
      [
        'avg',
        'count',
        'count_distinct',
        'last',
        'max',
        'mean',
        'min',
        'std',
        'stddev',
        'sum',
        'var',
        'variance',
      ].sort(),
    )
  })

  it('refuses an unknown function, listing the known ones', () => {
    const e = errorOf(() => new Aggregation({ column: 'fare', function: 'median', timeWindow: '1h' }))
    expect(e.code).toBe('INVALID_DEFINITION')
    expect(e.message).toContain('unknown function "median"')
    expect(e.hint).toContain('avg, count, count_distinct, last, max, mean, min')
  })

  it('refuses a window or slide that is not a positive duration', () => {
    expect(
      errorOf(() => new Aggregation({ column: 'fare', function: 'sum', timeWindow: 0 })).message,
    ).toContain('timeWindow 0 is not a positive duration')
    expect(
      errorOf(() => new Aggregation({ column: 'fare', function: 'sum', timeWindow: 'an hour' })).message,
    ).toContain('"an hour" is not a duration')
    expect(
      errorOf(
        () => new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h', slideInterval: '0' }),
      ).message,
    ).toContain('slideInterval "0" is not a positive duration')
  })
})

describe('StreamFeatureView', () => {
  it('derives its aggregated features with their types after the event features', () => {
    const v = view({
      aggregations: [
        new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h' }),
        new Aggregation({ column: 'distance', function: 'sum', timeWindow: '1h' }),
        { column: 'fare', function: 'avg', timeWindow: '1d' },
        new Aggregation({ column: 'city', function: 'count_distinct', timeWindow: '1h' }),
        new Aggregation({ column: 'pickup', function: 'max', timeWindow: '1h' }),
        new Aggregation({ column: 'stops', function: 'last', timeWindow: '1h' }),
        new Aggregation({ column: 'city', function: 'count', timeWindow: '1h', name: 'rides_1h' }),
      ],
    })
    expect(v.features.map((f) => `${f.name}:${f.dtype.name}`)).toEqual([
      'fare:Float32',
      'distance:Int32',
      'city:String',
      'pickup:UnixTimestamp',
      'stops:Array(String)',
      'sum_fare_3600s:Float64',
      'sum_distance_3600s:Int64',
      'avg_fare_86400s:Float64',
      'count_distinct_city_3600s:Int64',
      'max_pickup_3600s:UnixTimestamp',
      'last_stops_3600s:Array(String)',
      'rides_1h:Int64',
    ])
    expect(v.aggregationOf('rides_1h')?.function).toBe('count')
    expect(v.aggregationOf('fare')).toBeUndefined()
    expect(v.timestampField).toBe('event_timestamp')
    expect(v.tilingHopSize).toBe(300)
  })

  it('is stored and read as a feature view of its non-aggregated features over the batch source', () => {
    const v = view({
      ttl: '1d',
      maxAge: '1h',
      aggregations: [new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h' })],
    })
    expect(v.storageView.name).toBe('trip_stats')
    expect(v.storageView.batchSource).toBe(trips)
    expect(v.storageView.features.map((f) => f.name)).toEqual(['fare', 'distance', 'city', 'pickup', 'stops'])
    expect(v.storageView.maxAge).toBe(3600)
    expect(v.batchSource).toBe(trips)
  })

  it('refuses an aggregation of a field the schema does not declare', () => {
    const e = errorOf(() => view({ aggregations: [{ column: 'tip', function: 'sum', timeWindow: '1h' }] }))
    expect(e.message).toBe(
      'stream feature view "trip_stats": sum(tip) over 1h aggregates "tip", which is not in the schema',
    )
    expect(e.hint).toContain('city, distance, driver_id, fare, pickup, stops')
  })

  it("refuses a function that cannot aggregate the field's type", () => {
    const e = errorOf(() => view({ aggregations: [{ column: 'city', function: 'avg', timeWindow: '1h' }] }))
    expect(e.message).toContain('avg(city) over 1h cannot aggregate "city", which is String')
    expect(e.hint).toContain('avg takes numbers')
  })

  it('refuses an output name that clashes with a field or another aggregation', () => {
    expect(
      errorOf(() =>
        view({ aggregations: [{ column: 'fare', function: 'sum', timeWindow: '1h', name: 'city' }] }),
      ).message,
    ).toContain('the output "city" of sum(fare) over 1h has the name of a field of the schema')
    expect(
      errorOf(() =>
        view({
          aggregations: [
            { column: 'fare', function: 'sum', timeWindow: '1h' },
            { column: 'fare', function: 'sum', timeWindow: 3600.5 },
          ],
          tilingHopSize: 0.5,
        }),
      ).message,
    ).toContain('has the name of sum(fare) over 1h')
  })

  it('refuses a window that is not a multiple of the tiling hop size', () => {
    const e = errorOf(() =>
      view({ aggregations: [{ column: 'fare', function: 'sum', timeWindow: '7m' }], tilingHopSize: '5m' }),
    )
    expect(e.message).toContain('the window of sum(fare) over 7m is not a multiple of the tiling hop size 5m')
    expect(
      view({ aggregations: [{ column: 'fare', function: 'sum', timeWindow: '7m' }], tilingHopSize: '1m' })
        .tilingHopSize,
    ).toBe(60)
  })

  it('needs a timestamp field for aggregations, as Feast does', () => {
    const push = new PushSource({
      name: 'trips_push',
      batchSource: new FileSource({ name: 'no_ts', path: 'data/x.parquet' }),
    })
    const e = errorOf(() =>
      view({ source: push, aggregations: [{ column: 'fare', function: 'sum', timeWindow: '1h' }] }),
    )
    expect(e.message).toBe('stream feature view "trip_stats" has aggregations but no timestampField')
  })

  it('needs a stream or push source with a batch source', () => {
    expect(errorOf(() => view({ source: trips as never })).message).toContain(
      'has source FileSource, which is not a stream or push source',
    )
    const kafka = new KafkaSource({ name: 'k', topic: 't', timestampField: 'ts' })
    const e = errorOf(() => view({ source: kafka }))
    expect(e.message).toBe('stream feature view "trip_stats": its source "k" has no batchSource')
  })

  it('keeps a transform as its source text and mode, and rejects a bad one', () => {
    const v = view({
      transform: (e: Readonly<Record<string, unknown>>) => ({ ...e, fare: Number(e.fare) * 2 }),
    })
    expect(v.transformation?.mode).toBe('typescript-row')
    expect(v.transformation?.bodyText).toContain('fare: Number(e.fare) * 2')
    expect(view().transformation).toBeUndefined()
    expect(errorOf(() => view({ mode: 'batch' } as never)).message).toContain("mode 'batch' but no transform")
    expect(errorOf(() => view({ transform: 'x' as never })).message).toContain('transform must be a function')
  })

  it('declares no timestamp field among its features', () => {
    const e = errorOf(() =>
      view({
        schema: [...schema, new Field({ name: 'seen_at', dtype: UnixTimestamp })],
        timestampField: 'seen_at',
      }),
    )
    expect(e.message).toBe(
      'stream feature view "trip_stats" declares its timestamp field "seen_at" as a field',
    )
  })

  it('can be listed by a feature service, whole or selected', () => {
    const v = view({ aggregations: [{ column: 'fare', function: 'sum', timeWindow: '1h' }] })
    const service = new FeatureService({
      name: 'trips',
      features: [v.select(['fare', 'sum_fare_3600s']).withName('t')],
    })
    expect(service.featureRefs).toEqual(['t:fare', 't:sum_fare_3600s'])
    expect(new FeatureService({ name: 'all', features: [v] }).streamProjections[0]!.features).toHaveLength(6)
    expect(errorOf(() => v.select(['tip'])).message).toContain(
      'feature "tip" not found in stream feature view',
    )
  })
})

describe('stream sources', () => {
  it('keep their options, with JSON as the default message format', () => {
    const kafka = new KafkaSource({
      name: 'k',
      topic: 'trips',
      timestampField: 'ts',
      kafkaBootstrapServers: 'b:9092',
      watermarkDelayThreshold: '30s',
    })
    expect(kafka.messageFormat).toEqual({ type: 'json', schemaJson: '' })
    expect(kafka.watermarkDelayThreshold).toBe(30)
    const kinesis = new KinesisSource({
      name: 'kin',
      region: 'eu-west-1',
      streamName: 'trips',
      recordFormat: { type: 'avro', schemaJson: '{}' },
    })
    expect(kinesis.recordFormat).toEqual({ type: 'avro', schemaJson: '{}' })
    expect(stream.consumerGroup).toBe('larder')
    expect(stream.messageFormat).toBeUndefined()
    const nats = new NatsSource({ name: 'n', subject: 'trips.>', timestampField: 'ts' })
    expect([nats.consumer, nats.stream, nats.messageFormat.type]).toEqual(['larder', '', 'json'])
  })

  it('refuse a missing topic, timestamp field, or a format without a payload field', () => {
    expect(errorOf(() => new KafkaSource({ name: 'k', timestampField: 'ts' } as never)).message).toBe(
      'KafkaSource "k" has no topic',
    )
    expect(errorOf(() => new NatsSource({ name: 'n', subject: 's' } as never)).message).toBe(
      'NatsSource "n" has no timestampField',
    )
    expect(
      errorOf(
        () => new RedisStreamSource({ name: 'r', stream: 's', timestampField: 'ts', messageFormat: 'json' }),
      ).message,
    ).toContain('has a messageFormat but no payloadField')
    expect(
      errorOf(
        () => new KafkaSource({ name: 'k', topic: 't', timestampField: 'ts', messageFormat: 'xml' as never }),
      ).message,
    ).toContain('messageFormat "xml" is not a message format')
    expect(
      errorOf(
        () => new KafkaSource({ name: 'k', topic: 't', timestampField: 'ts', batchSource: stream as never }),
      ).message,
    ).toContain('has a batchSource of kind RedisStreamSource, which is not a batch source')
  })

  it('are rebuilt over another batch source', () => {
    const other = new FileSource({ name: 'other', path: 'data/o.parquet', timestampField: 'ts' })
    const moved = withBatchSource(stream, other)
    expect(moved).toBeInstanceOf(RedisStreamSource)
    expect(moved.batchSource).toBe(other)
    expect(moved.stream).toBe('trips')
  })
})
