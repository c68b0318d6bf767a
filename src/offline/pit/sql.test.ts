import { describe, expect, it } from 'vitest'
import type { PitSpec, PitView } from './spec.js'
import {
  buildLatestQuery,
  buildPitQuery,
  buildRangeEntityQuery,
  type SqlDialect,
  viewOutputColumns,
} from './sql.js'

const plain: SqlDialect = {
  ident: (n) => `"${n}"`,
  timestamp: (m) => `TS(${m})`,
  minusMicros: (e, m) => `(${e} - ${m})`,
  utcInstant: (e) => `UTC(${e})`,
  keyBucket: (keys, parts) => `BUCKET(${keys.join(', ')}; ${parts})`,
  epochMicros: (e) => `US(${e})`,
  fromEpochMicros: (e) => `AT(${e})`,
  types: { int64: 'I64', float64: 'F64' },
  firstValue: (v, o, f) => `FIRST(${v} BY ${o})${f}`,
}
const withAsof: SqlDialect = {
  ...plain,
  asof: {
    featureKey: (t, c, p) => `FK(${t}, ${c ?? '-'}, ${p})`,
    entityKey: (t, c) => `EK(${t}, ${c ? 'created' : '-'})`,
  },
}

const view = (name: string, created: string | undefined, ttlMicros = 0): PitView => ({
  name,
  relation: `src_${name}`,
  keys: [{ source: 'id', entity: 'driver_id' }],
  timestamp: 'ts',
  created,
  ttlMicros,
  features: [{ source: 'f', output: `${name}__f` }],
})

const spec = (views: PitView[], asOfKnownTime = false): PitSpec => ({
  entity: {
    relation: 'entities',
    columns: ['driver_id', 'event_timestamp'],
    timestampColumn: 'event_timestamp',
  },
  views,
  asOfKnownTime,
})

const count = (sql: string, what: string) => sql.split(what).length - 1

describe('buildPitQuery', () => {
  it('uses one ASOF join per view where exact, and orders by the entity row', () => {
    const sql = buildPitQuery(spec([view('a', 'created', 60), view('b', undefined)]), withAsof)
    expect(count(sql, 'ASOF LEFT JOIN')).toBe(2)
    expect(sql).toContain('EK("__larder_ts", -) AS "__o", EK("__larder_ts", created) AS "__oc"')
    expect(sql).toContain('FK("ts", "created", "__larder_pos") AS "__o"')
    expect(sql).toContain('FK("ts", -, "__larder_pos") AS "__o"')
    expect(sql).toContain('e."__oc" >= v0."__o"')
    expect(sql).toContain('e."__o" >= v1."__o"')
    expect(sql).toContain('"id" IS NOT NULL')
    expect(sql).toContain('CASE WHEN v0."__ts" >= (e."__larder_ts" - 60) THEN v0."__f0" END AS "a__f"')
    expect(sql.trimEnd().endsWith('ORDER BY e."__larder_row"')).toBe(true)
  })

  it('falls back to the window form for asOfKnownTime on a view with a created column', () => {
    const sql = buildPitQuery(spec([view('a', 'created'), view('b', undefined)], true), withAsof)
    expect(count(sql, 'ASOF LEFT JOIN')).toBe(1)
    expect(sql).toContain('f."__cr" <= e."__larder_ts"')
    expect(sql).toContain('ORDER BY f."__ts" DESC, f."__cr" DESC NULLS LAST, f."__pos" DESC')
  })

  it('uses the window form everywhere when asked or when the engine has no ASOF join', () => {
    for (const sql of [
      buildPitQuery(spec([view('a', 'created', 5)]), withAsof, { strategy: 'window' }),
      buildPitQuery(spec([view('a', 'created', 5)]), plain),
    ]) {
      expect(sql).not.toContain('ASOF')
      expect(sql).toContain('f."__ts" >= (e."__larder_ts" - 5)')
    }
  })

  it('prunes source rows to the entity time span and applies a limit', () => {
    const s = {
      ...spec([view('a', undefined, 10)]),
      entity: { ...spec([]).entity, bounds: { min: 100, max: 200 } },
    }
    const sql = buildPitQuery(s, withAsof, { limit: 3 })
    expect(sql).toContain('WHERE "id" IS NOT NULL AND "ts" <= TS(200) AND "ts" >= TS(90)')
    expect(sql.endsWith('LIMIT 3')).toBe(true)
  })
})

describe('lateral form', () => {
  const withLateral: SqlDialect = { ...plain, lateral: true }

  it('looks each entity row up in the source directly, ordered by the tie rule, one row kept', () => {
    const sql = buildPitQuery(spec([view('a', 'cr', 10)], true), withLateral)
    expect(sql).toContain(
      'LEFT JOIN LATERAL (SELECT "f" AS "__f0" FROM src_a WHERE "id" = e."driver_id" AND "ts" <= e."__larder_ts" ' +
        'AND "ts" >= (e."__larder_ts" - 10) AND "cr" <= e."__larder_ts" ' +
        'ORDER BY "ts" DESC, "cr" DESC NULLS LAST, "__larder_pos" DESC LIMIT 1) v0 ON true',
    )
    expect(sql).not.toContain('__larder_v0')
  })

  it('gives way to the window form when asked', () => {
    const sql = buildPitQuery(spec([view('a', undefined)]), withLateral, { strategy: 'window' })
    expect(sql).not.toContain('LATERAL')
    expect(sql).toContain('row_number() OVER')
  })
})

describe('range and latest queries', () => {
  it('unions the rows in range of every view, nulls for keys a view lacks', () => {
    const other: PitView = { ...view('b', undefined), keys: [] }
    const sql = buildRangeEntityQuery(
      [view('a', undefined), other],
      ['driver_id'],
      { start: 1, end: 2 },
      plain,
    )
    expect(sql).toContain(
      'SELECT "id" AS "driver_id", "ts" AS "__ts" FROM src_a WHERE "ts" >= TS(1) AND "ts" <= TS(2)',
    )
    expect(sql).toContain(
      'SELECT (SELECT "id" FROM src_a WHERE false) AS "driver_id", "ts" AS "__ts" FROM src_b',
    )
    expect(sql).toContain('row_number() OVER (ORDER BY "__ts", "driver_id")')
  })

  it('keeps the latest row per key, or the single latest row without keys', () => {
    const names = { eventTimestamp: 'event_timestamp', createdTimestamp: 'created' }
    const keyed = buildLatestQuery(view('a', 'created'), { start: 1, end: 2 }, names, plain)
    expect(keyed).toContain('DISTINCT ON ("__k0")')
    expect(keyed).toContain('ORDER BY "__k0", "__ts" DESC, "__cr" DESC NULLS LAST, "__pos" DESC')
    expect(keyed).toContain('"id" IS NOT NULL')
    const keyless = buildLatestQuery(
      { ...view('a', undefined), keys: [] },
      { start: 1, end: 2 },
      names,
      plain,
    )
    expect(keyless).toContain('ORDER BY "__ts" DESC, "__pos" DESC LIMIT 1')
    expect(keyless).not.toContain('"created"')
  })

  it('keeps one part of the keys when given one, and ignores it without keys', () => {
    const names = { eventTimestamp: 'event_timestamp', createdTimestamp: undefined }
    const part = buildLatestQuery(view('a', undefined), { start: 1, end: 2 }, names, plain, {
      index: 2,
      of: 3,
    })
    expect(part).toContain('"id" IS NOT NULL AND BUCKET("id"; 3) = 2')
    const keyless = buildLatestQuery(
      { ...view('a', undefined), keys: [] },
      { start: 1, end: 2 },
      names,
      plain,
      {
        index: 2,
        of: 3,
      },
    )
    expect(keyless).not.toContain('BUCKET')
  })
})

describe('windowed aggregations', () => {
  const windows: PitView['windows'] = {
    hopMicros: 300,
    aggregations: [
      { fn: 'sum', source: 'fare', output: 'sum_fare', windowMicros: 3600, cast: 'float64' },
      { fn: 'count', source: 'fare', output: 'n_fare', windowMicros: 900, cast: 'int64' },
      { fn: 'last', source: 'city', output: 'last_city', windowMicros: 3600, cast: undefined },
    ],
  }
  const start = (w: number) =>
    `AT((US(e."__larder_ts") - (((US(e."__larder_ts") % 300) + 300) % 300) + ${300 - w}))`

  it('aggregates the widest window per entity row, filters narrower ones, and follows the features', () => {
    const sql = buildPitQuery(spec([{ ...view('a', 'cr'), windows }]), plain)
    expect(sql).toContain(
      `ON e."driver_id" = f."__k0" AND f."__ts" <= e."__larder_ts" AND f."__ts" >= ${start(3600)} GROUP BY e."__larder_row"`,
    )
    expect(sql).toContain('CAST(sum(CAST(f."__x0" AS F64)) AS F64) AS "__a0"')
    expect(sql).toContain(`CAST(count(f."__x1") FILTER (WHERE f."__ts" >= ${start(900)}) AS I64) AS "__a1"`)
    expect(sql).toContain(
      'FIRST(f."__x2" BY f."__ts" DESC, f."__cr" DESC NULLS LAST, f."__pos" DESC) AS "__a2"',
    )
    expect(sql).toContain(
      'SELECT e."driver_id", e."event_timestamp", v0."__f0" AS "a__f", a0."__a0" AS "sum_fare", ',
    )
    expect(sql).toContain('coalesce(a0."__a1", 0) AS "n_fare", a0."__a2" AS "last_city"')
    expect(viewOutputColumns({ ...view('a', 'cr'), windows })).toEqual([
      'a__f',
      'sum_fare',
      'n_fare',
      'last_city',
    ])
  })

  it('reads the source directly per entity row in the lateral form, with no join of features when none', () => {
    const sql = buildPitQuery(spec([{ ...view('a', undefined), features: [], windows }], true), {
      ...plain,
      lateral: true,
    })
    expect(sql).toContain(
      `LEFT JOIN LATERAL (SELECT CAST(sum(CAST("fare" AS F64)) AS F64) AS "__a0", ` +
        `CAST(count("fare") FILTER (WHERE "ts" >= ${start(900)}) AS I64) AS "__a1", ` +
        `FIRST("city" BY "ts" DESC, "__larder_pos" DESC) AS "__a2" FROM src_a ` +
        `WHERE "id" = e."driver_id" AND "ts" <= e."__larder_ts" AND "ts" >= ${start(3600)}) a0 ON true`,
    )
    expect(sql).not.toContain('v0')
  })
})
