// A push is checked against every destination before anything is written: values that the online
// encoding or the offline column types cannot hold are 422s (INVALID_ARGUMENT) naming the view, column,
// row and value, through the SDK and over HTTP (a `larder serve` child process), and leave the online
// store and the offline files exactly as they were. A client abort never leaves half a push.
import { appendFileSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isLarderError } from '../core/index.js'
import { FeatureStore } from '../feature-store.js'
import {
  type AppliedRepo,
  appliedRepo,
  type ServeProcess,
  startServe,
} from '../server/__fixtures__/serve-process.js'

const DRIVER_PUSH = 'driver_stats_push_source'
const TRIP_PUSH = 'trip_events_push'
const TWO_53 = 2 ** 53

// A second push source over a directory of Parquet files, with the types the checks are about.
const TRIP_DEFINITIONS = `
import { Int32 as TripInt32, String as TripString, UnixTimestamp as TripUnixTimestamp } from 'larderjs'

export const tripEventsSource = new FileSource({
  name: 'trip_events_source',
  path: 'data/trip_events',
  timestampField: 'event_timestamp',
})
export const tripEventsPush = new PushSource({ name: '${TRIP_PUSH}', batchSource: tripEventsSource })
export const tripEvents = new FeatureView({
  name: 'trip_events',
  entities: [driver],
  ttl: '1d',
  schema: [
    new Field({ name: 'rating', dtype: Float32 }),
    new Field({ name: 'passengers', dtype: TripInt32 }),
    new Field({ name: 'picked_up', dtype: TripUnixTimestamp }),
    new Field({ name: 'note', dtype: TripString }),
  ],
  online: true,
  source: tripEventsPush,
})
`

let repo: AppliedRepo
let store: FeatureStore
let server: ServeProcess
let nextDriver = 900_000

/** A fresh pair of driver ids, so that every case starts from drivers nothing was written for. */
function drivers(): [number, number] {
  nextDriver += 2
  return [nextDriver, nextDriver + 1]
}

function recent(): string {
  return new Date(Date.now() - 60_000).toISOString()
}

/** Two good trip rows; `bad` replaces values of row 1. */
function tripFrame(ids: [number, number], bad: Record<string, unknown> = {}): Record<string, unknown[]> {
  const at = recent()
  const good: Record<string, unknown[]> = {
    driver_id: ids,
    event_timestamp: [at, at],
    rating: [0.5, 0.75],
    passengers: [1, 2],
    picked_up: [1_790_000_000, 1_790_000_100],
    note: ['a', 'b'],
  }
  for (const [column, value] of Object.entries(bad)) good[column] = [good[column]![0], value]
  return good
}

/** Two good driver-stats rows; `bad` replaces values of row 1. */
function driverFrame(ids: [number, number], bad: Record<string, unknown> = {}): Record<string, unknown[]> {
  const at = recent()
  const good: Record<string, unknown[]> = {
    driver_id: ids,
    event_timestamp: [at, at],
    created: [at, at],
    conv_rate: [0.5, 0.25],
    acc_rate: [0.5, 0.5],
    avg_daily_trips: [3, 4],
  }
  for (const [column, value] of Object.entries(bad)) good[column] = [good[column]![0], value]
  return good
}

/** Every offline file with its identity, size and modification time, and the rows DuckDB reads in them. */
async function offlineState(): Promise<{ files: Record<string, string>; rows: number }> {
  const files: Record<string, string> = {}
  const data = join(repo.dir, 'data')
  for (const name of readdirSync(data, { recursive: true }).map(String)) {
    if (name.startsWith('online.db') || name.startsWith('registry')) continue
    const s = statSync(join(data, name))
    if (s.isFile()) files[name] = `${s.ino}:${s.size}:${s.mtimeMs}`
  }
  const instance = await DuckDBInstance.create(':memory:')
  const db = await instance.connect()
  try {
    const count = async (pattern: string) =>
      Number(
        (
          await db.runAndReadAll(`SELECT count(*) FROM read_parquet('${pattern}', union_by_name = true)`)
        ).getRows()[0]![0],
      )
    const trips = readdirSync(join(data, 'trip_events')).some((f) => f.endsWith('.parquet'))
      ? await count(join(data, 'trip_events', '*.parquet'))
      : 0
    return { files, rows: (await count(join(data, 'driver_stats.parquet'))) + trips }
  } finally {
    db.closeSync()
    instance.closeSync()
  }
}

/** The online statuses of both views for the drivers. */
async function onlineStatuses(ids: readonly number[]): Promise<string[]> {
  const res = await store.getOnlineFeatures({
    features: ['trip_events:rating', 'driver_hourly_stats_fresh:conv_rate'],
    entities: { driver_id: [...ids] },
  })
  return res.results.slice(1).flatMap((r) => r.statuses)
}

interface Case {
  readonly name: string
  readonly pushSource: string
  readonly df: (ids: [number, number]) => Record<string, unknown[]>
  /** The same frame as the SDK gets it, when it differs from the JSON one (a bigint). */
  readonly sdkDf?: (ids: [number, number]) => Record<string, unknown[]>
  readonly view: string
  readonly column: string
  readonly detail: RegExp
}

const CASES: readonly Case[] = [
  {
    name: 'a Float32 of 1e300',
    pushSource: TRIP_PUSH,
    df: (ids) => tripFrame(ids, { rating: 1e300 }),
    view: 'trip_events',
    column: 'rating',
    detail: /1e\+300 is out of the range of FLOAT/,
  },
  {
    name: 'an event timestamp of 2^53 milliseconds',
    pushSource: TRIP_PUSH,
    df: (ids) => tripFrame(ids, { event_timestamp: TWO_53 }),
    view: 'trip_events',
    column: 'event_timestamp',
    detail: /9007199254740992 .*is outside the instants Larder holds/,
  },
  {
    name: 'a UnixTimestamp of 2^53 seconds',
    pushSource: TRIP_PUSH,
    df: (ids) => tripFrame(ids, { picked_up: TWO_53 }),
    sdkDf: (ids) => tripFrame(ids, { picked_up: 2n ** 53n }),
    view: 'trip_events',
    column: 'picked_up',
    detail: /9007199254740992n? .*(out of the range of UNIX_TIMESTAMP|as UNIX_TIMESTAMP)/,
  },
  {
    name: 'an Int32 beyond 2^31 - 1',
    pushSource: TRIP_PUSH,
    df: (ids) => tripFrame(ids, { passengers: 2 ** 31 }),
    view: 'trip_events',
    column: 'passengers',
    detail: /2147483648 as INT32/,
  },
  {
    name: 'a string where a number is required',
    pushSource: TRIP_PUSH,
    df: (ids) => tripFrame(ids, { rating: 'fast' }),
    view: 'trip_events',
    column: 'rating',
    detail: /"fast" as FLOAT/,
  },
  {
    name: 'an Int64 that the offline INTEGER column cannot hold',
    pushSource: DRIVER_PUSH,
    df: (ids) => driverFrame(ids, { avg_daily_trips: 3_000_000_000 }),
    view: 'driver_hourly_stats_fresh',
    column: 'avg_daily_trips',
    detail: /3000000000 does not fit the type INTEGER/,
  },
]

beforeAll(async () => {
  repo = await appliedRepo()
  mkdirSync(join(repo.dir, 'data', 'trip_events'))
  appendFileSync(join(repo.dir, 'features.ts'), TRIP_DEFINITIONS)
  // the demo's Parquet file with avg_daily_trips stored as INTEGER (Int32), narrower than the declared Int64
  const instance = await DuckDBInstance.create(':memory:')
  const db = await instance.connect()
  const file = join(repo.dir, 'data', 'driver_stats.parquet')
  await db.run(
    `COPY (SELECT * REPLACE (avg_daily_trips::INTEGER AS avg_daily_trips) FROM read_parquet('${file}')) TO '${file}.new' (FORMAT parquet)`,
  )
  // the trip source's first file, in the declared types
  const trips = join(repo.dir, 'data', 'trip_events', 'part-0.parquet')
  await db.run(
    `COPY (SELECT 1::BIGINT AS driver_id, TIMESTAMPTZ '2026-01-01 00:00:00+00' AS event_timestamp, 0.5::FLOAT AS rating,
       1::INTEGER AS passengers, TIMESTAMPTZ '2026-01-01 00:00:00+00' AS picked_up, 'seed' AS note) TO '${trips}' (FORMAT parquet)`,
  )
  db.closeSync()
  instance.closeSync()
  renameSync(`${file}.new`, file)
  store = await FeatureStore.open(repo.dir)
  await store.apply()
  server = await startServe(repo.dir)
}, 60_000)

afterAll(async () => {
  await server?.stop('SIGKILL')
  await store?.close()
  repo?.remove()
})

describe('a push that a destination cannot hold writes nothing anywhere', () => {
  for (const c of CASES) {
    it(`through the SDK: ${c.name}`, async () => {
      const ids = drivers()
      const before = await offlineState()
      const error = await store
        .push({ pushSourceName: c.pushSource, df: (c.sdkDf ?? c.df)(ids), to: 'online_and_offline' })
        .then(
          () => undefined,
          (e: unknown) => e,
        )
      expect(isLarderError(error), String(error)).toBe(true)
      expect(error).toMatchObject({
        code: 'INVALID_ARGUMENT',
        details: { view: c.view, column: c.column, row: 1 },
      })
      const message = (error as Error).message
      expect(message).toContain(`"${c.view}"`)
      expect(message).toContain(`"${c.column}"`)
      expect(message).toContain('row 1')
      expect(message).toMatch(c.detail)
      expect((error as { hint?: string }).hint).toBeTruthy()
      expect(await offlineState()).toEqual(before)
      expect(await onlineStatuses(ids)).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND'])
    })

    it(`over HTTP: ${c.name}`, async () => {
      const ids = drivers()
      const before = await offlineState()
      const res = await fetch(`${server.url}/push`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ push_source_name: c.pushSource, df: c.df(ids), to: 'online_and_offline' }),
      })
      const body = (await res.json()) as {
        error_type: string
        detail: string
        hint?: string
        details?: Record<string, unknown>
      }
      expect(res.status, JSON.stringify(body)).toBe(422)
      expect(body).toMatchObject({
        error_type: 'INVALID_ARGUMENT',
        details: { view: c.view, column: c.column, row: 1 },
      })
      expect(body.detail).toContain(`"${c.view}"`)
      expect(body.detail).toContain(`"${c.column}"`)
      expect(body.detail).toMatch(c.detail)
      expect(body.hint).toBeTruthy()
      expect(await offlineState()).toEqual(before)
      expect(await onlineStatuses(ids)).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND'])
    })
  }

  it('refuses the same values online only, offline only, and in write-to-online-store', async () => {
    const ids = drivers()
    const before = await offlineState()
    const huge = tripFrame(ids, { rating: 1e300 })
    for (const to of ['online', 'offline'] as const) {
      await expect(store.push({ pushSourceName: TRIP_PUSH, df: huge, to })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        details: { column: 'rating', row: 1 },
      })
    }
    await expect(
      store.writeToOfflineStore({ featureViewName: 'trip_events', df: huge }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { column: 'rating', row: 1 },
    })
    const res = await fetch(`${server.url}/write-to-online-store`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ feature_view_name: 'trip_events', df: huge }),
    })
    expect(res.status).toBe(422)
    expect(await res.json()).toMatchObject({ details: { view: 'trip_events', column: 'rating', row: 1 } })
    expect(await offlineState()).toEqual(before)
    expect(await onlineStatuses(ids)).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND'])
  })

  it('writes the same frames once the bad value is fixed: online and offline', async () => {
    const ids = drivers()
    const before = await offlineState()
    await store.push({
      pushSourceName: TRIP_PUSH,
      df: tripFrame(ids, { rating: 3e38 }),
      to: 'online_and_offline',
    })
    const res = await store.getOnlineFeatures({
      features: ['trip_events:rating'],
      entities: { driver_id: ids },
    })
    expect(res.results[1]!.statuses).toEqual(['PRESENT', 'PRESENT'])
    expect(res.results[1]!.values[1]).toBe(Math.fround(3e38))
    expect((await offlineState()).rows).toBe(before.rows + 2)
  })
})

describe('a client abort', () => {
  it('stops a push before its first write or not at all: never online without offline', async () => {
    const started = performance.now()
    await store.push({ pushSourceName: TRIP_PUSH, df: tripFrame(drivers()), to: 'online_and_offline' })
    const took = performance.now() - started
    let completed = 0
    let aborted = 0
    // aborts spread from the start of a push to past its usual end
    for (let step = 0; step < 40; step++) {
      const delay = (step / 40) * took * 1.5
      const ids = drivers()
      const before = await offlineState()
      const controller = new AbortController()
      const pushed = store.push(
        { pushSourceName: TRIP_PUSH, df: tripFrame(ids), to: 'online_and_offline' },
        { signal: controller.signal },
      )
      setTimeout(() => controller.abort(new Error('client went away')), delay)
      const outcome = await pushed.then(
        () => 'completed' as const,
        (e: unknown) => e,
      )
      const after = await offlineState()
      const statuses = await onlineStatuses(ids)
      const tripStatuses = statuses.slice(0, 2)
      if (outcome === 'completed') {
        completed++
        expect(tripStatuses).toEqual(['PRESENT', 'PRESENT'])
        expect(after.rows).toBe(before.rows + 2)
      } else {
        aborted++
        expect(outcome).toMatchObject({ code: 'ABORTED' })
        expect(tripStatuses).toEqual(['NOT_FOUND', 'NOT_FOUND'])
        expect(after).toEqual(before)
      }
    }
    // both outcomes happened, so the abort landed before and after the first write
    expect(completed).toBeGreaterThan(0)
    expect(aborted).toBeGreaterThan(0)
  }, 120_000)
})
