import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire'
import { DurationSchema, TimestampSchema } from '@bufbuild/protobuf/wkt'
import { describe, expect, it } from 'vitest'
import { DataSource_SourceType, DataSourceSchema } from '../gen/feast/core/DataSource_pb.js'
import { EntitySchema } from '../gen/feast/core/Entity_pb.js'
import { FeatureServiceSchema } from '../gen/feast/core/FeatureService_pb.js'
import { FeatureViewSchema } from '../gen/feast/core/FeatureView_pb.js'
import { OnDemandFeatureViewSchema } from '../gen/feast/core/OnDemandFeatureView_pb.js'
import { RegistrySchema } from '../gen/feast/core/Registry_pb.js'
import { type Value, ValueSchema, ValueType_Enum } from '../gen/feast/types/Value_pb.js'

const hex = (bytes: Uint8Array): string =>
  Buffer.from(bytes)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ')

const ts = (seconds: number) => create(TimestampSchema, { seconds: BigInt(seconds), nanos: 0 })

function buildRegistry() {
  const entity = create(EntitySchema, {
    spec: {
      name: 'driver',
      project: 'demo',
      valueType: ValueType_Enum.INT64,
      joinKey: 'driver_id',
      description: 'a driver',
      tags: { team: 'rides' },
    },
    meta: { createdTimestamp: ts(1640995200), lastUpdatedTimestamp: ts(1640995200) },
  })

  const batchSource = create(DataSourceSchema, {
    name: 'driver_stats_source',
    project: 'demo',
    type: DataSource_SourceType.BATCH_FILE,
    timestampField: 'event_timestamp',
    createdTimestampColumn: 'created',
    dataSourceClassType: 'feast.infra.offline_stores.file_source.FileSource',
    options: {
      case: 'fileOptions',
      value: {
        uri: 'data/driver_stats.parquet',
        fileFormat: { format: { case: 'parquetFormat', value: {} } },
      },
    },
  })

  const featureView = create(FeatureViewSchema, {
    spec: {
      name: 'driver_hourly_stats',
      project: 'demo',
      entities: ['driver'],
      features: [
        { name: 'conv_rate', valueType: ValueType_Enum.FLOAT },
        { name: 'avg_daily_trips', valueType: ValueType_Enum.INT64 },
      ],
      entityColumns: [{ name: 'driver_id', valueType: ValueType_Enum.INT64 }],
      ttl: create(DurationSchema, { seconds: 86400n }),
      batchSource,
      online: true,
    },
    meta: {
      createdTimestamp: ts(1640995200),
      materializationIntervals: [{ startTime: ts(1640995200), endTime: ts(1641081600) }],
    },
  })

  const odfv = create(OnDemandFeatureViewSchema, {
    spec: {
      name: 'transformed_conv_rate',
      project: 'demo',
      features: [{ name: 'conv_rate_plus_1', valueType: ValueType_Enum.DOUBLE }],
      sources: {
        driver_hourly_stats: {
          source: {
            case: 'featureViewProjection',
            value: { featureViewName: 'driver_hourly_stats', featureColumns: featureView.spec!.features },
          },
        },
      },
      featureTransformation: {
        transformation: {
          case: 'userDefinedFunction',
          value: {
            name: 'transformed_conv_rate',
            body: new Uint8Array([0x80, 0x04]),
            bodyText:
              'def transformed_conv_rate(inputs):\n    return {"conv_rate_plus_1": inputs["conv_rate"] + 1}\n',
            mode: 'python',
          },
        },
      },
      mode: 'python',
    },
  })

  const featureService = create(FeatureServiceSchema, {
    spec: {
      name: 'driver_activity',
      project: 'demo',
      features: [
        {
          featureViewName: 'driver_hourly_stats',
          featureViewNameAlias: 'origin_stats',
          featureColumns: [{ name: 'conv_rate', valueType: ValueType_Enum.FLOAT }],
          joinKeyMap: { driver_id: 'origin_id' },
        },
      ],
    },
  })

  return create(RegistrySchema, {
    entities: [entity],
    featureViews: [featureView],
    onDemandFeatureViews: [odfv],
    featureServices: [featureService],
    dataSources: [batchSource],
    registrySchemaVersion: '1',
    versionId: 'abc-123',
    lastUpdated: ts(1641081600),
  })
}

describe('feast.core.Registry round trip', () => {
  it('encodes and decodes a registry with an entity, a view, an ODFV and a service', () => {
    const bytes = toBinary(RegistrySchema, buildRegistry())
    expect(bytes.length).toBeGreaterThan(0)
    const decoded = fromBinary(RegistrySchema, bytes)

    expect(decoded.registrySchemaVersion).toBe('1')
    expect(decoded.lastUpdated?.seconds).toBe(1641081600n)

    const entity = decoded.entities[0]!
    expect(entity.spec?.name).toBe('driver')
    expect(entity.spec?.joinKey).toBe('driver_id')
    expect(entity.spec?.valueType).toBe(ValueType_Enum.INT64)
    expect(entity.spec?.tags).toEqual({ team: 'rides' })

    const fv = decoded.featureViews[0]!
    expect(fv.spec?.ttl?.seconds).toBe(86400n)
    expect(fv.spec?.features.map((f) => [f.name, f.valueType])).toEqual([
      ['conv_rate', ValueType_Enum.FLOAT],
      ['avg_daily_trips', ValueType_Enum.INT64],
    ])
    expect(fv.spec?.entityColumns[0]?.name).toBe('driver_id')
    const options = fv.spec?.batchSource?.options
    expect(options?.case).toBe('fileOptions')
    if (options?.case === 'fileOptions') {
      expect(options.value.uri).toBe('data/driver_stats.parquet')
      expect(options.value.fileFormat?.format.case).toBe('parquetFormat')
    }
    expect(fv.spec?.batchSource?.type).toBe(DataSource_SourceType.BATCH_FILE)
    expect(fv.meta?.materializationIntervals[0]?.endTime?.seconds).toBe(1641081600n)

    const odfv = decoded.onDemandFeatureViews[0]!
    const transformation = odfv.spec?.featureTransformation?.transformation
    expect(transformation?.case).toBe('userDefinedFunction')
    if (transformation?.case === 'userDefinedFunction') {
      expect(transformation.value.bodyText).toContain('conv_rate_plus_1')
      expect(transformation.value.body).toEqual(new Uint8Array([0x80, 0x04]))
    }
    expect(odfv.spec?.sources.driver_hourly_stats?.source.case).toBe('featureViewProjection')

    const projection = decoded.featureServices[0]!.spec!.features[0]!
    expect(projection.featureViewName).toBe('driver_hourly_stats')
    expect(projection.featureViewNameAlias).toBe('origin_stats')
    expect(projection.joinKeyMap).toEqual({ driver_id: 'origin_id' })
    expect(projection.featureColumns.map((c) => c.name)).toEqual(['conv_rate'])

    // Re-encoding the decoded message gives the same bytes.
    expect(toBinary(RegistrySchema, decoded)).toEqual(bytes)
  })
})

describe('feast.types.Value wire bytes', () => {
  const valueBytes = (val: Value['val']) => hex(toBinary(ValueSchema, create(ValueSchema, { val })))

  it('matches the documented encodings', () => {
    expect(valueBytes({ case: 'int64Val', value: 308n })).toBe('20 b4 02')
    expect(valueBytes({ case: 'stringVal', value: 'abc' })).toBe('12 03 61 62 63')
    expect(valueBytes({ case: 'doubleVal', value: 0.5 })).toBe('29 00 00 00 00 00 00 e0 3f')
    expect(valueBytes({ case: 'boolVal', value: true })).toBe('38 01')
  })

  it('packs repeated int64 lists', () => {
    const v = create(ValueSchema, { val: { case: 'int64ListVal', value: { val: [1n, 2n] } } })
    expect(hex(toBinary(ValueSchema, v))).toBe('72 04 0a 02 01 02')
  })

  it('encodes an unset Value (null) as zero bytes', () => {
    expect(toBinary(ValueSchema, create(ValueSchema)).length).toBe(0)
  })

  it('encodes a google.protobuf.Timestamp as documented', () => {
    expect(hex(toBinary(TimestampSchema, ts(1640995200)))).toBe('08 80 b3 be 8e 06')
  })
})

describe('forward compatibility', () => {
  it('decodes unknown fields and unknown enum values without throwing', () => {
    const specBytes = new BinaryWriter()
      .tag(1, WireType.LengthDelimited)
      .string('driver')
      .tag(2, WireType.Varint)
      .int32(999) // value_type this schema does not name
      .tag(77, WireType.LengthDelimited)
      .string('from a newer Feast')
      .finish()
    const bytes = new BinaryWriter()
      .tag(1, WireType.LengthDelimited)
      .bytes(specBytes)
      .tag(99, WireType.Varint)
      .uint64(5n)
      .finish()

    const entity = fromBinary(EntitySchema, bytes)
    expect(entity.spec?.name).toBe('driver')
    expect(entity.spec?.valueType).toBe(999)
    // Unknown fields are kept and written back unchanged.
    expect(toBinary(EntitySchema, entity)).toEqual(bytes)
  })

  it('decodes a Value whose oneof arm is unknown as an empty Value', () => {
    const bytes = new BinaryWriter().tag(120, WireType.Varint).int32(1).finish()
    const value = fromBinary(ValueSchema, bytes)
    expect(value.val.case).toBeUndefined()
  })
})
