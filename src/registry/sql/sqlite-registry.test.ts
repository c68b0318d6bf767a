import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { describeJobStoreConformance, registryJobs, sampleJob } from '../../testing/job-store-conformance.js'
import {
  describeFeastSqlInterop,
  describeRegistryConformance,
  type RegistryHarness,
  sampleRun,
} from '../../testing/registry-conformance.js'
import { createRegistry } from '../loader.js'

function sqliteHarness() {
  const dir = mkdtempSync(join(tmpdir(), 'larder-sql-registry-'))
  const path = join(dir, 'registry.sqlite')
  const url = `sqlite:///${path}`
  return { dir, path, url }
}

function sqliteRegistries(): RegistryHarness {
  const { dir, url } = sqliteHarness()
  return {
    open: ({ cacheTtlSeconds = 0 } = {}) =>
      createRegistry({ path: url, registryType: 'sql', cacheTtlSeconds, schemaMode: 'auto' }, dir),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  }
}

describeRegistryConformance('sqlite', async () => sqliteRegistries())
describeJobStoreConformance('sqlite', async () => registryJobs(sqliteRegistries()))

describeFeastSqlInterop('sqlite', async () => {
  const { dir, path, url } = sqliteHarness()
  let db: Database.Database | undefined
  return {
    url,
    baseDir: dir,
    exec: async (sql, params = []) => {
      db ??= new Database(path)
      const statement = db.prepare(sql)
      if (statement.reader) return statement.all(...params) as Record<string, unknown>[]
      statement.run(...params)
      return []
    },
    drop: async () => {
      db?.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})

describe('sqlite registry: the run history table', () => {
  it('replaces the empty runs table an earlier Larder created with fewer columns, and records runs in it', async () => {
    const { dir, path, url } = sqliteHarness()
    const old = new Database(path)
    old.exec(
      'CREATE TABLE larder_materialization_runs (run_id VARCHAR(64) NOT NULL, project_id VARCHAR(255) NOT NULL, feature_view_name VARCHAR(255) NOT NULL, window_start_micros BIGINT NOT NULL, window_end_micros BIGINT NOT NULL, rows_written BIGINT NOT NULL, duration_ms BIGINT NOT NULL, newest_event_micros BIGINT, run_by VARCHAR(255) NOT NULL, finished_at_micros BIGINT NOT NULL, PRIMARY KEY (run_id))',
    )
    old.close()
    const registry = await createRegistry(
      { path: url, registryType: 'sql', cacheTtlSeconds: 0, schemaMode: 'auto' },
      dir,
    )
    try {
      const run = sampleRun('upgraded', 'driver_stats', 1_700_000_000_000_000, {
        status: 'failed',
        error: 'ABORTED: the operation was cancelled',
      })
      await registry.recordMaterializationRun(run)
      expect(await registry.listMaterializationRuns('upgraded')).toEqual([run])
    } finally {
      await registry.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('sqlite registry: jobs', () => {
  it('keeps jobs in larder_jobs and larder_job_logs, leaving the registry version alone', async () => {
    const { dir, path, url } = sqliteHarness()
    const registry = await createRegistry(
      { path: url, registryType: 'sql', cacheTtlSeconds: 0, schemaMode: 'auto' },
      dir,
    )
    try {
      const before = (await registry.load({ allowCache: false })).version
      const job = sampleJob('demo', { featureViews: null, result: null })
      await registry.jobs.create(job)
      await registry.jobs.update('demo', job.id, { status: 'running', heartbeatAt: job.createdAt + 1 })
      await registry.jobs.appendLogs('demo', job.id, [{ at: job.createdAt, level: 'warn', message: 'slow' }])
      expect((await registry.load({ allowCache: false })).version).toBe(before)
      const db = new Database(path, { readonly: true })
      try {
        expect(db.prepare('SELECT job_id, status, feature_views, result FROM larder_jobs').all()).toEqual([
          { job_id: job.id, status: 'running', feature_views: null, result: 'null' },
        ])
        expect(db.prepare('SELECT job_id, seq, level, message FROM larder_job_logs').all()).toEqual([
          { job_id: job.id, seq: 1, level: 'warn', message: 'slow' },
        ])
      } finally {
        db.close()
      }
      expect((await registry.jobs.get('demo', job.id)).result).toBeNull()
    } finally {
      await registry.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
