// The registry server with authentication: its gRPC service (Feast's RegistryServer, with the
// authorization hook's actions per call) and its REST API check real JWTs and static tokens; the
// remote registry client sends the token from feature_store.yaml's client-side auth keys.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create } from '@bufbuild/protobuf'
import { Code, ConnectError, createClient } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Authorizer, LarderError } from '../core/index.js'
import { FeatureStore } from '../feature-store.js'
import { EntitySchema } from '../gen/feast/core/Entity_pb.js'
import { RegistryServer } from '../gen/feast/registry/RegistryServer_pb.js'
import { ValueType_Enum } from '../gen/feast/types/Value_pb.js'
import { sampleData } from '../materialize/__fixtures__/driver-data.js'
import { createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import type { FileRegistry } from '../registry/index.js'
import { RemoteRegistry } from '../registry/remote/index.js'
import { oidcAuth, TestIdp } from '../server/auth/__fixtures__/test-idp.js'
import { type RegistryServerListening, startRegistryServer } from './registry-server.js'

const CI_TOKEN = 'ci-token-for-the-registry-server'

let idp: TestIdp
let repo: TestRepo
let server: RegistryServerListening
let ada: string
const checks: string[] = []
const denied = new Set<string>()
/** Records each check as `ACTION TYPE:name by principal`; refuses the `ACTION TYPE:name` in `denied`. */
const recording: Authorizer = {
  authorize(principal, action, object) {
    const check = `${action} ${object.type}:${object.name}`
    checks.push(`${check} by ${principal.name}`)
    if (denied.has(check)) throw new LarderError('PERMISSION_DENIED', `${principal.name} may not ${check}`)
  },
}

beforeAll(async () => {
  idp = await TestIdp.start()
  ada = await idp.sign({ preferred_username: 'ada' }, { audience: 'larder' })
  repo = await createTestRepo({ onlineStore: 'type: sqlite\npath: data/online.db', data: sampleData() })
  server = await startRegistryServer(repo.store.registry, {
    port: 0,
    restPort: 0,
    where: 'data/registry.db',
    auth: { ...oidcAuth(idp, CI_TOKEN), authorizer: recording },
  })
})
afterAll(async () => {
  await server?.close()
  await repo?.close()
  await idp?.close()
})

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

describe('the gRPC service', () => {
  const client = () => createClient(RegistryServer, createGrpcTransport({ baseUrl: server.grpcUrl }))

  it('refuses a call without a token, or with a bad one, as UNAUTHENTICATED', async () => {
    for (const options of [
      {},
      bearer('forged'),
      bearer(await idp.sign({ sub: 'x' }, { audience: 'nope' })),
    ]) {
      const e = await client()
        .listEntities({ project: repo.project }, options)
        .catch((err: unknown) => err)
      expect(e).toBeInstanceOf(ConnectError)
      expect((e as ConnectError).code).toBe(Code.Unauthenticated)
      expect((e as ConnectError).metadata.get('larder-error-code')).toBe('UNAUTHENTICATED')
    }
  })

  it('answers a JWT or a static token, checking DESCRIBE of each object it returns', async () => {
    checks.length = 0
    const listed = await client().listEntities({ project: repo.project }, bearer(ada))
    expect(listed.entities.map((e) => e.spec?.name).sort()).toEqual(['driver', 'rider'])
    expect(checks.sort()).toEqual(['DESCRIBE ENTITY:driver by ada', 'DESCRIBE ENTITY:rider by ada'])
    checks.length = 0
    const view = await client().getFeatureView(
      { name: 'driver_stats', project: repo.project },
      bearer(CI_TOKEN),
    )
    expect(view.spec?.name).toBe('driver_stats')
    expect(checks).toEqual(['DESCRIBE FEATURE_VIEW:driver_stats by ci'])
  })

  it('leaves out of a list what the principal may not describe, and refuses a get with PERMISSION_DENIED', async () => {
    denied.add('DESCRIBE ENTITY:rider')
    try {
      const listed = await client().listEntities({ project: repo.project }, bearer(ada))
      expect(listed.entities.map((e) => e.spec?.name)).toEqual(['driver'])
      const e = await client()
        .getEntity({ name: 'rider', project: repo.project }, bearer(ada))
        .catch((err: unknown) => err)
      expect((e as ConnectError).code).toBe(Code.PermissionDenied)
      expect((e as ConnectError).rawMessage).toBe('ada may not DESCRIBE ENTITY:rider')
    } finally {
      denied.clear()
    }
  })

  it('checks CREATE for a new object, UPDATE for an existing one, DELETE for a removal', async () => {
    const entity = (description: string) =>
      create(EntitySchema, {
        spec: {
          name: 'auth_probe',
          project: repo.project,
          joinKey: 'probe_id',
          valueType: ValueType_Enum.INT64,
          description,
        },
      })
    checks.length = 0
    await client().applyEntity(
      { entity: entity('one'), project: repo.project, commit: true },
      bearer(CI_TOKEN),
    )
    await client().applyEntity(
      { entity: entity('two'), project: repo.project, commit: true },
      bearer(CI_TOKEN),
    )
    await client().deleteEntity({ name: 'auth_probe', project: repo.project, commit: true }, bearer(CI_TOKEN))
    expect(checks).toEqual([
      'CREATE ENTITY:auth_probe by ci',
      'UPDATE ENTITY:auth_probe by ci',
      'DELETE ENTITY:auth_probe by ci',
    ])
    // the registry records the authenticated principal as who changed the object
    const stamps = JSON.parse(
      readFileSync((repo.store.registry as FileRegistry).changesPath, 'utf8'),
    ) as Record<string, { by: string }>
    const probe = Object.entries(stamps).find(([key]) => key.includes('auth_probe'))
    expect(probe?.[1].by).toBe('ci')
  })
})

describe('the REST API', () => {
  it('answers 401 with WWW-Authenticate without a token, and the objects with one', async () => {
    const url = `${server.restUrl}/api/v1/entities?project=${repo.project}`
    const refused = await fetch(url)
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="larder"')
    expect(await refused.json()).toMatchObject({
      status_code: 401,
      error_type: 'UNAUTHENTICATED',
      detail: 'no bearer token: the request has no Authorization header',
    })
    const served = await fetch(url, bearer(ada))
    expect(served.status).toBe(200)
    expect(((await served.json()) as { entities: unknown[] }).entities).toHaveLength(2)
  })
})

describe('the remote registry client', () => {
  it('sends the token of its provider with every call', async () => {
    let asked = 0
    const remote = RemoteRegistry.open({
      address: server.grpcUrl,
      cacheTtlSeconds: 0,
      tokenProvider: async () => {
        asked++
        return CI_TOKEN
      },
    })
    const state = await remote.load()
    expect(state.catalog(repo.project).featureViews.has('driver_stats')).toBe(true)
    await remote.load()
    expect(asked).toBe(2)
    const anonymous = RemoteRegistry.open({ address: server.grpcUrl, cacheTtlSeconds: 0 })
    await expect(anonymous.load()).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      message: 'no bearer token: the request has no Authorization header',
    })
  })

  describe('a repo with registry_type remote', () => {
    let dir: string
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'larder-remote-auth-'))
      writeFileSync(
        join(dir, 'feature_store.yaml'),
        [
          `project: ${repo.project}`,
          'registry:',
          '  registry_type: remote',
          `  path: ${server.grpcUrl}`,
          'auth:',
          '  type: oidc',
          '  token_env_var: LARDER_TEST_REGISTRY_TOKEN',
          '',
        ].join('\n'),
      )
    })
    afterAll(() => {
      delete process.env.LARDER_TEST_REGISTRY_TOKEN
      rmSync(dir, { recursive: true, force: true })
    })

    it("sends the token of feature_store.yaml's token_env_var, read at each call", async () => {
      const store = await FeatureStore.open(dir)
      try {
        await expect(store.listFeatureViews({ allowCache: false })).rejects.toMatchObject({
          code: 'UNAUTHENTICATED',
          message: 'auth.token_env_var names LARDER_TEST_REGISTRY_TOKEN, which is not set',
        })
        process.env.LARDER_TEST_REGISTRY_TOKEN = ada
        checks.length = 0
        const views = await store.listFeatureViews({ allowCache: false })
        expect(views.map((v) => v.name)).toContain('driver_stats')
        expect(checks.every((c) => c.endsWith('by ada'))).toBe(true)
        process.env.LARDER_TEST_REGISTRY_TOKEN = CI_TOKEN
        checks.length = 0
        await store.listFeatureViews({ allowCache: false })
        expect(checks.length).toBeGreaterThan(0)
        expect(checks.every((c) => c.endsWith('by ci'))).toBe(true)
      } finally {
        await store.close()
      }
    })
  })
})
