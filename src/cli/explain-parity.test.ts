import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { larder } from './__fixtures__/run-larder.js'

describe('larder explain and larder parity on a new repo (SQLite online, DuckDB offline)', () => {
  let root: string
  let repo: string
  let now: string
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'larder-cli-explain-'))
    repo = join(root, 'demo')
    expect((await larder('init', repo)).code).toBe(0)
    expect((await larder('-c', repo, 'apply')).code).toBe(0)
  })
  afterAll(() => {
    rmSync(root, { recursive: true, force: true })
  })

  it('before materialization: NOT_FOUND, never materialized, and the command that loads it', async () => {
    const res = await larder(
      '-c',
      repo,
      'explain',
      'driver_id=1001',
      '--features',
      'driver_hourly_stats:conv_rate',
    )
    expect(res.code, res.stderr).toBe(0)
    expect(res.stdout).toMatch(/│ FEATURE +│ STATUS +│ VALUE +│ AGE +│ CAUSE +│/)
    expect(res.stdout).toMatch(
      /│ driver_hourly_stats:conv_rate +│ NOT_FOUND +│ null +│ +│ not_materialized +│/,
    )
    expect(res.stdout).toContain(
      'driver_hourly_stats:conv_rate: feature view "driver_hourly_stats" was never materialized',
    )
    expect(res.stdout).toMatch(/ {2}fix: run: larder materialize-incremental \S+ --views driver_hourly_stats/)
    const parity = await larder('-c', repo, 'parity')
    expect(parity.code).toBe(0)
    expect(parity.stdout).toContain('No materialized view to check in project "demo"')
  })

  it('after materialization: PRESENT and ok, as a table and as JSON', async () => {
    now = new Date().toISOString()
    expect((await larder('-c', repo, 'materialize-incremental', now)).code).toBe(0)
    const table = await larder(
      '-c',
      repo,
      'explain',
      'driver_id=1001',
      '--features',
      'driver_hourly_stats:conv_rate,driver_hourly_stats:avg_daily_trips',
      '--at',
      now,
    )
    expect(table.code, table.stderr).toBe(0)
    expect(table.stdout.split('\n')[0]).toBe(`driver_id=1001 at ${now.replace('.000Z', 'Z')}`)
    expect(table.stdout).toMatch(/│ driver_hourly_stats:conv_rate +│ PRESENT +│ [\d.]+ +│ \S+ +│ ok +│/)
    expect(table.stdout).toMatch(/│ driver_hourly_stats:avg_daily_trips +│ PRESENT +│ \d+ +│ \S+ +│ ok +│/)
    expect(table.stdout).not.toContain('fix:')

    const json = JSON.parse(
      (
        await larder(
          '-c',
          repo,
          'explain',
          'driver_id=1001',
          '--features',
          'driver_hourly_stats:conv_rate',
          '--at',
          now,
          '--json',
        )
      ).stdout,
    )
    expect(json.project).toBe('demo')
    expect(json.entity).toEqual({ driver_id: 1001 })
    const [feature] = json.features
    expect(feature).toMatchObject({
      feature: 'driver_hourly_stats:conv_rate',
      status: 'PRESENT',
      cause: { code: 'ok', fix: null },
      details: { view: 'driver_hourly_stats', kind: 'feature view', ttl_seconds: 86400 },
    })
    expect(typeof feature.value).toBe('number')
    expect(feature.event_timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:00:00Z$/)
    expect(feature.details.source.name).toBe('driver_hourly_stats_source')
    expect(feature.details.source.at_or_before.event_timestamp).toBe(feature.event_timestamp)
    expect(feature.details.materialized.intervals).toBe(1)
    expect(feature.details.last_run.status).toBe('succeeded')
  })

  it('a key absent from the source, and a feature service whose on-demand view lacks its request fields', async () => {
    const absent = await larder(
      '-c',
      repo,
      'explain',
      'driver_id=9999',
      '--features',
      'driver_hourly_stats:conv_rate',
    )
    expect(absent.stdout).toMatch(/│ NOT_FOUND +│ null +│ +│ key_not_in_source +│/)
    expect(absent.stdout).toContain(
      'source "driver_hourly_stats_source" of feature view "driver_hourly_stats" has no row for driver_id=9999',
    )
    const service = await larder(
      '-c',
      repo,
      'explain',
      'driver_id=1001',
      '-s',
      'driver_activity_v3',
      '--json',
    )
    expect(service.code, service.stderr).toBe(0)
    const codes = JSON.parse(service.stdout).features.map(
      (f: { feature: string; status: string; cause: { code: string } }) => [
        f.feature,
        f.status,
        f.cause.code,
      ],
    )
    expect(codes).toEqual([
      ['driver_hourly_stats:conv_rate', 'PRESENT', 'ok'],
      ['transformed_conv_rate:conv_rate_plus_val1', 'ERROR', 'odfv_input_missing'],
      ['transformed_conv_rate:conv_rate_plus_val2', 'ERROR', 'odfv_input_missing'],
    ])
    const given = await larder(
      '-c',
      repo,
      'explain',
      'driver_id=1001,val_to_add=1,val_to_add_2=2',
      '-s',
      'driver_activity_v3',
    )
    expect(given.stdout).toMatch(
      /│ transformed_conv_rate:conv_rate_plus_val2 +│ PRESENT +│ [\d.]+ +│ +│ ok +│/,
    )
  })

  it('parity on the new repo is clean; the on-demand view with request fields is skipped', async () => {
    const res = await larder('-c', repo, 'parity')
    expect(res.code, res.stdout).toBe(0)
    expect(res.stdout).toMatch(/│ driver_hourly_stats +│ \S+ +│ 5 +│ 15 +│ 0 +│ 0\.0% +│/)
    expect(res.stdout).toMatch(/parity: all \d+ values match in 2 views/)
    expect(res.stderr).toContain(
      'skipped transformed_conv_rate: on-demand feature view "transformed_conv_rate" needs the request fields val_to_add, val_to_add_2',
    )
  })

  it('reports bad input as one error line with a hint', async () => {
    const neither = await larder('-c', repo, 'explain', 'driver_id=1001')
    expect(neither.code).toBe(1)
    expect(neither.stderr).toContain('error: give either --features or --feature-service')
    const badKey = await larder(
      '-c',
      repo,
      'explain',
      'driver_id=abc',
      '--features',
      'driver_hourly_stats:conv_rate',
    )
    expect(badKey.code).toBe(1)
    expect(badKey.stderr).toContain('join key "driver_id" = "abc" is not a valid INT64')
    const badAt = await larder(
      '-c',
      repo,
      'explain',
      'driver_id=1',
      '--features',
      'driver_hourly_stats:conv_rate',
      '--at',
      'yesterday',
    )
    expect(badAt.code).toBe(1)
    expect(badAt.stderr).toContain('--at')
  })
})
