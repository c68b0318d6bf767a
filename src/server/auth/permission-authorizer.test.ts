// Feast's permissions enforced by the servers, end to end: a `larder init` repo with permissions.ts
// (imported from 'larderjs'), applied, served with static tokens of two roles (and a third principal no
// permission names). In process through the feature server's app, then as real `larder serve` and
// `larder serve-registry` processes (HTTP, gRPC, the registry's REST API and gRPC service).
import { appendFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LarderClient } from '../../client/index.js'
import { parseRepoConfig } from '../../config/index.js'
import { allowAllAuthorizer } from '../../core/index.js'
import { FeatureStore } from '../../feature-store.js'
import { RemoteRegistry } from '../../registry/remote/index.js'
import { startServeRegistry } from '../../registry-server/__fixtures__/serve-registry-process.js'
import { type AppliedRepo, appliedRepo, startServe } from '../__fixtures__/serve-process.js'
import { FeatureServer } from '../feature-server.js'
import { tokenSha256 } from './__fixtures__/test-idp.js'
import { PermissionAuthorizer } from './permission-authorizer.js'
import { createServerAuth } from './server-auth.js'

const READER = 'token-of-the-dashboard-with-role-reader'
const WRITER = 'token-of-the-ingest-job-with-role-writer'
const GUEST = 'token-of-a-guest-no-permission-names'

/** Readers and writers read online and describe views, services and the project; only writers write. */
const PERMISSIONS = `import { Permission, READ, RoleBasedPolicy } from 'larderjs'

export const onlineReaders = new Permission({
  name: 'online-readers',
  types: ['FEATURE_VIEW', 'FEATURE_SERVICE', 'PROJECT'],
  actions: ['DESCRIBE', ...READ],
  policy: new RoleBasedPolicy({ roles: ['reader', 'writer'] }),
})

export const writers = new Permission({
  name: 'writers',
  types: ['FEATURE_VIEW'],
  actions: ['WRITE_ONLINE', 'WRITE_OFFLINE'],
  policy: new RoleBasedPolicy({ roles: ['writer'] }),
})
`

const AUTH = `auth:
  type: static
  static_tokens:
    - { name: dashboard, token_sha256: ${tokenSha256(READER)}, roles: [reader] }
    - { name: ingest-job, token_sha256: ${tokenSha256(WRITER)}, roles: [writer] }
    - { name: guest, token_sha256: ${tokenSha256(GUEST)}, roles: [guest] }
`

const read = { features: ['driver_hourly_stats:conv_rate'], entities: { driver_id: [1001] } }
const push = {
  push_source_name: 'driver_stats_push_source',
  df: {
    driver_id: [1001],
    event_timestamp: ['2026-11-22T10:00:00Z'],
    created: ['2026-11-22T10:00:00Z'],
    conv_rate: [0.5],
    acc_rate: [0.25],
    avg_daily_trips: [10],
  },
}

let repo: AppliedRepo
let store: FeatureStore

beforeAll(async () => {
  repo = await appliedRepo()
  writeFileSync(join(repo.dir, 'permissions.ts'), PERMISSIONS)
  appendFileSync(join(repo.dir, 'feature_store.yaml'), AUTH)
  store = await FeatureStore.open(repo.dir)
  const plan = await store.apply()
  expect(plan.changes.filter((c) => c.kind === 'permission')).toEqual([
    { kind: 'permission', name: 'online-readers', action: 'create', changedFields: [] },
    { kind: 'permission', name: 'writers', action: 'create', changedFields: [] },
  ])
}, 60_000)
afterAll(async () => {
  await store?.close()
  repo?.remove()
})

async function call(server: FeatureServer, path: string, token: string, body?: unknown) {
  const res = await server.app.request(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

describe('the feature server with permissions (in process)', () => {
  let server: FeatureServer
  beforeAll(() => {
    server = new FeatureServer(store, {
      logger: pino({ level: 'silent' }),
      registryRefreshSeconds: 0,
      auth: createServerAuth(store.config.auth, { permissions: () => server.registry.load() }),
    })
  })
  afterAll(async () => {
    await server?.close()
  })

  it('lets the reader read online but answers 403 to its push, naming principal, action and object', async () => {
    expect((await call(server, '/get-online-features', READER, read)).status).toBe(200)
    const refused = await call(server, '/push', READER, push)
    expect(refused.status).toBe(403)
    expect(refused.body).toMatchObject({
      status_code: 403,
      error_type: 'PERMISSION_DENIED',
      details: {
        principal: 'dashboard',
        action: 'WRITE_ONLINE',
        object: { type: 'FEATURE_VIEW', name: 'driver_hourly_stats_fresh', project: repo.project },
        permissions: ['writers'],
      },
    })
    expect(refused.body.detail).toBe(
      `principal "dashboard" may not WRITE_ONLINE on feature view "driver_hourly_stats_fresh" (FEATURE_VIEW) in project "${repo.project}": permission "writers" requires one of the roles writer; "dashboard" has roles reader`,
    )
  })

  it('lets the writer push, and refuses everything to a principal no permission names', async () => {
    expect((await call(server, '/push', WRITER, push)).status).toBe(200)
    const guest = await call(server, '/get-online-features', GUEST, read)
    expect(guest.status).toBe(403)
    expect(guest.body.detail).toContain(
      'principal "guest" may not READ_ONLINE on feature view "driver_hourly_stats"',
    )
  })

  it('filters registry lists to what the caller may describe, and refuses what none covers', async () => {
    const views = await call(server, `/api/v1/feature_views?project=${repo.project}`, READER)
    expect(views.status).toBe(200)
    expect(JSON.stringify(views.body)).toContain('"driver_hourly_stats"')
    const entities = await call(server, `/api/v1/entities?project=${repo.project}`, READER)
    expect(entities.status).toBe(200)
    expect(entities.body.entities).toEqual([])
    const one = await call(server, `/api/v1/entities/driver?project=${repo.project}`, READER)
    expect(one.status).toBe(403)
    expect(one.body.detail).toContain('may not DESCRIBE on entity "driver" (ENTITY)')
    expect(one.body.detail).toContain('no permission covers DESCRIBE on it')
  })

  it('follows the registry: a permission applied is enforced once the server reloads', async () => {
    writeFileSync(
      join(repo.dir, 'fresh-pushers.ts'),
      `import { Permission, RoleBasedPolicy } from 'larderjs'
export const freshPushers = new Permission({
  name: 'fresh-pushers',
  types: ['FEATURE_VIEW'],
  namePatterns: ['.*_fresh'],
  actions: ['WRITE_ONLINE'],
  policy: new RoleBasedPolicy({ roles: ['reader'] }),
})
`,
    )
    await store.apply()
    expect((await call(server, '/push', READER, push)).status).toBe(403)
    expect((await call(server, '/registry/refresh', READER, {})).status).toBe(200)
    expect((await call(server, '/push', READER, push)).status).toBe(200)
    expect((await call(server, '/push', READER, { ...push, to: 'offline' })).status).toBe(403)
  })

  it('enforces nothing with no_auth, as Feast, and nothing without a registry to read', () => {
    const permissions = () => server.registry.load()
    const open = createServerAuth(parseRepoConfig('project: demo\n', repo.dir).auth, { permissions })
    expect(open.authorizer).toBe(allowAllAuthorizer)
    expect(createServerAuth(store.config.auth).authorizer).toBe(allowAllAuthorizer)
    expect(createServerAuth(store.config.auth, { permissions }).authorizer).toBeInstanceOf(
      PermissionAuthorizer,
    )
  })
})

describe('larder serve and serve-registry with permissions (processes)', () => {
  it('enforces them on HTTP and gRPC', async () => {
    const server = await startServe(repo.dir, ['--grpc-port', '0'])
    try {
      const post = (path: string, token: string, body: unknown) =>
        fetch(`${server.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      expect((await post('/get-online-features', READER, read)).status).toBe(200)
      const refused = await post('/push', READER, { ...push, to: 'offline' })
      expect(refused.status).toBe(403)
      expect(await refused.json()).toMatchObject({
        error_type: 'PERMISSION_DENIED',
        details: {
          action: 'WRITE_OFFLINE',
          object: { type: 'FEATURE_VIEW', name: 'driver_hourly_stats_fresh' },
        },
      })
      const grpc = (token: string) => new LarderClient(server.grpcUrl!, { protocol: 'grpc', token })
      expect((await grpc(READER).getOnlineFeatures(read)).metadata.featureNames).toEqual([
        'driver_id',
        'conv_rate',
      ])
      await expect(grpc(GUEST).getOnlineFeatures(read)).rejects.toMatchObject({ code: 'PERMISSION_DENIED' })
    } finally {
      await server.stop()
    }
  }, 60_000)

  it('enforces them on the registry server: lists filtered, a principal without DESCRIBE refused', async () => {
    const server = await startServeRegistry(repo.dir)
    try {
      const get = (path: string, token: string) =>
        fetch(`${server.restUrl}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } })
      const views = await get(`/feature_views?project=${repo.project}`, READER)
      expect(views.status).toBe(200)
      expect(JSON.stringify(await views.json())).toContain('"driver_hourly_stats"')
      expect(await (await get(`/entities?project=${repo.project}`, READER)).json()).toMatchObject({
        entities: [],
      })
      const remote = (token: string) =>
        RemoteRegistry.open({ address: server.grpcUrl, cacheTtlSeconds: 0, tokenProvider: async () => token })
      expect(
        (await remote(READER).load()).catalog(repo.project).featureViews.has('driver_hourly_stats'),
      ).toBe(true)
      await expect(remote(GUEST).load()).rejects.toMatchObject({ code: 'PERMISSION_DENIED' })
    } finally {
      await server.stop()
    }
  }, 60_000)
})
