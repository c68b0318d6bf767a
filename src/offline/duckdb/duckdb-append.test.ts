// Appends to file sources: values checked against the existing columns' types before anything is
// written (naming column, row and value), `beforeCommit` running while the new rows are not yet
// visible (a throw leaves the source as it was), part files named per process, and a lock left by a
// dead process not blocking a single-file append.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Array as ArrayOf,
  Entity,
  FeatureView,
  Field,
  FileSource,
  Float64,
  Int64,
  isLarderError,
} from '../../core/index.js'
import type { Row } from '../offline-store.js'
import { DuckDBOfflineStore } from './duckdb-offline-store.js'

let dir: string
let instance: DuckDBInstance
let db: DuckDBConnection
let store: DuckDBOfflineStore

const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-append-'))
  instance = await DuckDBInstance.create(':memory:')
  db = await instance.connect()
  await db.run("SET TimeZone = 'UTC'")
  store = new DuckDBOfflineStore({ repoPath: dir, threads: 2 })
})

afterAll(async () => {
  await store.close()
  db.closeSync()
  instance.closeSync()
  rmSync(dir, { recursive: true, force: true })
})

/** A view over `path` (relative to the repo) whose first file holds one row of the given column types. */
async function source(
  path: string,
  kind: 'file' | 'dir',
  columns: Record<string, string>,
  fields: Field[],
): Promise<FeatureView> {
  const first = kind === 'dir' ? join(dir, path, 'part-0.parquet') : join(dir, path)
  mkdirSync(join(first, '..'), { recursive: true })
  const values = Object.entries(columns)
    .map(([name, type]) => `${type === 'INTEGER[]' ? '[1]' : '1'}::${type} AS ${name}`)
    .join(', ')
  await db.run(
    `COPY (SELECT 1::BIGINT AS driver_id, TIMESTAMPTZ '2026-01-01 00:00:00+00' AS ts, ${values}) TO '${first}' (FORMAT parquet)`,
  )
  return new FeatureView({
    name: path.replaceAll(/\W/g, '_'),
    entities: [driver],
    source: new FileSource({ name: path.replaceAll(/\W/g, '_'), path, timestampField: 'ts' }),
    schema: fields,
  })
}

/** The files under the path (recursively) with size and modification time, and the rows DuckDB reads. */
async function state(path: string): Promise<{ files: Record<string, string>; rows: number }> {
  const full = join(dir, path)
  const files: Record<string, string> = {}
  const isDir = statSync(full).isDirectory()
  const names = isDir ? readdirSync(full, { recursive: true }).map(String) : []
  for (const name of isDir ? names : [path]) {
    const s = statSync(isDir ? join(full, name) : full)
    files[name] = `${s.ino}:${s.size}:${s.mtimeMs}`
  }
  for (const name of readdirSync(join(full, '..'))) {
    if (name.startsWith(`${path.split('/').at(-1)}.`)) files[name] = 'beside the source'
  }
  const pattern = isDir ? join(full, '*.parquet') : full
  const rows = Number(
    (
      await db.runAndReadAll(`SELECT count(*) FROM read_parquet('${pattern}', union_by_name = true)`)
    ).getRows()[0]![0],
  )
  return { files, rows }
}

const rows = (values: Record<string, unknown>[]): Row[] =>
  values.map((v, i) => ({ driver_id: 10 + i, ts: '2026-01-02T00:00:00Z', ...v }))

async function refusal(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(isLarderError(error), String(error)).toBe(true)
  return error as Record<string, unknown>
}

describe.each(['file', 'dir'] as const)('appending to a %s source', (kind) => {
  it('refuses a value the column type cannot hold, naming column, row and value, and writes nothing', async () => {
    const path = kind === 'file' ? 'typed.parquet' : 'typed'
    const view = await source(path, kind, { trips: 'INTEGER', rate: 'DOUBLE', tags: 'INTEGER[]' }, [
      new Field({ name: 'trips', dtype: Int64 }),
      new Field({ name: 'rate', dtype: Float64 }),
      new Field({ name: 'tags', dtype: ArrayOf(Int64) }),
    ])
    const before = await state(path)
    const cases: [Record<string, unknown>, string, string][] = [
      [{ trips: 3_000_000_000 }, 'trips', '3000000000'],
      [{ trips: 1.5 }, 'trips', '1.5'],
      [{ tags: [1, 3_000_000_000] }, 'tags', '[1, 3000000000]'],
    ]
    const good = { trips: 1, rate: 0.5, tags: [1] }
    for (const [bad, column, shown] of cases) {
      const error = await refusal(store.writeRows(view, rows([good, good, { ...good, ...bad }])))
      expect(error).toMatchObject({
        code: 'INVALID_ARGUMENT',
        details: { view: view.name, column, row: 2 },
      })
      expect(error.message).toContain(`column "${column}", row 2: ${shown} does not fit the type`)
      expect(error.message).toContain(`feature view "${view.name}"`)
      expect(error.hint).toMatch(/nothing was written/)
      expect(await state(path)).toEqual(before)
    }
    // a column of numbers holding a string is refused as the rows are read, naming the row
    const mixed = await refusal(store.writeRows(view, rows([good, good, { ...good, rate: 'fast' }])))
    expect(mixed).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { column: 'rate', row: 2, value: '"fast"' },
    })
    expect(mixed.message).toContain(`feature view "${view.name}" column "rate"`)
    expect(await state(path)).toEqual(before)
    await store.writeRows(view, rows([{ trips: 2_000_000_000, rate: 0.25, tags: [5] }]))
    expect((await state(path)).rows).toBe(before.rows + 1)
  })

  it('runs beforeCommit before the rows are visible; a throw there appends nothing', async () => {
    const path = kind === 'file' ? 'hooked.parquet' : 'hooked'
    const view = await source(path, kind, { amount: 'DOUBLE' }, [
      new Field({ name: 'amount', dtype: Float64 }),
    ])
    const before = await state(path)
    let seenInside: number | undefined
    await store.writeRows(view, rows([{ amount: 1 }, { amount: 2 }]), {
      beforeCommit: async () => {
        seenInside = (await state(path)).rows
      },
    })
    expect(seenInside).toBe(before.rows)
    const after = await state(path)
    expect(after.rows).toBe(before.rows + 2)
    const failing = await refusal(
      store.writeRows(view, rows([{ amount: 3 }]), {
        beforeCommit: async () => {
          throw new (await import('../../core/index.js')).LarderError(
            'BACKEND_UNAVAILABLE',
            'the online store is down',
          )
        },
      }),
    )
    expect(failing).toMatchObject({ code: 'BACKEND_UNAVAILABLE' })
    expect(await state(path)).toEqual(after)
    if (kind === 'dir') {
      const parts = readdirSync(join(dir, path)).filter((f) => f !== 'part-0.parquet')
      expect(parts).toHaveLength(1)
      expect(parts[0]).toMatch(new RegExp(`^part-\\d{13}-${process.pid}-[0-9a-f]{8}\\.parquet$`))
    }
  })
})

describe('a single-file source locked by a process that is gone', () => {
  it('breaks the lock and appends', async () => {
    const view = await source('orphaned.parquet', 'file', { amount: 'DOUBLE' }, [
      new Field({ name: 'amount', dtype: Float64 }),
    ])
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'])
    const pid = Number(gone.stdout.toString())
    const lock = join(dir, 'orphaned.parquet.lock')
    writeFileSync(
      lock,
      JSON.stringify({
        pid,
        host: (await import('node:os')).hostname(),
        token: 'x',
        since: '2026-01-01T00:00:00Z',
      }),
    )
    const started = Date.now()
    await store.writeRows(view, rows([{ amount: 1 }]))
    expect(Date.now() - started).toBeLessThan(5_000)
    expect((await state('orphaned.parquet')).rows).toBe(2)
    expect(() => readFileSync(lock)).toThrow()
  })
})
