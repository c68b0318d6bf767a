// `auth.type: kubernetes`: bearer tokens reviewed by a Kubernetes API server (a local HTTPS stand-in
// with its own CA, `__fixtures__/test-kube-api.ts`, that checks every request's shape), users and
// groups from the TokenReview, roles from RoleBindings and ClusterRoleBindings as Feast reads them,
// and Feast's permissions (NamespaceBasedPolicy, RoleBasedPolicy) enforced on REST and gRPC.
import { appendFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LarderClient } from '../../client/index.js'
import { parseRepoConfig } from '../../config/index.js'
import { FeatureStore } from '../../feature-store.js'
import { type GrpcListening, listenGrpc, servingRoutes } from '../../grpc/index.js'
import { type AppliedRepo, appliedRepo } from '../__fixtures__/serve-process.js'
import { FeatureServer } from '../feature-server.js'
import { TestKubeApi } from './__fixtures__/test-kube-api.js'
import { kubeApiServerUrl } from './kube-api.js'
import { createServerAuth } from './server-auth.js'

const PROD_DASHBOARD = 'sa-token-of-ml-prod-dashboard'
const PROD_INGEST = 'sa-token-of-ml-prod-ingest'
const DEV_NOTEBOOK = 'sa-token-of-ml-dev-notebook'
const ADA = 'user-token-of-ada'

/** Namespace ml-prod reads online and describes; only the role feature-writer writes. */
const PERMISSIONS = `import { NamespaceBasedPolicy, Permission, READ, RoleBasedPolicy } from 'larderjs'

export const prodReaders = new Permission({
  name: 'prod-readers',
  types: ['FEATURE_VIEW', 'FEATURE_SERVICE', 'PROJECT'],
  actions: ['DESCRIBE', ...READ],
  policy: new NamespaceBasedPolicy({ namespaces: ['ml-prod'] }),
})

export const writers = new Permission({
  name: 'writers',
  types: ['FEATURE_VIEW'],
  actions: ['WRITE_ONLINE', 'WRITE_OFFLINE'],
  policy: new RoleBasedPolicy({ roles: ['feature-writer'] }),
})
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

let api: TestKubeApi
let repo: AppliedRepo
let store: FeatureStore

/** The `auth:` block trusting `api`, with more YAML lines in `extra`. */
function authBlock(url: string, extra: readonly string[] = []): string {
  return [
    'auth:',
    '  type: kubernetes',
    `  api_server_url: ${url}`,
    `  service_account_token_path: ${api.callerTokenPath}`,
    `  ca_cert_path: ${api.caPath}`,
    '  namespace: larder',
    ...extra.map((l) => `  ${l}`),
    '',
  ].join('\n')
}

function authOf(url: string, extra: readonly string[] = []) {
  return parseRepoConfig(`project: demo\n${authBlock(url, extra)}`, repo.dir).auth
}

beforeAll(async () => {
  api = await TestKubeApi.start()
  const sa = (ns: string, name: string) => ({
    username: `system:serviceaccount:${ns}:${name}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
  })
  api.users.set(PROD_DASHBOARD, sa('ml-prod', 'dashboard'))
  api.users.set(PROD_INGEST, sa('ml-prod', 'ingest'))
  api.users.set(DEV_NOTEBOOK, sa('ml-dev', 'notebook'))
  api.users.set(ADA, { username: 'ada@example.com', groups: ['data-team', 'system:authenticated'] })
  api.bindings.push(
    // in the server's namespace: ingest of ml-prod writes; a same-named account of ml-dev is not it
    {
      name: 'ingest-writes',
      namespace: 'larder',
      role: 'feature-writer',
      subjects: [
        { kind: 'ServiceAccount', name: 'ingest', namespace: 'ml-prod' },
        { kind: 'ServiceAccount', name: 'dashboard', namespace: 'ml-dev' },
      ],
    },
    // another namespace's bindings give a ServiceAccount nothing here (Feast reads its own namespace)
    {
      name: 'elsewhere',
      namespace: 'ml-prod',
      role: 'ignored-role',
      subjects: [{ kind: 'ServiceAccount', name: 'dashboard' }],
    },
    {
      name: 'dashboards-view',
      role: 'feature-viewer',
      subjects: [{ kind: 'ServiceAccount', name: 'dashboard', namespace: 'ml-prod' }],
    },
    { name: 'data-team-writes', role: 'feature-writer', subjects: [{ kind: 'Group', name: 'data-team' }] },
    {
      name: 'ada-admin',
      namespace: 'ml-dev',
      role: 'admin',
      subjects: [{ kind: 'User', name: 'ada@example.com' }],
    },
  )
  repo = await appliedRepo()
  writeFileSync(join(repo.dir, 'permissions.ts'), PERMISSIONS)
  appendFileSync(join(repo.dir, 'feature_store.yaml'), authBlock(api.url))
  store = await FeatureStore.open(repo.dir)
  await store.apply()
}, 60_000)
afterAll(async () => {
  await store?.close()
  repo?.remove()
  await api?.close()
})

describe('the TokenReview authenticator', () => {
  const headers = (token: string) => new Headers({ authorization: `Bearer ${token}` })

  it('makes a ServiceAccount <ns>:<name> with its namespace, groups and roles as Feast does', async () => {
    const { authenticator } = createServerAuth(authOf(api.url))
    expect(authenticator.type).toBe('kubernetes')
    expect(await authenticator.authenticate(headers(PROD_DASHBOARD))).toEqual({
      name: 'ml-prod:dashboard',
      roles: ['feature-viewer'],
      groups: ['system:authenticated', 'system:serviceaccounts', 'system:serviceaccounts:ml-prod'],
      namespaces: ['ml-prod'],
      kind: 'kubernetes',
    })
    expect((await authenticator.authenticate(headers(PROD_INGEST))).roles).toEqual(['feature-writer'])
    expect(await authenticator.authenticate(headers(DEV_NOTEBOOK))).toMatchObject({
      name: 'ml-dev:notebook',
      roles: [],
      namespaces: ['ml-dev'],
    })
  })

  it('gives a user the roles bound to it or its groups, in any namespace', async () => {
    const { authenticator } = createServerAuth(authOf(api.url))
    expect(await authenticator.authenticate(headers(ADA))).toEqual({
      name: 'ada@example.com',
      roles: ['admin', 'feature-writer'],
      groups: ['data-team', 'system:authenticated'],
      namespaces: [],
      kind: 'kubernetes',
    })
  })

  it('reviews a token once while it is cached, again when the cache is off or full', async () => {
    const reviews = () => api.calls.filter((c) => c.startsWith('POST')).length
    const cached = createServerAuth(authOf(api.url)).authenticator
    let before = reviews()
    await Promise.all([1, 2, 3].map(() => cached.authenticate(headers(PROD_DASHBOARD))))
    await cached.authenticate(headers(PROD_DASHBOARD))
    expect(reviews() - before).toBe(1)

    const uncached = createServerAuth(authOf(api.url, ['review_cache_seconds: 0'])).authenticator
    before = reviews()
    await uncached.authenticate(headers(PROD_DASHBOARD))
    await uncached.authenticate(headers(PROD_DASHBOARD))
    expect(reviews() - before).toBe(2)

    const small = createServerAuth(authOf(api.url, ['review_cache_size: 1'])).authenticator
    before = reviews()
    for (const token of [PROD_DASHBOARD, PROD_INGEST, PROD_DASHBOARD, PROD_INGEST]) {
      await small.authenticate(headers(token))
    }
    expect(reviews() - before).toBe(4)
    await small.authenticate(headers(PROD_INGEST))
    expect(reviews() - before).toBe(4)
  })

  it('refuses a token the API server does not authenticate, and caches no refusal', async () => {
    const { authenticator } = createServerAuth(authOf(api.url))
    for (let i = 0; i < 2; i++) {
      await expect(authenticator.authenticate(headers('not-a-token-of-this-cluster'))).rejects.toMatchObject({
        code: 'UNAUTHENTICATED',
        message:
          'the Kubernetes API server did not authenticate the bearer token: [invalid bearer token, token lookup failed]',
        details: { reason: 'unknown_token' },
      })
    }
  })

  it('finds the API server as Kubernetes clients do', () => {
    const settings = authOf(api.url).kubernetes!
    const inPod = { ...settings, apiServerUrl: undefined }
    expect(kubeApiServerUrl(inPod, {})).toBe('https://kubernetes.default.svc')
    expect(
      kubeApiServerUrl(inPod, { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '6443' }),
    ).toBe('https://10.0.0.1:6443')
    expect(kubeApiServerUrl(inPod, { KUBERNETES_SERVICE_HOST: 'fd00::1' })).toBe('https://[fd00::1]:443')
    expect(kubeApiServerUrl(settings, { KUBERNETES_SERVICE_HOST: '10.0.0.1' })).toBe(api.url)
  })

  it('stops a server at startup without its ServiceAccount token or the CA, naming the key', () => {
    expect(() =>
      createServerAuth(
        parseRepoConfig(
          `project: demo\nauth:\n  type: kubernetes\n  service_account_token_path: no-token\n  ca_cert_path: ${api.caPath}\n`,
          repo.dir,
        ).auth,
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        message: `auth type kubernetes: cannot read the server's ServiceAccount token ${join(repo.dir, 'no-token')}`,
      }),
    )
    expect(() =>
      createServerAuth(
        parseRepoConfig(
          `project: demo\nauth:\n  type: kubernetes\n  service_account_token_path: ${api.callerTokenPath}\n  ca_cert_path: no-ca.pem\n`,
          repo.dir,
        ).auth,
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        message: `auth type kubernetes: cannot read the API server's CA bundle ${join(repo.dir, 'no-ca.pem')}`,
      }),
    )
  })
})

describe('a feature server with kubernetes auth, on REST and gRPC', () => {
  let server: FeatureServer
  let grpc: GrpcListening
  beforeAll(async () => {
    server = new FeatureServer(store, {
      logger: pino({ level: 'silent' }),
      registryRefreshSeconds: 0,
      auth: createServerAuth(store.config.auth, { permissions: () => server.registry.load() }),
    })
    grpc = await listenGrpc(
      servingRoutes(
        server.target,
        'test',
        createServerAuth(store.config.auth, { permissions: () => server.registry.load() }),
      ),
      { port: 0 },
    )
  })
  afterAll(async () => {
    await grpc?.close()
    await server?.close()
  })

  async function call(path: string, token: string | undefined, body: unknown) {
    const res = await server.app.request(path, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }

  it('lets ml-prod read by its namespace, and only the bound writer push (REST)', async () => {
    expect((await call('/get-online-features', PROD_DASHBOARD, read)).status).toBe(200)
    const refused = await call('/push', PROD_DASHBOARD, push)
    expect(refused.status).toBe(403)
    expect(refused.body.detail).toContain('principal "ml-prod:dashboard" may not WRITE_ONLINE')
    expect((await call('/push', PROD_INGEST, push)).status).toBe(200)
    const dev = await call('/get-online-features', DEV_NOTEBOOK, read)
    expect(dev.status).toBe(403)
    expect(dev.body.detail).toContain('principal "ml-dev:notebook" may not READ_ONLINE')
  })

  it('answers 401 without a token and for a token the cluster does not know (REST)', async () => {
    expect(await call('/get-online-features', undefined, read)).toMatchObject({
      status: 401,
      body: { error_type: 'UNAUTHENTICATED', details: { reason: 'no_token' } },
    })
    expect(await call('/get-online-features', 'stolen-or-made-up', read)).toMatchObject({
      status: 401,
      body: {
        error_type: 'UNAUTHENTICATED',
        detail: expect.stringContaining('the Kubernetes API server did not authenticate the bearer token'),
        details: { reason: 'unknown_token' },
      },
    })
  })

  it('does the same over gRPC', async () => {
    const client = (token?: string) =>
      new LarderClient(grpc.url, { protocol: 'grpc', ...(token === undefined ? {} : { token }) })
    expect((await client(PROD_DASHBOARD).getOnlineFeatures(read)).metadata.featureNames).toEqual([
      'driver_id',
      'conv_rate',
    ])
    await expect(client(DEV_NOTEBOOK).getOnlineFeatures(read)).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    })
    await expect(client('stolen-or-made-up').getOnlineFeatures(read)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      message: expect.stringContaining('the Kubernetes API server did not authenticate the bearer token'),
    })
    await expect(client().getOnlineFeatures(read)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
  })

  it('answers 503 naming the API server, never its address, when it is down (REST and gRPC)', async () => {
    const closed = await closedPort()
    const down = `https://127.0.0.1:${closed}`
    const logged: unknown[] = []
    const auth = createServerAuth(authOf(down), { permissions: () => server.registry.load() })
    const offline = new FeatureServer(store, {
      logger: pino({ level: 'error' }, { write: (line: string) => void logged.push(JSON.parse(line)) }),
      registryRefreshSeconds: 0,
      auth,
    })
    const offlineGrpc = await listenGrpc(servingRoutes(offline.target, 'test', auth), { port: 0 })
    try {
      const res = await offline.app.request('/get-online-features', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${PROD_DASHBOARD}` },
        body: JSON.stringify(read),
      })
      expect(res.status).toBe(503)
      const body = (await res.json()) as Record<string, unknown>
      expect(body).toMatchObject({
        error_type: 'BACKEND_UNAVAILABLE',
        detail: 'the Kubernetes API server is unavailable',
        details: { backend: 'the Kubernetes API server' },
      })
      expect(JSON.stringify(body)).not.toContain(String(closed))
      expect(JSON.stringify(logged)).toContain(
        `the Kubernetes API server at ${down}: POST /apis/authentication.k8s.io/v1/tokenreviews failed: ECONNREFUSED`,
      )
      const grpcCall = new LarderClient(offlineGrpc.url, {
        protocol: 'grpc',
        token: PROD_DASHBOARD,
      }).getOnlineFeatures(read)
      await expect(grpcCall).rejects.toMatchObject({
        code: 'BACKEND_UNAVAILABLE',
        message: 'the Kubernetes API server is unavailable',
      })
    } finally {
      await offlineGrpc.close()
      await offline.close()
    }
  })

  it('sent every request to the API server in the shape it takes', () => {
    expect(api.refused).toEqual([])
    expect(new Set(api.calls)).toEqual(
      new Set([
        'POST /apis/authentication.k8s.io/v1/tokenreviews',
        'GET /apis/rbac.authorization.k8s.io/v1/namespaces/larder/rolebindings',
        'GET /apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
        'GET /apis/rbac.authorization.k8s.io/v1/rolebindings',
      ]),
    )
  })
})

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as { port: number }
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}
