// `larder serve` and `larder serve-registry` as child processes with an `auth:` block: the servers
// take it from feature_store.yaml (HTTP, gRPC and the registry's two ports), say which auth they run,
// and stop at startup with a kubernetes block outside a pod (no ServiceAccount token to review with).
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LarderClient } from '../client/index.js'
import { RemoteRegistry } from '../registry/remote/index.js'
import { startServeRegistry } from '../registry-server/__fixtures__/serve-registry-process.js'
import { type AppliedRepo, appliedRepo, startServe } from '../server/__fixtures__/serve-process.js'
import { tokenSha256 } from '../server/auth/__fixtures__/test-idp.js'
import { larder } from './__fixtures__/run-larder.js'

const TOKEN = 'service-token-for-the-cli-servers'
const request = { entities: { driver_id: [1001] }, features: ['driver_hourly_stats:conv_rate'] }

let repo: AppliedRepo
beforeAll(async () => {
  repo = await appliedRepo()
  appendFileSync(
    join(repo.dir, 'feature_store.yaml'),
    `auth:\n  type: static\n  static_tokens:\n    - { name: svc, token_sha256: ${tokenSha256(TOKEN)}, roles: [reader] }\n`,
  )
})
afterAll(() => repo?.remove())

describe('larder serve with auth static', () => {
  it('checks tokens on HTTP and gRPC, leaves /health open, and logs the auth type', async () => {
    const server = await startServe(repo.dir, ['--grpc-port', '0'])
    try {
      expect(server.logs()[0]).toMatchObject({ msg: 'feature server listening', auth: 'static' })
      expect((await fetch(`${server.url}/health`)).status).toBe(200)
      const refused = await fetch(`${server.url}/get-online-features`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
      })
      expect(refused.status).toBe(401)
      for (const [url, protocol] of [
        [server.url, 'connect'],
        [server.grpcUrl!, 'grpc'],
      ] as const) {
        const res = await new LarderClient(url, { protocol, token: TOKEN }).getOnlineFeatures(request)
        expect(res.metadata.featureNames).toEqual(['driver_id', 'conv_rate'])
        await expect(new LarderClient(url, { protocol }).getOnlineFeatures(request)).rejects.toMatchObject({
          code: 'UNAUTHENTICATED',
        })
      }
      const served = server
        .logs()
        .filter((l) => l.msg === 'request' && String(l.route).startsWith('/feast.') && l.status === 200)
      expect(served.map((l) => l.principal)).toEqual(['svc'])
    } finally {
      await server.stop()
    }
  })
})

describe('larder serve-registry with auth static', () => {
  it('checks tokens on gRPC and REST', async () => {
    const server = await startServeRegistry(repo.dir)
    try {
      expect(server.logs()[0]).toMatchObject({ msg: 'registry server listening', auth: 'static' })
      const url = `${server.restUrl}/api/v1/feature_views?project=demo`
      expect((await fetch(url)).status).toBe(401)
      expect((await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200)
      const remote = RemoteRegistry.open({
        address: server.grpcUrl,
        cacheTtlSeconds: 0,
        tokenProvider: async () => TOKEN,
      })
      expect((await remote.load()).catalog('demo').featureViews.has('driver_hourly_stats')).toBe(true)
      await expect(
        RemoteRegistry.open({ address: server.grpcUrl, cacheTtlSeconds: 0 }).load(),
      ).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
    } finally {
      await server.stop()
    }
  })
})

describe('auth type kubernetes', () => {
  it('stops a server at startup outside a pod, naming the ServiceAccount token it needs', async () => {
    const config = join(repo.dir, 'feature_store.yaml')
    const original = readFileSync(config, 'utf8')
    writeFileSync(config, original.replace(/auth:\n(?: {2}.*\n)+/, 'auth:\n  type: kubernetes\n'))
    try {
      const result = await larder('-c', repo.dir, 'serve-registry', '--port', '0', '--no-rest')
      expect(result.code).not.toBe(0)
      expect(result.stderr).toContain(
        "auth type kubernetes: cannot read the server's ServiceAccount token /var/run/secrets/kubernetes.io/serviceaccount/token",
      )
    } finally {
      writeFileSync(config, original)
    }
  })
})
