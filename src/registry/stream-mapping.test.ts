import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf'
import { describe, expect, it } from 'vitest'
import {
  Aggregation,
  Entity,
  FeatureService,
  Field,
  FileSource,
  Float32,
  Int64,
  KafkaSource,
  KinesisSource,
  NatsSource,
  Project,
  RedisStreamSource,
  String as Str,
  StreamFeatureView,
} from '../core/index.js'
import { DataSource_SourceType as SourceType } from '../gen/feast/core/DataSource_pb.js'
import { type Registry, RegistrySchema } from '../gen/feast/core/Registry_pb.js'
import { StreamFeatureViewSchema } from '../gen/feast/core/StreamFeatureView_pb.js'
import { concat, int, mapEntry, msg, str } from './__fixtures__/proto-wire.js'
import { applyContents, diffContents, type RepoContents } from './apply-objects.js'
import { ProjectCatalog } from './catalog.js'
import { FileRegistry } from './file/file-registry.js'
import { LARDER_TAGS, transformationHash } from './proto-mapping.js'
import { streamFeatureViewToProto } from './stream-mapping.js'

const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
const tripsFile = new FileSource({
  name: 'trips_file',
  path: 'data/trips.parquet',
  timestampField: 'event_timestamp',
  createdTimestampColumn: 'created',
})
const redis = new RedisStreamSource({
  name: 'trips_redis',
  stream: 'trips',
  consumerGroup: 'trip-workers',
  payloadField: 'data',
  messageFormat: { type: 'avro', schemaJson: '{"type":"record"}' },
  timestampField: 'event_timestamp',
  fieldMapping: { fare_amount: 'fare' },
  batchSource: tripsFile,
  tags: { team: 'rides' },
})
const nats = new NatsSource({
  name: 'trips_nats',
  subject: 'trips.events',
  stream: 'TRIPS',
  timestampField: 'event_timestamp',
  batchSource: tripsFile,
})
const kafka = new KafkaSource({
  name: 'trips_kafka',
  topic: 'trips',
  kafkaBootstrapServers: 'broker:9092',
  timestampField: 'event_timestamp',
  createdTimestampColumn: 'created',
  messageFormat: { type: 'proto', classPath: 'rides.Trip' },
  watermarkDelayThreshold: '1m',
  batchSource: tripsFile,
})
const kinesis = new KinesisSource({
  name: 'trips_kinesis',
  region: 'eu-west-1',
  streamName: 'trips',
  timestampField: 'event_timestamp',
  batchSource: tripsFile,
})
const schema = [
  new Field({ name: 'driver_id', dtype: Int64 }),
  new Field({ name: 'fare', dtype: Float32 }),
  new Field({ name: 'city', dtype: Str }),
]

function tripStats(transform: (e: Readonly<Record<string, unknown>>) => Record<string, unknown>) {
  return new StreamFeatureView({
    name: 'trip_stats',
    source: redis,
    entities: [driver],
    schema,
    aggregations: [
      new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h', slideInterval: '10m' }),
      new Aggregation({ column: 'city', function: 'count_distinct', timeWindow: '1d', name: 'cities_1d' }),
    ],
    tilingHopSize: '10m',
    transform,
    ttl: '1d',
    maxAge: '2h',
    storageTtl: '7d',
    offline: true,
    description: 'trips per driver',
    tags: { team: 'rides' },
    owner: 'rides@example.com',
  })
}

const plain = (name: string, source: KafkaSource | KinesisSource | NatsSource) =>
  new StreamFeatureView({ name, source, entities: [driver], schema })

function contents(view: StreamFeatureView): RepoContents {
  return {
    project: new Project({ name: 'demo' }),
    entities: [driver],
    dataSources: [tripsFile, redis, nats, kafka, kinesis],
    featureViews: [],
    streamFeatureViews: [
      view,
      plain('trips_nats_view', nats),
      plain('trips_kafka_view', kafka),
      plain('trips_kinesis_view', kinesis),
    ],
    featureServices: [
      new FeatureService({
        name: 'trip_service',
        features: [view.select(['fare', 'sum_fare_3600s']).withName('t'), plain('trips_kafka_view', kafka)],
      }),
    ],
  }
}

function applied(view: StreamFeatureView): Registry {
  const draft = create(RegistrySchema, {})
  applyContents(draft, contents(view), 1_000_000)
  // through bytes, as a registry file would hold it
  return fromBinary(RegistrySchema, toBinary(RegistrySchema, draft))
}

const double = (e: Readonly<Record<string, unknown>>) => ({ ...e, fare: Number(e.fare) * 2 })

describe('stream feature views in the registry', () => {
  it("stores Feast's StreamFeatureView message", () => {
    const view = tripStats(double)
    const spec = applied(view).streamFeatureViews.find((v) => v.spec?.name === 'trip_stats')!.spec!
    expect(spec.entities).toEqual(['driver'])
    expect(spec.entityColumns.map((f) => f.name)).toEqual(['driver_id'])
    expect(spec.features.map((f) => `${f.name}:${f.valueType}`)).toEqual([
      'fare:6',
      'city:2',
      'sum_fare_3600s:5',
      'cities_1d:4',
    ])
    expect(
      spec.aggregations.map((a) => [
        a.column,
        a.function,
        a.timeWindow?.seconds,
        a.slideInterval?.seconds,
        a.name,
      ]),
    ).toEqual([
      ['fare', 'sum', 3600n, 600n, ''],
      ['city', 'count_distinct', 86_400n, 86_400n, 'cities_1d'],
    ])
    expect(spec.timestampField).toBe('event_timestamp')
    expect(spec.enableTiling).toBe(true)
    expect(spec.tilingHopSize?.seconds).toBe(600n)
    expect(spec.ttl?.seconds).toBe(86_400n)
    expect(spec.online).toBe(true)
    expect(spec.mode).toBe('typescript-row')
    const udf = spec.featureTransformation!.transformation
    expect(udf.case === 'userDefinedFunction' && udf.value).toMatchObject({
      name: 'trip_stats',
      mode: 'typescript-row',
      bodyText: view.transformation!.bodyText,
    })
    expect(udf.case === 'userDefinedFunction' && udf.value.body.length).toBe(0)
    expect(spec.userDefinedFunction).toBeUndefined()
    expect(spec.tags).toEqual({
      team: 'rides',
      [LARDER_TAGS.maxAge]: '7200',
      [LARDER_TAGS.storageTtl]: '604800',
      [LARDER_TAGS.offline]: 'true',
      [LARDER_TAGS.transformationHash]: transformationHash(view.transformation!.bodyText),
    })
    // Feast's to_proto stamps the class of each source it embeds
    expect(spec.batchSource?.dataSourceClassType).toBe('feast.infra.offline_stores.file_source.FileSource')
    expect(spec.batchSource?.type).toBe(SourceType.BATCH_FILE)
    // a Redis stream is a push source with its batch source for Feast, Larder's options beside it
    const stream = spec.streamSource!
    expect(stream.type).toBe(SourceType.PUSH_SOURCE)
    expect(stream.dataSourceClassType).toBe('larderjs.RedisStreamSource')
    expect(stream.batchSource?.options.case).toBe('fileOptions')
    expect(stream.timestampField).toBe('event_timestamp')
    expect(stream.fieldMapping).toEqual({ fare_amount: 'fare' })
    expect(stream.options.case).toBe('customOptions')
    expect(
      new TextDecoder().decode(
        stream.options.case === 'customOptions' ? stream.options.value.configuration : undefined,
      ),
    ).toBe(
      '{"stream":"trips","consumer_group":"trip-workers","payload_field":"data","message_format":{"type":"avro","schema_json":"{\\"type\\":\\"record\\"}"}}',
    )
  })

  it('stores Kafka and Kinesis sources as Feast does, and NATS beside Redis', () => {
    const registry = applied(tripStats(double))
    const source = (name: string) => registry.dataSources.find((s) => s.name === name)!
    const k = source('trips_kafka')
    expect(k.type).toBe(SourceType.STREAM_KAFKA)
    expect(k.options.case === 'kafkaOptions' && k.options.value).toMatchObject({
      kafkaBootstrapServers: 'broker:9092',
      topic: 'trips',
      messageFormat: { format: { case: 'protoFormat', value: { classPath: 'rides.Trip' } } },
      watermarkDelayThreshold: { seconds: 60n },
    })
    expect(k.batchSource?.name).toBe('trips_file')
    expect(k.dataSourceClassType).toBe('')
    const kin = source('trips_kinesis')
    expect(kin.type).toBe(SourceType.STREAM_KINESIS)
    expect(kin.options.case === 'kinesisOptions' && kin.options.value).toMatchObject({
      region: 'eu-west-1',
      streamName: 'trips',
      recordFormat: { format: { case: 'jsonFormat', value: { schemaJson: '' } } },
    })
    const n = source('trips_nats')
    expect([n.type, n.dataSourceClassType]).toEqual([SourceType.PUSH_SOURCE, 'larderjs.NatsSource'])
    expect(
      new TextDecoder().decode(
        n.options.case === 'customOptions' ? n.options.value.configuration : undefined,
      ),
    ).toBe(
      '{"subject":"trips.events","stream":"TRIPS","consumer":"larder","message_format":{"type":"json","schema_json":""}}',
    )
    const view = registry.streamFeatureViews.find((v) => v.spec?.name === 'trips_kafka_view')!.spec!
    expect(view.streamSource?.dataSourceClassType).toBe('feast.data_source.KafkaSource')
    expect([view.mode, view.enableTiling, view.aggregations.length]).toEqual(['', false, 0])
  })

  it('reads back what it wrote, byte for byte', () => {
    const view = tripStats(double)
    const registry = applied(view)
    const catalog = new ProjectCatalog(registry, 'demo')
    expect(catalog.skipped).toEqual([])
    const loaded = catalog.streamFeatureView('trip_stats')
    expect(loaded.transformation).toEqual({ ...view.transformation, fn: undefined })
    expect(loaded.aggregations.map((a) => a.options())).toEqual(view.aggregations.map((a) => a.options()))
    expect(loaded.features.map((f) => f.name)).toEqual(view.features.map((f) => f.name))
    expect([loaded.ttl, loaded.maxAge, loaded.storageTtl, loaded.offline, loaded.tilingHopSize]).toEqual([
      86_400,
      7200,
      604_800,
      true,
      600,
    ])
    expect(loaded.tags).toEqual({ team: 'rides' })
    expect(loaded.source).toBeInstanceOf(RedisStreamSource)
    expect(loaded.source).toMatchObject({
      stream: 'trips',
      consumerGroup: 'trip-workers',
      payloadField: 'data',
      messageFormat: { type: 'avro', schemaJson: '{"type":"record"}' },
      fieldMapping: { fare_amount: 'fare' },
    })
    for (const name of ['trip_stats', 'trips_nats_view', 'trips_kafka_view', 'trips_kinesis_view']) {
      const stored = registry.streamFeatureViews.find((v) => v.spec?.name === name)!
      const again = streamFeatureViewToProto(catalog.streamFeatureView(name), 'demo')
      expect(equals(StreamFeatureViewSchema, { ...stored, meta: undefined } as never, again), name).toBe(true)
    }
    expect(catalog.dataSource('trips_kafka')).toMatchObject({
      topic: 'trips',
      messageFormat: { type: 'proto', classPath: 'rides.Trip' },
      watermarkDelayThreshold: 60,
    })
    expect(catalog.dataSource('trips_nats')).toBeInstanceOf(NatsSource)
    expect(catalog.featureService('trip_service').featureRefs).toEqual([
      't:fare',
      't:sum_fare_3600s',
      'trips_kafka_view:fare',
      'trips_kafka_view:city',
    ])
    expect(diffContents(registry, contents(view)).filter((c) => c.action !== 'unchanged')).toEqual([])
  })

  it('shows a change of transformation code in the plan as its hashes', () => {
    const before = tripStats(double)
    const after = tripStats((e) => ({ ...e, fare: Number(e.fare) * 3 }))
    const change = diffContents(applied(before), contents(after)).find(
      (c) => c.kind === 'stream feature view',
    )!
    expect(change).toMatchObject({ name: 'trip_stats', action: 'update' })
    expect(change.changedFields).toEqual([
      `transformation code ${transformationHash(before.transformation!.bodyText).slice(0, 12)} -> ${transformationHash(after.transformation!.bodyText).slice(0, 12)}`,
    ])
  })
})

/** A registry as Feast's Python SDK writes one with stream feature views, from its field numbers. */
const PROJECT = 'feast_streams'
const fileSource = (field: number, ...extra: Uint8Array[]) =>
  msg(
    field,
    int(1, 1), // type = BATCH_FILE
    str(3, 'event_timestamp'),
    msg(11, msg(1, msg(1)), str(2, 'data/driver_stats.parquet')),
    str(20, 'driver_stats_file'),
    str(21, PROJECT),
    ...extra,
  )
const kafkaSource = (field: number, ...extra: Uint8Array[]) =>
  msg(
    field,
    int(1, 3), // type = STREAM_KAFKA
    str(3, 'event_timestamp'),
    // kafka_options{kafka_bootstrap_servers, topic, message_format{json_format{schema_json}}, watermark_delay_threshold}
    msg(
      13,
      str(1, 'localhost:9092'),
      str(2, 'drivers'),
      msg(3, msg(3, str(1, '{"type":"object"}'))),
      msg(4, int(1, 300)),
    ),
    str(20, 'driver_stats_stream'),
    str(21, PROJECT),
    fileSource(26), // batch_source
    ...extra,
  )
const feature = (field: number, name: string, valueType: number) =>
  msg(field, str(1, name), int(2, valueType))
const udf = (field: number) =>
  msg(
    field,
    str(1, 'driver_stats_udf'),
    msg(2, int(1, 0x80)),
    str(3, 'def driver_stats_udf(df):\n    return df\n'),
  )

const feastRegistry = concat([
  msg(1, msg(1, str(1, 'driver'), int(2, 4), str(4, 'driver_id'), str(9, PROJECT))),
  fileSource(12),
  kafkaSource(12),
  // stream_feature_views = 14: a Python UDF and an aggregation over a Kafka source
  msg(
    14,
    msg(
      1,
      str(1, 'driver_stats_stream_view'),
      str(2, PROJECT),
      str(3, 'driver'),
      feature(4, 'driver_id', 4), // Feast's to_proto repeats the entity column among the features
      feature(4, 'conv_rate', 6),
      feature(4, 'max_conv_rate_3600s', 6),
      feature(5, 'driver_id', 4),
      str(6, 'a stream view Feast wrote'),
      mapEntry(7, 'team', 'drivers'),
      msg(9, int(1, 86_400)),
      fileSource(10, str(17, 'feast.infra.offline_stores.file_source.FileSource')),
      kafkaSource(11, str(17, 'feast.data_source.KafkaSource')),
      int(12, 1),
      udf(13),
      str(14, 'python'),
      msg(15, str(1, 'conv_rate'), str(2, 'max'), msg(3, int(1, 3600)), msg(4, int(1, 3600))),
      str(16, 'event_timestamp'),
      msg(17, udf(1)),
    ),
    msg(
      2,
      msg(1, int(1, 1_700_000_000)),
      msg(3, msg(1, int(1, 1_700_000_000)), msg(2, int(1, 1_700_003_600))),
    ),
  ),
  // a view over Feast's PushSource (no push_options written), no UDF, no tiling hop size
  msg(
    14,
    msg(
      1,
      str(1, 'driver_push_view'),
      str(2, PROJECT),
      str(3, 'driver'),
      feature(4, 'conv_rate', 6),
      feature(5, 'driver_id', 4),
      msg(
        11,
        int(1, 9),
        str(20, 'driver_push'),
        str(21, PROJECT),
        fileSource(26),
        str(17, 'feast.data_source.PushSource'),
      ),
      int(12, 1),
      str(14, 'python'),
    ),
  ),
  // an aggregation without a window: Larder cannot answer it
  msg(
    14,
    msg(
      1,
      str(1, 'lifetime_view'),
      str(2, PROJECT),
      str(3, 'driver'),
      feature(4, 'conv_rate', 6),
      feature(5, 'driver_id', 4),
      kafkaSource(11),
      msg(15, str(1, 'conv_rate'), str(2, 'sum')),
      str(16, 'event_timestamp'),
    ),
  ),
  // feature_services = 7, reading the stream view's plain feature
  msg(
    7,
    msg(
      1,
      str(1, 'driver_service'),
      str(2, PROJECT),
      msg(3, str(1, 'driver_stats_stream_view'), feature(2, 'conv_rate', 6)),
    ),
  ),
  str(3, '1'),
  str(4, 'feast-written-streams'),
])

describe('a registry Feast wrote with stream feature views', () => {
  it('loads them, the Python UDF by its mode and text, and skips what Larder cannot answer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'larder-feast-streams-'))
    const path = join(dir, 'registry.db')
    writeFileSync(path, feastRegistry)
    const catalog = (await new FileRegistry({ path, cacheTtlSeconds: 0 }).load()).catalog(PROJECT)
    const view = catalog.streamFeatureView('driver_stats_stream_view')
    expect(view.transformation).toEqual({
      mode: 'python',
      bodyText: 'def driver_stats_udf(df):\n    return df\n',
      fn: undefined,
    })
    expect(view.schema?.map((f) => `${f.name}:${f.dtype.name}`)).toEqual([
      'driver_id:Int64',
      'conv_rate:Float32',
    ])
    expect(view.features.map((f) => `${f.name}:${f.dtype.name}`)).toEqual([
      'conv_rate:Float32',
      'max_conv_rate_3600s:Float32',
    ])
    expect(view.aggregations[0]!.options()).toEqual({
      column: 'conv_rate',
      function: 'max',
      timeWindow: 3600,
      slideInterval: 3600,
      name: undefined,
    })
    expect([view.ttl, view.tilingHopSize, view.timestampField, view.description]).toEqual([
      86_400,
      300,
      'event_timestamp',
      'a stream view Feast wrote',
    ])
    expect(view.source).toBeInstanceOf(KafkaSource)
    expect(view.source).toMatchObject({
      kafkaBootstrapServers: 'localhost:9092',
      topic: 'drivers',
      messageFormat: { type: 'json', schemaJson: '{"type":"object"}' },
      watermarkDelayThreshold: 300,
    })
    expect(view.batchSource.name).toBe('driver_stats_file')
    expect(catalog.materializationIntervals('driver_stats_stream_view')).toEqual([
      { start: 1_700_000_000_000_000, end: 1_700_003_600_000_000 },
    ])
    const push = catalog.streamFeatureView('driver_push_view')
    expect(push.transformation).toBeUndefined()
    expect(push.source.batchSource?.name).toBe('driver_stats_file')
    expect(push.timestampField).toBe('event_timestamp')
    expect(catalog.featureService('driver_service').featureRefs).toEqual([
      'driver_stats_stream_view:conv_rate',
    ])
    expect(catalog.dataSource('driver_stats_stream')).toBeInstanceOf(KafkaSource)
    expect(catalog.skipped).toEqual([
      {
        kind: 'stream feature view',
        name: 'lifetime_view',
        reason: expect.stringContaining('timeWindow 0 is not a positive duration'),
      },
    ])
    expect(() => catalog.streamFeatureView('lifetime_view')).toThrow(/cannot be used by Larder/)
  })
})
