// Materialization records a run per view in the registry's run history: rows, newest event, window,
// who and how it ended; a failed view records a failed run and no interval; a run that cannot be
// recorded is a warning, never a failed materialization.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { nowMicros, toMicros } from '../core/index.js'
import { at, sampleData } from './__fixtures__/driver-data.js'
import { createTestRepo, type TestRepo } from './__fixtures__/test-repo.js'

const ONLINE = 'type: sqlite\npath: data/online.db'
const ACTOR = 'ada@materializer'

describe('materialization run history', () => {
  const previousActor = process.env.LARDER_ACTOR
  beforeAll(() => {
    process.env.LARDER_ACTOR = ACTOR
  })
  afterAll(() => {
    if (previousActor === undefined) delete process.env.LARDER_ACTOR
    else process.env.LARDER_ACTOR = previousActor
  })
  const repos: TestRepo[] = []
  afterEach(async () => {
    for (const r of repos.splice(0)) await r.close()
  })
  const repo = async () => {
    const r = await createTestRepo({ onlineStore: ONLINE, data: sampleData() })
    repos.push(r)
    return r
  }

  it("records each view's run after its write: rows, newest event, window, who, engine", async () => {
    const { store } = await repo()
    const before = nowMicros()
    const result = await store.materialize({ start: at(0), end: at(4) })
    const after = nowMicros()
    const runs = await store.listMaterializationRuns()
    expect(runs.map((r) => r.view).sort()).toEqual(['driver_stats', 'global_stats', 'rider_stats'])
    const byView = new Map(runs.map((r) => [r.view, r]))
    // driver_stats in [0h, 4h]: 1001 at 3h, 1002 at 2h, 1003 at 3h (its 5h row is outside the window)
    expect(byView.get('driver_stats')).toMatchObject({
      project: store.project,
      engine: 'local',
      status: 'succeeded',
      start: toMicros(at(0)),
      end: toMicros(at(4)),
      rowsRead: 3,
      rowsWritten: 3,
      rowsSkipped: 0,
      newestEvent: toMicros(at(3)),
      runBy: ACTOR,
    })
    expect(byView.get('driver_stats')!.error).toBeUndefined()
    expect(byView.get('global_stats')).toMatchObject({ rowsRead: 1, newestEvent: toMicros(at(2)) })
    expect(byView.get('rider_stats')).toMatchObject({ rowsRead: 1, newestEvent: toMicros(at(1)) })
    for (const r of runs) {
      expect(r.startedAt).toBeGreaterThanOrEqual(before)
      expect(r.finishedAt).toBeGreaterThanOrEqual(r.startedAt)
      expect(r.finishedAt).toBeLessThanOrEqual(after)
      const outcome = result.views.find((v) => v.view === r.view)!
      expect([r.rowsRead, r.rowsWritten, r.rowsSkipped]).toEqual([
        outcome.rows,
        outcome.written,
        outcome.skipped,
      ])
    }
    // the incremental run from 4h to 6h reads 1001's 5h row; an empty window records no newest event
    await store.materializeIncremental({ end: at(6), views: ['driver_stats', 'rider_stats'] })
    const [latest] = await store.listMaterializationRuns({ view: 'driver_stats', limit: 1 })
    expect(latest).toMatchObject({ start: toMicros(at(4)), end: toMicros(at(6)), rowsRead: 1 })
    expect(latest!.newestEvent).toBe(toMicros(at(5)))
    const [rider] = await store.listMaterializationRuns({ view: 'rider_stats', limit: 1 })
    expect(rider).toMatchObject({ status: 'succeeded', rowsRead: 0, start: toMicros(at(4)) })
    expect(rider!.newestEvent).toBeUndefined()
    expect((await store.listMaterializationRuns({ view: 'driver_stats' })).map((r) => r.end)).toEqual([
      toMicros(at(6)),
      toMicros(at(4)),
    ])
  })

  it('records a failed run with its error and rows so far, and no interval', async () => {
    const { store } = await repo()
    const controller = new AbortController()
    const run = store.materialize(
      { start: at(0), end: at(4), views: ['driver_stats'] },
      {
        batchSize: 1,
        signal: controller.signal,
        onProgress: (e) => {
          if (e.phase === 'rows' && e.rows > 0) controller.abort()
        },
      },
    )
    await expect(run).rejects.toMatchObject({ code: 'ABORTED' })
    const [failed, ...rest] = await store.listMaterializationRuns({ view: 'driver_stats' })
    expect(rest).toEqual([])
    expect(failed).toMatchObject({ status: 'failed', start: toMicros(at(0)), end: toMicros(at(4)) })
    expect(failed!.error).toBe('ABORTED: the operation was cancelled')
    expect(failed!.rowsRead).toBeGreaterThanOrEqual(1)
    expect(failed!.rowsRead).toBeLessThan(3)
    expect(failed!.rowsWritten).toBe(failed!.rowsRead)
    expect((await store.catalog({ allowCache: false })).materializationIntervals('driver_stats')).toEqual([])
  })

  it('warns instead of failing when the run cannot be recorded, and still records the interval', async () => {
    const r = await repo()
    // a directory where the run history file belongs: every read and write of it fails
    mkdirSync(join(r.dir, 'data', 'registry.db.runs.json'))
    const warnings: string[] = []
    const result = await r.store.materialize(
      { start: at(0), end: at(4), views: ['driver_stats'] },
      { onWarning: (m) => warnings.push(m) },
    )
    expect(result.views[0]).toMatchObject({ view: 'driver_stats', rows: 3 })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(
      'the succeeded materialization run of feature view "driver_stats" was not recorded',
    )
    const catalog = await r.store.catalog({ allowCache: false })
    expect(catalog.materializationIntervals('driver_stats')).toEqual([
      { start: toMicros(at(0)), end: toMicros(at(4)) },
    ])
  })
})
