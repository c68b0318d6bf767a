import { describe, expect, it } from 'vitest'
import {
  Array as ArrayOf,
  Bool,
  Bytes,
  Float32,
  Float64,
  Int32,
  Int64,
  Invalid,
  Json,
  postgresOptionsJson,
  String as Str,
  UnixTimestamp,
  Uuid,
} from '../../core/index.js'
import { feastTypeOfPg, isPgTimestamp, pgInstant, pgTypeOf, tieOrderExpr } from './postgres-types.js'

describe('PostgreSQL types', () => {
  it('map to Feast types by their format_type text, modifiers ignored', () => {
    const cases: [string, unknown][] = [
      ['smallint', Int32],
      ['integer', Int32],
      ['bigint', Int64],
      ['real', Float32],
      ['double precision', Float64],
      ['numeric(10,2)', Float64],
      ['character varying(20)', Str],
      ['text', Str],
      ['boolean', Bool],
      ['bytea', Bytes],
      ['timestamp(3) with time zone', UnixTimestamp],
      ['timestamp without time zone', UnixTimestamp],
      ['date', UnixTimestamp],
      ['jsonb', Json],
      ['uuid', Uuid],
      ['bigint[]', ArrayOf(Int64)],
      ['text[]', ArrayOf(Str)],
      ['point', Invalid],
      ['int4range', Invalid],
      ['bytea[]', Invalid],
    ]
    for (const [pg, feast] of cases) expect(feastTypeOfPg(pg), pg).toEqual(feast)
    expect(pgTypeOf(Int64)).toBe('bigint')
    expect(pgTypeOf(ArrayOf(Float64))).toBe('double precision[]')
  })

  it('turn timestamps into instants and order ties the same on every server', () => {
    expect(isPgTimestamp('timestamp(6) without time zone')).toBe(true)
    expect(pgInstant('"ts"', 'timestamp with time zone')).toBe('"ts"')
    expect(pgInstant('"ts"', 'text')).toBe('("ts")::timestamptz')
    expect(pgInstant('"ts"', 'bigint')).toBeUndefined()
    expect(tieOrderExpr('"n"', 'bigint')).toBe('"n"')
    expect(tieOrderExpr('"s"', 'text')).toBe(`convert_to(("s")::text, 'UTF8')`)
    expect(tieOrderExpr('"p"', 'point')).toBe(`convert_to(("p")::text, 'UTF8')`)
  })
})

describe("Feast's PostgreSQL options JSON", () => {
  it("prints as Python's json.dumps does: spaced separators, non-ASCII escaped", () => {
    expect(postgresOptionsJson({ name: 'driver_stats', query: '', table: 'public.driver_stats' })).toBe(
      '{"name": "driver_stats", "query": "", "table": "public.driver_stats"}',
    )
    expect(postgresOptionsJson({ name: 'déjà 😀', query: 'SELECT "a"\n', table: '' })).toBe(
      '{"name": "d\\u00e9j\\u00e0 \\ud83d\\ude00", "query": "SELECT \\"a\\"\\n", "table": ""}',
    )
  })
})
