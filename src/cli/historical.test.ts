import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FeatureStore } from '../feature-store.js'
import { larder } from './__fixtures__/run-larder.js'
import { initRepo } from './commands/init.js'

describe('larder get-historical-features', () => {
  it('writes point-in-time training data and registers it as a saved dataset', async () => {
    const root = mkdtempSync(join(tmpdir(), 'larder-hist-'))
    const repo = join(root, 'demo')
    const now = new Date('2026-11-20T12:30:00Z')
    await initRepo(repo, 'local', now)
    expect((await larder('-c', repo, 'apply')).code).toBe(0)
    const entities = join(root, 'entities.csv')
    writeFileSync(
      entities,
      [
        'driver_id,event_timestamp',
        '1001,2026-11-20T10:15:00Z',
        '1002,2026-11-20T11:00:00Z',
        '9999,2026-11-20T11:00:00Z',
        '1001,2000-01-01T00:00:00Z',
      ].join('\n'),
    )
    const out = join(root, 'training.parquet')
    const result = await larder(
      '-c',
      repo,
      'get-historical-features',
      '--entities',
      entities,
      '--features',
      'driver_hourly_stats:conv_rate,driver_hourly_stats:avg_daily_trips',
      '--out',
      out,
      '--save-as',
      'training_v1',
    )
    expect(result.stderr).not.toContain('error')
    expect(result.stdout).toContain('Wrote 4 rows (4 columns)')
    expect(result.stdout).toContain('Registered saved dataset "training_v1"')
    const described = JSON.parse(
      (await larder('-c', repo, 'describe', 'saved-dataset', 'training_v1', '--json')).stdout,
    )
    expect(described.spec).toMatchObject({
      name: 'training_v1',
      project: 'demo',
      features: ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:avg_daily_trips'],
      joinKeys: ['driver_id'],
    })
    expect(JSON.stringify(described.spec.storage)).toContain(out)
    const yaml = await larder('-c', repo, 'describe', 'saved-datasets', 'training_v1')
    expect(yaml.stdout).toContain('name: training_v1')
    const unknown = await larder('-c', repo, 'describe', 'saved-dataset', 'nope')
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('training_v1')
    const listed = JSON.parse((await larder('-c', repo, 'list', 'saved-datasets', '--json')).stdout)
    expect(listed).toEqual([
      expect.objectContaining({
        name: 'training_v1',
        features: ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:avg_daily_trips'],
        joinKeys: ['driver_id'],
        path: out,
      }),
    ])
    // The same rows through the SDK: a known driver gets the 10:00 value, unknown and too-early rows get nulls.
    const store = await FeatureStore.open(repo)
    try {
      const rows = await (
        await store.getHistoricalFeatures({ entities, features: ['driver_hourly_stats:avg_daily_trips'] })
      ).toRows()
      expect(rows.map((r) => r.avg_daily_trips === null)).toEqual([false, false, true, true])
    } finally {
      await store.close()
    }
    const again = await larder(
      '-c',
      repo,
      'get-historical-features',
      '--entities',
      entities,
      '--feature-service',
      'driver_activity_v1',
      '--out',
      out,
      '--save-as',
      'training_v1',
    )
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('already exists')
    const csv = join(root, 'training.csv')
    const fromService = await larder(
      '-c',
      repo,
      'get-historical-features',
      '--entities',
      entities,
      '--feature-service',
      'driver_activity_v1',
      '--full-feature-names',
      '--out',
      csv,
    )
    expect(fromService.code).toBe(0)
    expect(readFileSync(csv, 'utf8').split('\n')[0]).toBe(
      'driver_id,event_timestamp,driver_hourly_stats__conv_rate,driver_hourly_stats__avg_daily_trips',
    )
    const withRequest = join(root, 'with-request.csv')
    writeFileSync(
      withRequest,
      'driver_id,event_timestamp,val_to_add,val_to_add_2\n1001,2026-11-20T10:15:00Z,1,10\n',
    )
    const odfvCsv = join(root, 'odfv.csv')
    const odfv = await larder(
      '-c',
      repo,
      'get-historical-features',
      '--entities',
      withRequest,
      '--feature-service',
      'driver_activity_v3',
      '--out',
      odfvCsv,
    )
    expect(odfv.code).toBe(0)
    expect(odfv.stdout).toContain('Wrote 1 row (7 columns)')
    const [header, line] = readFileSync(odfvCsv, 'utf8').split('\n')
    expect(header).toBe(
      'driver_id,event_timestamp,val_to_add,val_to_add_2,conv_rate,conv_rate_plus_val1,conv_rate_plus_val2',
    )
    const [, , , , conv, plus1, plus2] = line!.split(',').map(Number)
    expect(plus1).toBeCloseTo(conv! + 1, 6)
    expect(plus2).toBeCloseTo(conv! + 10, 6)
  })

  it('names what is missing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'larder-hist-'))
    const repo = join(root, 'demo')
    await initRepo(repo, 'local')
    await larder('-c', repo, 'apply')
    const noFeatures = await larder(
      '-c',
      repo,
      'get-historical-features',
      '--entities',
      'x.csv',
      '--out',
      'y.parquet',
    )
    expect(noFeatures.stderr).toContain('--features or --feature-service')
    const badView = await larder(
      '-c',
      repo,
      'get-historical-features',
      '--entities',
      'x.csv',
      '--features',
      'nope:x',
      '--out',
      join(root, 'y.parquet'),
    )
    expect(badView.stderr).toContain('driver_hourly_stats')
    const missing = await larder(
      '-c',
      repo,
      'get-historical-features',
      '-e',
      'no-such-entities.parquet',
      '--features',
      'driver_hourly_stats:conv_rate',
      '--out',
      join(root, 'y.parquet'),
    )
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain(
      `entity file ${join(process.cwd(), 'no-such-entities.parquet')}: no such file`,
    )
    expect(missing.stderr).toContain(
      `hint: check the path; a relative path is resolved against the working directory ${process.cwd()}`,
    )
  })
})
