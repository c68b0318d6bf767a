import type { Micros } from '../../core/index.js'
import {
  ENTITY_TS,
  EVENT_TIMESTAMP,
  type MicrosRange,
  type PitAggregation,
  type PitSpec,
  type PitView,
  type PitWindows,
  ROW_ID,
  SOURCE_POSITION,
  type WindowFunction,
} from './spec.js'

/**
 * What differs between SQL engines, kept to a few hooks; the join itself is written once below.
 * Relations hold naive-UTC timestamps (see `PitView.relation`).
 */
export interface SqlDialect {
  /** A quoted identifier. */
  ident(name: string): string
  /** A naive-UTC timestamp literal for an instant. */
  timestamp(micros: Micros): string
  /** `expr` minus a number of microseconds. */
  minusMicros(expr: string, micros: number): string
  /** A naive-UTC timestamp turned into the engine's time-zone-aware instant type, for output. */
  utcInstant(expr: string): string
  /** Which of `parts` buckets the row with these key expressions falls in: a number from 0 to parts − 1. */
  keyBucket(keys: readonly string[], parts: number): string
  /** The microseconds since the Unix epoch of a naive-UTC timestamp, as a 64-bit integer, exactly. */
  epochMicros(expr: string): string
  /** The naive-UTC timestamp (or instant) `expr` microseconds after the Unix epoch, exactly. */
  fromEpochMicros(expr: string): string
  /** The engine's names of the types windowed aggregations are cast to. */
  readonly types: { readonly int64: string; readonly float64: string }
  /**
   * An aggregate giving `value` (null included) of the first row in `order` among the rows passing
   * `filter` (empty, or ` FILTER (WHERE …)`); null when there is none.
   */
  firstValue(value: string, order: string, filter: string): string
  /** Present when the engine has an exact `ASOF LEFT JOIN`; otherwise every view uses the window form. */
  readonly asof?: AsofHooks
  /**
   * True when the engine runs a correlated `LEFT JOIN LATERAL (… ORDER BY … LIMIT 1)` well (an index on
   * the source's join keys and timestamp serves each entity row): views without an exact ASOF form then
   * use the lateral form instead of the window form.
   */
  readonly lateral?: boolean
}

/**
 * ASOF joins on one ordered key. To break event-timestamp ties inside the join (instead of deduplicating
 * first), the key packs the event timestamp, the created timestamp and the source position into one
 * sortable value.
 */
export interface AsofHooks {
  /**
   * A sortable key of a feature row, ordered by event ts, then created ts (a null lowest; `created` is
   * undefined for a view without a created column), then source position.
   */
  featureKey(ts: string, created: string | undefined, position: string): string
  /**
   * The key of an entity row, comparable with the feature keys of the same shape (`created`: of views
   * with a created column): at least the key of every feature row whose event ts is `<=` `ts`.
   */
  entityKey(ts: string, created: boolean): string
}

/**
 * `auto` uses `ASOF LEFT JOIN` wherever it is exact (every view, except views with a created column
 * under `asOfKnownTime`) and elsewhere the lateral form where the dialect has it, else the window form;
 * `window` uses the window form everywhere.
 */
export type JoinStrategy = 'auto' | 'window'

export interface PitQueryOptions {
  readonly strategy?: JoinStrategy
  /** Keep only the first rows. */
  readonly limit?: number
}

/**
 * Builds the SELECT of a point-in-time join: the entity columns in order, then each view's features,
 * one row per entity row, ordered as the entity table.
 *
 * The ASOF form finds the greatest (event ts, created ts, source position) `<=` the entity ts with one `ASOF LEFT JOIN`
 * per view and applies the ttl afterwards, nulling the features of a match older than the ttl: ASOF
 * has no lower bound, and the greatest event ts is older than the ttl only if every candidate is. The
 * window form joins the candidates on a range condition and keeps `row_number() = 1`; it also handles
 * conditions ASOF cannot express (`asOfKnownTime` against a created column).
 *
 * A view's windowed aggregations (`PitView.windows`, semantics in `PitWindows`) follow its features:
 * with a lateral dialect, one `LEFT JOIN LATERAL` aggregate query per view and entity row over the
 * widest window; otherwise a range join of the entity rows with the view's events grouped per entity
 * row. Narrower windows filter their aggregate (`FILTER (WHERE …)`). A view may have windows and no
 * features. Output columns are as {@link viewOutputColumns} lists them.
 */
export function buildPitQuery(spec: PitSpec, d: SqlDialect, options: PitQueryOptions = {}): string {
  const q = d.ident.bind(d)
  const useAsof = spec.views.map(
    (v) =>
      v.features.length > 0 &&
      d.asof !== undefined &&
      options.strategy !== 'window' &&
      !(spec.asOfKnownTime && v.created),
  )
  const entityKeys = [false, true]
    .filter((created) => spec.views.some((v, i) => useAsof[i] && (v.created !== undefined) === created))
    .map((created) => `, ${d.asof!.entityKey(q(ENTITY_TS), created)} AS ${q(created ? '__oc' : '__o')}`)
  const ctes: string[] = []
  ctes.push(`${q('__larder_e')} AS (SELECT *${entityKeys.join('')} FROM ${spec.entity.relation})`)
  const selects = spec.entity.columns.map((c) => `e.${q(c)}`)
  const joins: string[] = []
  spec.views.forEach((v, i) => {
    const lateral = !useAsof[i] && d.lateral === true && options.strategy !== 'window'
    if (v.features.length > 0) {
      const src = q(`__larder_v${i}`)
      if (!lateral) ctes.push(`${src} AS (${sourceSelect(v, spec, d, useAsof[i]!)})`)
      const alias = `v${i}`
      if (useAsof[i]) {
        const on = v.keys.map((k, j) => `e.${q(k.entity)} = ${alias}.${q(`__k${j}`)}`)
        on.push(`e.${q(v.created === undefined ? '__o' : '__oc')} >= ${alias}.${q('__o')}`)
        joins.push(`ASOF LEFT JOIN ${src} ${alias} ON ${on.join(' AND ')}`)
        const fresh =
          v.ttlMicros > 0 ? `${alias}.${q('__ts')} >= ${d.minusMicros(`e.${q(ENTITY_TS)}`, v.ttlMicros)}` : ''
        v.features.forEach((f, j) => {
          const value = `${alias}.${q(`__f${j}`)}`
          selects.push(`${fresh ? `CASE WHEN ${fresh} THEN ${value} END` : value} AS ${q(f.output)}`)
        })
      } else if (lateral) {
        joins.push(`LEFT JOIN LATERAL (${lateralSelect(v, spec, d)}) ${alias} ON true`)
        for (const [j, f] of v.features.entries()) selects.push(`${alias}.${q(`__f${j}`)} AS ${q(f.output)}`)
      } else {
        const win = q(`__larder_w${i}`)
        ctes.push(`${win} AS (${windowSelect(v, spec, d, src)})`)
        joins.push(`LEFT JOIN ${win} ${alias} ON ${alias}.${q(ROW_ID)} = e.${q(ROW_ID)}`)
        for (const [j, f] of v.features.entries()) selects.push(`${alias}.${q(`__f${j}`)} AS ${q(f.output)}`)
      }
    }
    if (v.windows !== undefined) {
      const windows = v.windows
      const alias = `a${i}`
      if (lateral) {
        joins.push(`LEFT JOIN LATERAL (${windowLateralSelect(v, windows, spec, d)}) ${alias} ON true`)
      } else {
        const agg = q(`__larder_a${i}`)
        ctes.push(`${agg} AS (${windowGroupedSelect(v, windows, spec, d)})`)
        joins.push(`LEFT JOIN ${agg} ${alias} ON ${alias}.${q(ROW_ID)} = e.${q(ROW_ID)}`)
      }
      for (const [j, a] of windows.aggregations.entries()) {
        const value = `${alias}.${q(`__a${j}`)}`
        selects.push(`${COUNTS.has(a.fn) ? `coalesce(${value}, 0)` : value} AS ${q(a.output)}`)
      }
    }
  })
  const limit = options.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(options.limit))}`
  return (
    `WITH ${ctes.join(',\n')}\nSELECT ${selects.join(', ')}\nFROM ${q('__larder_e')} e\n` +
    `${joins.join('\n')}\nORDER BY e.${q(ROW_ID)}${limit}`
  )
}

/** The output columns of a view in a join's result, in order: its features, then its aggregations. */
export function viewOutputColumns(v: Pick<PitView, 'features' | 'windows'>): string[] {
  return [...v.features.map((f) => f.output), ...(v.windows?.aggregations ?? []).map((a) => a.output)]
}

/** Functions whose value over an empty window is 0 rather than null. */
const COUNTS: ReadonlySet<WindowFunction> = new Set(['count', 'count_distinct'])

/**
 * Each function's aggregate over `x` (already cast for the arithmetic ones), given the `filter` of its
 * window and the tie order of `last`. SQL's aggregates skip nulls and give null over no values
 * (`stddev_samp` and `var_samp` also below two), which is the semantics of `PitWindows`.
 */
const WINDOW_SQL: Readonly<
  Record<
    WindowFunction,
    { readonly arithmetic: boolean; sql(x: string, filter: string, order: string, d: SqlDialect): string }
  >
> = {
  sum: { arithmetic: true, sql: (x, filter) => `sum(${x})${filter}` },
  count: { arithmetic: false, sql: (x, filter) => `count(${x})${filter}` },
  min: { arithmetic: false, sql: (x, filter) => `min(${x})${filter}` },
  max: { arithmetic: false, sql: (x, filter) => `max(${x})${filter}` },
  avg: { arithmetic: true, sql: (x, filter) => `avg(${x})${filter}` },
  std: { arithmetic: true, sql: (x, filter) => `stddev_samp(${x})${filter}` },
  var: { arithmetic: true, sql: (x, filter) => `var_samp(${x})${filter}` },
  count_distinct: { arithmetic: false, sql: (x, filter) => `count(DISTINCT ${x})${filter}` },
  last: { arithmetic: false, sql: (x, filter, order, d) => d.firstValue(x, order, filter) },
}

/** Column expressions of an event row, as the window queries read them. */
interface EventColumns {
  readonly ts: string
  readonly created: string | undefined
  readonly position: string
  /** The aggregated column of aggregation j. */
  value(j: number): string
}

/**
 * The start of the window of `windowMicros` ending at the entity row's timestamp: the start of the
 * tile holding it, moved back by the window less one hop (`PitWindows`). The remainder is taken as
 * `((t % h) + h) % h` so that instants before 1970 fall in the tile below them too.
 */
function windowStart(d: SqlDialect, hopMicros: number, windowMicros: number): string {
  const t = d.epochMicros(`e.${d.ident(ENTITY_TS)}`)
  const within = `(((${t} % ${hopMicros}) + ${hopMicros}) % ${hopMicros})`
  return d.fromEpochMicros(`(${t} - ${within} + ${hopMicros - windowMicros})`)
}

/**
 * The aggregates of a view's windows over the event rows `c`, as `__a0`, `__a1`, …, and the conditions
 * an event row must meet for the widest window. Narrower windows filter their aggregate.
 */
function windowAggregates(
  w: PitWindows,
  spec: PitSpec,
  d: SqlDialect,
  c: EventColumns,
): { selects: string[]; where: string[] } {
  const q = d.ident.bind(d)
  const widest = Math.max(...w.aggregations.map((a) => a.windowMicros))
  const ets = `e.${q(ENTITY_TS)}`
  const where = [`${c.ts} <= ${ets}`, `${c.ts} >= ${windowStart(d, w.hopMicros, widest)}`]
  if (spec.asOfKnownTime && c.created !== undefined) where.push(`${c.created} <= ${ets}`)
  const order = [
    `${c.ts} DESC`,
    ...(c.created === undefined ? [] : [`${c.created} DESC NULLS LAST`]),
    `${c.position} DESC`,
  ].join(', ')
  const cast = (expr: string, a: PitAggregation) =>
    a.cast === undefined ? expr : `CAST(${expr} AS ${d.types[a.cast]})`
  const selects = w.aggregations.map((a, j) => {
    const fn = WINDOW_SQL[a.fn]
    const filter =
      a.windowMicros === widest
        ? ''
        : ` FILTER (WHERE ${c.ts} >= ${windowStart(d, w.hopMicros, a.windowMicros)})`
    const x = fn.arithmetic ? cast(c.value(j), a) : c.value(j)
    return `${cast(fn.sql(x, filter, order, d), a)} AS ${q(`__a${j}`)}`
  })
  return { selects, where }
}

/**
 * The lateral form of a view's windows: for each entity row, one aggregate query over the source
 * relation read directly, so an index on (join keys, timestamp) serves the window's range.
 */
function windowLateralSelect(v: PitView, w: PitWindows, spec: PitSpec, d: SqlDialect): string {
  const q = d.ident.bind(d)
  const { selects, where } = windowAggregates(w, spec, d, {
    ts: q(v.timestamp),
    created: v.created === undefined ? undefined : q(v.created),
    position: q(SOURCE_POSITION),
    value: (j) => q(w.aggregations[j]!.source),
  })
  const keys = v.keys.map((k) => `${q(k.source)} = e.${q(k.entity)}`)
  return `SELECT ${selects.join(', ')} FROM ${v.relation} WHERE ${[...keys, ...where].join(' AND ')}`
}

/**
 * The grouped form of a view's windows: entity rows range-joined with the view's events (keys set,
 * pruned to the span the entity rows' windows can reach), aggregated per entity row. Entity rows with
 * no event are absent; the outer join gives them nulls (and 0 for counts).
 */
function windowGroupedSelect(v: PitView, w: PitWindows, spec: PitSpec, d: SqlDialect): string {
  const q = d.ident.bind(d)
  const cols = [
    ...v.keys.map((k, j) => `${q(k.source)} AS ${q(`__k${j}`)}`),
    `${q(v.timestamp)} AS ${q('__ts')}`,
    ...(v.created === undefined ? [] : [`${q(v.created)} AS ${q('__cr')}`]),
    `${q(SOURCE_POSITION)} AS ${q('__pos')}`,
    ...w.aggregations.map((a, j) => `${q(a.source)} AS ${q(`__x${j}`)}`),
  ]
  const prune = v.keys.map((k) => `${q(k.source)} IS NOT NULL`)
  const bounds = spec.entity.bounds
  if (bounds) {
    const widest = Math.max(...w.aggregations.map((a) => a.windowMicros))
    prune.push(`${q(v.timestamp)} <= ${d.timestamp(bounds.max)}`)
    prune.push(`${q(v.timestamp)} >= ${d.timestamp(bounds.min - widest)}`)
  }
  const events = `SELECT ${cols.join(', ')} FROM ${v.relation}${prune.length ? ` WHERE ${prune.join(' AND ')}` : ''}`
  const { selects, where } = windowAggregates(w, spec, d, {
    ts: `f.${q('__ts')}`,
    created: v.created === undefined ? undefined : `f.${q('__cr')}`,
    position: `f.${q('__pos')}`,
    value: (j) => `f.${q(`__x${j}`)}`,
  })
  const on = [...v.keys.map((k, j) => `e.${q(k.entity)} = f.${q(`__k${j}`)}`), ...where]
  return (
    `SELECT e.${q(ROW_ID)}, ${selects.join(', ')} FROM ${q('__larder_e')} e JOIN (${events}) AS f ` +
    `ON ${on.join(' AND ')} GROUP BY e.${q(ROW_ID)}`
  )
}

/**
 * The view's source rows with every join key set, under internal names, pruned to the entity time span
 * when it is known.
 */
function sourceSelect(v: PitView, spec: PitSpec, d: SqlDialect, asof: boolean): string {
  const q = d.ident.bind(d)
  const cols = [
    ...v.keys.map((k, j) => `${q(k.source)} AS ${q(`__k${j}`)}`),
    `${q(v.timestamp)} AS ${q('__ts')}`,
    ...(asof
      ? [
          `${d.asof!.featureKey(q(v.timestamp), v.created === undefined ? undefined : q(v.created), q(SOURCE_POSITION))} AS ${q('__o')}`,
        ]
      : [
          ...(v.created === undefined ? [] : [`${q(v.created)} AS ${q('__cr')}`]),
          `${q(SOURCE_POSITION)} AS ${q('__pos')}`,
        ]),
    ...v.features.map((f, j) => `${q(f.source)} AS ${q(`__f${j}`)}`),
  ]
  // a null key never equals an entity's key; DuckDB's ASOF join over a struct key would match nulls
  const where = v.keys.map((k) => `${q(k.source)} IS NOT NULL`)
  const bounds = spec.entity.bounds
  if (bounds) {
    where.push(`${q(v.timestamp)} <= ${d.timestamp(bounds.max)}`)
    if (v.ttlMicros > 0) where.push(`${q(v.timestamp)} >= ${d.timestamp(bounds.min - v.ttlMicros)}`)
  }
  return `SELECT ${cols.join(', ')} FROM ${v.relation}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`
}

/**
 * The lateral form: for each entity row, its view's candidates in the order of the tie rule, the first
 * kept. The source relation is read directly (not through a CTE), so the engine can use an index on
 * the join keys and the timestamp.
 */
function lateralSelect(v: PitView, spec: PitSpec, d: SqlDialect): string {
  const q = d.ident.bind(d)
  const ets = `e.${q(ENTITY_TS)}`
  const where = v.keys.map((k) => `${q(k.source)} = e.${q(k.entity)}`)
  where.push(`${q(v.timestamp)} <= ${ets}`)
  if (v.ttlMicros > 0) where.push(`${q(v.timestamp)} >= ${d.minusMicros(ets, v.ttlMicros)}`)
  if (spec.asOfKnownTime && v.created !== undefined) where.push(`${q(v.created)} <= ${ets}`)
  const order = [
    `${q(v.timestamp)} DESC`,
    ...(v.created === undefined ? [] : [`${q(v.created)} DESC NULLS LAST`]),
    `${q(SOURCE_POSITION)} DESC`,
  ]
  const features = v.features.map((f, j) => `${q(f.source)} AS ${q(`__f${j}`)}`)
  return (
    `SELECT ${features.join(', ')} FROM ${v.relation} WHERE ${where.join(' AND ')} ` +
    `ORDER BY ${order.join(', ')} LIMIT 1`
  )
}

/** The window form: candidates by range join, the best per entity row by `row_number()`. */
function windowSelect(v: PitView, spec: PitSpec, d: SqlDialect, src: string): string {
  const q = d.ident.bind(d)
  const ets = `e.${q(ENTITY_TS)}`
  const on = v.keys.map((k, j) => `e.${q(k.entity)} = f.${q(`__k${j}`)}`)
  on.push(`f.${q('__ts')} <= ${ets}`)
  if (v.ttlMicros > 0) on.push(`f.${q('__ts')} >= ${d.minusMicros(ets, v.ttlMicros)}`)
  if (spec.asOfKnownTime && v.created !== undefined) on.push(`f.${q('__cr')} <= ${ets}`)
  const order = [
    `f.${q('__ts')} DESC`,
    ...(v.created === undefined ? [] : [`f.${q('__cr')} DESC NULLS LAST`]),
    `f.${q('__pos')} DESC`,
  ]
  const features = v.features.map((_, j) => q(`__f${j}`))
  return (
    `SELECT ${[q(ROW_ID), ...features].join(', ')} FROM (SELECT e.${q(ROW_ID)}, ` +
    `${features.map((f) => `f.${f}`).join(', ')}, row_number() OVER (PARTITION BY e.${q(ROW_ID)} ` +
    `ORDER BY ${order.join(', ')}) AS ${q('__rn')} FROM ${q('__larder_e')} e JOIN ${src} f ON ${on.join(' AND ')}) ` +
    `AS ${q('__larder_c')} WHERE ${q('__rn')} = 1`
  )
}

/**
 * The entity relation of an entity-less range retrieval: one row per distinct (join keys, event ts) of
 * the views' rows in the range, ordered by time then keys, with the columns `keys`, `event_timestamp`
 * (UTC instant), `ROW_ID` and `ENTITY_TS`. A view lacking one of the keys contributes nulls for it.
 */
export function buildRangeEntityQuery(
  views: readonly PitView[],
  keys: readonly string[],
  range: MicrosRange,
  d: SqlDialect,
): string {
  const q = d.ident.bind(d)
  const branches = views.map((v) => {
    const cols = keys.map((k) => {
      const key = v.keys.find((vk) => vk.entity === k)
      return `${key ? q(key.source) : typedNull(views, k, d)} AS ${q(k)}`
    })
    cols.push(`${q(v.timestamp)} AS ${q('__ts')}`)
    return (
      `SELECT ${cols.join(', ')} FROM ${v.relation} WHERE ${q(v.timestamp)} >= ${d.timestamp(range.start)} ` +
      `AND ${q(v.timestamp)} <= ${d.timestamp(range.end)}`
    )
  })
  const distinct = [...keys.map(q), q('__ts')].join(', ')
  const order = [q('__ts'), ...keys.map(q)].join(', ')
  return (
    `SELECT row_number() OVER (ORDER BY ${order}) AS ${q(ROW_ID)}, ${keys
      .map(q)
      .map((k) => `${k}, `)
      .join('')}` +
    `${d.utcInstant(q('__ts'))} AS ${q(EVENT_TIMESTAMP)}, ${q('__ts')} AS ${q(ENTITY_TS)} ` +
    `FROM (SELECT DISTINCT ${distinct} FROM (${branches.join(' UNION ALL ')}) AS ${q('__larder_u')}) AS ${q('__larder_d')}`
  )
}

/**
 * A null of the type of key `k` in a view that has it: a scalar subquery over no rows, so engines that
 * type a union by its first branch (PostgreSQL) match it with the key's other branches.
 */
function typedNull(views: readonly PitView[], k: string, d: SqlDialect): string {
  const owner = views.find((w) => w.keys.some((wk) => wk.entity === k))
  const key = owner?.keys.find((wk) => wk.entity === k)
  if (owner === undefined || key === undefined) return 'NULL'
  return `(SELECT ${d.ident(key.source)} FROM ${owner.relation} WHERE false)`
}

/**
 * One of `of` disjoint parts of a view's join-key tuples: the latest rows of every part together are
 * the latest rows of the view, and each part's query holds only its own rows.
 */
export interface KeyPart {
  readonly index: number
  readonly of: number
}

/**
 * The latest row per join-key tuple among the view's rows in the range (ties on the event timestamp go to
 * the greatest created timestamp, then to the last in the source, as in `buildPitQuery`), skipping rows
 * with a null key; with `part`, only the tuples of that
 * part. Columns: keys and features under their output names, then the event and created timestamps as
 * UTC instants under the given names.
 */
export function buildLatestQuery(
  v: PitView,
  range: MicrosRange,
  names: { readonly eventTimestamp: string; readonly createdTimestamp: string | undefined },
  d: SqlDialect,
  part?: KeyPart,
): string {
  const q = d.ident.bind(d)
  const inner = [
    ...v.keys.map((k, j) => `${q(k.source)} AS ${q(`__k${j}`)}`),
    `${q(v.timestamp)} AS ${q('__ts')}`,
    ...(v.created === undefined ? [] : [`${q(v.created)} AS ${q('__cr')}`]),
    `${q(SOURCE_POSITION)} AS ${q('__pos')}`,
    ...v.features.map((f, j) => `${q(f.source)} AS ${q(`__f${j}`)}`),
  ]
  const rows = `SELECT ${inner.join(', ')} FROM ${v.relation} WHERE ${latestWhere(v, range, d, part)}`
  const order = [
    `${q('__ts')} DESC`,
    ...(v.created === undefined ? [] : [`${q('__cr')} DESC NULLS LAST`]),
    `${q('__pos')} DESC`,
  ]
  const keyCols = v.keys.map((_, j) => q(`__k${j}`))
  const latest =
    keyCols.length === 0
      ? `SELECT * FROM (${rows}) AS ${q('__larder_r')} ORDER BY ${order.join(', ')} LIMIT 1`
      : `SELECT DISTINCT ON (${keyCols.join(', ')}) * FROM (${rows}) AS ${q('__larder_r')} ` +
        `ORDER BY ${[...keyCols, ...order].join(', ')}`
  const out = [
    ...v.keys.map((k, j) => `${q(`__k${j}`)} AS ${q(k.entity)}`),
    ...v.features.map((f, j) => `${q(`__f${j}`)} AS ${q(f.output)}`),
    `${d.utcInstant(q('__ts'))} AS ${q(names.eventTimestamp)}`,
    ...(v.created === undefined
      ? []
      : [`${d.utcInstant(q('__cr'))} AS ${q(names.createdTimestamp ?? v.created)}`]),
  ]
  return `SELECT ${out.join(', ')} FROM (${latest}) AS ${q('__larder_l')}`
}

/**
 * The number of rows {@link buildLatestQuery} yields for the same view and range (one per distinct
 * join-key tuple), as the column `n`: cheaper than the latest rows themselves, for progress totals.
 */
export function buildLatestCountQuery(v: PitView, range: MicrosRange, d: SqlDialect, part?: KeyPart): string {
  const q = d.ident.bind(d)
  const where = latestWhere(v, range, d, part)
  return v.keys.length === 0
    ? `SELECT least(count(*), 1) AS n FROM ${v.relation} WHERE ${where}`
    : `SELECT count(*) AS n FROM (SELECT DISTINCT ${v.keys.map((k) => q(k.source)).join(', ')} ` +
        `FROM ${v.relation} WHERE ${where}) AS ${q('__larder_k')}`
}

/** The number of the view's rows in the range with every join key set, as the column `n`. */
export function buildRangeCountQuery(v: PitView, range: MicrosRange, d: SqlDialect, part?: KeyPart): string {
  return `SELECT count(*) AS n FROM ${v.relation} WHERE ${latestWhere(v, range, d, part)}`
}

/** Rows of the range with every join key set (and, with `part`, whose keys fall in that part). */
function latestWhere(v: PitView, range: MicrosRange, d: SqlDialect, part: KeyPart | undefined): string {
  const q = d.ident.bind(d)
  return [
    `${q(v.timestamp)} >= ${d.timestamp(range.start)}`,
    `${q(v.timestamp)} <= ${d.timestamp(range.end)}`,
    ...v.keys.map((k) => `${q(k.source)} IS NOT NULL`),
    ...(part === undefined || v.keys.length === 0
      ? []
      : [
          `${d.keyBucket(
            v.keys.map((k) => q(k.source)),
            part.of,
          )} = ${part.index}`,
        ]),
  ].join(' AND ')
}

/**
 * Part `index` of `of` parts of a part: parts of a part are parts of the whole key space (`hash % (n·m)
 * = i + n·j` implies `hash % n = i`), so a worker's part can be read in passes the same way.
 */
export function subPart(part: KeyPart | undefined, index: number, of: number): KeyPart | undefined {
  if (of === 1) return part
  return part === undefined ? { index, of } : { index: part.index + part.of * index, of: part.of * of }
}
