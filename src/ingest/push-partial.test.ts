// What a push to both destinations reports when the offline append fails after the online write: a
// repo with a PostgreSQL offline store (a real table whose deferred unique constraint is checked only at
// COMMIT, the one failure left once every value was checked) and a SQLite online store, through the SDK
// and over HTTP (the feature server in-process).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { isLarderError } from '../core/index.js'
import { FeatureStore } from '../feature-store.js'
import { findPgUser, PG_DATABASE, PG_HOST, PG_PORT, testSchema } from '../offline/__fixtures__/pg-server.js'
import { FeatureServer } from '../server/feature-server.js'
import { describeWithService } from '../testing/services.js'

const { user, unavailable } = await findPgUser()

const FEATURES = `
import { Entity, FeatureView, Field, Float64, Int64, PostgreSQLSource, PushSource } from 'larderjs'

export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
export const tripsSource = new PostgreSQLSource({ name: 'trips_source', table: 'trips', timestampField: 'event_timestamp' })
export const tripsPush = new PushSource({ name: 'trips_push', batchSource: tripsSource })
export const trips = new FeatureView({
  name: 'trips',
  entities: [driver],
  ttl: '1d',
  schema: [new Field({ name: 'rating', dtype: Float64 })],
  online: true,
  source: tripsPush,
})
`

describeWithService('a push whose offline commit fails after the online write', unavailable, () => {
  let db: Awaited<ReturnType<typeof testSchema>>
  let dir: string
  let store: FeatureStore
  let server: FeatureServer
  const at = new Date(Date.now() - 60_000).toISOString()

  beforeAll(async () => {
    db = await testSchema(user!, 'larder_push_partial')
    await db.client.query(
      `CREATE TABLE trips (driver_id bigint, event_timestamp timestamptz, rating double precision,
         CONSTRAINT trips_once UNIQUE (driver_id, event_timestamp) DEFERRABLE INITIALLY DEFERRED)`,
    )
    dir = mkdtempSync(join(tmpdir(), 'larder-push-partial-'))
    mkdirSync(join(dir, 'data'))
    writeFileSync(
      join(dir, 'feature_store.yaml'),
      [
        `project: ${db.schema}`,
        'registry: data/registry.db',
        'provider: local',
        'online_store:',
        '  type: sqlite',
        '  path: data/online.db',
        'offline_store:',
        '  type: postgres',
        `  host: ${PG_HOST}`,
        `  port: ${PG_PORT}`,
        `  database: ${PG_DATABASE}`,
        `  db_schema: ${db.schema}`,
        `  user: ${user}`,
        'entity_key_serialization_version: 3',
        '',
      ].join('\n'),
    )
    writeFileSync(join(dir, 'features.ts'), FEATURES)
    store = await FeatureStore.open(dir)
    await store.apply()
    server = new FeatureServer(store, { logger: pino({ level: 'silent' }), registryRefreshSeconds: 0 })
    // the row the failing pushes collide with
    await store.push({
      pushSourceName: 'trips_push',
      df: { driver_id: [1], event_timestamp: [at], rating: [0.5] },
      to: 'online_and_offline',
    })
  })

  afterAll(async () => {
    await server?.close()
    await store?.close()
    await db?.drop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  const rowsOffline = async () =>
    (await db.client.query('SELECT driver_id::int AS d FROM trips ORDER BY 1')).rows.map((r) => r.d as number)
  const online = async (ids: number[]) =>
    (await store.getOnlineFeatures({ features: ['trips:rating'], entities: { driver_id: ids } })).results[1]!

  it('through the SDK: says the rows were written online and not offline, and a retry of the fixed rows is safe', async () => {
    const error = await store
      .push({
        pushSourceName: 'trips_push',
        df: { driver_id: [2, 1], event_timestamp: [at, at], rating: [0.25, 0.75] },
        to: 'online_and_offline',
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(isLarderError(error), String(error)).toBe(true)
    expect(error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { written: { online: 2, offline: 0 }, views: { trips: { online: 2 } }, failed: 'offline' },
    })
    expect((error as Error).message).toMatch(/written online \(2 rows to "trips"\) but not appended offline/)
    expect((error as Error).message).toContain('trips_once')
    // exactly what the error says: online yes, offline no
    expect(await rowsOffline()).toEqual([1])
    expect((await online([2, 1])).values).toEqual([0.25, 0.75])
    // sending the new row again (without the duplicate) appends it once; the online value stays
    await store.push({
      pushSourceName: 'trips_push',
      df: { driver_id: [2], event_timestamp: [at], rating: [0.25] },
      to: 'online_and_offline',
    })
    expect(await rowsOffline()).toEqual([1, 2])
    expect((await online([2])).values).toEqual([0.25])
  })

  it('over HTTP: the error body lists what was written', async () => {
    const res = await server.app.request('/push', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        push_source_name: 'trips_push',
        df: { driver_id: [3, 1], event_timestamp: [at, at], rating: [0.125, 0.875] },
        to: 'online_and_offline',
      }),
    })
    const body = (await res.json()) as Record<string, unknown>
    expect(res.status, JSON.stringify(body)).toBe(422)
    expect(body).toMatchObject({
      error_type: 'INVALID_ARGUMENT',
      details: { written: { online: 2, offline: 0 }, views: { trips: { online: 2 } }, failed: 'offline' },
    })
    expect(body.hint).toMatch(/send the same rows again/)
    expect(await rowsOffline()).toEqual([1, 2])
    expect((await online([3])).statuses).toEqual(['PRESENT'])
  })

  it('a value the table refuses before the online write writes nothing anywhere', async () => {
    await db.client.query('ALTER TABLE trips ADD CONSTRAINT rating_range CHECK (rating <= 1)')
    try {
      const error = await store
        .push({
          pushSourceName: 'trips_push',
          df: { driver_id: [4, 5], event_timestamp: [at, at], rating: [0.5, 7] },
          to: 'online_and_offline',
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        )
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { view: 'trips', sqlState: '23514' } })
      expect((error as { details: Record<string, unknown> }).details.written).toBeUndefined()
      expect(await rowsOffline()).toEqual([1, 2])
      expect((await online([4, 5])).statuses).toEqual(['NOT_FOUND', 'NOT_FOUND'])
    } finally {
      await db.client.query('ALTER TABLE trips DROP CONSTRAINT rating_range')
    }
  })
})
