import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { concat, int, mapEntry, msg, str } from './__fixtures__/proto-wire.js'
import { FileRegistry } from './file/file-registry.js'

const PROJECT = 'feast_demo'
const fileSource = (field: number) =>
  msg(
    field,
    int(1, 1), // type = BATCH_FILE
    str(3, 'event_timestamp'),
    str(5, 'created'),
    msg(11, msg(1, msg(1)), str(2, 'data/driver_stats.parquet')), // file_options{file_format{parquet_format{}}, uri}
    str(20, 'driver_hourly_stats_source'),
    str(21, PROJECT),
  )

const registryBytes = concat([
  // entities = 1: Entity{spec{name, value_type=INT64, description, join_key, project}, meta{}}
  msg(1, msg(1, str(1, 'driver'), int(2, 4), str(3, 'driver id'), str(4, 'driver_id'), str(9, PROJECT))),
  // feature_views = 6
  msg(
    6,
    msg(
      1,
      str(1, 'driver_hourly_stats'),
      str(2, PROJECT),
      str(3, 'driver'),
      msg(4, str(1, 'conv_rate'), int(2, 6)),
      msg(4, str(1, 'acc_rate'), int(2, 6)),
      msg(4, str(1, 'avg_daily_trips'), int(2, 4)),
      mapEntry(5, 'team', 'driver_performance'),
      msg(6, int(1, 86_400)), // ttl
      fileSource(7),
      int(8, 1), // online
      msg(12, str(1, 'driver_id'), int(2, 4)),
      int(150, 1), // a field from a newer Feast
    ),
    msg(
      2,
      msg(1, int(1, 1_700_000_000)),
      msg(3, msg(1, int(1, 1_700_000_000)), msg(2, int(1, 1_700_086_400))),
    ),
  ),
  // a view with a value type from a newer Feast
  msg(
    6,
    msg(
      1,
      str(1, 'future_view'),
      str(2, PROJECT),
      str(3, 'driver'),
      msg(4, str(1, 'future_type'), int(2, 77)),
      fileSource(7),
    ),
  ),
  // feature_services = 7: spec{name, project, features=[projection{feature_view_name, feature_columns}]}
  msg(
    7,
    msg(
      1,
      str(1, 'driver_activity_v1'),
      str(2, PROJECT),
      msg(3, str(1, 'driver_hourly_stats'), msg(2, str(1, 'conv_rate'), int(2, 6))),
    ),
  ),
  fileSource(12), // data_sources = 12
  str(3, '1'), // registry_schema_version
  str(4, 'feast-written-version'),
  msg(17, msg(1, str(1, PROJECT), str(2, 'written by Feast'))), // projects
])

describe('a registry Feast wrote', () => {
  it('loads, tolerating unknown fields and enum values', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'larder-feast-registry-'))
    const path = join(dir, 'registry.db')
    writeFileSync(path, registryBytes)
    const state = await new FileRegistry({ path, cacheTtlSeconds: 0 }).load()
    expect(state.version).toBe('feast-written-version')
    const catalog = state.catalog(PROJECT)
    expect(catalog.entity('driver').joinKey).toBe('driver_id')
    expect(catalog.entity('driver').valueType?.name).toBe('Int64')
    expect(catalog.dataSource('driver_hourly_stats_source')).toBeDefined()
    expect(catalog.featureService('driver_activity_v1').featureRefs).toEqual([
      'driver_hourly_stats:conv_rate',
    ])
    expect(catalog.projectObject?.description).toBe('written by Feast')
    expect(catalog.materializationIntervals('driver_hourly_stats')).toEqual([
      { start: 1_700_000_000_000_000, end: 1_700_086_400_000_000 },
    ])
    const view = catalog.featureView('driver_hourly_stats')
    expect(view.features.map((f) => f.dtype.name)).toEqual(['Float32', 'Float32', 'Int64'])
    expect(view.ttl).toBe(86_400)
    expect(view.batchSource?.createdTimestampColumn).toBe('created')
    // A view with a type this version does not know is listed as skipped, not fatal.
    expect(catalog.skipped).toEqual([
      expect.objectContaining({
        kind: 'feature view',
        name: 'future_view',
        reason: expect.stringContaining('UNKNOWN(77)'),
      }),
    ])
  })
})
