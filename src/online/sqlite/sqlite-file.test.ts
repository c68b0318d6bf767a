// The SQLite online store follows its file: a database deleted under a live store is noticed (the call
// fails naming it, the feature server's health check too) and recreated, and one replaced by rename
// is reopened.
import { existsSync, mkdtempSync, renameSync, rmSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../../config/index.js'
import { decodeValue, Float64, toMicros, ValueType } from '../../core/index.js'
import { at, sampleData } from '../../materialize/__fixtures__/driver-data.js'
import { createTestRepo } from '../../materialize/__fixtures__/test-repo.js'
import { FeatureServer } from '../../server/feature-server.js'
import { encodeWriteRow, entityKeyEncoder, type ViewRef } from '../online-store.js'
import { openOnlineStore } from './index.js'
import { SqliteOnlineStore } from './sqlite-online-store.js'

const dir = mkdtempSync(join(tmpdir(), 'larder-sqlite-file-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const view = (name: string): ViewRef => ({
  project: 'follow',
  name,
  joinKeys: [{ name: 'driver_id', valueType: ValueType.INT64 }],
  features: [{ name: 'speed', type: Float64 }],
  storageTtl: 0,
})
const stats = view('stats')
const key = entityKeyEncoder(stats, 3)
const row = (ref: ViewRef, driver: number, speed: number) =>
  encodeWriteRow(ref, {
    entityKey: key([driver]),
    values: { speed },
    eventTs: toMicros('2026-01-01T00:00:00Z'),
  })

let files = 0
function newPath(): string {
  return join(dir, `online-${files++}.db`)
}

/** A store that follows its file and looks at it on every call. */
function followingStore(path: string): SqliteOnlineStore {
  return new SqliteOnlineStore(new Database(path), path, {
    open: () => new Database(path),
    fileCheckIntervalMs: 0,
  })
}

/** The speed a fresh store (another process's view) reads at `path`; undefined when absent. */
async function speedIn(path: string, ref: ViewRef, driver: number): Promise<unknown> {
  const store = new SqliteOnlineStore(new Database(path), path)
  try {
    const [found] = await store.read(ref, [key([driver])], ['speed'])
    return found === undefined ? undefined : decodeValue(found.values[0]!)
  } finally {
    await store.close()
  }
}

async function rejection(
  promise: Promise<unknown>,
): Promise<{ code?: string; message: string; hint?: string }> {
  return promise.then(
    () => ({ message: 'resolved' }),
    (e) => e,
  )
}

describe('the SQLite online store follows its file', () => {
  it('notices a deleted file, says the values are gone, and writes to a new file a fresh store reads', async () => {
    const path = newPath()
    const store = followingStore(path)
    try {
      await store.update({ keep: [stats], drop: [] })
      await store.write(stats, [row(stats, 1, 10)])
      unlinkSync(path)
      const error = await rejection(store.readMany([{ view: stats, keys: [key([1])], features: ['speed'] }]))
      expect(error.code).toBe('BACKEND_UNAVAILABLE')
      expect(error.message).toContain(`the SQLite online store ${path} was deleted while it was open`)
      expect(error.message).toContain('the values written to it are gone')
      expect(error.hint).toContain('materialize the views again')
      expect(existsSync(path)).toBe(true)
      // the new file has the view's table: reads miss instead of failing, writes land
      expect(await store.read(stats, [key([1])], ['speed'])).toEqual([undefined])
      await store.write(stats, [row(stats, 2, 20)])
      expect(await speedIn(path, stats, 2)).toBe(20)
      expect(await speedIn(path, stats, 1)).toBeUndefined()

      // a write notices too, and a view this store never used gets its table in the new file
      unlinkSync(path)
      const other = view('other')
      expect((await rejection(store.write(stats, [row(stats, 3, 30)]))).code).toBe('BACKEND_UNAVAILABLE')
      await store.write(other, [row(other, 4, 40)])
      await store.write(stats, [row(stats, 3, 30)])
      expect(await speedIn(path, other, 4)).toBe(40)
      expect(await speedIn(path, stats, 3)).toBe(30)
    } finally {
      await store.close()
    }
  })

  it('reads a file renamed over its own without error, and writes to it', async () => {
    const path = newPath()
    const store = followingStore(path)
    const otherPath = newPath()
    const other = followingStore(otherPath)
    try {
      await store.update({ keep: [stats], drop: [] })
      await store.write(stats, [row(stats, 1, 10)])
      await other.update({ keep: [stats], drop: [] })
      await other.write(stats, [row(stats, 1, 11), row(stats, 2, 22)])
      await other.close()
      renameSync(otherPath, path)

      const [one, two] = await store.read(stats, [key([1]), key([2])], ['speed'])
      expect(decodeValue(one!.values[0]!)).toBe(11)
      expect(decodeValue(two!.values[0]!)).toBe(22)
      await store.write(stats, [row(stats, 3, 33)])
      expect(await speedIn(path, stats, 3)).toBe(33)
      expect(await speedIn(path, stats, 1)).toBe(11)
    } finally {
      await store.close()
    }
  })

  it('without a way to reopen, fails every call until restarted', async () => {
    const path = newPath()
    const store = new SqliteOnlineStore(new Database(path), path, { fileCheckIntervalMs: 0 })
    try {
      await store.update({ keep: [stats], drop: [] })
      unlinkSync(path)
      for (let i = 0; i < 2; i++) {
        const error = await rejection(store.read(stats, [key([1])], ['speed']))
        expect(error.code).toBe('BACKEND_UNAVAILABLE')
        expect(error.message).toContain(`${path} was deleted while it was open`)
        expect(error.hint).toContain('restart the process')
      }
      expect(existsSync(path)).toBe(false)
    } finally {
      await store.close()
    }
  })

  it('as opened from a config, notices a deletion at the next write', async () => {
    const path = newPath()
    const store = await openOnlineStore({ path }, parseRepoConfig('project: follow\n', dir))
    try {
      await store.update({ keep: [stats], drop: [] })
      await store.write(stats, [row(stats, 1, 10)])
      unlinkSync(path)
      expect((await rejection(store.write(stats, [row(stats, 2, 20)]))).message).toContain('was deleted')
      await store.write(stats, [row(stats, 2, 20)])
      expect(await speedIn(path, stats, 2)).toBe(20)
    } finally {
      await store.close()
    }
  })
})

describe("the feature server's health check", () => {
  it('fails once the online file is deleted, then serves the recreated file', async () => {
    const repo = await createTestRepo({
      onlineStore: 'type: sqlite\npath: data/online.db',
      data: sampleData(),
    })
    const server = new FeatureServer(repo.store, {
      logger: pino({ level: 'silent' }),
      registryRefreshSeconds: 0,
    })
    try {
      await repo.store.materialize({ start: at(0), end: at(4), views: ['driver_stats'] })
      const health = async () => {
        const res = await server.app.request('/health')
        return {
          status: res.status,
          body: (await res.json()) as { checks: { online_store: { ok: boolean; error?: string } } },
        }
      }
      expect((await health()).status).toBe(200)
      unlinkSync(join(repo.dir, 'data', 'online.db'))
      // reads look at the file at most once a second: poll until the check runs
      const deadline = Date.now() + 30_000
      let failed = await health()
      while (failed.status === 200) {
        expect(Date.now(), 'the health check never noticed the deleted file').toBeLessThan(deadline)
        await new Promise((r) => setTimeout(r, 100))
        failed = await health()
      }
      expect(failed.status).toBe(503)
      expect(failed.body.checks.online_store.ok).toBe(false)
      expect(failed.body.checks.online_store.error).toContain('was deleted while it was open')
      expect((await health()).status).toBe(200)

      const fresh = await repo.reopen()
      const read = () =>
        fresh.getOnlineFeatures(
          { entities: { driver_id: [1001] }, features: ['driver_stats:trips'] },
          { now: at(4) },
        )
      expect((await read()).results[1]!.statuses).toEqual(['NOT_FOUND'])
      // the fix the message gives: materialize again
      await repo.store.materialize({ start: at(0), end: at(4), views: ['driver_stats'] })
      expect((await read()).results[1]!.statuses).toEqual(['PRESENT'])
    } finally {
      await server.close()
      await repo.close()
    }
  })
})
