import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../cli/main.js'
import type { Output } from '../cli/output.js'
import {
  Array as ArrayOf,
  Decimal,
  Float32,
  Float64,
  Int32,
  Int64,
  Invalid,
  isLarderError,
  Json,
  Map as MapType,
  ScalarMap,
  Set as SetOf,
  String as Str,
  Struct,
  UnixTimestamp,
  Uuid,
} from '../core/index.js'
import { FeatureStore } from '../feature-store.js'
import { readsAs } from './resolve-contents.js'

// Declared field types are checked against the source's column types at plan and apply.

const CORE = fileURLToPath(new URL('../core/index.ts', import.meta.url))
const roots: string[] = []

/** Writes a DuckDB SELECT to data/stats.parquet of a new repo directory. */
async function repoWithData(select: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-types-'))
  roots.push(dir)
  mkdirSync(join(dir, 'data'))
  writeFileSync(
    join(dir, 'feature_store.yaml'),
    'project: types\nregistry: data/registry.db\nprovider: local\nonline_store:\n  type: sqlite\n  path: data/online.db\n' +
      'offline_store:\n  type: duckdb\nentity_key_serialization_version: 3\n',
  )
  const instance = await DuckDBInstance.create(':memory:')
  const db = await instance.connect()
  try {
    await db.run(`COPY (${select}) TO '${join(dir, 'data', 'stats.parquet')}' (FORMAT parquet)`)
  } finally {
    db.closeSync()
    instance.closeSync()
  }
  return dir
}

/** features.ts with one view `stats` over data/stats.parquet declaring its key and `fields` (name: type expression). */
function definitions(
  dir: string,
  fields: Record<string, string>,
  fieldMapping = '{}',
  keyType = 'Int64',
): void {
  const schema = Object.entries(fields)
    .map(([name, dtype]) => `new Field({ name: '${name}', dtype: ${dtype} })`)
    .join(',\n    ')
  writeFileSync(
    join(dir, 'features.ts'),
    `import { Array as ArrayOf, Entity, FeatureView, Field, FileSource, Float32, Float64, Int32, Int64, String } from ${JSON.stringify(CORE)}
export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'] })
export const stats = new FeatureView({
  name: 'stats',
  entities: [driver],
  schema: [
    new Field({ name: 'driver_id', dtype: ${keyType} }),
    ${schema}
  ],
  source: new FileSource({
    name: 'stats_source',
    path: 'data/stats.parquet',
    timestampField: 'event_timestamp',
    fieldMapping: ${fieldMapping},
  }),
})
`,
  )
}

const COLUMNS = `SELECT 1001::BIGINT AS driver_id, TIMESTAMP '2026-01-01 00:00:00' AS event_timestamp,
  7::INTEGER AS trips, 0.5::FLOAT AS rate, 0.25::DOUBLE AS conv, 'x' AS label,
  [1, 2]::INTEGER[] AS counts, [0.5]::FLOAT[] AS scores, 0.75::DOUBLE AS conv_src, 'decoy' AS mapped`

async function applyError(dir: string): Promise<{ code: string; message: string; hint?: string }> {
  const store = await FeatureStore.open(dir)
  try {
    await store.apply()
  } catch (e) {
    if (!isLarderError(e)) throw e
    return { code: e.code, message: e.message, hint: e.hint }
  } finally {
    await store.close()
  }
  throw new Error('expected apply to fail')
}

afterAll(() => {
  for (const dir of roots) rmSync(dir, { recursive: true, force: true })
})

describe('declared types against the source at apply', () => {
  it('refuses a declared type the column cannot hold, naming the view, field, both types and the fix', async () => {
    const dir = await repoWithData(COLUMNS)
    definitions(dir, { conv: 'String' })
    const store = await FeatureStore.open(dir)
    await expect(store.plan()).rejects.toMatchObject({ code: 'INVALID_DEFINITION' })
    await store.close()
    const error = await applyError(dir)
    expect(error.code).toBe('INVALID_DEFINITION')
    expect(error.message).toBe(
      `feature view "stats": field "conv" is declared String, but column "conv" of source stats_source (data/stats.parquet) has type DOUBLE (Float64)`,
    )
    expect(error.hint).toBe("change the field's dtype to Float64, or cast the column to String in the source")
  })

  it('refuses narrowings: Int32 over a BIGINT column, Float32 over DOUBLE', async () => {
    const dir = await repoWithData(COLUMNS)
    definitions(dir, { trips: 'Int32', conv: 'Float32' })
    expect((await applyError(dir)).hint).toContain("change the field's dtype to Float64")
    definitions(dir, { trips: 'Int32' }, '{}', 'Int32')
    const key = await applyError(dir)
    expect(key.message).toContain('field "driver_id" is declared Int32, but column "driver_id"')
    expect(key.hint).toContain("change the field's dtype to Int64")
  })

  it('checks a field renamed by fieldMapping against the column it maps from', async () => {
    const dir = await repoWithData(COLUMNS)
    definitions(dir, { mapped: 'String' }, "{ conv_src: 'mapped' }")
    const error = await applyError(dir)
    expect(error.message).toContain('field "mapped" is declared String, but column "conv_src"')
    expect(error.hint).toContain('Float64')
  })

  it('accepts matching types and safe widenings, and serves the widened values', async () => {
    const dir = await repoWithData(COLUMNS)
    definitions(
      dir,
      {
        trips: 'Int64',
        rate: 'Float64',
        conv: 'Float64',
        label: 'String',
        counts: 'ArrayOf(Int64)',
        scores: 'ArrayOf(Float64)',
        mapped: 'Float64',
      },
      "{ conv_src: 'mapped' }",
    )
    const store = await FeatureStore.open(dir)
    try {
      await store.apply()
      await store.materialize({ start: '2025-12-31T00:00:00Z', end: '2026-01-02T00:00:00Z' })
      const names = ['trips', 'rate', 'conv', 'label', 'counts', 'scores', 'mapped']
      const res = await store.getOnlineFeatures({
        entities: { driver_id: [1001] },
        features: names.map((n) => `stats:${n}`),
      })
      expect(res.results.slice(1).map((r) => r.values[0])).toEqual([7, 0.5, 0.25, 'x', [1, 2], [0.5], 0.75])
    } finally {
      await store.teardown()
      await store.close()
    }
  })

  it('fails `larder apply` with the message and the fix', async () => {
    const dir = await repoWithData(COLUMNS)
    definitions(dir, { conv: 'String' })
    let stderr = ''
    const output: Output = {
      out: () => {},
      err: (t) => {
        stderr += `${t}\n`
      },
      color: false,
      isTTY: false,
    }
    expect(await runCli(['-c', dir, 'apply'], output)).toBe(1)
    expect(stderr).toContain('field "conv" is declared String, but column "conv"')
    expect(stderr).toContain("hint: change the field's dtype to Float64, or cast the column to String")
  })
})

describe('readsAs', () => {
  const column = (type: Parameters<typeof readsAs>[1]['type'], sourceType?: string) => ({
    name: 'c',
    type,
    sourceType,
  })
  it('accepts the same type and the widenings, refuses the rest', () => {
    expect(readsAs(Int64, column(Int32))).toBe(true)
    expect(readsAs(Float64, column(Float32))).toBe(true)
    expect(readsAs(ArrayOf(Int64), column(ArrayOf(Int32)))).toBe(true)
    expect(readsAs(SetOf(Float64), column(ArrayOf(Float32)))).toBe(true)
    expect(readsAs(UnixTimestamp, column(Int64))).toBe(true)
    expect(readsAs(Uuid, column(Str))).toBe(true)
    expect(readsAs(Decimal, column(Float64))).toBe(true)
    expect(readsAs(Json, column(Struct({ a: Int64 })))).toBe(true)
    expect(readsAs(MapType, column(Struct({ a: Int64 })))).toBe(true)
    expect(readsAs(Struct({ a: Int64 }), column(Struct({ a: Int32, b: Str })))).toBe(true)
    expect(readsAs(ScalarMap, column(Invalid, 'MAP(INTEGER, VARCHAR)'))).toBe(true)
    expect(readsAs(Int32, column(Int64))).toBe(false)
    expect(readsAs(Int64, column(Float64))).toBe(false)
    expect(readsAs(Float64, column(Int64))).toBe(false)
    expect(readsAs(Str, column(Float64))).toBe(false)
    expect(readsAs(ArrayOf(Int32), column(ArrayOf(Int64)))).toBe(false)
    expect(readsAs(ArrayOf(Int64), column(Int64))).toBe(false)
    expect(readsAs(Int64, column(ArrayOf(Int64)))).toBe(false)
    expect(readsAs(Struct({ z: Int64 }), column(Struct({ a: Int64 })))).toBe(false)
    expect(readsAs(Int64, column(Invalid, 'HUGEINT'))).toBe(false)
  })
})
