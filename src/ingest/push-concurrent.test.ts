// Two `larder serve` processes (the built CLI) on one `larder init` repo push many batches at once to one
// push source, online and offline: every acknowledged row must be online and offline exactly once, and
// the point-in-time join must read them. Once with the demo's single Parquet file (appends take a lock
// shared by the processes) and once with a directory of Parquet files (each append is a part file).
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FeatureStore } from '../feature-store.js'
import {
  type AppliedRepo,
  appliedRepo,
  type ServeProcess,
  startServe,
} from '../server/__fixtures__/serve-process.js'

const PUSH = 'driver_stats_push_source'
const BATCHES_PER_SERVER = 30
const ROWS_PER_BATCH = 20
const IN_FLIGHT_PER_SERVER = 4

interface Pushed {
  readonly driver: number
  readonly convRate: number
}

/** A batch of rows with driver ids unique to (server, batch) and conv_rate values exact in Float32. */
function batch(server: number, index: number): Pushed[] {
  return Array.from({ length: ROWS_PER_BATCH }, (_, i) => ({
    driver: 500_000 + server * 100_000 + index * 100 + i,
    convRate: ((index * ROWS_PER_BATCH + i) % 1024) / 1024,
  }))
}

async function pushAll(
  server: ServeProcess,
  serverIndex: number,
  at: string,
): Promise<{ acknowledged: Pushed[]; failures: string[] }> {
  const acknowledged: Pushed[] = []
  const failures: string[] = []
  let next = 0
  const worker = async () => {
    while (next < BATCHES_PER_SERVER) {
      const rows = batch(serverIndex, next++)
      const res = await fetch(`${server.url}/push`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          push_source_name: PUSH,
          to: 'online_and_offline',
          df: {
            driver_id: rows.map((r) => r.driver),
            event_timestamp: rows.map(() => at),
            created: rows.map(() => at),
            conv_rate: rows.map((r) => r.convRate),
            acc_rate: rows.map(() => 0.5),
            avg_daily_trips: rows.map((r) => r.driver % 97),
          },
        }),
      })
      const text = await res.text()
      if (res.status === 200) acknowledged.push(...rows)
      else failures.push(`${res.status} ${text}`)
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT_PER_SERVER }, worker))
  return { acknowledged, failures }
}

/** Every row of the offline source as (driver_id, conv_rate), read by DuckDB from its files. */
async function offlineRows(pattern: string): Promise<{ driver: number; convRate: number }[]> {
  const instance = await DuckDBInstance.create(':memory:')
  const db = await instance.connect()
  try {
    const reader = await db.runAndReadAll(
      `SELECT driver_id::BIGINT, conv_rate::DOUBLE FROM read_parquet('${pattern.replaceAll("'", "''")}', union_by_name = true) WHERE driver_id >= 500000`,
    )
    return reader.getRows().map((r) => ({ driver: Number(r[0]), convRate: Number(r[1]) }))
  } finally {
    db.closeSync()
    instance.closeSync()
  }
}

function describeConcurrentPushes(kind: 'file' | 'directory') {
  describe(`two servers pushing to one ${kind} source`, () => {
    let repo: AppliedRepo
    let servers: ServeProcess[] = []
    let pattern: string

    beforeAll(async () => {
      repo = await appliedRepo()
      pattern = join(repo.dir, 'data', 'driver_stats.parquet')
      if (kind === 'directory') {
        const dir = join(repo.dir, 'data', 'driver_stats')
        mkdirSync(dir)
        renameSync(pattern, join(dir, 'part-0.parquet'))
        const features = join(repo.dir, 'features.ts')
        writeFileSync(
          features,
          readFileSync(features, 'utf8').replace("'data/driver_stats.parquet'", "'data/driver_stats'"),
        )
        const store = await FeatureStore.open(repo.dir)
        await store.apply()
        await store.close()
        pattern = join(dir, '*.parquet')
      }
      servers = await Promise.all([startServe(repo.dir), startServe(repo.dir)])
    }, 60_000)

    afterAll(async () => {
      await Promise.all(servers.map((s) => s.stop('SIGKILL')))
      repo?.remove()
    })

    it('keeps every acknowledged row online and offline exactly once', async () => {
      const at = new Date(Date.now() - 60_000).toISOString()
      const results = await Promise.all(servers.map((s, i) => pushAll(s, i, at)))
      const failures = results.flatMap((r) => r.failures)
      expect(failures, failures.slice(0, 3).join('\n')).toEqual([])
      const acknowledged = results.flatMap((r) => r.acknowledged)
      expect(acknowledged).toHaveLength(2 * BATCHES_PER_SERVER * ROWS_PER_BATCH)

      // offline: exactly the acknowledged rows, none lost, none twice
      const offline = await offlineRows(pattern)
      const counts = new Map<number, number>()
      for (const r of offline) counts.set(r.driver, (counts.get(r.driver) ?? 0) + 1)
      const expected = new Map(acknowledged.map((r) => [r.driver, r.convRate]))
      expect([...counts.keys()].sort((x, y) => x - y)).toEqual([...expected.keys()].sort((x, y) => x - y))
      expect([...counts.values()].every((n) => n === 1)).toBe(true)
      for (const r of offline) expect(r.convRate).toBe(expected.get(r.driver))
      if (kind === 'directory') {
        const files = readdirSync(join(repo.dir, 'data', 'driver_stats'))
        // the sample file plus one part file per acknowledged batch; no temporary file left behind
        expect(files.filter((f) => f.endsWith('.parquet'))).toHaveLength(1 + 2 * BATCHES_PER_SERVER)
        expect(files.filter((f) => !f.endsWith('.parquet'))).toEqual([])
      } else {
        expect(
          readdirSync(join(repo.dir, 'data')).filter((f) => f.includes('driver_stats.parquet.')),
        ).toEqual([])
      }

      const store = await FeatureStore.open(repo.dir)
      try {
        // online: every acknowledged row, with its value
        const drivers = [...expected.keys()]
        const online = await store.getOnlineFeatures({
          features: ['driver_hourly_stats_fresh:conv_rate'],
          entities: { driver_id: drivers },
        })
        expect(online.results[1]!.statuses.every((s) => s === 'PRESENT')).toBe(true)
        expect(online.results[1]!.values).toEqual(drivers.map((d) => expected.get(d)))

        // training data: the point-in-time join reads the appended rows
        const sample = drivers.filter((_, i) => i % 37 === 0)
        const job = await store.getHistoricalFeatures({
          entities: sample.map((driver_id) => ({ driver_id, event_timestamp: new Date() })),
          features: ['driver_hourly_stats:conv_rate'],
        })
        const rows = await job.toRows()
        expect(new Map(rows.map((r) => [Number(r.driver_id), r.conv_rate]))).toEqual(
          new Map(sample.map((d) => [d, expected.get(d)])),
        )
      } finally {
        await store.close()
      }
    }, 240_000)
  })
}

describeConcurrentPushes('file')
describeConcurrentPushes('directory')
