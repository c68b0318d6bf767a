// Push and write-to-online-store on a `larder init` repo: a real SQLite online store and Parquet source.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FeatureStore } from '../feature-store.js'
import { type AppliedRepo, appliedRepo } from '../server/__fixtures__/serve-process.js'

const PUSH = 'driver_stats_push_source'
let repo: AppliedRepo
let store: FeatureStore

function frame(driver: number, ts: string, convRate: number) {
  return {
    driver_id: [driver],
    event_timestamp: [ts],
    created: [ts],
    conv_rate: [convRate],
    acc_rate: [0.5],
    avg_daily_trips: [7],
  }
}

async function freshConvRate(driver: number) {
  const res = await store.getOnlineFeatures({
    features: ['driver_hourly_stats_fresh:conv_rate'],
    entities: { driver_id: [driver] },
  })
  return {
    value: res.results[1]!.values[0],
    status: res.results[1]!.statuses[0],
    ts: res.results[1]!.eventTimestamps[0],
  }
}

async function offlineRows(driver: number, at: string): Promise<number> {
  const offline = await store.offline()
  const view = (await store.catalog({ allowCache: false })).featureView('driver_hourly_stats')
  let n = 0
  for await (const batch of offline.pullLatest(view, { start: at, end: at })) {
    const ids = batch.getChild('driver_id')!.toArray() as ArrayLike<number | bigint>
    for (let i = 0; i < ids.length; i++) if (Number(ids[i]) === driver) n++
  }
  return n
}

beforeAll(async () => {
  repo = await appliedRepo()
  store = await FeatureStore.open(repo.dir)
})

afterAll(async () => {
  await store?.close()
  repo?.remove()
})

describe('push', () => {
  it('writes online to every view of the push source, converting by the declared types', async () => {
    const at = new Date(Date.now() - 60_000).toISOString()
    const result = await store.push({ pushSourceName: PUSH, df: frame(7001, at, 0.25) })
    expect(result.views).toEqual([
      { view: 'driver_hourly_stats_fresh', rows: 1, onlineWritten: 1, onlineSkipped: 0, offlineRows: 0 },
    ])
    expect(await freshConvRate(7001)).toMatchObject({ value: 0.25, status: 'PRESENT' })
    expect(await offlineRows(7001, at)).toBe(0)
  })

  it('keeps the newer value: an older row is skipped', async () => {
    const newer = new Date(Date.now() - 30_000).toISOString()
    const older = new Date(Date.now() - 3_600_000).toISOString()
    await store.push({ pushSourceName: PUSH, df: frame(7002, newer, 0.75) })
    const result = await store.push({ pushSourceName: PUSH, df: frame(7002, older, 0.1) })
    expect(result.views[0]).toMatchObject({ onlineWritten: 0, onlineSkipped: 1 })
    expect((await freshConvRate(7002)).value).toBe(0.75)
  })

  it('appends to the batch source offline, and online_and_offline does both', async () => {
    const at = '2026-01-02T03:04:05Z'
    const offline = await store.push({ pushSourceName: PUSH, df: frame(7003, at, 0.5), to: 'offline' })
    expect(offline.views[0]).toMatchObject({ onlineWritten: 0, offlineRows: 1 })
    expect(await offlineRows(7003, at)).toBe(1)
    expect((await freshConvRate(7003)).status).toBe('NOT_FOUND')

    const both = await store.push({
      pushSourceName: PUSH,
      df: frame(7004, at, 0.5),
      to: 'online_and_offline',
    })
    expect(both.views[0]).toMatchObject({ onlineWritten: 1, offlineRows: 1 })
    expect(await offlineRows(7004, at)).toBe(1)
    expect((await freshConvRate(7004)).value).toBe(0.5)
  })

  it('accepts rows as objects and epoch milliseconds', async () => {
    const ms = Date.now() - 10_000
    await store.push({
      pushSourceName: PUSH,
      df: [
        {
          driver_id: 7005,
          event_timestamp: ms,
          created: ms,
          conv_rate: 0.125,
          acc_rate: 0.5,
          avg_daily_trips: 3,
        },
      ],
    })
    // SQLite keeps whole seconds, as Feast's layout does
    expect(await freshConvRate(7005)).toMatchObject({ value: 0.125, ts: Math.floor(ms / 1000) * 1_000_000 })
  })

  it('names the unknown push source with the known ones, the missing column, and the bad value; writes nothing', async () => {
    await expect(store.push({ pushSourceName: 'nope', df: frame(1, '2026-01-01', 1) })).rejects.toMatchObject(
      {
        code: 'NOT_FOUND',
        message: expect.stringContaining('"nope"'),
        hint: expect.stringContaining(PUSH),
      },
    )
    const { conv_rate: _, ...noRate } = frame(7006, new Date().toISOString(), 1)
    await expect(store.push({ pushSourceName: PUSH, df: noRate })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('no column "conv_rate"'),
    })
    const bad = { ...frame(7006, new Date().toISOString(), 1), avg_daily_trips: ['many'] }
    await expect(store.push({ pushSourceName: PUSH, df: bad })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(
        /column "avg_daily_trips", row 0, for feature view "driver_hourly_stats_fresh"/,
      ),
    })
    const badKey = { ...frame(7006, new Date().toISOString(), 1), driver_id: ['7006'] }
    await expect(store.push({ pushSourceName: PUSH, df: badKey })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('driver_id'),
    })
    const ragged = { ...frame(7006, new Date().toISOString(), 1), conv_rate: [1, 2] }
    await expect(store.push({ pushSourceName: PUSH, df: ragged })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    })
    await expect(
      store.push({ pushSourceName: PUSH, df: { ...frame(7006, 'yesterday', 1) }, to: 'online_and_offline' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('event_timestamp') })
    expect((await freshConvRate(7006)).status).toBe('NOT_FOUND')
  })

  it('refuses a wrongly typed value pushed offline only, naming it, and appends nothing', async () => {
    const at = new Date(Date.now() - 4_000).toISOString()
    const bad = { ...frame(7007, at, 1), avg_daily_trips: ['seven'] }
    await expect(store.push({ pushSourceName: PUSH, df: bad, to: 'offline' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(
        /column "avg_daily_trips", row 0, for feature view "driver_hourly_stats_fresh"/,
      ),
    })
    expect(await offlineRows(7007, at)).toBe(0)
  })
})

describe('writeToOnlineStore', () => {
  it('writes one view, and names an unknown view with the known ones', async () => {
    const at = new Date(Date.now() - 5_000).toISOString()
    const result = await store.writeToOnlineStore({
      featureViewName: 'driver_hourly_stats',
      df: frame(7101, at, 0.375),
    })
    expect(result.views).toEqual([
      { view: 'driver_hourly_stats', rows: 1, onlineWritten: 1, onlineSkipped: 0, offlineRows: 0 },
    ])
    const res = await store.getOnlineFeatures({
      features: ['driver_hourly_stats:conv_rate'],
      entities: { driver_id: [7101] },
    })
    expect(res.results[1]!.values).toEqual([0.375])
    await expect(
      store.writeToOnlineStore({ featureViewName: 'nope', df: frame(1, at, 1) }),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
      hint: expect.stringContaining('driver_hourly_stats'),
    })
  })
})
