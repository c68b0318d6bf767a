import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Int64, toMicros } from '../core/index.js'
import { createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import type { ViewRef } from '../online/online-store.js'
import { expireOnRead } from './storage-expiry.js'

// storageTtl on a store without native expiry (SQLite): a row older than the ttl reads as NOT_FOUND.

const CORE = fileURLToPath(new URL('../core/index.ts', import.meta.url))
const FEATURES = `import { Entity, FeatureView, Field, FileSource, Int64 } from ${JSON.stringify(CORE)}
export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
export const sessions = new FeatureView({
  name: 'sessions',
  entities: [driver],
  storageTtl: '2h',
  schema: [new Field({ name: 'driver_id', dtype: Int64 }), new Field({ name: 'clicks', dtype: Int64 })],
  source: new FileSource({ name: 'sessions_source', path: 'data/sessions.parquet', timestampField: 'event_timestamp' }),
})
`

describe('storageTtl on a store without native expiry', () => {
  let repo: TestRepo
  beforeAll(async () => {
    repo = await createTestRepo({
      onlineStore: 'type: sqlite\npath: data/online.db',
      featuresFile: FEATURES,
      async prepare(dir) {
        const instance = await DuckDBInstance.create(':memory:')
        const db = await instance.connect()
        await db.run(
          `COPY (SELECT * FROM (VALUES (1::BIGINT, TIMESTAMP '2026-01-01 01:00:00', 10::BIGINT),
             (2::BIGINT, TIMESTAMP '2026-01-01 05:00:00', 20::BIGINT)) t(driver_id, event_timestamp, clicks))
           TO '${dir}/data/sessions.parquet' (FORMAT parquet)`,
        )
        db.closeSync()
        instance.closeSync()
      },
    })
    await repo.store.materialize({ start: '2026-01-01T00:00:00Z', end: '2026-01-01T06:00:00Z' })
  })
  afterAll(async () => {
    await repo?.close()
  })

  const read = async (now: string) => {
    const res = await repo.store.getOnlineFeatures(
      { entities: { driver_id: [1, 2] }, features: ['sessions:clicks'] },
      { now },
    )
    return { values: res.results[1]!.values, statuses: res.results[1]!.statuses }
  }

  it('reads a row older than storageTtl as NOT_FOUND, and a younger one as stored', async () => {
    expect((await repo.store.online()).capabilities.nativeTtl).toBe(false)
    expect(await read('2026-01-01T03:00:00Z')).toEqual({ values: [10, 20], statuses: ['PRESENT', 'PRESENT'] })
    expect(await read('2026-01-01T06:00:00Z')).toEqual({
      values: [null, 20],
      statuses: ['NOT_FOUND', 'PRESENT'],
    })
    expect(await read('2026-01-01T07:00:01Z')).toEqual({
      values: [null, null],
      statuses: ['NOT_FOUND', 'NOT_FOUND'],
    })
  })
})

describe('expireOnRead', () => {
  const view = (storageTtl: number): ViewRef => ({
    project: 'p',
    name: 'v',
    joinKeys: [],
    features: [{ name: 'x', type: Int64 }],
    storageTtl,
  })
  const old = { eventTs: toMicros('2026-01-01T00:00:00Z'), values: [new Uint8Array(0)] }
  const now = toMicros('2026-01-02T00:00:00Z')

  it('leaves stores with native expiry and views without a storageTtl alone', () => {
    const rows = [[old, undefined]]
    expect(
      expireOnRead({ newerWins: true, nativeTtl: true, timestampResolutionMicros: 1 }, [view(60)], rows, now),
    ).toEqual(rows)
    expect(
      expireOnRead({ newerWins: true, nativeTtl: false, timestampResolutionMicros: 1 }, [view(0)], rows, now),
    ).toEqual(rows)
    expect(
      expireOnRead(
        { newerWins: true, nativeTtl: false, timestampResolutionMicros: 1 },
        [view(86_400)],
        rows,
        now,
      ),
    ).toEqual(rows)
    expect(
      expireOnRead(
        { newerWins: true, nativeTtl: false, timestampResolutionMicros: 1 },
        [view(86_399)],
        rows,
        now,
      ),
    ).toEqual([[undefined, undefined]])
  })
})
