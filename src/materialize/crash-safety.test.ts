import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { uniqueProject } from '../testing/online-conformance.js'
import { writeBulkData } from './__fixtures__/bulk-data.js'
import { createTestRepo, type TestRepo } from './__fixtures__/test-repo.js'

const BULK_FEATURES = fileURLToPath(new URL('./__fixtures__/bulk-features.ts', import.meta.url))
const CHILD = fileURLToPath(new URL('./__fixtures__/materialize-child.mjs', import.meta.url))
const DRIVERS = 100_000
const START = '2025-12-31T00:00:00Z'
const END = '2026-01-02T00:00:00Z'

/** Every stored feature row of the view, in a stable order. */
function dump(repo: TestRepo): unknown[] {
  const db = new Database(join(repo.dir, 'data', 'online.db'))
  try {
    return db
      .prepare(
        `SELECT hex(entity_key) AS k, feature_name, hex(value) AS v, event_ts, created_ts FROM "${repo.project}_bulk_stats" ORDER BY 1, 2`,
      )
      .all()
  } finally {
    db.close()
  }
}

/** Starts the child materializer and SIGKILLs it once it reported `after` rows written; resolves to its exit. */
function killMidWrite(
  repo: TestRepo,
  after: number,
): Promise<{ signal: string | null; rows: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, repo.dir, START, END, '1000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    let rows = 0
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      for (const line of out.split('\n').slice(0, -1)) {
        if (!line.startsWith('{')) continue
        const event = JSON.parse(line) as { phase: string; rows: number }
        if (event.phase === 'rows' && event.rows >= after && rows === 0) {
          rows = event.rows
          child.kill('SIGKILL')
        }
      }
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk
    })
    child.on('error', reject)
    child.on('exit', (_code, signal) => {
      if (rows === 0) reject(new Error(`the child ended before it was killed:\n${out}\n${err}`))
      else resolve({ signal, rows, out })
    })
  })
}

describe('materialization killed with SIGKILL in the middle of writing', () => {
  const repos: TestRepo[] = []
  afterAll(async () => {
    for (const repo of repos) await repo.close()
  })

  it('keeps the recorded interval, and a rerun converges to the state of an uninterrupted run', async () => {
    const project = uniqueProject('crash')
    const options = {
      onlineStore: 'type: sqlite\npath: data/online.db',
      project,
      definitions: BULK_FEATURES,
      prepare: (dir: string) => writeBulkData(dir, DRIVERS),
    }
    const crashed = await createTestRepo(options)
    repos.push(crashed)
    const clean = await createTestRepo(options)
    repos.push(clean)

    const killed = await killMidWrite(crashed, 3000)
    expect(killed.signal).toBe('SIGKILL')
    expect(killed.out).not.toContain('done')
    const partial = dump(crashed).length
    expect(partial).toBeGreaterThanOrEqual(killed.rows * 3)
    expect(partial).toBeLessThan(DRIVERS * 3)
    const afterCrash = await crashed.reopen()
    expect((await afterCrash.catalog({ allowCache: false })).materializationIntervals('bulk_stats')).toEqual(
      [],
    )

    const rerun = await afterCrash.materialize({ start: START, end: END })
    expect(rerun.views[0]).toMatchObject({ view: 'bulk_stats', rows: DRIVERS })
    await clean.store.materialize({ start: START, end: END })
    const expected = dump(clean)
    expect(expected).toHaveLength(DRIVERS * 3)
    expect(dump(crashed)).toEqual(expected)
    for (const store of [afterCrash, clean.store]) {
      const intervals = (await store.catalog({ allowCache: false })).materializationIntervals('bulk_stats')
      expect(intervals).toHaveLength(1)
    }
  }, 180_000)
})
