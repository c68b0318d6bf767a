import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../../config/index.js'
import { encodeValue, Float32, Int64, String as Str, toMicros, ValueType } from '../../core/index.js'
import { describeOnlineStoreConformance, uniqueProject } from '../../testing/online-conformance.js'
import { createOnlineStore } from '../loader.js'
import { encodeWriteRow, entityKeyEncoder, type ViewRef } from '../online-store.js'

const dir = mkdtempSync(join(tmpdir(), 'larder-sqlite-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const config = (extra = '', version = 3) =>
  parseRepoConfig(
    `project: demo\nentity_key_serialization_version: ${version}\nonline_store:\n  type: sqlite\n${extra}`,
    dir,
  )

describeOnlineStoreConformance('sqlite', () => createOnlineStore(config('  path: conformance.db\n')))
describeOnlineStoreConformance('sqlite (key v2)', () => createOnlineStore(config('  path: v2.db\n', 2)), {
  entityKeySerializationVersion: 2,
})

describe('SQLite online store: Feast layout', () => {
  const project = uniqueProject('layout')
  const view: ViewRef = {
    project,
    name: 'driver_hourly_stats',
    joinKeys: [{ name: 'driver_id', valueType: ValueType.INT64 }],
    features: [
      { name: 'conv_rate', type: Float32 },
      { name: 'trips', type: Int64 },
      { name: 'note', type: Str },
    ],
    storageTtl: 0,
  }
  const key = entityKeyEncoder(view, 3)
  const ts = toMicros('2022-01-01T00:00:00.750000Z')

  it("defaults to data/online.db in the repo and writes Feast's table, index and rows", async () => {
    const store = await createOnlineStore(config())
    try {
      await store.update({ keep: [view], drop: [] })
      await store.write(view, [
        encodeWriteRow(view, {
          entityKey: key([1001]),
          values: { conv_rate: 0.5, trips: 7, note: 'hi' },
          eventTs: ts,
          createdTs: ts,
        }),
      ])
    } finally {
      await store.close()
    }
    const db = new Database(join(dir, 'data', 'online.db'), { readonly: true })
    try {
      const table = `${project}_driver_hourly_stats`
      const columns = db.prepare(`PRAGMA table_info("${table}")`).all() as {
        name: string
        type: string
        pk: number
      }[]
      expect(columns.map((c) => `${c.name} ${c.type}${c.pk ? ` pk${c.pk}` : ''}`)).toEqual([
        'entity_key BLOB pk1',
        'feature_name TEXT pk2',
        'value BLOB',
        'value_text TEXT',
        'vector_value BLOB',
        'event_ts timestamp',
        'created_ts timestamp',
      ])
      const indexes = db.prepare(`PRAGMA index_list("${table}")`).all() as { name: string }[]
      expect(indexes.map((i) => i.name)).toContain(`${table}_ek`)
      expect((db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode).toBe('wal')
      const rows = db
        .prepare(
          `SELECT hex(entity_key) AS k, feature_name AS f, hex(value) AS v, value_text AS t, ` +
            `event_ts AS e, typeof(event_ts) AS et, created_ts AS c FROM "${table}" ORDER BY feature_name`,
        )
        .all()
      expect(rows).toEqual([
        {
          k: Buffer.from(key([1001]))
            .toString('hex')
            .toUpperCase(),
          f: 'conv_rate',
          v: '350000003F',
          t: null,
          e: 1640995200,
          et: 'integer',
          c: 1640995200,
        },
        {
          k: expect.any(String),
          f: 'note',
          v: '12026869',
          t: 'hi',
          e: 1640995200,
          et: 'integer',
          c: 1640995200,
        },
        { k: expect.any(String), f: 'trips', v: '2007', t: '7', e: 1640995200, et: 'integer', c: 1640995200 },
      ])
    } finally {
      db.close()
    }
  })

  it('reads tables Feast wrote before 0.42: ISO text timestamps and no value_text column', async () => {
    const path = join(dir, 'old-feast.db')
    const table = `${project}_driver_hourly_stats`
    const db = new Database(path)
    db.exec(
      `CREATE TABLE "${table}" (entity_key BLOB, feature_name TEXT, value BLOB, event_ts timestamp, ` +
        'created_ts timestamp, PRIMARY KEY(entity_key, feature_name))',
    )
    db.prepare(`INSERT INTO "${table}" VALUES (?, 'trips', ?, '2022-01-01 00:00:05.250000', NULL)`).run(
      Buffer.from(key([1001])),
      Buffer.from(encodeValue(Int64, 5)),
    )
    db.close()
    const store = await createOnlineStore(config(`  path: ${path}\n`))
    try {
      const [row] = await store.read(view, [key([1001])], ['trips'])
      expect(row?.eventTs).toBe(toMicros('2022-01-01T00:00:05.25Z'))
      const older = encodeWriteRow(view, {
        entityKey: key([1001]),
        values: { trips: 1 },
        eventTs: toMicros('2022-01-01T00:00:01Z'),
      })
      await store.write(view, [older])
      const trips = async () => Buffer.from((await store.read(view, [key([1001])], ['trips']))[0]!.values[0]!)
      expect(await trips()).toEqual(Buffer.from(encodeValue(Int64, 5)))
      const newer = encodeWriteRow(view, {
        entityKey: key([1001]),
        values: { trips: 9 },
        eventTs: toMicros('2022-01-02T00:00:00Z'),
      })
      expect(await store.write(view, [newer])).toEqual({ written: 1, skipped: 0 })
      expect(await trips()).toEqual(Buffer.from(encodeValue(Int64, 9)))
    } finally {
      await store.close()
    }
  })

  it('reports a missing table with the view, the file and the fix', async () => {
    const store = await createOnlineStore(config('  path: empty.db\n'))
    try {
      const error = await store.read(view, [key([1])], ['trips']).catch((e: unknown) => e)
      expect(error).toMatchObject({
        code: 'NOT_FOUND',
        message: `the online table "${project}_driver_hourly_stats" of feature view "driver_hourly_stats" does not exist in the SQLite database ${join(dir, 'empty.db')}`,
        hint: 'run `larder apply` to create it, then materialize',
      })
    } finally {
      await store.close()
    }
  })

  it('fails to open a path it cannot create, naming the path', async () => {
    writeFileSync(join(dir, 'a-file'), '')
    const path = join(dir, 'a-file', 'online.db')
    const error = await createOnlineStore(config(`  path: ${path}\n`)).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE' })
    expect((error as Error).message).toContain(`cannot open the SQLite database ${path}`)
  })

  it('explains that SQLite reserves table names starting with sqlite_', async () => {
    const store = await createOnlineStore(config('  path: reserved.db\n'))
    try {
      const error = await store
        .update({ keep: [{ ...view, project: 'sqlite_demo' }], drop: [] })
        .catch((e: unknown) => e)
      expect(error).toMatchObject({ code: 'INVALID_CONFIG' })
      expect((error as Error).message).toBe(
        'project "sqlite_demo" cannot use the SQLite online store: SQLite reserves table names starting with "sqlite_"',
      )
    } finally {
      await store.close()
    }
  })
})
