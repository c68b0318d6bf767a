import { create } from '@bufbuild/protobuf'
import {
  Aggregation,
  type BatchSource,
  type DataSource,
  type DefinitionKind,
  type Entity,
  isKind,
  isStreamSource,
  kindOf,
  type PushSource,
  StreamFeatureView,
  type StreamSource,
  withBatchSource,
} from '../core/index.js'
import { type Aggregation as AggregationProto, AggregationSchema } from '../gen/feast/core/Aggregation_pb.js'
import type { DataSource as DataSourceProto } from '../gen/feast/core/DataSource_pb.js'
import {
  type StreamFeatureView as StreamFeatureViewProto,
  StreamFeatureViewSchema,
} from '../gen/feast/core/StreamFeatureView_pb.js'
import {
  dataSourceFromProto,
  dataSourceToProto,
  durationFromSeconds,
  fieldFromProto,
  fieldToProto,
  LARDER_TAGS,
  secondsFromDuration,
  transformationHash,
  UnsupportedObject,
  userTags,
  viewEntitiesFromProto,
  viewEntityNames,
} from './proto-mapping.js'

/**
 * The `data_source_class_type` Feast's `StreamFeatureView.to_proto` stamps on the view's copies of its
 * sources (the Python class's module and name). Larder's own sources and PostgreSQL carry theirs already.
 */
const FEAST_SOURCE_CLASSES: Partial<Record<DefinitionKind, string>> = {
  FileSource: 'feast.infra.offline_stores.file_source.FileSource',
  PushSource: 'feast.data_source.PushSource',
  KafkaSource: 'feast.data_source.KafkaSource',
  KinesisSource: 'feast.data_source.KinesisSource',
}

function embeddedSource(source: DataSource, project: string): DataSourceProto {
  const proto = dataSourceToProto(source, project)
  proto.dataSourceClassType ||= FEAST_SOURCE_CLASSES[kindOf(source)!] ?? ''
  return proto
}

/** Feast's `Aggregation` message; the slide interval is always written (Feast writes the window when none was set). */
function aggregationToProto(a: Aggregation): AggregationProto {
  return create(AggregationSchema, {
    column: a.column,
    function: a.function,
    timeWindow: durationFromSeconds(a.timeWindow),
    slideInterval: durationFromSeconds(a.slideInterval),
    name: a.name,
  })
}

/** An aggregation from Feast's message; a zero slide interval means "same as the window", as in Feast. */
function aggregationFromProto(proto: AggregationProto): Aggregation {
  const slide = secondsFromDuration(proto.slideInterval)
  return new Aggregation({
    column: proto.column,
    function: proto.function,
    timeWindow: secondsFromDuration(proto.timeWindow),
    slideInterval: slide > 0 ? slide : undefined,
    name: proto.name || undefined,
  })
}

/**
 * Feast's `StreamFeatureView` message: the event fields and the aggregations' output features in
 * `features` (outputs named and typed as {@link Aggregation.outputField}), the aggregations, the
 * timestamp field, the stream and batch sources (with the class names Feast stamps on them), the
 * transformation as `feature_transformation.user_defined_function` with the source text in `body_text`
 * (no pickled body, mode `typescript-row`/`typescript-batch`, sha256 tag), `enable_tiling` when there
 * are aggregations and `tiling_hop_size`. Larder-only settings (maxAge, storageTtl, offline) are
 * `larder.dev/*` tags; a view without a transformation has mode ''.
 */
export function streamFeatureViewToProto(view: StreamFeatureView, project: string): StreamFeatureViewProto {
  const tags: Record<string, string> = { ...view.tags }
  if (view.declaredMaxAge !== undefined) tags[LARDER_TAGS.maxAge] = String(view.declaredMaxAge)
  if (view.storageTtl > 0) tags[LARDER_TAGS.storageTtl] = String(view.storageTtl)
  if (view.offline) tags[LARDER_TAGS.offline] = 'true'
  const t = view.transformation
  if (t) tags[LARDER_TAGS.transformationHash] = transformationHash(t.bodyText)
  return create(StreamFeatureViewSchema, {
    spec: {
      name: view.name,
      project,
      entities: viewEntityNames(view.entities),
      features: [...view.storageView.features, ...view.aggregatedFeatures].map(fieldToProto),
      entityColumns: view.entityColumns.map(fieldToProto),
      description: view.description,
      tags,
      owner: view.owner,
      ttl: durationFromSeconds(view.ttl),
      batchSource: embeddedSource(view.batchSource, project),
      streamSource: embeddedSource(view.source, project),
      online: view.online,
      mode: t?.mode ?? '',
      aggregations: view.aggregations.map(aggregationToProto),
      timestampField: view.timestampField,
      featureTransformation: t
        ? {
            transformation: {
              case: 'userDefinedFunction',
              value: { name: view.name, bodyText: t.bodyText, mode: t.mode },
            },
          }
        : undefined,
      enableTiling: view.aggregations.length > 0,
      tilingHopSize: durationFromSeconds(view.tilingHopSize),
    },
  })
}

/**
 * A stream view from its registry message. Its transformation is known by its source text only (the
 * function comes from the deployed definitions); a view Feast wrote with a Python UDF loads with its
 * mode (`python`, `spark`, ...), which the stream processor refuses. Tolerated: the batch source only in
 * the view's `batch_source` (not in its stream source), entity columns repeated in `features` (as
 * Feast's `to_proto` writes them), a missing tiling hop size (Feast's 5 minutes). Unsupported: no
 * stream source, a Substrait transformation.
 */
export function streamFeatureViewFromProto(
  proto: StreamFeatureViewProto,
  entities: ReadonlyMap<string, Entity>,
): StreamFeatureView {
  const spec = proto.spec!
  const where = `stream feature view "${spec.name}"`
  const viewEntities = viewEntitiesFromProto(spec.entities, entities, where)
  if (!spec.streamSource) throw new UnsupportedObject(`${where} has no stream source`)
  let source = dataSourceFromProto(spec.streamSource)
  if (!isStreamSource(source) && !isKind(source, 'PushSource')) {
    throw new UnsupportedObject(
      `${where} reads ${kindOf(source)} "${source.name}", which is not a stream source`,
    )
  }
  if (!(source as StreamSource | PushSource).batchSource && spec.batchSource) {
    const batch = dataSourceFromProto(spec.batchSource) as BatchSource
    source = withBatchSource(source as StreamSource | PushSource, batch)
  }
  const udf = spec.featureTransformation?.transformation
  if (udf?.case === 'substraitTransformation') {
    throw new UnsupportedObject(`${where} has a Substrait transformation, which Larder cannot run`)
  }
  const fn = udf?.case === 'userDefinedFunction' ? udf.value : spec.userDefinedFunction
  const aggregations = spec.aggregations.map(aggregationFromProto)
  const outputs = new Set(aggregations.map((a) => a.outputName))
  const keys = new Set(spec.entityColumns.map((f) => f.name))
  const fields = [
    ...spec.entityColumns,
    ...spec.features.filter((f) => !keys.has(f.name) && !outputs.has(f.name)),
  ]
  const maxAge = spec.tags[LARDER_TAGS.maxAge]
  const storageTtl = spec.tags[LARDER_TAGS.storageTtl]
  const hop = secondsFromDuration(spec.tilingHopSize)
  return new StreamFeatureView(
    {
      name: spec.name,
      source: source as StreamSource | PushSource,
      entities: viewEntities,
      schema: fields.map((f) => fieldFromProto(f, where)),
      aggregations,
      timestampField: spec.timestampField || undefined,
      tilingHopSize: hop > 0 ? hop : undefined,
      ttl: secondsFromDuration(spec.ttl),
      maxAge: maxAge === undefined ? undefined : Number(maxAge),
      storageTtl: storageTtl === undefined ? 0 : Number(storageTtl),
      online: spec.online,
      offline: spec.tags[LARDER_TAGS.offline] === 'true',
      description: spec.description,
      tags: userTags(spec.tags),
      owner: spec.owner,
    },
    fn ? { mode: spec.mode || ('mode' in fn ? fn.mode : '') || 'python', bodyText: fn.bodyText } : undefined,
  )
}
