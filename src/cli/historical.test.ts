import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { tableFromArrays } from 'apache-arrow'
import { describe, expect, it } from 'vitest'
import { toMicros } from '../core/index.js'
import { FeatureStore } from '../feature-store.js'
import { restObject } from '../server/registry-json.js'
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
    // Feast's SavedDatasetMeta: the least and greatest entity timestamp of the file's rows
    expect(described.meta).toMatchObject({
      minEventTimestamp: '2000-01-01T00:00:00Z',
      maxEventTimestamp: '2026-11-20T11:00:00Z',
    })
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
      expect((await store.getSavedDataset('training_v1')).eventRange).toEqual({
        min: toMicros('2000-01-01T00:00:00Z'),
        max: toMicros('2026-11-20T11:00:00Z'),
      })
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

  it("records the entity rows' event range with a saved dataset, for every kind of entity input", async () => {
    const root = mkdtempSync(join(tmpdir(), 'larder-hist-'))
    const repo = join(root, 'demo')
    await initRepo(repo, 'local', new Date('2026-11-20T12:30:00Z'))
    expect((await larder('-c', repo, 'apply')).code).toBe(0)
    const store = await FeatureStore.open(repo)
    try {
      const features = ['driver_hourly_stats:conv_rate']
      const range = (min: string, max: string) => ({ min: toMicros(min), max: toMicros(max) })
      const save = async (
        name: string,
        request: Parameters<FeatureStore['getHistoricalFeatures']>[0],
        options: { receipt?: boolean; allowOverwrite?: boolean } = {},
      ) => {
        const job = await store.getHistoricalFeatures(request)
        return store.createSavedDataset(job, { name, path: `${name}.parquet`, ...options })
      }

      // JS rows, with microseconds and an offset (the greatest is 11:00:00.123456Z)
      const rows = [
        { driver_id: 1001, event_timestamp: '2026-11-20T10:15:00.000001Z' },
        { driver_id: 1002, event_timestamp: '2026-11-20T13:00:00.123456+02:00' },
        { driver_id: 1003, event_timestamp: '2026-11-20T09:59:59.999999Z' },
      ]
      const fromRows = await save('from_rows', { entities: rows, features })
      const rowsRange = range('2026-11-20T09:59:59.999999Z', '2026-11-20T11:00:00.123456Z')
      expect(fromRows.rows).toBe(3)
      expect(fromRows.eventRange).toEqual(rowsRange)
      const state = await store.registry.load({ allowCache: false })
      const meta = state.proto.savedDatasets.find((d) => d.spec?.name === 'from_rows')!.meta!
      expect([meta.minEventTimestamp, meta.maxEventTimestamp].map((t) => [t!.seconds, t!.nanos])).toEqual([
        [BigInt(Math.floor(rowsRange.min / 1e6)), 999_999_000],
        [BigInt(Math.floor(rowsRange.max / 1e6)), 123_456_000],
      ])
      // the registry JSON the UI reads: protobuf JSON of Timestamp, RFC 3339 in UTC
      expect(restObject(state, 'saved_datasets', 'demo', 'from_rows').json.meta).toMatchObject({
        minEventTimestamp: '2026-11-20T09:59:59.999999Z',
        maxEventTimestamp: '2026-11-20T11:00:00.123456Z',
      })

      // an Arrow table, saved with a receipt, replacing the dataset saved from rows
      const arrow = tableFromArrays({
        driver_id: BigInt64Array.from([1001n, 1002n]),
        event_timestamp: ['2026-11-19T08:00:00Z', '2026-11-20T08:30:00.5Z'],
      })
      const fromArrow = await save(
        'from_rows',
        { entities: arrow, features },
        { receipt: true, allowOverwrite: true },
      )
      expect(fromArrow.receipt).toBeDefined()
      expect(fromArrow.eventRange).toEqual(range('2026-11-19T08:00:00Z', '2026-11-20T08:30:00.5Z'))

      // query text run by the offline store's DuckDB
      const query =
        "SELECT 1001 AS driver_id, TIMESTAMP '2026-11-18 07:00:00' AS event_timestamp " +
        "UNION ALL SELECT 1002, TIMESTAMP '2026-11-20 06:00:00'"
      expect((await save('from_sql', { entities: { sql: query }, features })).eventRange).toEqual(
        range('2026-11-18T07:00:00Z', '2026-11-20T06:00:00Z'),
      )

      // rows through an on-demand view, whose rewritten batches are written from a staging table
      const withRequest = rows.map((r) => ({ ...r, val_to_add: 1, val_to_add_2: 10 }))
      const odfv = await save('through_odfv', { entities: withRequest, featureService: 'driver_activity_v3' })
      expect(odfv.eventRange).toEqual(rowsRange)

      // entity-less range retrieval: the range's start and end
      const ranged = await save('from_range', {
        startDate: '2026-11-20T00:00:00Z',
        endDate: '2026-11-20T12:00:00Z',
        features,
      })
      expect(ranged.eventRange).toEqual(range('2026-11-20T00:00:00Z', '2026-11-20T12:00:00Z'))

      const reopened = await store.listSavedDatasets({ allowCache: false })
      expect(Object.fromEntries(reopened.map((d) => [d.name, d.eventRange]))).toEqual({
        from_rows: range('2026-11-19T08:00:00Z', '2026-11-20T08:30:00.5Z'),
        from_sql: range('2026-11-18T07:00:00Z', '2026-11-20T06:00:00Z'),
        through_odfv: rowsRange,
        from_range: range('2026-11-20T00:00:00Z', '2026-11-20T12:00:00Z'),
      })
    } finally {
      await store.close()
    }
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
