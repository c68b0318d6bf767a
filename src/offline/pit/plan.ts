import {
  type BatchSource,
  type FeatureView,
  knownNames,
  LarderError,
  outputColumnName,
  type TimestampInput,
  toMicros,
  ValueType,
} from '../../core/index.js'
import type { FeatureSelection, HistoricalRequest, WindowSelection } from '../offline-store.js'
import {
  EVENT_TIMESTAMP,
  type MicrosRange,
  type PitAggregation,
  type PitView,
  type PitWindows,
  RESERVED_PREFIX,
  type WindowFunction,
} from './spec.js'
import { viewOutputColumns } from './sql.js'

/** A source column the join reads, and why (for error messages naming the declaration at fault). */
export interface SourceColumnUse {
  readonly column: string
  /** E.g. `join key "driver_id"`, `timestamp field`, `feature "conv_rate"`. */
  readonly role: string
}

/** A view of the request before the engine has turned its source into a relation. */
export interface PlannedView {
  readonly source: BatchSource
  /** `feature view "driver_stats"`, for messages. */
  readonly where: string
  readonly view: Omit<PitView, 'relation'>
  /** The view's join keys (Feast names), in the order of `view.keys`. */
  readonly joinKeys: readonly string[]
  /** Every source column the join reads, timestamps first. */
  readonly columns: readonly SourceColumnUse[]
}

/** A column of the entity table as the engine describes it. */
export interface EntityColumn {
  readonly name: string
  /** True for timestamp-typed columns (candidates for the entity timestamp). */
  readonly isTimestamp: boolean
}

/**
 * Resolves the requested features of each view: field mapping (source column → feature name, also for
 * join keys and timestamps), the projection's join-key map and output names. Throws a `LarderError` for
 * an empty request, an unknown feature, a view without a batch source or timestamp field, and for two
 * features that would get the same output column.
 */
export function planViews(selections: readonly FeatureSelection[], fullFeatureNames: boolean): PlannedView[] {
  if (selections.length === 0) {
    throw new LarderError('INVALID_ARGUMENT', 'the request names no features', {
      hint: "list features such as 'driver_hourly_stats:conv_rate', or pass a feature service",
    })
  }
  const planned = selections.map((s) => planView(s, fullFeatureNames))
  const owner = new Map<string, string>()
  for (const p of planned) {
    for (const output of viewOutputColumns(p.view)) {
      const other = owner.get(output)
      if (other !== undefined) {
        throw new LarderError(
          'INVALID_ARGUMENT',
          `feature column "${output}" is requested from ${other === p.view.name ? `"${other}" twice` : `"${other}" and "${p.view.name}"`}`,
          {
            hint: fullFeatureNames
              ? `give one of the projections another name with view.withName('${p.view.name}_2')`
              : 'set fullFeatureNames: true to name feature columns "<view>__<feature>"',
          },
        )
      }
      owner.set(output, p.view.name)
    }
  }
  return planned
}

function planView(selection: FeatureSelection, fullFeatureNames: boolean): PlannedView {
  const { projection } = selection
  const fv = projection.view
  const where = `feature view "${fv.name}"`
  const source = batchSourceOf(fv)
  if (fv.schema === undefined) {
    throw new LarderError('INVALID_ARGUMENT', `${where} has no schema yet`, {
      hint: 'run `larder apply` so that its schema is inferred from the source, or declare schema: [...]',
    })
  }
  if (selection.features.length === 0 && (selection.windows?.aggregations.length ?? 0) === 0) {
    throw new LarderError('INVALID_ARGUMENT', `no features are selected from ${where}`, {
      hint: `known features: ${knownNames(fv.features.map((f) => f.name))}`,
    })
  }
  const seen = new Set<string>()
  for (const name of selection.features) {
    fv.feature(name)
    if (seen.has(name)) {
      throw new LarderError('INVALID_ARGUMENT', `feature "${name}" of ${where} is requested twice`, {
        hint: 'list each feature once',
      })
    }
    seen.add(name)
  }
  const keys = fv.joinKeys.map((k) => ({
    source: source.sourceColumn(k),
    entity: projection.joinKeyMap[k] ?? k,
  }))
  const timestamp = source.sourceColumn(source.timestampField)
  const created = source.createdTimestampColumn
    ? source.sourceColumn(source.createdTimestampColumn)
    : undefined
  const features = selection.features.map((f) => ({
    source: source.sourceColumn(f),
    output: outputColumnName(projection.nameToUse, f, fullFeatureNames),
  }))
  const windows =
    selection.windows === undefined || selection.windows.aggregations.length === 0
      ? undefined
      : planWindows(selection.windows, fv, source, projection.nameToUse, fullFeatureNames)
  const columns: SourceColumnUse[] = [
    { column: timestamp, role: 'timestamp field' },
    ...(created === undefined ? [] : [{ column: created, role: 'created timestamp column' }]),
    ...fv.joinKeys.map((k, i) => ({ column: keys[i]!.source, role: `join key "${k}"` })),
    ...selection.features.map((f, i) => ({ column: features[i]!.source, role: `feature "${f}"` })),
    ...(selection.windows?.aggregations ?? []).map((a, i) => ({
      column: windows!.aggregations[i]!.source,
      role: `aggregated column of ${a.describe()}`,
    })),
  ]
  return {
    source,
    where,
    joinKeys: fv.joinKeys,
    view: {
      name: projection.nameToUse,
      keys,
      timestamp,
      created,
      ttlMicros: Math.round(fv.ttl * 1e6),
      features,
      ...(windows === undefined ? {} : { windows }),
    },
    columns,
  }
}

/** Canonical names of the aggregation functions (`Aggregation.function` is as written). */
const WINDOW_FUNCTIONS: Readonly<Record<string, WindowFunction>> = {
  sum: 'sum',
  count: 'count',
  min: 'min',
  max: 'max',
  avg: 'avg',
  mean: 'avg',
  std: 'std',
  stddev: 'std',
  var: 'var',
  variance: 'var',
  count_distinct: 'count_distinct',
  last: 'last',
}

/** The cast of an aggregation's result, by the value type of its output feature. */
const RESULT_CASTS: Readonly<Record<number, PitAggregation['cast']>> = {
  [ValueType.INT64]: 'int64',
  [ValueType.DOUBLE]: 'float64',
}

/**
 * The windows of a selection: each aggregation's canonical function, source column (after field
 * mapping), output name, window and result cast, from the type of its column in the view's schema.
 * Throws INVALID_ARGUMENT for a column the schema lacks or an aggregation its column's type refuses.
 */
function planWindows(
  w: WindowSelection,
  fv: FeatureView,
  source: BatchSource,
  name: string,
  fullFeatureNames: boolean,
): PitWindows {
  const where = `feature view "${fv.name}"`
  const types = new Map((fv.schema ?? []).map((f) => [f.name, f.dtype]))
  const aggregations = w.aggregations.map((a) => {
    const type = types.get(a.column)
    if (type === undefined) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `${where}: ${a.describe()} aggregates "${a.column}", which is not in its schema`,
        { hint: `aggregate a field of the schema (${knownNames(types.keys())}), or declare "${a.column}"` },
      )
    }
    const fn = WINDOW_FUNCTIONS[a.function.toLowerCase()]!
    return {
      fn,
      source: source.sourceColumn(a.column),
      output: outputColumnName(name, a.outputName, fullFeatureNames),
      windowMicros: Math.round(a.timeWindow * 1e6),
      cast: RESULT_CASTS[a.outputField(type, where).dtype.valueType],
    }
  })
  return { hopMicros: Math.round(w.hopSeconds * 1e6), aggregations }
}

function batchSourceOf(fv: FeatureView): BatchSource {
  const source = fv.batchSource
  if (source === undefined) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `feature view "${fv.name}" has no batch source to read offline`,
      {
        hint: 'give its PushSource a batchSource (e.g. a FileSource)',
      },
    )
  }
  if (source.timestampField === '') {
    throw new LarderError(
      'INVALID_DEFINITION',
      `source "${source.name}" of feature view "${fv.name}" has no timestampField`,
      {
        hint: "name the column holding each row's event time, e.g. timestampField: 'event_timestamp'",
      },
    )
  }
  return source
}

/**
 * Checks the entity table against the views and picks its timestamp column: `event_timestamp`, else the
 * only timestamp-typed column (with a notice), else an error. Also rejects missing join-key columns,
 * reserved or duplicate column names, and features whose output name is already an entity column.
 */
export function planEntity(
  columns: readonly EntityColumn[],
  views: readonly PlannedView[],
): { timestampColumn: string; notices: string[] } {
  const names = columns.map((c) => c.name)
  const listed = names.join(', ') || '(none)'
  for (const [i, name] of names.entries()) {
    if (name.startsWith(RESERVED_PREFIX)) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `entity table column "${name}" uses the reserved prefix "${RESERVED_PREFIX}"`,
        {
          hint: 'rename the column',
        },
      )
    }
    if (names.indexOf(name) !== i) {
      throw new LarderError('INVALID_ARGUMENT', `entity table has two columns named "${name}"`, {
        hint: 'give each column a unique name',
      })
    }
  }
  const notices: string[] = []
  let timestampColumn = EVENT_TIMESTAMP
  if (!names.includes(EVENT_TIMESTAMP)) {
    const candidates = columns.filter((c) => c.isTimestamp)
    if (candidates.length !== 1) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `entity table has no "${EVENT_TIMESTAMP}" column${candidates.length > 1 ? ` and several timestamp columns (${candidates.map((c) => c.name).join(', ')})` : ''}; its columns: ${listed}`,
        { hint: `name the column holding each row's point in time "${EVENT_TIMESTAMP}"` },
      )
    }
    timestampColumn = candidates[0]!.name
    notices.push(
      `entity table has no "${EVENT_TIMESTAMP}" column; using "${timestampColumn}", its only timestamp column`,
    )
  }
  for (const p of views) {
    for (const [i, key] of p.view.keys.entries()) {
      if (!names.includes(key.entity)) {
        const joinKey = p.joinKeys[i]!
        throw new LarderError(
          'INVALID_ARGUMENT',
          `entity table has no column "${key.entity}", a join key of ${p.where}; its columns: ${listed}`,
          {
            hint:
              key.entity === joinKey
                ? `add the column, or read the key from another column with view.withJoinKeyMap({ ${joinKey}: '<column>' })`
                : `add the column: the projection reads join key "${joinKey}" from "${key.entity}"`,
          },
        )
      }
    }
    for (const f of p.view.features) {
      if (names.includes(f.output)) {
        throw new LarderError(
          'INVALID_ARGUMENT',
          `feature column "${f.output}" of ${p.where} has the name of an entity table column`,
          { hint: 'set fullFeatureNames: true, or rename the entity column' },
        )
      }
    }
  }
  return { timestampColumn, notices }
}

/**
 * The range of an entity-less retrieval (`startDate` to `endDate`), or undefined when the request gives
 * entities. Throws INVALID_ARGUMENT unless the request gives either entities, or both dates and no
 * entities, and for dates that are not timestamps or are reversed.
 */
export function requestRange(req: HistoricalRequest): MicrosRange | undefined {
  const hasRange = req.startDate !== undefined || req.endDate !== undefined
  if (
    (req.entities === undefined) === !hasRange ||
    (hasRange && (req.startDate === undefined || req.endDate === undefined))
  ) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      'give either entities, or startDate and endDate (and no entities)',
      {
        hint: 'entities label given points in time; startDate/endDate read every row of the views in that range',
      },
    )
  }
  return hasRange ? planRange(req.startDate!, req.endDate!, 'startDate', 'endDate') : undefined
}

/**
 * The inclusive range from `start` to `end` in microseconds. Throws INVALID_ARGUMENT naming the
 * parameter (`startName`, `endName`) that is not a timestamp, or both when `start` is after `end`.
 */
export function planRange(
  start: TimestampInput,
  end: TimestampInput,
  startName: string,
  endName: string,
): MicrosRange {
  const range = { start: toMicros(start, startName), end: toMicros(end, endName) }
  if (range.start > range.end) {
    throw new LarderError('INVALID_ARGUMENT', `${startName} is after ${endName}`, {
      hint: `give a ${startName} earlier than or equal to the ${endName}`,
    })
  }
  return range
}

/**
 * The entity columns of an entity-less range retrieval: the join keys of every view (after join-key
 * maps, in order of first appearance), then `event_timestamp`.
 */
export function rangeEntityKeys(views: readonly PlannedView[]): string[] {
  const keys: string[] = []
  for (const p of views) for (const k of p.view.keys) if (!keys.includes(k.entity)) keys.push(k.entity)
  if (keys.includes(EVENT_TIMESTAMP)) {
    throw new LarderError('INVALID_ARGUMENT', `a join key is named "${EVENT_TIMESTAMP}"`, {
      hint: 'range retrieval names its timestamp column event_timestamp; map the key to another name with withJoinKeyMap',
    })
  }
  return keys
}

/** The columns `pullLatest` yields for a view, in order. */
export interface PullColumns {
  readonly joinKeys: readonly string[]
  readonly features: readonly string[]
  /** The view's timestamp field (its name on the Feast side of `fieldMapping`). */
  readonly eventTimestamp: string
  /** The view's created timestamp column, if its source declares one. */
  readonly createdTimestamp: string | undefined
}

/** Plans the latest-row read of materialization: every feature of the view, keys under their own names. */
export function planLatest(fv: FeatureView): { planned: PlannedView; columns: PullColumns } {
  const [planned] = planViews(
    [{ projection: fv.projection, features: fv.features.map((f) => f.name) }],
    false,
  )
  const source = planned!.source
  return {
    planned: planned!,
    columns: {
      joinKeys: fv.joinKeys,
      features: fv.features.map((f) => f.name),
      eventTimestamp: source.timestampField,
      createdTimestamp: source.createdTimestampColumn || undefined,
    },
  }
}

/** The columns `pullLatest` yields for a view; throws as `pullLatest` would for a view it cannot read. */
export function pullColumns(fv: FeatureView): PullColumns {
  return planLatest(fv).columns
}
