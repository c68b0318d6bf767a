import { createHash } from 'node:crypto'
import { create } from '@bufbuild/protobuf'
import { type Duration, DurationSchema, type Timestamp, TimestampSchema } from '@bufbuild/protobuf/wkt'
import {
  type BatchSource,
  type DataSource,
  DUMMY_ENTITY_NAME,
  Entity,
  type FeastType,
  FeatureService,
  FeatureView,
  type FeatureViewProjection,
  Field,
  FileSource,
  isKind,
  KafkaSource,
  KinesisSource,
  kindOf,
  type MessageFormat,
  type Micros,
  NatsSource,
  OnDemandFeatureView,
  type OnDemandProjection,
  type OnDemandSource,
  PostgreSQLSource,
  Project,
  PushSource,
  postgresOptionsJson,
  RedisStreamSource,
  RequestSource,
  type StreamFeatureView,
  type StreamProjection,
  type StreamSource,
  typeFromValueType,
  typeTags,
  valueTypeName,
} from '../core/index.js'
import { type StreamFormat, StreamFormatSchema } from '../gen/feast/core/DataFormat_pb.js'
import {
  type DataSource as DataSourceProto,
  DataSourceSchema,
  DataSource_SourceType as SourceType,
} from '../gen/feast/core/DataSource_pb.js'
import { type Entity as EntityProto, EntitySchema } from '../gen/feast/core/Entity_pb.js'
import { type FeatureSpecV2, FeatureSpecV2Schema } from '../gen/feast/core/Feature_pb.js'
import {
  type FeatureService as FeatureServiceProto,
  FeatureServiceSchema,
} from '../gen/feast/core/FeatureService_pb.js'
import { type FeatureView as FeatureViewProto, FeatureViewSchema } from '../gen/feast/core/FeatureView_pb.js'
import {
  FeatureViewProjectionSchema,
  type FeatureViewProjection as ProjectionProto,
} from '../gen/feast/core/FeatureViewProjection_pb.js'
import {
  type OnDemandFeatureView as OnDemandFeatureViewProto,
  OnDemandFeatureViewSchema,
  type OnDemandSource as OnDemandSourceProto,
  OnDemandSourceSchema,
} from '../gen/feast/core/OnDemandFeatureView_pb.js'
import { type Project as ProjectProto, ProjectSchema } from '../gen/feast/core/Project_pb.js'

/**
 * Tags that carry Larder-only settings inside Feast's messages. Feast keeps them as ordinary tags, so a
 * registry Larder wrote still decodes and works in Feast; Larder strips them when it reads.
 */
export const LARDER_TAGS = {
  maxAge: 'larder.dev/max-age-seconds',
  storageTtl: 'larder.dev/storage-ttl-seconds',
  fileFormat: 'larder.dev/file-format',
  /** sha256 (hex) of an on-demand or stream view's `body_text`, so drift shows without comparing whole texts. */
  transformationHash: 'larder.dev/transformation-sha256',
  /** `true` on a stream view that appends its events offline (Feast's stream view message has no `offline`). */
  offline: 'larder.dev/offline',
  /** A saved dataset's training-set receipt (JSON text), for `larder reproduce --saved-dataset`. */
  receipt: 'larder.dev/receipt',
} as const

const LARDER_TAG_PREFIX = 'larder.dev/'
const POSTGRES_SOURCE_CLASS =
  'feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource'

/**
 * The `data_source_class_type` of Larder's own stream sources. They are stored as Feast push sources
 * (type `PUSH_SOURCE`, with their batch source) whose `custom_options.configuration` holds Larder's
 * options as JSON: Feast picks a source's class by its type and loads them as `PushSource`s, ignoring
 * the class name and the options; Larder picks them by this class name.
 */
const LARDER_SOURCE_CLASSES = {
  RedisStreamSource: 'larderjs.RedisStreamSource',
  NatsSource: 'larderjs.NatsSource',
} as const

/** Thrown inside the mapping for a message Larder cannot represent; the catalog records it and moves on. */
export class UnsupportedObject extends Error {}

export function timestampFromMicros(micros: Micros): Timestamp {
  const seconds = Math.floor(micros / 1_000_000)
  return create(TimestampSchema, { seconds: BigInt(seconds), nanos: (micros - seconds * 1_000_000) * 1000 })
}

export function microsFromTimestamp(ts: Timestamp | undefined): Micros | undefined {
  if (!ts) return undefined
  return Number(ts.seconds) * 1_000_000 + Math.floor(ts.nanos / 1000)
}

export function durationFromSeconds(seconds: number): Duration {
  const whole = Math.floor(seconds)
  return create(DurationSchema, { seconds: BigInt(whole), nanos: Math.round((seconds - whole) * 1e9) })
}

export function secondsFromDuration(d: Duration | undefined): number {
  return d ? Number(d.seconds) + d.nanos / 1e9 : 0
}

export function userTags(tags: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).filter(([k]) => !k.startsWith(LARDER_TAG_PREFIX)))
}

// ---- fields ----

export function fieldToProto(field: Field): FeatureSpecV2 {
  return create(FeatureSpecV2Schema, {
    name: field.name,
    valueType: field.dtype.valueType,
    description: field.description,
    tags: { ...field.tags, ...typeTags(field.dtype) },
  })
}

export function fieldFromProto(spec: FeatureSpecV2, owner: string): Field {
  const dtype: FeastType | undefined = typeFromValueType(spec.valueType, spec.tags)
  if (!dtype)
    throw new UnsupportedObject(
      `${owner} field "${spec.name}" has value type ${valueTypeName(spec.valueType)}`,
    )
  const tags = Object.fromEntries(Object.entries(spec.tags).filter(([k]) => !k.startsWith('feast:')))
  return new Field({ name: spec.name, dtype, description: spec.description, tags })
}

// ---- entities ----

export function entityToProto(entity: Entity, project: string): EntityProto {
  return create(EntitySchema, {
    spec: {
      name: entity.name,
      project,
      valueType: entity.valueType?.valueType ?? 0,
      description: entity.description,
      joinKey: entity.joinKey,
      tags: { ...entity.tags },
      owner: entity.owner,
    },
  })
}

export function entityFromProto(proto: EntityProto): Entity {
  const spec = proto.spec!
  return new Entity({
    name: spec.name,
    joinKeys: [spec.joinKey || spec.name],
    valueType: spec.valueType === 0 ? undefined : typeFromValueType(spec.valueType),
    description: spec.description,
    tags: { ...spec.tags },
    owner: spec.owner,
  })
}

// ---- data sources ----

export function dataSourceToProto(source: DataSource, project: string): DataSourceProto {
  const common = {
    name: source.name,
    project,
    description: source.description,
    tags: { ...source.tags },
    owner: source.owner,
  }
  if (isKind(source, 'FileSource')) {
    const s = source as FileSource
    return create(DataSourceSchema, {
      ...common,
      ...batchFields(s),
      type: SourceType.BATCH_FILE,
      tags: s.fileFormat === 'csv' ? { ...common.tags, [LARDER_TAGS.fileFormat]: 'csv' } : common.tags,
      options: {
        case: 'fileOptions',
        value: {
          uri: s.path,
          fileFormat:
            s.fileFormat === 'parquet' ? { format: { case: 'parquetFormat', value: {} } } : undefined,
        },
      },
    })
  }
  if (isKind(source, 'PostgreSQLSource')) {
    const s = source as PostgreSQLSource
    const configuration = new TextEncoder().encode(
      postgresOptionsJson({ name: s.name, query: s.query, table: s.table }),
    )
    return create(DataSourceSchema, {
      ...common,
      ...batchFields(s),
      type: SourceType.CUSTOM_SOURCE,
      dataSourceClassType: POSTGRES_SOURCE_CLASS,
      options: { case: 'customOptions', value: { configuration } },
    })
  }
  if (isKind(source, 'PushSource')) {
    const s = source as PushSource
    return create(DataSourceSchema, {
      ...common,
      type: SourceType.PUSH_SOURCE,
      batchSource: s.batchSource ? dataSourceToProto(s.batchSource, project) : undefined,
      options: { case: 'pushOptions', value: {} },
    })
  }
  if (isKind(source, 'KafkaSource')) {
    const s = source as KafkaSource
    return create(DataSourceSchema, {
      ...common,
      ...streamFields(s, project),
      type: SourceType.STREAM_KAFKA,
      options: {
        case: 'kafkaOptions',
        value: {
          kafkaBootstrapServers: s.kafkaBootstrapServers,
          topic: s.topic,
          messageFormat: streamFormatToProto(s.messageFormat),
          watermarkDelayThreshold:
            s.watermarkDelayThreshold === undefined
              ? undefined
              : durationFromSeconds(s.watermarkDelayThreshold),
        },
      },
    })
  }
  if (isKind(source, 'KinesisSource')) {
    const s = source as KinesisSource
    return create(DataSourceSchema, {
      ...common,
      ...streamFields(s, project),
      type: SourceType.STREAM_KINESIS,
      options: {
        case: 'kinesisOptions',
        value: {
          region: s.region,
          streamName: s.streamName,
          recordFormat: streamFormatToProto(s.recordFormat),
        },
      },
    })
  }
  if (isKind(source, 'RedisStreamSource') || isKind(source, 'NatsSource')) {
    const s = source as RedisStreamSource | NatsSource
    return create(DataSourceSchema, {
      ...common,
      ...streamFields(s, project),
      type: SourceType.PUSH_SOURCE,
      dataSourceClassType: LARDER_SOURCE_CLASSES[kindOf(s) as keyof typeof LARDER_SOURCE_CLASSES],
      options: {
        case: 'customOptions',
        value: { configuration: new TextEncoder().encode(larderStreamOptionsJson(s)) },
      },
    })
  }
  const s = source as RequestSource
  return create(DataSourceSchema, {
    ...common,
    type: SourceType.REQUEST_SOURCE,
    options: { case: 'requestDataOptions', value: { schema: s.schema.map(fieldToProto) } },
  })
}

/** The fields a stream source keeps at the top of Feast's `DataSource`, its batch source included. */
function streamFields(s: StreamSource, project: string) {
  return {
    timestampField: s.timestampField,
    createdTimestampColumn: s.createdTimestampColumn,
    fieldMapping: { ...s.fieldMapping },
    batchSource: s.batchSource ? dataSourceToProto(s.batchSource, project) : undefined,
  }
}

function streamFormatToProto(format: MessageFormat): StreamFormat {
  switch (format.type) {
    case 'json':
      return create(StreamFormatSchema, {
        format: { case: 'jsonFormat', value: { schemaJson: format.schemaJson } },
      })
    case 'avro':
      return create(StreamFormatSchema, {
        format: { case: 'avroFormat', value: { schemaJson: format.schemaJson } },
      })
    case 'proto':
      return create(StreamFormatSchema, {
        format: { case: 'protoFormat', value: { classPath: format.classPath } },
      })
  }
}

/** Feast's `StreamFormat` as a message format; a message without one is JSON (Feast writes it always). */
function streamFormatFromProto(format: StreamFormat | undefined): MessageFormat {
  switch (format?.format.case) {
    case 'avroFormat':
      return { type: 'avro', schemaJson: format.format.value.schemaJson }
    case 'protoFormat':
      return { type: 'proto', classPath: format.format.value.classPath }
    default:
      return { type: 'json', schemaJson: format?.format.value?.schemaJson ?? '' }
  }
}

/** A message format in the JSON of a Larder stream source's configuration. */
type FormatJson = { type: string; schema_json?: string; class_path?: string }

function formatJson(format: MessageFormat): FormatJson {
  return format.type === 'proto'
    ? { type: 'proto', class_path: format.classPath }
    : { type: format.type, schema_json: format.schemaJson }
}

function formatFromJson(json: FormatJson): MessageFormat {
  return json.type === 'proto'
    ? ({ type: 'proto', classPath: json.class_path ?? '' } as MessageFormat)
    : ({ type: json.type, schemaJson: json.schema_json ?? '' } as MessageFormat)
}

/**
 * The `custom_options.configuration` of a Redis stream or NATS source: its broker options as JSON with
 * snake_case keys in a fixed order (`{"stream", "consumer_group", "payload_field", "message_format"}`
 * or `{"subject", "stream", "consumer", "message_format"}`), so equal definitions give equal bytes.
 */
function larderStreamOptionsJson(s: RedisStreamSource | NatsSource): string {
  if (isKind(s, 'RedisStreamSource')) {
    const r = s as RedisStreamSource
    return JSON.stringify({
      stream: r.stream,
      consumer_group: r.consumerGroup,
      payload_field: r.payloadField,
      message_format: r.messageFormat ? formatJson(r.messageFormat) : null,
    })
  }
  const n = s as NatsSource
  return JSON.stringify({
    subject: n.subject,
    stream: n.stream,
    consumer: n.consumer,
    message_format: formatJson(n.messageFormat),
  })
}

function batchFields(s: BatchSource) {
  return {
    timestampField: s.timestampField,
    createdTimestampColumn: s.createdTimestampColumn,
    datePartitionColumn: s.datePartitionColumn,
    fieldMapping: { ...s.fieldMapping },
  }
}

export function dataSourceFromProto(proto: DataSourceProto): DataSource {
  const common = {
    name: proto.name,
    description: proto.description,
    tags: userTags(proto.tags),
    owner: proto.owner,
  }
  const batch = {
    ...common,
    timestampField: proto.timestampField,
    createdTimestampColumn: proto.createdTimestampColumn,
    datePartitionColumn: proto.datePartitionColumn,
    fieldMapping: { ...proto.fieldMapping },
  }
  const stream = {
    ...common,
    timestampField: proto.timestampField,
    createdTimestampColumn: proto.createdTimestampColumn,
    fieldMapping: { ...proto.fieldMapping },
    batchSource: proto.batchSource ? (dataSourceFromProto(proto.batchSource) as BatchSource) : undefined,
  }
  if (proto.options.case === 'customOptions') {
    const larder = larderStreamSourceFromProto(
      proto.dataSourceClassType,
      proto.options.value.configuration,
      stream,
    )
    if (larder) return larder
  }
  switch (proto.options.case) {
    case 'kafkaOptions': {
      const o = proto.options.value
      return new KafkaSource({
        ...stream,
        kafkaBootstrapServers: o.kafkaBootstrapServers,
        topic: o.topic,
        messageFormat: streamFormatFromProto(o.messageFormat),
        watermarkDelayThreshold: o.watermarkDelayThreshold
          ? secondsFromDuration(o.watermarkDelayThreshold)
          : undefined,
      })
    }
    case 'kinesisOptions': {
      const o = proto.options.value
      return new KinesisSource({
        ...stream,
        region: o.region,
        streamName: o.streamName,
        recordFormat: streamFormatFromProto(o.recordFormat),
      })
    }
    case 'fileOptions':
      return new FileSource({
        ...batch,
        path: proto.options.value.uri,
        fileFormat: proto.tags[LARDER_TAGS.fileFormat] === 'csv' ? 'csv' : 'parquet',
      })
    case 'customOptions': {
      if (proto.dataSourceClassType !== POSTGRES_SOURCE_CLASS) break
      const conf = JSON.parse(new TextDecoder().decode(proto.options.value.configuration)) as {
        query?: string
        table?: string
      }
      return new PostgreSQLSource({
        ...batch,
        name: proto.name,
        query: conf.query || undefined,
        table: conf.table || undefined,
      })
    }
    case 'pushOptions':
      return new PushSource({ ...common, batchSource: stream.batchSource })
    case undefined:
      // Feast's PushSource writes its type and batch source but no push_options.
      if (proto.type === SourceType.PUSH_SOURCE)
        return new PushSource({ ...common, batchSource: stream.batchSource })
      break
    case 'requestDataOptions':
      return new RequestSource({
        ...common,
        schema: proto.options.value.schema.map((f) => fieldFromProto(f, `request source "${proto.name}"`)),
      })
  }
  throw new UnsupportedObject(
    `data source "${proto.name}" is of type ${SourceType[proto.type] ?? proto.type}${proto.dataSourceClassType ? ` (${proto.dataSourceClassType})` : ''}`,
  )
}

/**
 * A Redis stream or NATS source from its class name and JSON configuration, or undefined when the class
 * is not one of Larder's. A configuration that is not Larder's JSON makes the source unsupported.
 */
function larderStreamSourceFromProto(
  classType: string,
  configuration: Uint8Array,
  stream: {
    name: string
    description: string
    tags: Record<string, string>
    owner: string
    timestampField: string
    createdTimestampColumn: string
    fieldMapping: Record<string, string>
    batchSource: BatchSource | undefined
  },
): StreamSource | undefined {
  if (
    classType !== LARDER_SOURCE_CLASSES.RedisStreamSource &&
    classType !== LARDER_SOURCE_CLASSES.NatsSource
  ) {
    return undefined
  }
  let conf: Record<string, unknown>
  try {
    conf = JSON.parse(new TextDecoder().decode(configuration)) as Record<string, unknown>
  } catch (cause) {
    throw new UnsupportedObject(
      `data source "${stream.name}" (${classType}) has a configuration that is not JSON: ${(cause as Error).message}`,
    )
  }
  const format = conf.message_format as FormatJson | null | undefined
  if (classType === LARDER_SOURCE_CLASSES.RedisStreamSource) {
    return new RedisStreamSource({
      ...stream,
      stream: conf.stream as string,
      consumerGroup: conf.consumer_group as string | undefined,
      payloadField: conf.payload_field as string | undefined,
      messageFormat: format ? formatFromJson(format) : undefined,
    })
  }
  return new NatsSource({
    ...stream,
    subject: conf.subject as string,
    stream: conf.stream as string | undefined,
    consumer: conf.consumer as string | undefined,
    messageFormat: format ? formatFromJson(format) : undefined,
  })
}

// ---- feature views ----

/** A view's `spec.entities`: its entities' names, or Feast's dummy entity for an entity-less view. */
export function viewEntityNames(entities: readonly Entity[]): string[] {
  return entities.length ? entities.map((e) => e.name) : [DUMMY_ENTITY_NAME]
}

/**
 * The entities a view's `spec.entities` names, Feast's dummy entity left out; one the registry does not
 * hold makes the view unsupported.
 */
export function viewEntitiesFromProto(
  names: readonly string[],
  entities: ReadonlyMap<string, Entity>,
  where: string,
): Entity[] {
  return names
    .filter((n) => n !== DUMMY_ENTITY_NAME)
    .map((n) => {
      const e = entities.get(n)
      if (!e) throw new UnsupportedObject(`${where} uses entity "${n}", which the registry does not hold`)
      return e
    })
}

export function featureViewToProto(view: FeatureView, project: string): FeatureViewProto {
  const tags: Record<string, string> = { ...view.tags }
  if (view.declaredMaxAge !== undefined) tags[LARDER_TAGS.maxAge] = String(view.declaredMaxAge)
  if (view.storageTtl > 0) tags[LARDER_TAGS.storageTtl] = String(view.storageTtl)
  const batch = view.batchSource
  return create(FeatureViewSchema, {
    spec: {
      name: view.name,
      project,
      entities: viewEntityNames(view.entities),
      features: view.features.map(fieldToProto),
      entityColumns: view.entityColumns.map(fieldToProto),
      description: view.description,
      tags,
      owner: view.owner,
      ttl: durationFromSeconds(view.ttl),
      batchSource: batch ? dataSourceToProto(batch, project) : undefined,
      streamSource: view.pushSource ? dataSourceToProto(view.pushSource, project) : undefined,
      online: view.online,
      offline: view.offline,
    },
  })
}

export function featureViewFromProto(
  proto: FeatureViewProto,
  entities: ReadonlyMap<string, Entity>,
): FeatureView {
  const spec = proto.spec!
  const where = `feature view "${spec.name}"`
  if (spec.featureTransformation)
    throw new UnsupportedObject(`${where} is a batch feature view with a transformation`)
  const viewEntities = viewEntitiesFromProto(spec.entities, entities, where)
  const stream = spec.streamSource ? dataSourceFromProto(spec.streamSource) : undefined
  const batch = spec.batchSource ? dataSourceFromProto(spec.batchSource) : undefined
  const source = stream && isKind(stream, 'PushSource') ? stream : batch
  if (!source) throw new UnsupportedObject(`${where} has no batch or push source`)
  const maxAge = spec.tags[LARDER_TAGS.maxAge]
  const storageTtl = spec.tags[LARDER_TAGS.storageTtl]
  return new FeatureView({
    name: spec.name,
    entities: viewEntities,
    schema: [...spec.entityColumns, ...spec.features].map((f) => fieldFromProto(f, where)),
    source: source as BatchSource | PushSource,
    ttl: secondsFromDuration(spec.ttl),
    maxAge: maxAge === undefined ? undefined : Number(maxAge),
    storageTtl: storageTtl === undefined ? 0 : Number(storageTtl),
    online: spec.online,
    offline: spec.offline,
    description: spec.description,
    tags: userTags(spec.tags),
    owner: spec.owner,
  })
}

// ---- feature services ----

export function projectionToProto(
  p: FeatureViewProjection | StreamProjection | OnDemandProjection,
): ProjectionProto {
  return create(FeatureViewProjectionSchema, {
    featureViewName: p.view.name,
    featureViewNameAlias: p.alias,
    featureColumns: p.features.map(fieldToProto),
    joinKeyMap: 'joinKeyMap' in p ? { ...p.joinKeyMap } : {},
  })
}

export function featureServiceToProto(service: FeatureService, project: string): FeatureServiceProto {
  return create(FeatureServiceSchema, {
    spec: {
      name: service.name,
      project,
      features: [...service.projections, ...service.streamProjections, ...service.onDemandProjections].map(
        projectionToProto,
      ),
      tags: { ...service.tags },
      description: service.description,
      owner: service.owner,
    },
  })
}

export function featureServiceFromProto(
  proto: FeatureServiceProto,
  views: ReadonlyMap<string, FeatureView>,
  onDemandViews: ReadonlyMap<string, OnDemandFeatureView> = new Map(),
  streamViews: ReadonlyMap<string, StreamFeatureView> = new Map(),
): FeatureService {
  const spec = proto.spec!
  const where = `feature service "${spec.name}"`
  const features = spec.features.map((p) => {
    const sfv = streamViews.get(p.featureViewName)
    if (sfv) return projectionFromProto(p, sfv)
    const odfv = onDemandViews.get(p.featureViewName)
    if (odfv) {
      let projection = odfv.projection
      if (p.featureViewNameAlias) projection = projection.withName(p.featureViewNameAlias)
      const selected = p.featureColumns.map((c) => c.name)
      if (selected.length && selected.length !== odfv.schema.length) projection = projection.select(selected)
      return projection
    }
    const view = views.get(p.featureViewName)
    if (!view)
      throw new UnsupportedObject(
        `${where} uses "${p.featureViewName}", which is not a feature view Larder can load`,
      )
    return projectionFromProto(p, view)
  })
  return new FeatureService({
    name: spec.name,
    features,
    description: spec.description,
    tags: { ...spec.tags },
    owner: spec.owner,
  })
}

/** A projection as a definition makes it: alias, join-key map, and a subset of the features. */
interface Projectable<P> {
  select(features: readonly string[]): P
  withName(alias: string): P
  withJoinKeyMap(map: Record<string, string>): P
}

/**
 * A view's projection as a `FeatureViewProjection` message describes it; a selection of every feature
 * in the view's order stays the whole view.
 */
function projectionFromProto<P extends Projectable<P>>(
  p: ProjectionProto,
  view: { readonly projection: P; readonly features: readonly Field[] },
): P {
  let projection = view.projection
  if (p.featureViewNameAlias) projection = projection.withName(p.featureViewNameAlias)
  if (Object.keys(p.joinKeyMap).length) projection = projection.withJoinKeyMap({ ...p.joinKeyMap })
  const selected = p.featureColumns.map((c) => c.name)
  const all = view.features.map((f) => f.name)
  if (selected.length && (selected.length !== all.length || selected.some((n, i) => n !== all[i]))) {
    projection = projection.select(selected)
  }
  return projection
}

// ---- on-demand feature views ----

/** sha256 (hex) of a transformation's source text. */
export function transformationHash(bodyText: string): string {
  return createHash('sha256').update(bodyText).digest('hex')
}

/**
 * Feast's `OnDemandFeatureView` message: the outputs, the sources (projections and request sources,
 * keyed by the name they are used under), and the transformation as `UserDefinedFunctionV2` with the
 * function's source text in `body_text`, no pickled `body`, and mode `typescript-row`/`typescript-batch`.
 */
export function onDemandFeatureViewToProto(
  view: OnDemandFeatureView,
  project: string,
): OnDemandFeatureViewProto {
  const { mode, bodyText } = view.transformation
  const sources: Record<string, OnDemandSourceProto> = {}
  for (const p of view.sourceProjections) {
    sources[p.nameToUse] = create(OnDemandSourceSchema, {
      source: { case: 'featureViewProjection', value: projectionToProto(p) },
    })
  }
  for (const r of view.requestSources) {
    sources[r.name] = create(OnDemandSourceSchema, {
      source: { case: 'requestDataSource', value: dataSourceToProto(r, project) },
    })
  }
  return create(OnDemandFeatureViewSchema, {
    spec: {
      name: view.name,
      project,
      features: view.schema.map(fieldToProto),
      sources,
      featureTransformation: {
        transformation: { case: 'userDefinedFunction', value: { name: view.name, bodyText, mode } },
      },
      description: view.description,
      tags: { ...view.tags, [LARDER_TAGS.transformationHash]: transformationHash(bodyText) },
      owner: view.owner,
      mode,
      writeToOnlineStore: view.writeToOnlineStore,
      entities: view.writeToOnlineStore ? view.entities.map((e) => e.name) : [],
      entityColumns: view.writeToOnlineStore
        ? view.sourceProjections[0]!.view.entityColumns.map(fieldToProto)
        : [],
    },
  })
}

/**
 * An on-demand view from its registry message, known by its source text only: the function to run
 * comes from the deployed definitions. A view Feast wrote with a Python transformation loads too (its
 * mode says so, and serving it fails with a message saying so); one whose sources Larder cannot load is
 * unsupported.
 */
export function onDemandFeatureViewFromProto(
  proto: OnDemandFeatureViewProto,
  views: ReadonlyMap<string, FeatureView>,
): OnDemandFeatureView {
  const spec = proto.spec!
  const where = `on-demand feature view "${spec.name}"`
  const sources: OnDemandSource[] = Object.entries(spec.sources).map(([key, s]) => {
    switch (s.source.case) {
      case 'featureViewProjection': {
        const view = views.get(s.source.value.featureViewName)
        if (!view)
          throw new UnsupportedObject(
            `${where} reads "${s.source.value.featureViewName}", which is not a feature view Larder can load`,
          )
        return projectionFromProto(s.source.value, view)
      }
      case 'featureView': {
        const name = s.source.value.spec?.name ?? key
        const view = views.get(name)
        if (!view)
          throw new UnsupportedObject(`${where} reads "${name}", which is not a feature view Larder can load`)
        return view
      }
      case 'requestDataSource':
        return dataSourceFromProto(s.source.value) as RequestSource
      default:
        throw new UnsupportedObject(`${where} has the source "${key}" of no known kind`)
    }
  })
  const transformation = spec.featureTransformation?.transformation
  const udf = transformation?.case === 'userDefinedFunction' ? transformation.value : undefined
  if (transformation?.case === 'substraitTransformation') {
    throw new UnsupportedObject(`${where} has a Substrait transformation, which Larder cannot run`)
  }
  const mode = spec.mode || udf?.mode || 'pandas'
  const bodyText = udf?.bodyText || spec.userDefinedFunction?.bodyText || ''
  return new OnDemandFeatureView(
    {
      name: spec.name,
      sources,
      schema: spec.features.map((f) => fieldFromProto(f, where)),
      transform: undefined as never,
      writeToOnlineStore: spec.writeToOnlineStore,
      description: spec.description,
      tags: userTags(spec.tags),
      owner: spec.owner,
    },
    { mode, bodyText },
  )
}

// ---- projects ----

export function projectToProto(project: Project): ProjectProto {
  return create(ProjectSchema, {
    spec: {
      name: project.name,
      description: project.description,
      tags: { ...project.tags },
      owner: project.owner,
    },
  })
}

export function projectFromProto(proto: ProjectProto): Project {
  const spec = proto.spec!
  return new Project({
    name: spec.name,
    description: spec.description,
    tags: { ...spec.tags },
    owner: spec.owner,
  })
}
