// `larder list materializations`: the run history as a table and as JSON, filtered by view and limit.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { larder } from './__fixtures__/run-larder.js'

describe('larder list materializations', () => {
  let root: string
  let repo: string
  const previousActor = process.env.LARDER_ACTOR
  beforeAll(async () => {
    process.env.LARDER_ACTOR = 'grace@cli'
    root = mkdtempSync(join(tmpdir(), 'larder-cli-runs-'))
    repo = join(root, 'demo')
    expect((await larder('init', repo)).code).toBe(0)
    expect((await larder('-c', repo, 'apply')).code).toBe(0)
  })
  afterAll(() => {
    if (previousActor === undefined) delete process.env.LARDER_ACTOR
    else process.env.LARDER_ACTOR = previousActor
    rmSync(root, { recursive: true, force: true })
  })

  it('says so when nothing was materialized yet', async () => {
    const empty = await larder('-c', repo, 'list', 'materializations')
    expect(empty.code).toBe(0)
    expect(empty.stdout).toContain('No materialization runs recorded in project "demo"')
    expect(JSON.parse((await larder('-c', repo, 'list', 'materializations', '--json')).stdout)).toEqual([])
  })

  it('lists each run newest first, as a table and as JSON, by view and with a limit', async () => {
    // `larder init` writes a row per driver every hour up to the current hour
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000
    const first = new Date(hour - 2 * 3_600_000).toISOString().replace('.000Z', 'Z')
    expect((await larder('-c', repo, 'materialize', '1970-01-01T00:00:00Z', first)).code).toBe(0)
    const second = new Date().toISOString()
    expect((await larder('-c', repo, 'materialize-incremental', second)).code).toBe(0)

    const json = JSON.parse((await larder('-c', repo, 'list', 'materializations', '--json')).stdout)
    expect(json).toHaveLength(4)
    const views = json.map((r: { featureView: string }) => r.featureView)
    expect(new Set(views.slice(0, 2))).toEqual(new Set(views.slice(2)))
    const oldest = json[3]
    expect(oldest).toMatchObject({
      project: 'demo',
      engine: 'local',
      status: 'succeeded',
      windowStart: '1970-01-01T00:00:00Z',
      windowEnd: first,
      runBy: 'grace@cli',
    })
    expect(oldest.rowsRead).toBeGreaterThan(0)
    expect(oldest.rowsWritten).toBe(oldest.rowsRead)
    expect(oldest.newestEventTimestamp).toBe(first)
    expect(json.map((r: { startedAt: string }) => Date.parse(r.startedAt))).toEqual(
      json.map((r: { startedAt: string }) => Date.parse(r.startedAt)).sort((a: number, b: number) => b - a),
    )

    const one = JSON.parse(
      (
        await larder(
          '-c',
          repo,
          'list',
          'materializations',
          '--view',
          'driver_hourly_stats',
          '--limit',
          '1',
          '--json',
        )
      ).stdout,
    )
    expect(one).toHaveLength(1)
    expect(one[0]).toMatchObject({ featureView: 'driver_hourly_stats', windowStart: first })
    expect(one[0].windowEnd).toBe(new Date(second).toISOString().replace('.000Z', 'Z'))

    const table = await larder('-c', repo, 'list', 'materializations', '--view', 'driver_hourly_stats')
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(
      /│ VIEW +│ STARTED +│ WINDOW +│ ROWS +│ DURATION +│ NEWEST EVENT +│ WHO +│ STATUS +│/,
    )
    const lines = table.stdout.split('\n').filter((l) => l.includes('driver_hourly_stats'))
    expect(lines).toHaveLength(2)
    expect(lines[1]).toContain(`1970-01-01T00:00:00Z .. ${first}`)
    expect(lines[1]).toMatch(/│ \d+ read, \d+ written +│ \d+\.\d\ds +│ \S+Z +│ grace@cli +│ succeeded +│/)
  })

  it('refuses a bad limit and options that do not apply', async () => {
    const zero = await larder('-c', repo, 'list', 'materializations', '--limit', '0')
    expect(zero.code).not.toBe(0)
    expect(zero.stderr).toContain('give a positive integer')
    const misplaced = await larder('-c', repo, 'list', 'entities', '--view', 'x')
    expect(misplaced.code).toBe(1)
    expect(misplaced.stderr).toContain('--view and --limit apply to `larder list materializations` only')
    const tags = await larder('-c', repo, 'list', 'materializations', '--tags', 'a:b')
    expect(tags.code).toBe(1)
    expect(tags.stderr).toContain('--tags does not apply')
  })
})
