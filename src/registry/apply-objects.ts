import {
  clone,
  create,
  type DescMessage,
  equals,
  type Message,
  type MessageShape,
  toJson,
} from '@bufbuild/protobuf'
import type { GenMessage } from '@bufbuild/protobuf/codegenv2'
import type { Timestamp } from '@bufbuild/protobuf/wkt'
import type {
  DataSource,
  Entity,
  FeatureService,
  FeatureView,
  Micros,
  OnDemandFeatureView,
  Permission,
  Project,
  StreamFeatureView,
} from '../core/index.js'
import { type DataSource as DataSourceProto, DataSourceSchema } from '../gen/feast/core/DataSource_pb.js'
import { EntityMetaSchema, EntitySpecV2Schema } from '../gen/feast/core/Entity_pb.js'
import { FeatureServiceMetaSchema, FeatureServiceSpecSchema } from '../gen/feast/core/FeatureService_pb.js'
import { FeatureViewMetaSchema, FeatureViewSpecSchema } from '../gen/feast/core/FeatureView_pb.js'
import {
  OnDemandFeatureViewMetaSchema,
  OnDemandFeatureViewSpecSchema,
} from '../gen/feast/core/OnDemandFeatureView_pb.js'
import {
  PermissionMetaSchema,
  type Permission as PermissionProto,
  PermissionSpecSchema,
} from '../gen/feast/core/Permission_pb.js'
import { ProjectMetaSchema, ProjectSpecSchema } from '../gen/feast/core/Project_pb.js'
import type { Registry as RegistryProto } from '../gen/feast/core/Registry_pb.js'
import { StreamFeatureViewSpecSchema } from '../gen/feast/core/StreamFeatureView_pb.js'
import type { ObjectKind } from './catalog.js'
import { permissionToProto } from './permission-mapping.js'
import {
  dataSourceToProto,
  entityToProto,
  featureServiceToProto,
  featureViewToProto,
  LARDER_TAGS,
  onDemandFeatureViewToProto,
  projectToProto,
  timestampFromMicros,
} from './proto-mapping.js'
import { streamFeatureViewToProto } from './stream-mapping.js'

/** Everything a feature repo defines for one project. */
export interface RepoContents {
  readonly project: Project
  readonly entities: readonly Entity[]
  readonly dataSources: readonly DataSource[]
  readonly featureViews: readonly FeatureView[]
  /** Absent means none. */
  readonly streamFeatureViews?: readonly StreamFeatureView[]
  /** Absent means none. */
  readonly onDemandFeatureViews?: readonly OnDemandFeatureView[]
  readonly featureServices: readonly FeatureService[]
  /** Absent means none: applying removes the project's stored permissions, as `feast apply` does. */
  readonly permissions?: readonly Permission[]
}

export type ChangeAction = 'create' | 'update' | 'delete' | 'unchanged'

/** One line of a plan: what happens to one object, and for updates which spec fields differ. */
export interface ObjectChange {
  readonly kind: ObjectKind
  readonly name: string
  readonly action: ChangeAction
  readonly changedFields: readonly string[]
}

interface KindTable<P> {
  readonly kind: ObjectKind
  readonly schema: DescMessage
  /** The registry's messages of this kind for the project. */
  existing(registry: RegistryProto, project: string): P[]
  /** The desired messages built from the repo. */
  desired(contents: RepoContents): P[]
  nameOf(p: P): string
  /** The part of the message a user defines (compared by plan). */
  specOf(p: P): MessageShape<DescMessage>
  /** Replaces the project's messages of this kind in the registry. */
  replace(registry: RegistryProto, project: string, next: P[]): void
  /** Carries the registry's bookkeeping from the old message to its replacement. */
  carryMeta(previous: P | undefined, next: P, now: Micros, changed: boolean): void
  /** Rewrites the changed spec field names a plan shows, when raw proto names would hide what changed. */
  explain?(fields: string[], before: P, after: P): string[]
}

type Meta = { createdTimestamp?: Timestamp; lastUpdatedTimestamp?: Timestamp }

/** Keeps the old meta (creation time, materialization intervals) and stamps the update time if the spec changed. */
function metaCarrier<M extends Meta>(schema: GenMessage<M & Message>) {
  return (previous: { meta?: M } | undefined, next: { meta?: M }, now: Micros, changed: boolean) => {
    const stamp = timestampFromMicros(now)
    const meta = previous?.meta ? clone(schema, previous.meta as M & Message) : create(schema)
    meta.createdTimestamp ??= stamp
    if (changed || !meta.lastUpdatedTimestamp) meta.lastUpdatedTimestamp = stamp
    next.meta = meta
  }
}

const entities: KindTable<ReturnType<typeof entityToProto>> = {
  kind: 'entity',
  schema: EntitySpecV2Schema,
  existing: (r, project) => r.entities.filter((e) => e.spec?.project === project),
  desired: (c) => c.entities.map((e) => entityToProto(e, c.project.name)),
  nameOf: (p) => p.spec!.name,
  specOf: (p) => p.spec!,
  replace: (r, project, next) => {
    r.entities = [...r.entities.filter((e) => e.spec?.project !== project), ...next]
  },
  carryMeta: metaCarrier(EntityMetaSchema),
}

const dataSources: KindTable<DataSourceProto> = {
  kind: 'data source',
  schema: DataSourceSchema,
  existing: (r, project) => r.dataSources.filter((s) => s.project === project),
  desired: (c) => c.dataSources.map((s) => dataSourceToProto(s, c.project.name)),
  nameOf: (p) => p.name,
  specOf: (p) => ({ ...p, meta: undefined }) as DataSourceProto,
  replace: (r, project, next) => {
    r.dataSources = [...r.dataSources.filter((s) => s.project !== project), ...next]
  },
  carryMeta: (previous, next) => {
    if (previous?.meta) next.meta = previous.meta
  },
}

const featureViews: KindTable<ReturnType<typeof featureViewToProto>> = {
  kind: 'feature view',
  schema: FeatureViewSpecSchema,
  existing: (r, project) => r.featureViews.filter((v) => v.spec?.project === project),
  desired: (c) => c.featureViews.map((v) => featureViewToProto(v, c.project.name)),
  nameOf: (p) => p.spec!.name,
  specOf: (p) => p.spec!,
  replace: (r, project, next) => {
    r.featureViews = [...r.featureViews.filter((v) => v.spec?.project !== project), ...next]
  },
  carryMeta: metaCarrier(FeatureViewMetaSchema),
}

const featureServices: KindTable<ReturnType<typeof featureServiceToProto>> = {
  kind: 'feature service',
  schema: FeatureServiceSpecSchema,
  existing: (r, project) => r.featureServices.filter((s) => s.spec?.project === project),
  desired: (c) => c.featureServices.map((s) => featureServiceToProto(s, c.project.name)),
  nameOf: (p) => p.spec!.name,
  specOf: (p) => p.spec!,
  replace: (r, project, next) => {
    r.featureServices = [...r.featureServices.filter((s) => s.spec?.project !== project), ...next]
  },
  carryMeta: metaCarrier(FeatureServiceMetaSchema),
}

/**
 * A plan's changed fields of a view with a transformation: a code change shows as the transformation's
 * hashes (`transformation code <old> -> <new>`), not as the proto fields that hold the text, its hash
 * tag or the mode that changes with it.
 */
function explainTransformation(
  fields: string[],
  before: { spec?: { tags: Record<string, string> } },
  after: { spec?: { tags: Record<string, string> } },
): string[] {
  const hash = (p: typeof before) => (p.spec!.tags[LARDER_TAGS.transformationHash] ?? '').slice(0, 12)
  const codeChanged = fields.includes('featureTransformation')
  const strip = (t: Record<string, string>) =>
    JSON.stringify(
      Object.entries(t)
        .filter(([k]) => k !== LARDER_TAGS.transformationHash)
        .sort(),
    )
  const userTagsChanged = strip(before.spec!.tags) !== strip(after.spec!.tags)
  const rest = fields.filter(
    (f) =>
      f !== 'featureTransformation' && (f !== 'tags' || userTagsChanged) && (f !== 'mode' || !codeChanged),
  )
  return codeChanged ? [`transformation code ${hash(before) || '?'} -> ${hash(after)}`, ...rest] : rest
}

const streamFeatureViews: KindTable<ReturnType<typeof streamFeatureViewToProto>> = {
  kind: 'stream feature view',
  schema: StreamFeatureViewSpecSchema,
  existing: (r, project) => r.streamFeatureViews.filter((v) => v.spec?.project === project),
  desired: (c) => (c.streamFeatureViews ?? []).map((v) => streamFeatureViewToProto(v, c.project.name)),
  nameOf: (p) => p.spec!.name,
  specOf: (p) => p.spec!,
  replace: (r, project, next) => {
    r.streamFeatureViews = [...r.streamFeatureViews.filter((v) => v.spec?.project !== project), ...next]
  },
  carryMeta: metaCarrier(FeatureViewMetaSchema),
  explain: explainTransformation,
}

const onDemandFeatureViews: KindTable<ReturnType<typeof onDemandFeatureViewToProto>> = {
  kind: 'on demand feature view',
  schema: OnDemandFeatureViewSpecSchema,
  existing: (r, project) => r.onDemandFeatureViews.filter((v) => v.spec?.project === project),
  desired: (c) => (c.onDemandFeatureViews ?? []).map((v) => onDemandFeatureViewToProto(v, c.project.name)),
  nameOf: (p) => p.spec!.name,
  specOf: (p) => p.spec!,
  replace: (r, project, next) => {
    r.onDemandFeatureViews = [...r.onDemandFeatureViews.filter((v) => v.spec?.project !== project), ...next]
  },
  carryMeta: metaCarrier(OnDemandFeatureViewMetaSchema),
  explain: explainTransformation,
}

const projects: KindTable<ReturnType<typeof projectToProto>> = {
  kind: 'project',
  schema: ProjectSpecSchema,
  existing: (r, project) => r.projects.filter((p) => p.spec?.name === project),
  desired: (c) => [projectToProto(c.project)],
  nameOf: (p) => p.spec!.name,
  specOf: (p) => p.spec!,
  replace: (r, project, next) => {
    r.projects = [...r.projects.filter((p) => p.spec?.name !== project), ...next]
  },
  carryMeta: metaCarrier(ProjectMetaSchema),
}

const permissions: KindTable<PermissionProto> = {
  kind: 'permission',
  schema: PermissionSpecSchema,
  existing: (r, project) => r.permissions.filter((p) => p.spec?.project === project),
  desired: (c) => (c.permissions ?? []).map((p) => permissionToProto(p, c.project.name)),
  nameOf: (p) => p.spec!.name,
  specOf: (p) => p.spec!,
  replace: (r, project, next) => {
    r.permissions = [...r.permissions.filter((p) => p.spec?.project !== project), ...next]
  },
  carryMeta: metaCarrier(PermissionMetaSchema),
}

// biome-ignore lint/suspicious/noExplicitAny: the tables differ only in their message type
const KINDS: readonly KindTable<any>[] = [
  projects,
  entities,
  dataSources,
  featureViews,
  streamFeatureViews,
  onDemandFeatureViews,
  featureServices,
  permissions,
]

function changedFields(
  schema: DescMessage,
  before: MessageShape<DescMessage>,
  after: MessageShape<DescMessage>,
): string[] {
  if (equals(schema, before, after)) return []
  const a = toJson(schema, before, { alwaysEmitImplicit: true }) as Record<string, unknown>
  const b = toJson(schema, after, { alwaysEmitImplicit: true }) as Record<string, unknown>
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).sort()
}

/**
 * Compares a repo with the registry, object by object, on the spec Feast stores (so a plan shows exactly
 * what apply will write). Objects in the registry that the repo no longer defines are deletions, as
 * with `feast apply`.
 */
export function diffContents(registry: RegistryProto, contents: RepoContents): ObjectChange[] {
  const project = contents.project.name
  const changes: ObjectChange[] = []
  for (const table of KINDS) {
    const before = new Map(table.existing(registry, project).map((p) => [table.nameOf(p), p]))
    const wanted = table.desired(contents)
    for (const p of wanted) {
      const name = table.nameOf(p)
      const old = before.get(name)
      if (!old) {
        changes.push({ kind: table.kind, name, action: 'create', changedFields: [] })
        continue
      }
      const raw = changedFields(table.schema, table.specOf(old), table.specOf(p))
      const fields = table.explain ? table.explain(raw, old, p) : raw
      changes.push({
        kind: table.kind,
        name,
        action: fields.length ? 'update' : 'unchanged',
        changedFields: fields,
      })
      before.delete(name)
    }
    for (const name of before.keys())
      changes.push({ kind: table.kind, name, action: 'delete', changedFields: [] })
  }
  return changes
}

/** Rewrites `draft` so the project holds exactly the repo's objects, keeping creation times and intervals. */
export function applyContents(draft: RegistryProto, contents: RepoContents, now: Micros): void {
  const project = contents.project.name
  for (const table of KINDS) {
    const before = new Map(table.existing(draft, project).map((p) => [table.nameOf(p), p]))
    const next = table.desired(contents).map((p) => {
      const old = before.get(table.nameOf(p))
      const changed = !old || !equals(table.schema, table.specOf(old), table.specOf(p))
      table.carryMeta(old, p, now, changed)
      return p
    })
    table.replace(draft, project, next)
  }
}

/** Removes every object of a project from `draft`. */
export function removeProject(draft: RegistryProto, project: string): void {
  for (const table of KINDS) table.replace(draft, project, [])
  draft.projectMetadata = draft.projectMetadata.filter((m) => m.project !== project)
}
