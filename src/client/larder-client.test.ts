// Remote reads against `larder serve` as a child process: Larder's client over the Connect protocol
// and over gRPC, and a plain gRPC client as a Feast client would call it, all compared with the
// in-process read of the same repo.
import { createClient } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type LarderError, ValueType } from '../core/index.js'
import { FeatureStore } from '../feature-store.js'
import { FieldStatus, ServingService } from '../gen/feast/serving/ServingService_pb.js'
import {
  type AppliedRepo,
  appliedRepo,
  type ServeProcess,
  startServe,
} from '../server/__fixtures__/serve-process.js'
import { freePort } from '../testing/services.js'
import { LarderClient } from './index.js'

const now = new Date()
let repo: AppliedRepo
let server: ServeProcess
let local: FeatureStore

beforeAll(async () => {
  repo = await appliedRepo({ now })
  server = await startServe(repo.dir, ['--grpc-port', '0'])
  const res = await fetch(`${server.url}/materialize-incremental`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ end_ts: now.toISOString() }),
  })
  expect(res.status, await res.text()).toBe(200)
  local = await FeatureStore.open(repo.dir)
})

afterAll(async () => {
  await local?.close()
  await server?.stop('SIGKILL')
  repo?.remove()
})

const requests = {
  features: {
    entities: { driver_id: [1001, 1002, 4242, 1001] },
    features: ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:avg_daily_trips'],
  },
  service: { entities: [{ driver_id: 1003 }], featureService: 'driver_activity_v2', fullFeatureNames: true },
} as const

describe.each(['connect', 'grpc'] as const)('LarderClient over %s', (protocol) => {
  const client = () => new LarderClient(protocol === 'grpc' ? server.grpcUrl! : server.url, { protocol })

  it('returns what the in-process read returns, for features and for a feature service', async () => {
    for (const request of Object.values(requests)) {
      const remote = await client().getOnlineFeatures(request)
      expect(remote).toEqual(await local.getOnlineFeatures(request))
    }
    const res = await client().getOnlineFeatures(requests.features)
    expect(res.metadata.featureNames).toEqual(['driver_id', 'conv_rate', 'avg_daily_trips'])
    expect(res.metadata.valueTypes).toEqual([ValueType.INT64, ValueType.FLOAT, ValueType.INT64])
    expect(res.results[1]!.statuses).toEqual(['PRESENT', 'PRESENT', 'NOT_FOUND', 'PRESENT'])
  })

  it("raises the server's LarderError with its code and hint", async () => {
    const unknown = await client()
      .getOnlineFeatures({ entities: { driver_id: [1] }, features: ['nope:x'] })
      .catch((e: LarderError) => e)
    expect(unknown).toMatchObject({ name: 'LarderError', code: 'NOT_FOUND' })
    expect((unknown as LarderError).message).toContain('feature view "nope" not found')
    expect((unknown as LarderError).hint).toMatch(/driver_hourly_stats/)
    const wrongType = await client()
      .getOnlineFeatures({ entities: { driver_id: ['abc'] }, features: ['driver_hourly_stats:conv_rate'] })
      .catch((e: LarderError) => e)
    expect(wrongType).toMatchObject({ name: 'LarderError', code: 'INVALID_ARGUMENT' })
    expect((wrongType as LarderError).message).toMatch(/driver_id/)
  })

  it('ignores extra context columns, and refuses them when strict', async () => {
    const request = {
      entities: { ...requests.features.entities, channel: ['app', 'web', 'app', 'web'] },
      features: requests.features.features,
    }
    expect(await client().getOnlineFeatures(request)).toEqual(
      await local.getOnlineFeatures(requests.features),
    )
    const strict = await client()
      .getOnlineFeatures(request, { strict: true })
      .catch((e: LarderError) => e)
    expect(strict).toMatchObject({ name: 'LarderError', code: 'INVALID_ARGUMENT' })
    expect((strict as LarderError).message).toContain('entity column "channel" is not a join key')
  })

  it('answers its version', async () => {
    const { version } = JSON.parse(
      await import('node:fs').then((fs) =>
        fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
      ),
    )
    expect(await client().version()).toBe(version)
  })
})

describe("Feast's ServingService over gRPC", () => {
  it('answers a plain gRPC client with typed values, numeric statuses and timestamps', async () => {
    const feast = createClient(ServingService, createGrpcTransport({ baseUrl: server.grpcUrl! }))
    const res = await feast.getOnlineFeatures({
      kind: { case: 'features', value: { val: ['driver_hourly_stats:conv_rate'] } },
      entities: {
        driver_id: {
          val: [{ val: { case: 'int64Val', value: 1001n } }, { val: { case: 'int64Val', value: 4242n } }],
        },
      },
    })
    expect(res.metadata?.featureNames?.val).toEqual(['driver_id', 'conv_rate'])
    const [keys, conv] = res.results
    expect(keys!.values.map((v) => v.val)).toEqual([
      { case: 'int64Val', value: 1001n },
      { case: 'int64Val', value: 4242n },
    ])
    expect(conv!.values[0]!.val.case).toBe('floatVal')
    expect(conv!.values[1]!.val.case).toBeUndefined()
    expect(conv!.statuses).toEqual([FieldStatus.PRESENT, FieldStatus.NOT_FOUND])
    const lastHour = BigInt(Math.floor(now.getTime() / 3_600_000) * 3600)
    expect(conv!.eventTimestamps[0]!.seconds).toBe(lastHour)
  })
})

describe("LarderClient's jobs (over the REST routes /jobs)", () => {
  const client = () => new LarderClient(server.url)

  it('returns the jobs FeatureStore returns, the server materialization of beforeAll among them', async () => {
    const remote = await client().listJobs()
    expect(remote).toEqual(await local.listJobs())
    expect(remote[0]).toMatchObject({
      kind: 'materialize-incremental',
      engine: 'local',
      status: 'succeeded',
      progress: { rowsDone: 10, rowsTotal: 10, tasksDone: 2, tasksTotal: 2 },
    })
    const id = remote[0]!.id
    expect(await client().getJob(id)).toEqual(await local.getJob(id))
    expect(await client().listJobs({ status: ['queued', 'running'] })).toEqual([])
    expect(await client().listJobs({ status: ['succeeded'], limit: 1 })).toEqual([remote[0]])
    // a finished job is returned as it is
    expect(await client().cancelJob(id)).toEqual(remote[0])
  })

  it("raises the server's NOT_FOUND and INVALID_ARGUMENT, and UNSUPPORTED over gRPC", async () => {
    const missing = await client()
      .getJob('no-such-job')
      .catch((e: LarderError) => e)
    expect(missing).toMatchObject({
      name: 'LarderError',
      code: 'NOT_FOUND',
      message: `job "no-such-job" not found in project "${repo.project}"`,
      hint: expect.stringContaining('newest jobs:'),
    })
    expect(
      await client()
        .cancelJob('no-such-job')
        .catch((e: LarderError) => e.code),
    ).toBe('NOT_FOUND')
    const limit = await client()
      .listJobs({ limit: 0 })
      .catch((e: LarderError) => e)
    expect(limit).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'query.limit' } })
    const grpc = await new LarderClient(server.grpcUrl!, { protocol: 'grpc' })
      .listJobs()
      .catch((e: LarderError) => e)
    expect(grpc).toMatchObject({ code: 'UNSUPPORTED', hint: expect.stringContaining('HTTP URL') })
  })
})

describe('LarderClient without a server', () => {
  it('fails with BACKEND_UNAVAILABLE naming the URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}`
    for (const call of [
      (c: LarderClient) => c.getOnlineFeatures(requests.features),
      (c: LarderClient) => c.listJobs(),
    ]) {
      const err = await call(new LarderClient(url, { timeoutMs: 2000 })).catch((e: LarderError) => e)
      expect(err).toMatchObject({ name: 'LarderError', code: 'BACKEND_UNAVAILABLE' })
      expect((err as LarderError).message).toContain(url)
    }
  })
})
