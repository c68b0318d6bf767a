import { fileURLToPath } from 'node:url'
import { createClient } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import type { OnlineStore } from '../online/online-store.js'
import type { TileStore } from '../online/tile-store.js'
import { redisUnavailable } from '../testing/probes.js'
import { describeWithService } from '../testing/services.js'
import { runStreamProcessor, type StreamProcessor, type StreamTarget } from './index.js'

const CORE = fileURLToPath(new URL('../core/index.ts', import.meta.url))

const definitions = (stream: string) => `import {
  Aggregation, Entity, Field, FileSource, Float64, Int64, RedisStreamSource, StreamFeatureView, String,
} from ${JSON.stringify(CORE)}
export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
export const tripsFile = new FileSource({ name: 'trips_file', path: 'data/trips', timestampField: 'event_timestamp' })
export const tripsStream = new RedisStreamSource({
  name: 'trips_stream', stream: ${JSON.stringify(stream)}, timestampField: 'event_timestamp', batchSource: tripsFile,
})
export const tripStats = new StreamFeatureView({
  name: 'trip_stats',
  source: tripsStream,
  entities: [driver],
  schema: [
    new Field({ name: 'driver_id', dtype: Int64 }),
    new Field({ name: 'fare', dtype: Float64 }),
    new Field({ name: 'city', dtype: String }),
  ],
  aggregations: [
    new Aggregation({ column: 'fare', function: 'sum', timeWindow: '1h' }),
    new Aggregation({ column: 'fare', function: 'count', timeWindow: '1h' }),
  ],
  transform: (e) => ({ fare: Number(e.fare) * 2 }),
  online: true,
  offline: true,
})
`

describeWithService(
  'the stream processor on a Redis stream',
  await redisUnavailable('127.0.0.1', 6379),
  () => {
    let repo: TestRepo
    let processor: StreamProcessor | undefined
    const stream = `larder-test-trips-${process.pid}-${Date.now()}`
    const redis = createClient({ url: 'redis://127.0.0.1:6379' })
    beforeAll(async () => {
      await redis.connect()
      repo = await createTestRepo({
        onlineStore: 'type: sqlite\npath: data/online.db',
        featuresFile: definitions(stream),
        prepare: async (dir) => {
          const { mkdirSync } = await import('node:fs')
          mkdirSync(`${dir}/data/trips`)
        },
      })
    })
    afterAll(async () => {
      await processor?.stop()
      await redis.del([stream, `${stream}:dead`])
      await redis.quit()
      await repo?.close()
    })

    it('writes latest values, tiles and offline rows, and dead-letters bad events', async () => {
      const now = Date.now()
      const iso = (ms: number) => new Date(ms).toISOString()
      await redis.xAdd(stream, '*', {
        driver_id: '1',
        event_timestamp: iso(now - 60_000),
        fare: '10',
        city: 'Lisbon',
      })
      await redis.xAdd(stream, '*', {
        driver_id: '1',
        event_timestamp: iso(now - 30_000),
        fare: '5',
        city: 'Porto',
      })
      await redis.xAdd(stream, '*', { driver_id: '2', fare: '5' })
      await redis.xAdd(stream, '*', { driver_id: 'x', event_timestamp: iso(now), fare: '5' })
      processor = await runStreamProcessor(repo.store, { member: 'test-1' })
      const read = async () =>
        repo.store.getOnlineFeatures({
          entities: { driver_id: [1] },
          features: [
            'trip_stats:fare',
            'trip_stats:city',
            'trip_stats:sum_fare_3600s',
            'trip_stats:count_fare_3600s',
          ],
        })
      for (let i = 0; i < 100; i++) {
        const r = await read()
        if (r.results[4]!.values[0] === 2) break
        await new Promise((r) => setTimeout(r, 100))
      }
      const r = await read()
      expect(r.results.slice(1).map((c) => c.values[0])).toEqual([10, 'Porto', 30, 2])
      // a batch's bad events are dead-lettered after its writes: wait until the batch is through
      for (let i = 0; i < 100; i++) {
        const [source] = processor.health().sources
        if (source!.events + source!.deadLettered === 4) break
        await new Promise((r) => setTimeout(r, 100))
      }
      const dead = await redis.xRange(`${stream}:dead`, '-', '+')
      expect(dead!).toHaveLength(2)
      expect(dead!.map((d) => d.message.reason).join('\n')).toMatch(/no timestamp field "event_timestamp"/)
      expect(processor.health().healthy).toBe(true)
      await processor.stop()
      processor = undefined
      const rows = await (
        await repo.store.getHistoricalFeatures({
          entities: [{ driver_id: 1, event_timestamp: iso(now + 1000) }],
          features: ['trip_stats:fare', 'trip_stats:sum_fare_3600s'],
        })
      ).toRows()
      expect(rows[0]).toMatchObject({ fare: 10, sum_fare_3600s: 30 })
    })

    it('writes one batch at a time in stream order, and a stop acknowledges every batch it read', async () => {
      const start = Date.now() - 10 * 60_000
      const multi = redis.multi()
      for (let i = 0; i < 600; i++) {
        multi.xAdd(stream, '*', {
          driver_id: String(1 + (i % 7)),
          event_timestamp: new Date(start + i).toISOString(),
          fare: '1',
          city: 'Faro',
        })
      }
      await multi.exec()
      const online = await repo.store.online()
      // each tile write takes a while, so a next batch read meanwhile would overlap it if allowed
      const calls: number[][] = []
      let active = 0
      let mostActive = 0
      let running: StreamProcessor | undefined
      let stopped: Promise<void> | undefined
      const slow = new Proxy(online, {
        get(store, prop) {
          if (prop === 'applyTiles') {
            return async (...args: Parameters<TileStore['applyTiles']>) => {
              active++
              mostActive = Math.max(mostActive, active)
              try {
                await new Promise((r) => setTimeout(r, 30))
                return await (store as OnlineStore & TileStore).applyTiles(...args)
              } finally {
                active--
                calls.push(args[1].map((w) => w.eventTs))
                if (calls.length === 3) stopped = running!.stop()
              }
            }
          }
          const value = Reflect.get(store, prop, store)
          return typeof value === 'function' ? value.bind(store) : value
        },
      })
      const target: StreamTarget = {
        config: { ...repo.store.config, streamProcessor: { batch_size: 40 } },
        registry: repo.store.registry,
        online: async () => slow,
        offline: () => repo.store.offline(),
        deployedStreamViews: () => repo.store.deployedStreamViews(),
      }
      running = await runStreamProcessor(target, { member: 'test-2' })
      await running.done
      await stopped
      expect(mostActive).toBe(1)
      const times = calls.flat()
      expect(times).toEqual([...times].sort((a, b) => a - b))
      expect(times.length).toBeGreaterThanOrEqual(3 * 40)
      // everything delivered to the group was written and acknowledged: nothing left pending
      const pending = await redis.xPending(stream, 'larder')
      expect(pending.pending).toBe(0)
      const [group] = (await redis.xInfoGroups(stream)).filter((g) => g.name === 'larder')
      const delivered = await redis.xRange(stream, '-', String(group!['last-delivered-id']))
      expect(times.length).toBe(delivered!.filter((e) => e.message.city === 'Faro').length)
    })
  },
)
