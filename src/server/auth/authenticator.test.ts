// The authenticators of Larder's servers against real JWTs: keys made with jose, a discovery document
// and a JWKS served over HTTP by a local provider (several keys, rotation), static service tokens, and
// each way a token can be refused, named without the token in the answer.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../../config/index.js'
import type { Authenticator, LarderError, Principal } from '../../core/index.js'
import { strayKey, TestIdp } from './__fixtures__/test-idp.js'
import { createServerAuth } from './server-auth.js'

const sha = (text: string) => createHash('sha256').update(text).digest('hex')
const CI_TOKEN = 'ci-service-token-0123456789'

let idp: TestIdp
beforeAll(async () => {
  idp = await TestIdp.start()
})
afterAll(async () => {
  await idp?.close()
})

/** The servers' authenticator of an `auth:` block (YAML lines), parsed as feature_store.yaml is. */
function authenticatorOf(lines: readonly string[]): Authenticator {
  const yaml = `project: demo\nauth:\n${lines.map((l) => `  ${l}`).join('\n')}\n`
  return createServerAuth(parseRepoConfig(yaml, '/repo').auth).authenticator
}

function oidc(...extra: string[]): Authenticator {
  return authenticatorOf([
    'type: oidc',
    `auth_discovery_url: ${idp.discoveryUrl}`,
    'client_id: larder',
    ...extra,
  ])
}

const bearer = (token: string) => new Headers({ authorization: `Bearer ${token}` })

const user = { preferred_username: 'ada', sub: 'u-1' }

/** The error an authentication fails with, checked not to hold the token it was given. */
async function refused(auth: Authenticator, headers: Headers): Promise<LarderError> {
  const e = (await auth.authenticate(headers).then(
    () => undefined,
    (err: unknown) => err,
  )) as LarderError | undefined
  expect(e, 'the authentication should fail').toBeDefined()
  const token = /^\S+\s+(\S+)/.exec(headers.get('authorization') ?? '')?.[1]
  if (token) expect(JSON.stringify({ m: e!.message, h: e!.hint, d: e!.details })).not.toContain(token)
  return e!
}

describe('OIDC tokens', () => {
  it("reads the principal from a verified token: name, roles (client's and top-level), groups", async () => {
    const auth = oidc()
    const token = await idp.sign(
      {
        ...user,
        resource_access: { larder: { roles: ['reader', 'writer'] }, other: { roles: ['admin'] } },
        roles: ['writer', 'auditor'],
        groups: ['ml', 'ops'],
      },
      { audience: 'larder' },
    )
    expect(await auth.authenticate(bearer(token))).toEqual<Principal>({
      name: 'ada',
      roles: ['reader', 'writer', 'auditor'],
      groups: ['ml', 'ops'],
      namespaces: [],
      kind: 'oidc',
    })
  })

  it('verifies tokens of every key of the JWKS (RS256 and ES256), fetching the set once', async () => {
    const auth = oidc()
    const before = idp.jwksFetches
    for (const kid of ['rsa-1', 'ec-1', 'rsa-1']) {
      const token = await idp.sign(user, { kid, audience: 'larder' })
      expect((await auth.authenticate(bearer(token))).name).toBe('ada')
    }
    expect(idp.jwksFetches - before).toBe(1)
  })

  it('takes the username from Feast’s fallbacks (azp for a client-credentials token), or refuses a token without one', async () => {
    const auth = oidc()
    const service = await idp.sign({ azp: 'etl-job', sub: 's-9' }, { audience: 'larder' })
    expect((await auth.authenticate(bearer(service))).name).toBe('etl-job')
    const nobody = await idp.sign({ roles: ['x'] }, { audience: 'larder' })
    const e = await refused(auth, bearer(nobody))
    expect(e).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'no_username' } })
    expect(e.message).toContain('none of the claims preferred_username, upn, azp, appid, sub holds a string')
  })

  it('reads roles, groups, namespaces and the name from the configured claim paths', async () => {
    const auth = oidc(
      'username_claims: [email]',
      'roles_claims: ["realm_access.roles", ["https://example.com/roles"]]',
      'groups_claims: [teams]',
      'namespaces_claims: [k8s.namespaces]',
    )
    const token = await idp.sign(
      {
        ...user,
        email: 'ada@example.com',
        realm_access: { roles: ['viewer'] },
        'https://example.com/roles': 'editor',
        roles: ['ignored'],
        teams: ['data'],
        k8s: { namespaces: ['prod', 'staging'] },
      },
      { audience: 'larder' },
    )
    expect(await auth.authenticate(bearer(token))).toEqual({
      name: 'ada@example.com',
      roles: ['viewer', 'editor'],
      groups: ['data'],
      namespaces: ['prod', 'staging'],
      kind: 'oidc',
    })
  })

  it('picks up a key added after the set was cached (rotation), fetching the JWKS again for the unknown kid', async () => {
    const auth = oidc('jwks_refetch_cooldown_seconds: 0')
    expect((await auth.authenticate(bearer(await idp.sign(user, { audience: 'larder' })))).name).toBe('ada')
    const before = idp.jwksFetches
    await idp.addKey('rsa-2')
    const rotated = await idp.sign(user, { kid: 'rsa-2', audience: 'larder' })
    expect((await auth.authenticate(bearer(rotated))).name).toBe('ada')
    expect(idp.jwksFetches - before).toBe(1)
    // the new set is cached now: no further fetch
    await auth.authenticate(bearer(rotated))
    expect(idp.jwksFetches - before).toBe(1)
  })

  it('within the refetch cooldown, refuses an unknown key id without asking the provider again', async () => {
    const auth = oidc()
    await auth.authenticate(bearer(await idp.sign(user, { audience: 'larder' })))
    const before = idp.jwksFetches
    await idp.addKey('rsa-3')
    const e = await refused(auth, bearer(await idp.sign(user, { kid: 'rsa-3', audience: 'larder' })))
    expect(e).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'unknown_key' } })
    expect(e.message).toContain('key id "rsa-3", which the JWKS at')
    expect(idp.jwksFetches).toBe(before)
  })

  it('refuses a token signed with a key the provider never published', async () => {
    const auth = oidc('jwks_refetch_cooldown_seconds: 0')
    const e = await refused(
      auth,
      bearer(await idp.sign(user, { key: await strayKey('nobody-knows'), audience: 'larder' })),
    )
    expect(e).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'unknown_key' } })
  })

  it('refuses a bad signature: a forged token under a published kid, and an altered payload', async () => {
    const auth = oidc()
    const forged = await idp.sign(user, { key: await strayKey('rsa-1'), audience: 'larder' })
    const e = await refused(auth, bearer(forged))
    expect(e).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'bad_signature' } })
    expect(e.message).toContain('signature does not verify with the key "rsa-1"')
    const [head, , sig] = (await idp.sign(user, { audience: 'larder' })).split('.')
    const altered = `${head}.${Buffer.from(JSON.stringify({ ...user, preferred_username: 'root', aud: 'larder', exp: 4102444800 })).toString('base64url')}.${sig}`
    expect((await refused(auth, bearer(altered))).details.reason).toBe('bad_signature')
  })

  it('refuses an expired token, naming when it expired; accepts one within the clock tolerance', async () => {
    const auth = oidc()
    const e = await refused(auth, bearer(await idp.sign(user, { audience: 'larder', expiresIn: -120 })))
    expect(e).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'expired' } })
    expect(e.message).toMatch(/^the token expired at \d{4}-\d\d-\d\dT.*Z \(clock tolerance 60 s\)$/)
    expect(e.hint).toBe('get a new token')
    const skewed = await idp.sign(user, { audience: 'larder', expiresIn: -20 })
    expect((await auth.authenticate(bearer(skewed))).name).toBe('ada')
    const strict = oidc('clock_tolerance_seconds: 0')
    expect((await refused(strict, bearer(skewed))).details.reason).toBe('expired')
  })

  it('refuses a token that is not valid yet (nbf beyond the tolerance)', async () => {
    const e = await refused(oidc(), bearer(await idp.sign(user, { audience: 'larder', notBefore: 600 })))
    expect(e).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'not_yet_valid' } })
    expect(e.message).toContain('the token is not valid before')
  })

  it('refuses a token without an expiry', async () => {
    const e = await refused(oidc(), bearer(await idp.sign(user, { audience: 'larder', expiresIn: null })))
    expect(e).toMatchObject({ details: { reason: 'invalid_claims' } })
    expect(e.message).toBe('the token has no expiry (exp)')
  })

  it('refuses a token for another audience, and accepts one of a configured audience list', async () => {
    const e = await refused(oidc(), bearer(await idp.sign(user, { audience: 'other-app' })))
    expect(e).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'wrong_audience' } })
    expect(e.message).toBe('the token\'s audience "other-app" is not "larder"')
    expect(e.hint).toContain('auth.audience')
    const both = oidc('audience: [larder-api, other-app]')
    expect(
      (await both.authenticate(bearer(await idp.sign(user, { audience: ['x', 'other-app'] })))).name,
    ).toBe('ada')
    expect((await refused(oidc(), bearer(await idp.sign(user)))).message).toContain('audience (none) is not')
  })

  it('refuses a token of another issuer', async () => {
    const e = await refused(
      oidc(),
      bearer(await idp.sign(user, { audience: 'larder', issuer: 'https://evil.example/realms/test' })),
    )
    expect(e).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'wrong_issuer' } })
    expect(e.message).toBe(`the token's issuer "https://evil.example/realms/test" is not "${idp.issuer}"`)
  })

  it('refuses a symmetric (HS256) token, whatever key it names', async () => {
    const [, payload] = (await idp.sign(user, { audience: 'larder' })).split('.')
    const head = Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'rsa-1' })).toString('base64url')
    const e = await refused(oidc(), bearer(`${head}.${payload}.c2lnbmF0dXJl`))
    expect(e).toMatchObject({ details: { reason: 'algorithm_not_allowed' } })
  })

  it('uses an explicit issuer and jwks_url without a discovery document', async () => {
    const auth = authenticatorOf([
      'type: oidc',
      `issuer: ${idp.issuer}`,
      `jwks_url: ${idp.jwksUrl}`,
      'audience: api',
    ])
    expect((await auth.authenticate(bearer(await idp.sign(user, { audience: 'api' })))).name).toBe('ada')
  })

  it('answers BACKEND_UNAVAILABLE while the provider is down, and works once it is back', async () => {
    const down = await TestIdp.start()
    const discovery = down.discoveryUrl
    await down.close()
    const auth = authenticatorOf(['type: oidc', `auth_discovery_url: ${discovery}`, 'client_id: larder'])
    const e = await refused(auth, bearer(await idp.sign(user, { audience: 'larder' })))
    expect(e.code).toBe('BACKEND_UNAVAILABLE')
    expect(e.message).toContain(`the OIDC discovery document at ${discovery} could not be fetched`)
    // the same authenticator asks again on the next request: here the live provider's document
    const live = oidc()
    expect((await live.authenticate(bearer(await idp.sign(user, { audience: 'larder' })))).name).toBe('ada')
  })
})

describe('the Authorization header', () => {
  it('answers no_token without a header, malformed_header for another scheme or no token', async () => {
    const auth = oidc()
    expect(await refused(auth, new Headers())).toMatchObject({
      code: 'UNAUTHENTICATED',
      message: 'no bearer token: the request has no Authorization header',
      details: { reason: 'no_token' },
    })
    const basic = await refused(auth, new Headers({ authorization: 'Basic YWRhOnNlY3JldA==' }))
    expect(basic).toMatchObject({ details: { reason: 'malformed_header' } })
    expect(basic.message).toContain('the scheme "Basic"')
    expect((await refused(auth, new Headers({ authorization: 'Bearer ' }))).details.reason).toBe(
      'malformed_header',
    )
  })

  it('refuses a token that is neither a JWT nor a static token', async () => {
    const e = await refused(oidc(), bearer('opaque-reference-token'))
    expect(e).toMatchObject({ details: { reason: 'unknown_token' } })
    expect(e.message).toBe("the bearer token is neither a JWT nor one of the server's static tokens")
  })
})

describe('static tokens', () => {
  const tokens = [
    'static_tokens:',
    `  - { name: ci, token_sha256: ${sha(CI_TOKEN)}, roles: [writer], groups: [platform] }`,
  ]

  it('type static: a listed token is its principal; any other is refused', async () => {
    const auth = authenticatorOf(['type: static', ...tokens])
    expect(auth.type).toBe('static')
    expect(await auth.authenticate(bearer(CI_TOKEN))).toEqual({
      name: 'ci',
      roles: ['writer'],
      groups: ['platform'],
      namespaces: [],
      kind: 'token',
    })
    const e = await refused(auth, bearer(`${CI_TOKEN}x`))
    expect(e).toMatchObject({ code: 'UNAUTHENTICATED', details: { reason: 'unknown_token' } })
    expect(e.message).toBe("the bearer token is not one of the server's static tokens")
    expect((await refused(auth, bearer(await idp.sign(user, { audience: 'larder' })))).details.reason).toBe(
      'unknown_token',
    )
  })

  it('beside OIDC: service tokens and JWTs both authenticate', async () => {
    const auth = oidc(...tokens)
    expect((await auth.authenticate(bearer(CI_TOKEN))).kind).toBe('token')
    expect((await auth.authenticate(bearer(await idp.sign(user, { audience: 'larder' })))).kind).toBe('oidc')
  })
})

describe('server startup', () => {
  it('no_auth: every request is the anonymous principal', async () => {
    const auth = createServerAuth(parseRepoConfig('project: demo\n', '/repo').auth)
    expect(auth.authenticator.type).toBe('no_auth')
    expect((await auth.authenticator.authenticate(new Headers())).kind).toBe('anonymous')
  })

  it('stops kubernetes outside a pod, naming the ServiceAccount token it needs', () => {
    expect(() => authenticatorOf(['type: kubernetes'])).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        message:
          "auth type kubernetes: cannot read the server's ServiceAccount token /var/run/secrets/kubernetes.io/serviceaccount/token",
      }),
    )
  })

  it('refuses an oidc block a server cannot check tokens with', () => {
    expect(() => authenticatorOf(['type: oidc', 'client_id: larder'])).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        message: expect.stringContaining('auth_discovery_url'),
      }),
    )
    expect(() => authenticatorOf(['type: oidc', `auth_discovery_url: ${idp.discoveryUrl}`])).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        message: expect.stringContaining('client_id or audience'),
      }),
    )
  })
})

describe('a provider with a self-signed certificate', () => {
  let dir: string
  let url: string
  let close: () => Promise<void>

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'larder-idp-tls-'))
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    )
    // an HTTPS front of the test provider: same issuer, JWKS fetched over TLS
    const server = createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      async (req, res) => {
        const upstream = await fetch(new URL(req.url ?? '/', idp.jwksUrl))
        res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(await upstream.text())
      },
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}${new URL(idp.jwksUrl).pathname}`
    close = () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  })
  afterAll(async () => {
    await close?.()
    rmSync(dir, { recursive: true, force: true })
  })

  const lines = () => ['type: oidc', `issuer: ${idp.issuer}`, `jwks_url: ${url}`, 'client_id: larder']

  it('is refused by default, naming the TLS options', async () => {
    const e = await refused(authenticatorOf(lines()), bearer(await idp.sign(user, { audience: 'larder' })))
    expect(e.code).toBe('BACKEND_UNAVAILABLE')
    expect(e.message).toContain('auth.ca_cert_path')
  })

  it('is trusted with ca_cert_path, or with verify_ssl: false', async () => {
    const token = await idp.sign(user, { audience: 'larder' })
    const withCa = authenticatorOf([...lines(), `ca_cert_path: ${join(dir, 'cert.pem')}`])
    expect((await withCa.authenticate(bearer(token))).name).toBe('ada')
    const unverified = authenticatorOf([...lines(), 'verify_ssl: false'])
    expect((await unverified.authenticate(bearer(token))).name).toBe('ada')
  })
})
