import {
  type BatchSource,
  type DataSource,
  type Entity,
  type FeastType,
  FeatureService,
  type FeatureView,
  Field,
  FileSource,
  Invalid,
  isKind,
  isLarderError,
  isStreamSource,
  knownNames,
  LarderError,
  type OnDemandFeatureView,
  PostgreSQLSource,
  Project,
  type PushSource,
  type StreamFeatureView,
  type StreamSource,
  ValueType,
  withBatchSource,
} from '../core/index.js'
import type { RepoContents } from '../registry/index.js'
import type { RepoDefinitions } from './load-repo.js'

/** A column of a batch source as the offline engine sees it. */
export interface SourceColumn {
  readonly name: string
  /** The Feast type the engine maps the column's type to; `Invalid` when it has none. */
  readonly type: FeastType
  /** The engine's own type name, e.g. `DOUBLE`, for messages. */
  readonly sourceType?: string
}

/** Reads a batch source's columns; throws a LarderError naming the path when it cannot. */
export type DescribeSource = (source: BatchSource) => Promise<readonly SourceColumn[]>

/**
 * Completes a repo's definitions against their data, as `feast apply` does: checks every view's source
 * exists and has the columns the view declares, and that each declared field's type can be read from
 * its column (see {@link readsAs}; a field renamed by `fieldMapping` is checked against the column it
 * maps from), infers a source's timestamp column when it has exactly one, entity key types, and the
 * schema of views that declare none. Returns the objects to register.
 */
export async function resolveRepoContents(
  defs: RepoDefinitions,
  projectName: string,
  projectDescription: string,
  describe: DescribeSource,
): Promise<RepoContents> {
  if (defs.project && defs.project.name !== projectName) {
    throw new LarderError(
      'INVALID_DEFINITION',
      `the repo defines project "${defs.project.name}" but feature_store.yaml says "${projectName}"`,
      {
        hint: 'use one name in both places',
      },
    )
  }
  const project = defs.project ?? new Project({ name: projectName, description: projectDescription })
  const columnsOf = memo(describe)

  // 1. Sources: infer a missing timestamp field from the data.
  const sources = new Map<DataSource, DataSource>()
  const resolveBatch = async (s: BatchSource): Promise<BatchSource> => {
    const done = sources.get(s)
    if (done) return done as BatchSource
    let next = s
    if (!s.timestampField) {
      const columns = await columnsOf(s)
      const candidates = columns.filter(
        (c) => c.type.valueType === ValueType.UNIX_TIMESTAMP && c.name !== s.createdTimestampColumn,
      )
      if (candidates.length !== 1) {
        throw new LarderError(
          'INVALID_DEFINITION',
          `data source "${s.name}" has no timestampField and ${candidates.length} timestamp columns`,
          {
            hint: `set timestampField to the column with each row's event time; timestamp columns: ${knownNames(candidates.map((c) => c.name))}`,
          },
        )
      }
      next = rebuildBatch(s, candidates[0]!.name)
    }
    sources.set(s, next)
    return next
  }
  for (const s of defs.dataSources) {
    if (isKind(s, 'FileSource') || isKind(s, 'PostgreSQLSource')) await resolveBatch(s as BatchSource)
  }
  for (const s of defs.dataSources) {
    if (isKind(s, 'PushSource') || isStreamSource(s)) {
      const fed = s as PushSource | StreamSource
      const batch = fed.batchSource ? await resolveBatch(fed.batchSource) : undefined
      sources.set(s, batch === fed.batchSource ? fed : withBatchSource(fed, batch!))
    } else if (!sources.has(s)) sources.set(s, s)
  }

  // 2. Entities: infer key types from the first view whose source has the join key.
  const entities = new Map<Entity, Entity>(defs.entities.map((e) => [e, e]))
  for (const view of [...defs.featureViews, ...defs.streamFeatureViews.map((v) => v.storageView)]) {
    const batch = view.batchSource
    for (const entity of view.entities) {
      const current = entities.get(entity) ?? entity
      const declared = view.schema?.find((f) => f.name === entity.joinKey)
      if (current.valueType) continue
      if (declared) {
        entities.set(entity, current.withValueType(declared.dtype))
        continue
      }
      if (!batch) continue
      const column = (await columnsOf(batch)).find((c) => c.name === batch.sourceColumn(entity.joinKey))
      if (column) entities.set(entity, current.withValueType(column.type))
    }
  }

  // 3. Views: check declared columns against the source, infer omitted schemas.
  const views = new Map<FeatureView, FeatureView>()
  for (const view of defs.featureViews) {
    const source = sources.get(view.source) as BatchSource | PushSource
    const batch = isKind(source, 'PushSource') ? (source as PushSource).batchSource : (source as BatchSource)
    const viewEntities = view.entities.map((e) => entities.get(e) ?? e)
    const schema = batch
      ? await checkedSchema(`feature view "${view.name}"`, view, viewEntities, batch, await columnsOf(batch))
      : requireSchema(view, viewEntities)
    views.set(view, view.with({ source, entities: viewEntities, schema }))
  }
  // Stream views: the same checks of their event fields against the batch source the events land in.
  const streamViews = new Map<StreamFeatureView, StreamFeatureView>()
  for (const view of defs.streamFeatureViews) {
    const where = `stream feature view "${view.name}"`
    const source = sources.get(view.source) as PushSource | StreamSource
    const batch = source.batchSource!
    const viewEntities = view.entities.map((e) => entities.get(e) ?? e)
    // a directory the processor has not appended to yet has nothing to check a declared schema against
    const columns = await columnsOf(batch).catch((e: unknown) => {
      if (view.schema && isLarderError(e) && e.details?.emptyDirectory === true) return undefined
      throw e
    })
    const schema = columns
      ? await checkedSchema(where, view.storageView, viewEntities, batch, columns)
      : requireSchema(view.storageView, viewEntities)
    streamViews.set(view, view.with({ source, entities: viewEntities, schema }))
  }
  checkUniqueViewNames({
    'feature view': views.values(),
    'stream feature view': streamViews.values(),
    'on-demand feature view': defs.onDemandFeatureViews,
  })
  // 4. On-demand views: re-check their source selections against the completed views, so a source
  // feature that does not exist fails here, at apply, rather than on the first request.
  const onDemand = new Map<OnDemandFeatureView, OnDemandFeatureView>()
  for (const odfv of defs.onDemandFeatureViews) {
    try {
      onDemand.set(odfv, odfv.over(views))
    } catch (cause) {
      if (!isLarderError(cause)) throw cause
      throw new LarderError('INVALID_DEFINITION', `on-demand feature view "${odfv.name}": ${cause.message}`, {
        cause,
        hint: cause.hint,
      })
    }
  }
  const services = defs.featureServices.map(
    (s) =>
      new FeatureService({
        name: s.name,
        description: s.description,
        tags: { ...s.tags },
        owner: s.owner,
        features: [
          ...s.projections.map((p) => p.over(views.get(p.view) ?? p.view)),
          ...s.streamProjections.map((p) => p.over(streamViews.get(p.view) ?? p.view)),
          ...s.onDemandProjections.map((p) => p.over(onDemand.get(p.view) ?? p.view)),
        ],
      }),
  )
  return {
    project,
    entities: [...entities.values()],
    dataSources: [...sources.values()],
    featureViews: [...views.values()],
    streamFeatureViews: [...streamViews.values()],
    onDemandFeatureViews: [...onDemand.values()],
    featureServices: services,
    permissions: defs.permissions,
  }
}

function rebuildBatch(s: BatchSource, timestampField: string): BatchSource {
  return isKind(s, 'FileSource')
    ? new FileSource({ ...(s as FileSource), timestampField })
    : new PostgreSQLSource({ ...(s as PostgreSQLSource), timestampField })
}

/** Views share one namespace in Feast (feature references name them), whatever their kind. */
function checkUniqueViewNames(byKind: Record<string, Iterable<{ readonly name: string }>>): void {
  const seen = new Map<string, string>()
  for (const [kind, views] of Object.entries(byKind)) {
    for (const v of views) {
      const other = seen.get(v.name)
      if (other !== undefined) {
        throw new LarderError('INVALID_DEFINITION', `a ${other} and a ${kind} are both named "${v.name}"`, {
          hint: 'feature references name views, so give each view its own name',
        })
      }
      seen.set(v.name, kind)
    }
  }
}

/**
 * The schema of a view (named by `where`) over a batch source: the declared fields checked against the
 * source's columns, or, with none declared, the join keys and every column that is not a timestamp.
 */
async function checkedSchema(
  where: string,
  view: FeatureView,
  entities: readonly Entity[],
  batch: BatchSource,
  columns: readonly SourceColumn[],
): Promise<Field[]> {
  const byName = new Map(columns.map((c) => [c.name, c]))
  const sourceName = isKind(batch, 'FileSource')
    ? `${batch.name} (${(batch as FileSource).path})`
    : batch.name
  const need = (column: string, what: string) => {
    const c = byName.get(batch.sourceColumn(column))
    if (!c) {
      throw new LarderError(
        'DATA_SOURCE',
        `${where}: source ${sourceName} has no column "${batch.sourceColumn(column)}" (${what})`,
        {
          hint: `its columns: ${knownNames(byName.keys())}`,
        },
      )
    }
    return c
  }
  const typed = (field: Field, what: string) => {
    const column = need(field.name, what)
    if (readsAs(field.dtype, column)) return
    const has = column.sourceType ? `${column.sourceType} (${column.type.name})` : column.type.name
    throw new LarderError(
      'INVALID_DEFINITION',
      `${where}: field "${field.name}" is declared ${field.dtype.name}, but column "${column.name}" of source ${sourceName} has type ${has}`,
      {
        hint:
          column.type === Invalid
            ? `cast the column in the source to a type with a Feast equivalent, e.g. one that reads as ${field.dtype.name}`
            : `change the field's dtype to ${column.type.name}, or cast the column to ${field.dtype.name} in the source`,
        details: { view: view.name, field: field.name, declared: field.dtype.name, column: column.name },
      },
    )
  }
  need(batch.timestampField, 'the timestamp field')
  if (batch.createdTimestampColumn) need(batch.createdTimestampColumn, 'the created timestamp column')
  const keyFields = entities.map(
    (e) =>
      view.schema?.find((f) => f.name === e.joinKey) ??
      new Field({
        name: e.joinKey,
        dtype: e.valueType ?? need(e.joinKey, `join key of entity "${e.name}"`).type,
      }),
  )
  for (const e of entities) need(e.joinKey, `join key of entity "${e.name}"`)
  if (view.schema) {
    for (const e of entities) {
      const declared = view.schema.find((f) => f.name === e.joinKey)
      if (declared) typed(declared, `join key of entity "${e.name}"`)
    }
    for (const f of view.features) typed(f, 'a declared feature')
    return [...keyFields, ...view.features]
  }
  const mapped = (c: SourceColumn) => batch.fieldMapping[c.name] ?? c.name
  const skip = new Set([
    batch.timestampField,
    batch.createdTimestampColumn,
    batch.datePartitionColumn,
    ...entities.map((e) => e.joinKey),
  ])
  const features = columns
    .filter((c) => !skip.has(mapped(c)))
    .map((c) => new Field({ name: mapped(c), dtype: c.type }))
  return [...keyFields, ...features]
}

/**
 * True when values of a column of type `column` can be served as `declared` without loss: the same type,
 * a safe widening (Int32 to Int64, Int32 or Float32 to Float64, UnixTimestamp from Int32/Int64 epoch
 * seconds, and the same inside lists and sets), or a declared type that only narrows the meaning of the
 * column's (Uuid, TimeUuid or Json over text, Decimal over text or numbers, PdfBytes or ImageBytes over
 * bytes, a set over a list, a Map over a struct, ZonedTimestamp over a timestamp, Json over any list,
 * struct or map). Narrowings (Int32 over Int64, Float32 over Float64), Int64 and Float64 over each
 * other, and numbers, bools or bytes over text are refused. A column
 * whose type has no Feast equivalent reads as nothing but a ScalarMap over a map with non-string keys.
 *
 * @example readsAs(Int64, { name: 'trips', type: Int32 }) // true
 */
export function readsAs(declared: FeastType, column: SourceColumn): boolean {
  if (column.type === Invalid) {
    return declared.valueType === ValueType.SCALAR_MAP && /^MAP\(/i.test(column.sourceType ?? '')
  }
  return fits(declared, column.type)
}

function fits(d: FeastType, c: FeastType): boolean {
  if (d.element !== undefined) {
    // lists and sets: over a list column, element by element
    return c.element !== undefined && fits(d.element, c.element)
  }
  if (d.fields !== undefined) {
    const fields = c.fields
    return (
      fields !== undefined &&
      Object.entries(d.fields).every(([name, t]) => fields[name] !== undefined && fits(t, fields[name]!))
    )
  }
  if (c.element !== undefined || c.fields !== undefined) {
    return d.valueType === ValueType.JSON || (d.valueType === ValueType.MAP && c.fields !== undefined)
  }
  return d.valueType === c.valueType || (WIDER[d.valueType] ?? []).includes(c.valueType)
}

/** Scalar column types each declared scalar type may also read, beyond its own. */
const WIDER: Readonly<Record<number, readonly number[]>> = {
  [ValueType.INT64]: [ValueType.INT32],
  [ValueType.DOUBLE]: [ValueType.FLOAT, ValueType.INT32],
  [ValueType.UNIX_TIMESTAMP]: [ValueType.INT32, ValueType.INT64],
  [ValueType.ZONED_TIMESTAMP]: [ValueType.UNIX_TIMESTAMP],
  [ValueType.STRING]: [ValueType.UUID, ValueType.JSON],
  [ValueType.UUID]: [ValueType.STRING],
  [ValueType.TIME_UUID]: [ValueType.STRING, ValueType.UUID],
  [ValueType.JSON]: [ValueType.STRING, ValueType.MAP],
  [ValueType.DECIMAL]: [ValueType.STRING, ValueType.DOUBLE, ValueType.INT32, ValueType.INT64],
  [ValueType.PDF_BYTES]: [ValueType.BYTES],
  [ValueType.IMAGE_BYTES]: [ValueType.BYTES],
  [ValueType.SCALAR_MAP]: [ValueType.MAP],
}

function requireSchema(view: FeatureView, entities: readonly Entity[]): Field[] {
  if (!view.schema) {
    throw new LarderError(
      'INVALID_DEFINITION',
      `feature view "${view.name}" has no schema and no batch source to infer one from`,
      {
        hint: 'declare its schema, or give its push source a batchSource',
      },
    )
  }
  const keyFields = entities.map((e) => {
    const declared = view.schema!.find((f) => f.name === e.joinKey)
    if (declared) return declared
    if (!e.valueType) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `entity "${e.name}" has no valueType and no source to infer it from`,
        {
          hint: 'give the entity a valueType, e.g. valueType: Int64',
        },
      )
    }
    return new Field({ name: e.joinKey, dtype: e.valueType })
  })
  return [...keyFields, ...view.features]
}

function memo(describe: DescribeSource): DescribeSource {
  const cache = new Map<BatchSource, Promise<readonly SourceColumn[]>>()
  return (s) => {
    let p = cache.get(s)
    if (!p) {
      p = describe(s)
      cache.set(s, p)
    }
    return p
  }
}
