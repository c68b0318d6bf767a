import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { Int64, ValueType } from '../../core/index.js'
import { describeTileStoreConformance } from '../../testing/tile-store-conformance.js'
import type { TileViewRef } from '../tile-store.js'
import { SqliteOnlineStore } from './sqlite-online-store.js'

const dir = mkdtempSync(join(tmpdir(), 'larder-sqlite-tiles-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A store on its own connection to the test database, as another process would open it. */
function open(file = 'tiles.db'): SqliteOnlineStore {
  const path = join(dir, file)
  return new SqliteOnlineStore(new Database(path), path)
}

describeTileStoreConformance('sqlite', async () => {
  const store = open()
  return { store, close: () => store.close() }
})

describe('SQLite tiles: layout', () => {
  const view: TileViewRef = {
    project: 'layout',
    name: 'trip_stats',
    joinKeys: [{ name: 'k', valueType: ValueType.INT64 }],
    hopMicros: 1_000_000,
    aggregations: [{ fn: 'sum', name: 'sum_fare', hops: 3, outputType: Int64 }],
    maxHops: 3,
  }
  const write = {
    id: 'm-1',
    entityKey: Uint8Array.of(1, 2),
    tile: 5_000_000_000,
    eventTs: 5_000_000_000_000_000,
  }

  it('keeps tiles and marks in two tables per view, with 64-bit tiles and JSON state texts', async () => {
    const store = open('layout.db')
    try {
      const states = [{ kind: 'numbers', numbers: [1, 2.5] }] as const
      await store.applyTiles(view, [{ ...write, states }], write.eventTs)
      const db = new Database(join(dir, 'layout.db'), { readonly: true })
      try {
        expect(db.prepare('SELECT * FROM "layout_trip_stats__tiles"').all()).toEqual([
          {
            entity_key: Buffer.from([1, 2]),
            tile: 5_000_000_000,
            newest_ts: write.eventTs,
            states: '["1,2.5"]',
          },
        ])
        expect(db.prepare('SELECT * FROM "layout_trip_stats__tile_marks"').all()).toEqual([
          { id: 'm-1', marked_at: write.eventTs },
        ])
      } finally {
        db.close()
      }
      await store.teardown({
        keep: [{ project: 'layout', name: 'trip_stats', joinKeys: [], features: [], storageTtl: 0 }],
        drop: [],
      })
      const names = new Database(join(dir, 'layout.db'), { readonly: true })
      try {
        expect(names.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'layout_%'").all()).toEqual([])
      } finally {
        names.close()
      }
    } finally {
      await store.close()
    }
  })

  it('reports a stored tile that does not hold one state per aggregation as DATA_SOURCE', async () => {
    const store = open('garbage.db')
    try {
      await store.applyTiles(view, [{ ...write, states: [undefined] }], write.eventTs)
      const db = new Database(join(dir, 'garbage.db'))
      db.prepare(`UPDATE "layout_trip_stats__tiles" SET states = '["1,2", null]'`).run()
      db.close()
      await expect(store.readTiles(view, [write.entityKey], 0)).rejects.toMatchObject({
        code: 'DATA_SOURCE',
        hint: expect.stringContaining('replay'),
      })
    } finally {
      await store.close()
    }
  })
})
