import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { larder } from '../cli/__fixtures__/run-larder.js'
import { formatMicros } from '../core/index.js'
import { at, sampleData } from './__fixtures__/driver-data.js'
import { createTestRepo, type TestRepo } from './__fixtures__/test-repo.js'
import { unloadedViews } from './unloaded-views.js'

// The registry records materialized intervals, but the online store (switched to a new file) holds
// nothing: the probe names the views, and `larder materialize-incremental` and `larder get` warn.

describe('intervals recorded but an empty online store', () => {
  let repo: TestRepo
  beforeAll(async () => {
    repo = await createTestRepo({ onlineStore: 'type: sqlite\npath: data/online.db', data: sampleData() })
    await repo.store.materialize({ start: at(0), end: at(4), views: ['driver_stats'] })
    await repo.store.materialize({ start: at(4), end: at(6), views: ['driver_stats'] })
  })
  afterAll(async () => {
    await repo?.close()
  })

  it('names nothing while the online store holds the rows', async () => {
    expect(await unloadedViews(repo.store)).toEqual([])
  })

  it('names the view after a switch to an empty online store, with the command to reload it', async () => {
    const yaml = join(repo.dir, 'feature_store.yaml')
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('data/online.db', 'data/other.db'))
    const switched = await repo.reopen()
    await switched.apply()
    const command = `larder materialize ${formatMicros(Date.parse(at(0)) * 1000)} ${formatMicros(Date.parse(at(6)) * 1000)} --views driver_stats`
    const [unloaded, ...others] = await unloadedViews(switched)
    expect(others).toEqual([])
    expect(unloaded!.view).toBe('driver_stats')
    expect(unloaded!.message).toContain('feature view "driver_stats" was materialized from')
    expect(unloaded!.message).toContain('the sqlite online store holds none of its rows')
    expect(unloaded!.message).toContain(command)
    expect(await unloadedViews(switched, ['rider_stats', 'no_such_view'])).toEqual([])

    const get = await larder('-c', repo.dir, 'get', 'driver_id=1001', '--features', 'driver_stats:conv_rate')
    expect(get.code).toBe(0)
    expect(get.stderr).toContain(`warning: ${unloaded!.message}`)
    const incremental = await larder(
      '-c',
      repo.dir,
      'materialize-incremental',
      at(8),
      '--views',
      'driver_stats',
    )
    expect(incremental.code).toBe(0)
    expect(incremental.stderr).toContain(`warning: ${unloaded!.message}`)
    // the window after the last interval holds no driver_stats rows: still empty, until the reload
    const [still] = await unloadedViews(switched)
    expect(still!.end).toBe(Date.parse(at(8)) * 1000)
    const reload = await larder('-c', repo.dir, 'materialize', at(0), at(8), '--views', 'driver_stats')
    expect(reload.code).toBe(0)
    expect(await unloadedViews(switched)).toEqual([])
  })
})
