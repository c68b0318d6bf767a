// The registry REST API's `/api/v1/materialization_runs` (Larder's addition) and the freshness metric,
// both from the run history of a real materialization, in-process through `app.request`.
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { nowMicros, toMicros } from '../core/index.js'
import { at, sampleData } from '../materialize/__fixtures__/driver-data.js'
import { createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import { recordInterval } from '../materialize/record-interval.js'
import { FeatureServer } from './feature-server.js'

interface RunsBody {
  materializationRuns: Record<string, unknown>[]
  freshness: Record<string, { ageSeconds: number; timestamp: string; basis: string }>
}

describe('GET /api/v1/materialization_runs', () => {
  let repo: TestRepo
  let server: FeatureServer
  const get = async (path: string) => {
    const res = await server.app.request(path)
    return {
      status: res.status,
      body: (await res.json()) as RunsBody & { error_type?: string; detail?: string },
    }
  }

  beforeAll(async () => {
    repo = await createTestRepo({ onlineStore: 'type: sqlite\npath: data/online.db', data: sampleData() })
    await repo.store.materialize({ start: at(0), end: at(2), views: ['driver_stats'] })
    await repo.store.materialize({ start: at(2), end: at(4), views: ['driver_stats'] })
    // an interval without a run, as Feast or an older Larder records it
    await recordInterval(repo.store.registry, repo.project, 'rider_stats', {
      start: toMicros(at(0)),
      end: toMicros(at(4)),
    })
    server = new FeatureServer(repo.store, { logger: pino({ level: 'silent' }), registryRefreshSeconds: 0 })
  })
  afterAll(async () => {
    await server?.close()
    await repo?.close()
  })

  it("lists the project's runs newest first, by feature view and with a limit", async () => {
    const all = await get(`/api/v1/materialization_runs?project=${repo.project}`)
    expect(all.status).toBe(200)
    expect(all.body.materializationRuns.map((r) => [r.featureView, r.windowStart, r.windowEnd])).toEqual([
      ['driver_stats', at(2).replace('.000Z', 'Z'), at(4).replace('.000Z', 'Z')],
      ['driver_stats', at(0).replace('.000Z', 'Z'), at(2).replace('.000Z', 'Z')],
    ])
    // windows are inclusive: [2h, 4h] holds 1001 at 3h, 1002 at 2h, 1003 at 3h; [0h, 2h] 1001 at 1h, 1002 at 2h
    expect(all.body.materializationRuns[0]).toMatchObject({
      project: repo.project,
      status: 'succeeded',
      engine: 'local',
      rowsRead: 3,
      rowsWritten: 3,
      rowsSkipped: 0,
      newestEventTimestamp: at(3).replace('.000Z', 'Z'),
    })
    expect(all.body.materializationRuns[1]).toMatchObject({
      rowsRead: 2,
      newestEventTimestamp: at(2).replace('.000Z', 'Z'),
    })
    const limited = await get(
      `/api/v1/materialization_runs?project=${repo.project}&feature_view=driver_stats&limit=1`,
    )
    expect(limited.body.materializationRuns).toHaveLength(1)
    expect(limited.body.materializationRuns[0]!.windowEnd).toBe(at(4).replace('.000Z', 'Z'))
    expect(Object.keys(limited.body.freshness)).toEqual(['driver_stats'])
    const none = await get(`/api/v1/materialization_runs?project=${repo.project}&feature_view=rider_stats`)
    expect(none.body.materializationRuns).toEqual([])
  })

  it('gives each view the age of its newest event materialized, else of its last window end, as the metric does', async () => {
    const before = nowMicros()
    const { body } = await get(`/api/v1/materialization_runs?project=${repo.project}`)
    const metrics = await (await server.app.request('/metrics')).text()
    const after = nowMicros()
    expect(body.freshness.driver_stats).toMatchObject({
      basis: 'newestEvent',
      timestamp: at(3).replace('.000Z', 'Z'),
    })
    expect(body.freshness.rider_stats).toMatchObject({
      basis: 'windowEnd',
      timestamp: at(4).replace('.000Z', 'Z'),
    })
    expect(body.freshness.global_stats).toBeUndefined()
    const since = (micros: number) => [(before - micros) / 1e6, (after - micros) / 1e6] as const
    for (const [view, instant] of [
      ['driver_stats', toMicros(at(3))],
      ['rider_stats', toMicros(at(4))],
    ] as const) {
      const [low, high] = since(instant)
      expect(body.freshness[view]!.ageSeconds).toBeGreaterThanOrEqual(low)
      expect(body.freshness[view]!.ageSeconds).toBeLessThanOrEqual(high)
      const metric = new RegExp(
        `larder_feature_freshness_seconds\\{feature_view="${view}"\\} ([\\d.e+]+)`,
      ).exec(metrics)
      expect(metric, view).not.toBeNull()
      expect(Number(metric![1])).toBeGreaterThanOrEqual(low)
      expect(Number(metric![1])).toBeLessThanOrEqual(high)
    }
  })

  it('requires the project and a limit from 1 to 1000, and is in the OpenAPI document', async () => {
    const missing = await get('/api/v1/materialization_runs')
    expect(missing.status).toBe(422)
    expect(missing.body.detail).toContain('"project" is required')
    const zero = await get(`/api/v1/materialization_runs?project=${repo.project}&limit=0`)
    expect(zero.status).toBe(422)
    expect(zero.body.detail).toContain('"limit" must be an integer from 1 to 1000')
    const doc = (await (await server.app.request('/openapi.json')).json()) as {
      paths: Record<string, { get?: { parameters?: { name: string }[] } }>
    }
    const route = doc.paths['/api/v1/materialization_runs']?.get
    expect(route?.parameters?.map((p) => p.name).sort()).toEqual(['feature_view', 'limit', 'project'])
  })
})
