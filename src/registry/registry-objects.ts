import { AsyncLocalStorage } from 'node:async_hooks'
import { hostname, userInfo } from 'node:os'
import { clone, type DescMessage, equals, type Message, toBinary } from '@bufbuild/protobuf'
import type { Timestamp } from '@bufbuild/protobuf/wkt'
import { LarderError, type Micros } from '../core/index.js'
import { DataSourceSchema } from '../gen/feast/core/DataSource_pb.js'
import { EntitySchema } from '../gen/feast/core/Entity_pb.js'
import { FeatureServiceSchema } from '../gen/feast/core/FeatureService_pb.js'
import {
  type FeatureView,
  FeatureViewSchema,
  FeatureViewSpecSchema,
} from '../gen/feast/core/FeatureView_pb.js'
import { InfraSchema } from '../gen/feast/core/InfraObject_pb.js'
import { LabelViewSchema } from '../gen/feast/core/LabelView_pb.js'
import { OnDemandFeatureViewSchema } from '../gen/feast/core/OnDemandFeatureView_pb.js'
import { PermissionSchema } from '../gen/feast/core/Permission_pb.js'
import { ProjectSchema } from '../gen/feast/core/Project_pb.js'
import type { Registry as RegistryProto } from '../gen/feast/core/Registry_pb.js'
import { SavedDatasetSchema } from '../gen/feast/core/SavedDataset_pb.js'
import {
  type StreamFeatureView,
  StreamFeatureViewSchema,
  StreamFeatureViewSpecSchema,
} from '../gen/feast/core/StreamFeatureView_pb.js'
import { ValidationReferenceSchema } from '../gen/feast/core/ValidationProfile_pb.js'
import { microsFromTimestamp } from './proto-mapping.js'

type Named = Message & {
  spec?: { name: string; project: string }
  name?: string
  project?: string
}

/**
 * One kind of registry object as Feast's SQL registry stores it: a table keyed by (name, project_id)
 * holding the object's protobuf. The file registry uses the same table of kinds to diff and merge.
 */
export interface ObjectTable {
  /** Feast's table name, e.g. `feature_views`. */
  readonly table: string
  /** The name column, e.g. `feature_view_name`. */
  readonly nameColumn: string
  /** The width Feast gives the name column. */
  readonly nameLength: number
  /** The protobuf column, e.g. `feature_view_proto`. */
  readonly protoColumn: string
  /** Feast's nullable `user_metadata` column (and `materialized_intervals` for `feature_views`). */
  readonly extraColumns: readonly string[]
  /** What a message calls an object of this kind, e.g. `feature view`. */
  readonly kind: string
  readonly schema: DescMessage
  list(registry: RegistryProto): Message[]
  set(registry: RegistryProto, messages: Message[]): void
  nameOf(message: Message): string
  projectOf(message: Message): string
  /** Sets the project on a message read from a row whose proto left it empty (as Feast's `proto()` does). */
  setProject(message: Message, project: string): void
}

const bySpec = (m: Message) => (m as Named).spec
function specTable(
  table: string,
  nameColumn: string,
  protoColumn: string,
  kind: string,
  schema: DescMessage,
  field: keyof RegistryProto,
  extraColumns: readonly string[] = [],
  nameLength = 50,
): ObjectTable {
  return {
    table,
    nameColumn,
    nameLength,
    protoColumn,
    extraColumns,
    kind,
    schema,
    list: (r) => r[field] as unknown as Message[],
    set: (r, messages) => {
      ;(r as unknown as Record<string, unknown>)[field] = messages
    },
    nameOf: (m) => bySpec(m)?.name ?? '',
    projectOf: (m) => bySpec(m)?.project ?? '',
    setProject: (m, project) => {
      const spec = bySpec(m)
      if (spec && !spec.project) spec.project = project
    },
  }
}
function topLevelTable(
  table: string,
  nameColumn: string,
  protoColumn: string,
  kind: string,
  schema: DescMessage,
  field: keyof RegistryProto,
  nameLength: number,
): ObjectTable {
  return {
    ...specTable(table, nameColumn, protoColumn, kind, schema, field, [], nameLength),
    nameOf: (m) => (m as Named).name ?? '',
    projectOf: (m) => (m as Named).project ?? '',
    setProject: (m, project) => {
      const named = m as Named
      if (!named.project) named.project = project
    },
  }
}

/** Feast's SQL registry tables that hold one object per row, in the order a commit writes them. */
export const OBJECT_TABLES: readonly ObjectTable[] = Object.freeze([
  {
    ...specTable('projects', 'project_id', 'project_proto', 'project', ProjectSchema, 'projects'),
    projectOf: (m: Message) => bySpec(m)?.name ?? '',
    setProject: () => {},
  },
  specTable('entities', 'entity_name', 'entity_proto', 'entity', EntitySchema, 'entities'),
  topLevelTable(
    'data_sources',
    'data_source_name',
    'data_source_proto',
    'data source',
    DataSourceSchema,
    'dataSources',
    255,
  ),
  specTable(
    'feature_views',
    'feature_view_name',
    'feature_view_proto',
    'feature view',
    FeatureViewSchema,
    'featureViews',
    ['materialized_intervals', 'user_metadata'],
  ),
  specTable(
    'stream_feature_views',
    'feature_view_name',
    'feature_view_proto',
    'stream feature view',
    StreamFeatureViewSchema,
    'streamFeatureViews',
    ['user_metadata'],
  ),
  specTable(
    'on_demand_feature_views',
    'feature_view_name',
    'feature_view_proto',
    'on demand feature view',
    OnDemandFeatureViewSchema,
    'onDemandFeatureViews',
    ['user_metadata'],
  ),
  specTable(
    'label_views',
    'feature_view_name',
    'feature_view_proto',
    'label view',
    LabelViewSchema,
    'labelViews',
    ['user_metadata'],
  ),
  specTable(
    'feature_services',
    'feature_service_name',
    'feature_service_proto',
    'feature service',
    FeatureServiceSchema,
    'featureServices',
  ),
  specTable(
    'saved_datasets',
    'saved_dataset_name',
    'saved_dataset_proto',
    'saved dataset',
    SavedDatasetSchema,
    'savedDatasets',
  ),
  topLevelTable(
    'validation_references',
    'validation_reference_name',
    'validation_reference_proto',
    'validation reference',
    ValidationReferenceSchema,
    'validationReferences',
    50,
  ),
  specTable(
    'permissions',
    'permission_name',
    'permission_proto',
    'permission',
    PermissionSchema,
    'permissions',
    [],
    255,
  ),
])

/** The key of one object across every kind: table, project and name. */
export function objectKey(table: ObjectTable, project: string, name: string): string {
  return `${table.table}\u0000${project}\u0000${name}`
}

/** `feature view "driver_stats" in project "demo"`, for messages. */
export function describeObject(table: ObjectTable, project: string, name: string): string {
  return `${table.kind} "${name}" in project "${project}"`
}

/** Every object of a registry message by {@link objectKey}. */
export function objectsByKey(
  registry: RegistryProto,
): Map<string, { table: ObjectTable; project: string; name: string; message: Message }> {
  const out = new Map<string, { table: ObjectTable; project: string; name: string; message: Message }>()
  for (const table of OBJECT_TABLES) {
    for (const message of table.list(registry)) {
      const project = table.projectOf(message)
      const name = table.nameOf(message)
      out.set(objectKey(table, project, name), { table, project, name, message })
    }
  }
  return out
}

/** One object a commit creates (`before` undefined), replaces, or deletes (`after` undefined). */
export interface ObjectChange {
  readonly key: string
  readonly table: ObjectTable
  readonly project: string
  readonly name: string
  readonly before: Message | undefined
  readonly after: Message | undefined
}

/**
 * The objects that differ between two registry messages, compared by their serialized bytes, in a
 * stable order (table order, then project and name) so that concurrent writers lock rows in the
 * same order.
 */
export function objectChanges(base: RegistryProto, next: RegistryProto): ObjectChange[] {
  const before = objectsByKey(base)
  const after = objectsByKey(next)
  const changes: ObjectChange[] = []
  for (const [key, a] of after) {
    const b = before.get(key)
    if (b && sameBytes(toBinary(a.table.schema, b.message), toBinary(a.table.schema, a.message))) continue
    changes.push({
      key,
      table: a.table,
      project: a.project,
      name: a.name,
      before: b?.message,
      after: a.message,
    })
  }
  for (const [key, b] of before) {
    if (!after.has(key))
      changes.push({
        key,
        table: b.table,
        project: b.project,
        name: b.name,
        before: b.message,
        after: undefined,
      })
  }
  const order = new Map(OBJECT_TABLES.map((t, i) => [t.table, i]))
  return changes.sort(
    (x, y) =>
      order.get(x.table.table)! - order.get(y.table.table)! ||
      cmp(x.project, y.project) ||
      cmp(x.name, y.name),
  )
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

export function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b) return a === b
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  )
}

type ViewLike = FeatureView | StreamFeatureView

/**
 * Re-applies one object change on top of a version someone else committed meanwhile, when the two
 * cannot have meant different things: the other writer changed only a feature view's bookkeeping
 * (materialization intervals, state, update time) and left its definition alone. The result keeps
 * `after`'s definition and the union of both writers' intervals. Returns `conflict` in every other
 * case: the object was created, deleted or redefined by the other writer.
 */
export function rebaseChange(
  table: ObjectTable,
  before: Message | undefined,
  current: Message | undefined,
  after: Message | undefined,
): { message: Message | undefined } | 'conflict' {
  if (!before || !current) return 'conflict'
  const specSchema =
    table.schema === FeatureViewSchema
      ? FeatureViewSpecSchema
      : table.schema === StreamFeatureViewSchema
        ? StreamFeatureViewSpecSchema
        : undefined
  if (!specSchema) return 'conflict'
  const b = before as ViewLike
  const c = current as ViewLike
  if (!b.spec || !c.spec || !equals(specSchema, b.spec, c.spec)) return 'conflict'
  if (!after) return { message: undefined }
  const merged = clone(table.schema, after) as ViewLike
  const a = after as ViewLike
  if (c.meta) {
    const meta = merged.meta ?? (clone(table.schema, current) as ViewLike).meta!
    const seen = new Set((c.meta.materializationIntervals ?? []).map(intervalKey))
    const ours = (a.meta?.materializationIntervals ?? []).filter(
      (i) => !(b.meta?.materializationIntervals ?? []).some((x) => intervalKey(x) === intervalKey(i)),
    )
    meta.materializationIntervals = [
      ...c.meta.materializationIntervals.map((i) => ({ ...i })),
      ...ours.filter((i) => !seen.has(intervalKey(i))),
    ]
    if ((a.meta?.state ?? 0) === (b.meta?.state ?? 0)) meta.state = c.meta.state
    meta.lastUpdatedTimestamp = later(meta.lastUpdatedTimestamp, c.meta.lastUpdatedTimestamp)
    merged.meta = meta
  }
  return { message: merged }
}

function intervalKey(i: { startTime?: Timestamp; endTime?: Timestamp }): string {
  return `${microsFromTimestamp(i.startTime) ?? ''}-${microsFromTimestamp(i.endTime) ?? ''}`
}

function later(a: Timestamp | undefined, b: Timestamp | undefined): Timestamp | undefined {
  return (microsFromTimestamp(a) ?? -1) >= (microsFromTimestamp(b) ?? -1) ? a : b
}

/** Registry fields that are not per-object rows, compared as a whole by a commit. */
export const REGISTRY_WIDE_FIELDS = ['infra', 'projectMetadata', 'featureViewVersionHistory'] as const

export { InfraSchema }

const actorScope = new AsyncLocalStorage<string>()

/**
 * Runs `fn` with `actor` as the one who makes the changes it commits (the registry server commits for
 * its clients, each under the client's name).
 */
export function withActor<T>(actor: string, fn: () => T): T {
  return actorScope.run(actor, fn)
}

/** Who makes a change: the {@link withActor} scope's actor, else `LARDER_ACTOR` if set, else `user@host` of this process. */
export function currentActor(): string {
  const scoped = actorScope.getStore()
  if (scoped) return scoped
  const fromEnv = process.env.LARDER_ACTOR?.trim()
  if (fromEnv) return fromEnv
  let user = 'unknown'
  try {
    user = userInfo().username
  } catch {}
  return `${user}@${hostname()}`
}

/** Who last changed an object through Larder, and when. */
export interface ChangeStamp {
  readonly by: string
  readonly at: Micros
}

/**
 * The CONFLICT error of a commit whose base is older than the stored state of an object it changes.
 * Names the object and, when known, who changed it and when.
 */
export function objectConflict(
  where: string,
  table: ObjectTable,
  project: string,
  name: string,
  stamp: ChangeStamp | undefined,
  what: 'changed' | 'created' | 'deleted' = 'changed',
): LarderError {
  const by = stamp
    ? ` by ${stamp.by} at ${new Date(Math.floor(stamp.at / 1000)).toISOString()}`
    : ' by another writer'
  return new LarderError(
    'CONFLICT',
    `the registry ${where} changed since it was read: ${describeObject(table, project, name)} was ${what}${by}`,
    {
      hint: 'run the command again; `larder plan` shows what changed',
      details: { kind: table.kind, project, name, changedBy: stamp?.by, changedAt: stamp?.at },
    },
  )
}

/**
 * Replays the changes from `base` to `next` on `current` (a registry someone else committed after
 * `base` was read), object by object: an object nobody else touched takes `next`'s version; one the
 * other writer changed only by bookkeeping is merged ({@link rebaseChange}); any other overlap throws
 * CONFLICT naming the object. Registry-wide fields (infra, project metadata) conflict when both sides
 * changed them. Returns the merged registry, a new message; the inputs are not modified.
 */
export function rebaseCommit(
  where: string,
  base: RegistryProto,
  next: RegistryProto,
  current: RegistryProto,
  stampOf: (key: string) => ChangeStamp | undefined,
  registrySchema: DescMessage,
): { merged: RegistryProto; changed: ObjectChange[] } {
  const merged = clone(registrySchema, current) as RegistryProto
  const now = objectsByKey(current)
  const changes = objectChanges(base, next)
  const written: ObjectChange[] = []
  const replaced = new Map<string, Message | undefined>()
  for (const change of changes) {
    const cur = now.get(change.key)?.message
    const untouched =
      change.before && cur
        ? sameBytes(toBinary(change.table.schema, change.before), toBinary(change.table.schema, cur))
        : change.before === cur
    let message = change.after
    if (!untouched) {
      const rebased = rebaseChange(change.table, change.before, cur, change.after)
      if (rebased === 'conflict') {
        const what = !change.before ? 'created' : !cur ? 'deleted' : 'changed'
        throw objectConflict(where, change.table, change.project, change.name, stampOf(change.key), what)
      }
      message = rebased.message
    }
    replaced.set(change.key, message)
    written.push({ ...change, before: cur, after: message })
  }
  for (const table of OBJECT_TABLES) {
    const list: Message[] = []
    for (const m of table.list(merged)) {
      const key = objectKey(table, table.projectOf(m), table.nameOf(m))
      if (!replaced.has(key)) list.push(m)
      else {
        const r = replaced.get(key)
        if (r) list.push(r)
        replaced.delete(key)
      }
    }
    for (const change of written) {
      if (change.table === table && replaced.has(change.key)) {
        const r = replaced.get(change.key)
        if (r) list.push(r)
      }
    }
    table.set(merged, list)
  }
  for (const field of REGISTRY_WIDE_FIELDS) {
    const b = JSON.stringify(wide(base, field))
    const n = JSON.stringify(wide(next, field))
    if (b === n) continue
    if (JSON.stringify(wide(current, field)) !== b) {
      throw new LarderError(
        'CONFLICT',
        `the registry ${where} changed since it was read: its ${field} was changed by another writer`,
        { hint: 'run the command again; `larder plan` shows what changed', details: { field } },
      )
    }
    ;(merged as unknown as Record<string, unknown>)[field] = (next as unknown as Record<string, unknown>)[
      field
    ]
  }
  return { merged, changed: written }
}

function wide(r: RegistryProto, field: (typeof REGISTRY_WIDE_FIELDS)[number]): unknown {
  const value = r[field]
  return JSON.parse(
    JSON.stringify(value ?? null, (_k, v) =>
      typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
    ),
  )
}
