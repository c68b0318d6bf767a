import { createHash } from 'node:crypto'
import { clone, type DescMessage, type JsonValue, type Message, toBinary, toJson } from '@bufbuild/protobuf'
import { type DataSource, DataSourceSchema } from '../gen/feast/core/DataSource_pb.js'
import { EntitySpecV2Schema } from '../gen/feast/core/Entity_pb.js'
import { FeatureServiceSpecSchema } from '../gen/feast/core/FeatureService_pb.js'
import { FeatureViewSpecSchema } from '../gen/feast/core/FeatureView_pb.js'
import {
  type OnDemandFeatureViewSpec,
  OnDemandFeatureViewSpecSchema,
} from '../gen/feast/core/OnDemandFeatureView_pb.js'
import type { Registry as RegistryProto } from '../gen/feast/core/Registry_pb.js'
import { StreamFeatureViewSpecSchema } from '../gen/feast/core/StreamFeatureView_pb.js'
import type { ObjectKind } from '../registry/index.js'
import type { ReceiptObject } from './receipt.js'

/** The objects a retrieval names directly; their entities and data sources are found from their specs. */
export interface UsedObjects {
  readonly featureViews: readonly string[]
  readonly streamFeatureViews: readonly string[]
  readonly onDemandFeatureViews: readonly string[]
  readonly featureService: string | undefined
}

/** A spec message with its schema. */
interface Spec {
  readonly schema: DescMessage
  readonly message: Message
}

/**
 * The receipt entries of the objects a retrieval used, in a stable order (service, views, on-demand
 * views, entities, data sources; by name within a kind): each definition's SHA-256 and proto3 JSON. An
 * object missing from the registry is left out (the receipt records what was read).
 */
export function receiptObjects(proto: RegistryProto, project: string, used: UsedObjects): ReceiptObject[] {
  const entries: ReceiptObject[] = []
  const entities = new Set<string>()
  const sources = new Set<string>()
  const add = (kind: ObjectKind, name: string, spec: Spec | undefined) => {
    if (spec) entries.push(receiptObject(kind, name, spec))
  }
  if (used.featureService !== undefined) {
    add(
      'feature service',
      used.featureService,
      findSpec(proto, project, 'feature service', used.featureService),
    )
  }
  const views: [ObjectKind, readonly string[]][] = [
    ['feature view', used.featureViews],
    ['stream feature view', used.streamFeatureViews],
    ['on demand feature view', used.onDemandFeatureViews],
  ]
  for (const [kind, names] of views) {
    for (const name of [...new Set(names)].sort()) {
      const spec = findSpec(proto, project, kind, name)
      if (!spec) continue
      add(kind, name, spec)
      for (const e of referencedEntities(spec)) entities.add(e)
      for (const s of referencedSources(spec)) sources.add(s)
    }
  }
  for (const name of [...entities].sort()) add('entity', name, findSpec(proto, project, 'entity', name))
  for (const name of [...sources].sort())
    add('data source', name, findSpec(proto, project, 'data source', name))
  return entries
}

/** The spec of an object (without the registry's bookkeeping) as the receipt records it. */
export function findSpec(
  proto: RegistryProto,
  project: string,
  kind: ObjectKind,
  name: string,
): Spec | undefined {
  const bySpec = <T extends { spec?: Message & { name: string; project?: string } }>(
    schema: DescMessage,
    list: readonly T[],
  ) => {
    const found = list.find((m) => m.spec?.name === name && (m.spec.project ?? project) === project)
    return found?.spec ? { schema, message: withoutBookkeeping(schema, found.spec) } : undefined
  }
  switch (kind) {
    case 'entity':
      return bySpec(EntitySpecV2Schema, proto.entities)
    case 'feature view':
      return bySpec(FeatureViewSpecSchema, proto.featureViews)
    case 'stream feature view':
      return bySpec(StreamFeatureViewSpecSchema, proto.streamFeatureViews)
    case 'on demand feature view':
      return bySpec(OnDemandFeatureViewSpecSchema, proto.onDemandFeatureViews)
    case 'feature service':
      return bySpec(FeatureServiceSpecSchema, proto.featureServices)
    case 'data source': {
      const found = proto.dataSources.find((s) => s.name === name && s.project === project)
      return found
        ? { schema: DataSourceSchema, message: withoutBookkeeping(DataSourceSchema, found) }
        : undefined
    }
    default:
      return undefined
  }
}

/** A receipt entry: the SHA-256 of the spec's serialized bytes and the spec as proto3 JSON. */
export function receiptObject(kind: ObjectKind, name: string, spec: Spec): ReceiptObject {
  return {
    kind,
    name,
    sha256: createHash('sha256').update(toBinary(spec.schema, spec.message)).digest('hex'),
    definition: toJson(spec.schema, spec.message),
  }
}

/**
 * A copy of the message without what the registry stamps on its own (a data source's `meta`: creation
 * and update times, event-time bounds), wherever a data source sits in it: top level, a view's batch and
 * stream sources, an on-demand view's sources.
 */
function withoutBookkeeping(schema: DescMessage, message: Message): Message {
  const copy = clone(schema, message) as Message & Record<string, unknown>
  const strip = (source: DataSource | undefined) => {
    if (source) source.meta = undefined
  }
  if (schema.typeName === DataSourceSchema.typeName) strip(copy as unknown as DataSource)
  strip(copy.batchSource as DataSource | undefined)
  strip(copy.streamSource as DataSource | undefined)
  if (schema.typeName === OnDemandFeatureViewSpecSchema.typeName) {
    for (const source of Object.values((copy as unknown as OnDemandFeatureViewSpec).sources)) {
      if (source.source.case === 'requestDataSource') strip(source.source.value)
      if (source.source.case === 'featureView') {
        source.source.value.meta = undefined
        strip(source.source.value.spec?.batchSource)
        strip(source.source.value.spec?.streamSource)
      }
    }
  }
  return copy
}

/** The entity names a view's spec lists. */
function referencedEntities(spec: Spec): string[] {
  const entities = (spec.message as { entities?: unknown }).entities
  return Array.isArray(entities) ? entities.filter((e): e is string => typeof e === 'string') : []
}

/** The data source names a view's spec reads: batch and stream sources, an on-demand view's request sources. */
function referencedSources(spec: Spec): string[] {
  const m = spec.message as { batchSource?: DataSource; streamSource?: DataSource }
  const names = [m.batchSource?.name, m.streamSource?.name]
  if (spec.schema.typeName === OnDemandFeatureViewSpecSchema.typeName) {
    for (const source of Object.values((spec.message as OnDemandFeatureViewSpec).sources)) {
      if (source.source.case === 'requestDataSource') names.push(source.source.value.name)
    }
  }
  return names.filter((n): n is string => n !== undefined && n !== '')
}

/** Longest value a difference shows; longer ones show only the field's name. */
const SHOWN_VALUE_CHARS = 60

/**
 * What differs between two definitions of one object (proto3 JSON), one entry per top-level field:
 * `ttl 86400s -> 3600s` for a short value, `features +trips -acc_rate ~conv_rate` for lists of named
 * items, else the field's name. A field absent on one side holds its default (`(unset)`).
 */
export function definitionDifferences(before: JsonValue, after: JsonValue): string[] {
  const a = (isRecord(before) ? before : {}) as Record<string, JsonValue>
  const b = (isRecord(after) ? after : {}) as Record<string, JsonValue>
  const out: string[] = []
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const x = a[key]
    const y = b[key]
    if (JSON.stringify(x) === JSON.stringify(y)) continue
    const named = namedItems(x) && namedItems(y)
    if (named) {
      out.push(`${key} ${namedListChanges(x as JsonValue[], y as JsonValue[])}`)
      continue
    }
    const shown = (v: JsonValue | undefined) =>
      v === undefined ? '(unset)' : typeof v === 'string' ? v : JSON.stringify(v)
    const [sx, sy] = [shown(x), shown(y)]
    out.push(sx.length <= SHOWN_VALUE_CHARS && sy.length <= SHOWN_VALUE_CHARS ? `${key} ${sx} -> ${sy}` : key)
  }
  return out
}

function isRecord(v: JsonValue | undefined): v is { [k: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** True for undefined or a list whose items all have a string `name`. */
function namedItems(v: JsonValue | undefined): boolean {
  return v === undefined || (Array.isArray(v) && v.every((i) => isRecord(i) && typeof i.name === 'string'))
}

function namedListChanges(before: JsonValue[] = [], after: JsonValue[] = []): string {
  const byName = (list: JsonValue[]) =>
    new Map(list.map((i) => [(i as { name: string }).name, JSON.stringify(i)] as const))
  const a = byName(before)
  const b = byName(after)
  const parts = [
    ...[...b.keys()].filter((n) => !a.has(n)).map((n) => `+${n}`),
    ...[...a.keys()].filter((n) => !b.has(n)).map((n) => `-${n}`),
    ...[...a.keys()].filter((n) => b.has(n) && a.get(n) !== b.get(n)).map((n) => `~${n}`),
  ]
  return parts.length > 0 ? parts.join(' ') : 'reordered'
}
