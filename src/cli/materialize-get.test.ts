import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { larder } from './__fixtures__/run-larder.js'

describe('a new repo materializes and serves out of the box (SQLite)', () => {
  let root: string
  let repo: string
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'larder-cli-mat-'))
    repo = join(root, 'demo')
    expect((await larder('init', repo)).code).toBe(0)
    const applied = await larder('-c', repo, 'apply')
    expect(applied.code).toBe(0)
  })
  afterAll(() => {
    rmSync(root, { recursive: true, force: true })
  })

  it('init, apply, materialize-incremental now, get: PRESENT values', async () => {
    const now = new Date().toISOString()
    const mat = await larder('-c', repo, 'materialize-incremental', now)
    expect(mat.stderr).toContain('driver_hourly_stats: materializing')
    expect(mat.stderr).toContain('driver_hourly_stats: done, 5 rows')
    expect(mat.code).toBe(0)
    expect(mat.stdout).toMatch(/driver_hourly_stats\s*│[^\n]*│\s*5\s*│/)
    expect(mat.stdout).toContain('Materialized 10 rows of 2 feature views into the sqlite online store')

    const get = await larder(
      '-c',
      repo,
      'get',
      'driver_id=1001',
      'driver_id=1002',
      '--features',
      'driver_hourly_stats:conv_rate,driver_hourly_stats:avg_daily_trips',
    )
    expect(get.stderr).toBe('')
    expect(get.code).toBe(0)
    const lines = get.stdout.split('\n').filter((l) => l.includes('driver_id='))
    expect(lines).toHaveLength(4)
    for (const line of lines) expect(line).toContain('PRESENT')
    expect(get.stdout).toMatch(/driver_id=1001\s*│\s*avg_daily_trips\s*│\s*\d+\s*│\s*PRESENT\s*│\s*\S+/)

    const json = JSON.parse(
      (await larder('-c', repo, 'get', 'driver_id=1001', '--feature-service', 'driver_activity_v1', '--json'))
        .stdout,
    )
    expect(json.metadata.feature_names).toEqual(['driver_id', 'conv_rate', 'avg_daily_trips'])
    expect(json.results[0]).toEqual({
      values: [1001],
      statuses: ['PRESENT'],
      event_timestamps: ['1970-01-01T00:00:00Z'],
    })
    expect(json.results[1].statuses).toEqual(['PRESENT'])
    expect(typeof json.results[1].values[0]).toBe('number')
    expect(json.results[2].event_timestamps[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:00:00Z$/)

    // an on-demand view: request values travel in the entity row, typed by their request source
    const odfv = JSON.parse(
      (
        await larder(
          '-c',
          repo,
          'get',
          'driver_id=1001,val_to_add=1,val_to_add_2=2',
          '--feature-service',
          'driver_activity_v3',
          '--json',
        )
      ).stdout,
    )
    expect(odfv.metadata.feature_names).toEqual([
      'driver_id',
      'conv_rate',
      'conv_rate_plus_val1',
      'conv_rate_plus_val2',
    ])
    const conv = Math.fround(odfv.results[1].values[0])
    expect(odfv.results[2].values).toEqual([conv + 1])
    expect(odfv.results[3].values).toEqual([conv + 2])
    const table = await larder(
      '-c',
      repo,
      'get',
      'driver_id=1001,val_to_add=1,val_to_add_2=2',
      '-s',
      'driver_activity_v3',
    )
    expect(table.stdout).toMatch(/conv_rate_plus_val2\s*│\s*[\d.]+\s*│\s*PRESENT/)

    const again = await larder('-c', repo, 'materialize-incremental', now, '--json')
    expect(JSON.parse(again.stdout).map((v: { start: string; end: string }) => v.start === v.end)).toEqual([
      true,
      true,
    ])
  })

  it('materializes an explicit window of the named views only', async () => {
    const end = new Date()
    const start = new Date(end.getTime() - 3 * 3_600_000)
    const res = await larder(
      '-c',
      repo,
      'materialize',
      start.toISOString(),
      end.toISOString(),
      '--views',
      'driver_hourly_stats',
      '--json',
    )
    expect(res.code).toBe(0)
    const summary = JSON.parse(res.stdout)
    expect(summary).toHaveLength(1)
    expect(summary[0]).toMatchObject({ view: 'driver_hourly_stats', rows: 5 })
    const hour = new Date(Math.floor(end.getTime() / 3_600_000) * 3_600_000).toISOString()
    const one = await larder(
      '-c',
      repo,
      'materialize',
      hour,
      hour,
      '-v',
      'driver_hourly_stats',
      '-v',
      'driver_hourly_stats_fresh',
    )
    expect(one.code).toBe(0)
    expect(one.stdout).toMatch(/│ VIEW +│ START +│ END +│ ROWS +│ SKIPPED +│ SECONDS +│ ROWS\/S +│/)
    expect(one.stdout).toContain('Materialized 10 rows of 2 feature views into the sqlite online store')
    const single = await larder('-c', repo, 'materialize', hour, hour, '-v', 'driver_hourly_stats')
    expect(single.stdout).toContain('Materialized 5 rows of 1 feature view into the sqlite online store')
  })

  it('reports bad input as one error line with a hint', async () => {
    const backwards = await larder('-c', repo, 'materialize', '2026-01-02', '2026-01-01')
    expect(backwards.code).toBe(1)
    expect(backwards.stderr).toContain('error: end 2026-01-01T00:00:00Z is before start 2026-01-02T00:00:00Z')
    const unknown = await larder('-c', repo, 'materialize', '2026-01-01', '2026-01-02', '-v', 'nope')
    expect(unknown.stderr).toContain('feature view "nope" not found')
    expect(unknown.stderr).toContain('hint: feature views that can be materialized: driver_hourly_stats')
    const text = await larder(
      '-c',
      repo,
      'get',
      'driver_id=abc',
      '--features',
      'driver_hourly_stats:conv_rate',
    )
    expect(text.code).toBe(1)
    expect(text.stderr).toContain('join key "driver_id" = "abc" is not a valid INT64')
    const stray = await larder('-c', repo, 'get', 'rider=1', '--features', 'driver_hourly_stats:conv_rate')
    expect(stray.stderr).toContain('entity column "rider" is not a join key')
    const neither = await larder('-c', repo, 'get', 'driver_id=1')
    expect(neither.stderr).toContain('give either --features or --feature-service')
  })
})
