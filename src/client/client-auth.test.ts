// Bearer tokens end to end: LarderClient (Connect protocol on the HTTP port, and gRPC on the gRPC
// port) and a plain gRPC client, against a feature server that checks real JWTs of a local provider.
import { Code, ConnectError, createClient } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuthObject, Authorizer, AuthzAction, LarderError, Principal } from '../core/index.js'
import { ServingService } from '../gen/feast/serving/ServingService_pb.js'
import { type GrpcListening, listenGrpc, servingFetchHandlers, servingRoutes } from '../grpc/index.js'
import { sampleData } from '../materialize/__fixtures__/driver-data.js'
import { createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import { oidcAuth, TestIdp } from '../server/auth/__fixtures__/test-idp.js'
import { FeatureServer, type Listening, listen } from '../server/index.js'
import { LarderClient } from './index.js'

const CI_TOKEN = 'ci-token-for-the-client-tests'
const request = { entities: { driver_id: [1001] }, features: ['driver_stats:conv_rate'] }

let idp: TestIdp
let repo: TestRepo
let server: FeatureServer
let http: Listening
let grpc: GrpcListening
const checks: { principal: Principal; action: AuthzAction; object: AuthObject }[] = []
/** Allows everything, recording each check. */
const recording: Authorizer = {
  authorize: (principal, action, object) => {
    checks.push({ principal, action, object })
  },
}

const token = (name = 'ada', expiresIn?: number) =>
  idp.sign({ preferred_username: name }, { audience: 'larder', expiresIn })

beforeAll(async () => {
  idp = await TestIdp.start()
  repo = await createTestRepo({ onlineStore: 'type: sqlite\npath: data/online.db', data: sampleData() })
  const auth = { ...oidcAuth(idp, CI_TOKEN), authorizer: recording }
  server = new FeatureServer(repo.store, {
    logger: pino({ level: 'silent' }),
    registryRefreshSeconds: 0,
    auth,
  })
  for (const h of servingFetchHandlers(server.target, '0.1.0', auth)) server.mount(h.path, h.fetch)
  http = await listen(server, { port: 0 })
  grpc = await listenGrpc(servingRoutes(server.target, '0.1.0', auth), { port: 0 })
})
afterAll(async () => {
  await grpc?.close()
  await http?.close()
  await repo?.close()
  await idp?.close()
})

describe.each(['connect', 'grpc'] as const)('LarderClient over %s', (protocol) => {
  const url = () => (protocol === 'grpc' ? grpc.url : http.url)

  it('reads with a token, and the server authorizes READ_ONLINE for its principal', async () => {
    const client = new LarderClient(url(), { protocol, token: await token() })
    checks.length = 0
    const res = await client.getOnlineFeatures(request)
    expect(res.metadata.featureNames).toEqual(['driver_id', 'conv_rate'])
    expect(checks.map((c) => [c.principal.name, c.action, c.object.type, c.object.name])).toEqual([
      ['ada', 'READ_ONLINE', 'FEATURE_VIEW', 'driver_stats'],
    ])
    expect(await client.version()).toBe('0.1.0')
  })

  it('asks the token provider before every call, so a rotated token is used at once', async () => {
    const given: string[] = []
    const client = new LarderClient(url(), {
      protocol,
      tokenProvider: async () => {
        const next = given.length === 0 ? await token('ada') : CI_TOKEN
        given.push(next)
        return next
      },
    })
    checks.length = 0
    await client.getOnlineFeatures(request)
    await client.getOnlineFeatures(request)
    expect(given).toHaveLength(2)
    expect(checks.map((c) => [c.principal.name, c.principal.kind])).toEqual([
      ['ada', 'oidc'],
      ['ci', 'token'],
    ])
  })

  it('raises UNAUTHENTICATED naming what is wrong: no token, an expired one', async () => {
    const none = await new LarderClient(url(), { protocol })
      .getOnlineFeatures(request)
      .catch((e: LarderError) => e)
    expect(none).toMatchObject({ name: 'LarderError', code: 'UNAUTHENTICATED' })
    expect((none as LarderError).message).toContain('no bearer token')
    const expired = await new LarderClient(url(), { protocol, token: await token('ada', -3600) })
      .version()
      .catch((e: LarderError) => e)
    expect(expired).toMatchObject({ code: 'UNAUTHENTICATED' })
    expect((expired as LarderError).message).toContain('the token expired at')
  })

  it('turns a failing token provider into UNAUTHENTICATED', async () => {
    const client = new LarderClient(url(), {
      protocol,
      tokenProvider: async () => {
        throw new Error('the vault is sealed')
      },
    })
    await expect(client.getOnlineFeatures(request)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      message: 'the token provider failed: the vault is sealed',
    })
  })
})

describe('LarderClient over REST', () => {
  it("sends the token with the jobs' REST calls", async () => {
    expect(await new LarderClient(http.url, { token: CI_TOKEN }).listJobs()).toEqual([])
    await expect(new LarderClient(http.url).listJobs()).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      hint: expect.stringContaining('Authorization: Bearer'),
    })
  })

  it('takes token or tokenProvider, not both', () => {
    expect(() => new LarderClient(http.url, { token: 'a', tokenProvider: async () => 'b' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    )
  })
})

describe("Feast's gRPC client", () => {
  it('is served with `authorization: Bearer` metadata, and refused UNAUTHENTICATED without', async () => {
    const client = createClient(ServingService, createGrpcTransport({ baseUrl: grpc.url }))
    const info = await client.getFeastServingInfo({}, { headers: { authorization: `Bearer ${CI_TOKEN}` } })
    expect(info.version).toBe('0.1.0')
    const e = await client.getFeastServingInfo({}).catch((err: unknown) => err)
    expect(e).toBeInstanceOf(ConnectError)
    expect((e as ConnectError).code).toBe(Code.Unauthenticated)
    expect((e as ConnectError).metadata.get('larder-error-code')).toBe('UNAUTHENTICATED')
    expect((e as ConnectError).rawMessage).toBe('no bearer token: the request has no Authorization header')
  })
})
