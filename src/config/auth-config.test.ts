// The `auth:` block of feature_store.yaml: strict keys per type, Feast's and Larder's defaults, and the
// token a client sends (from the file's client-side keys and the environment, read at each call).
import { createHash } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import type { LarderError } from '../core/index.js'
import { clientTokenProvider, NO_AUTH_CONFIG } from './auth-config.js'
import { parseRepoConfig } from './repo-config.js'

const sha = (text: string) => createHash('sha256').update(text).digest('hex')

function config(auth: string) {
  return parseRepoConfig(`project: demo\nauth:\n${auth.replace(/^/gm, '  ')}\n`, '/repo')
}

function fail(auth: string): LarderError {
  try {
    config(auth)
  } catch (e) {
    return e as LarderError
  }
  throw new Error('expected the config to be refused')
}

describe('the auth block', () => {
  it('is no_auth without a block, with an empty block and with type no_auth', () => {
    expect(parseRepoConfig('project: demo\n', '/repo').auth).toEqual(NO_AUTH_CONFIG)
    expect(parseRepoConfig('project: demo\nauth: {}\n', '/repo').auth.type).toBe('no_auth')
    expect(config('type: no_auth').auth).toEqual(NO_AUTH_CONFIG)
    expect(config('type: no_auth').warnings).toEqual([])
  })

  it("applies Feast's and Larder's OIDC defaults, the audience from client_id", () => {
    const auth = config(
      'type: oidc\nauth_discovery_url: https://idp.example/realms/r/.well-known/openid-configuration\nclient_id: larder\nca_cert_path: certs/ca.pem',
    ).auth
    expect(auth.type).toBe('oidc')
    expect(auth.protectMetrics).toBe(false)
    expect(auth.staticTokens).toEqual([])
    expect(auth.oidc).toMatchObject({
      discoveryUrl: 'https://idp.example/realms/r/.well-known/openid-configuration',
      clientId: 'larder',
      audience: ['larder'],
      verifySsl: true,
      caCertPath: '/repo/certs/ca.pem',
      jwksCacheLifespanSeconds: 300,
      jwksRequestTimeoutSeconds: 10,
      jwksRefetchCooldownSeconds: 30,
      clockToleranceSeconds: 60,
      claims: {
        username: [['preferred_username'], ['upn'], ['azp'], ['appid'], ['sub']],
        roles: [['resource_access', 'larder', 'roles'], ['roles']],
        groups: [['groups']],
        namespaces: [],
      },
    })
  })

  it('takes claim paths as dotted text or as lists of names, and an audience list', () => {
    const auth = config(
      [
        'type: oidc',
        'issuer: https://idp.example',
        'jwks_url: https://idp.example/jwks',
        'audience: [api-a, api-b]',
        'roles_claims: ["realm_access.roles", ["https://example.com/roles"]]',
        'groups_claims: [teams]',
        'namespaces_claims: [ns]',
      ].join('\n'),
    ).auth
    expect(auth.oidc).toMatchObject({
      audience: ['api-a', 'api-b'],
      claims: {
        roles: [['realm_access', 'roles'], ['https://example.com/roles']],
        groups: [['teams']],
        namespaces: [['ns']],
      },
    })
  })

  it('drops a claim path that needs a client id when there is none', () => {
    const auth = config('type: oidc\naudience: api').auth
    expect(auth.oidc?.claims.roles).toEqual([['roles']])
    expect(auth.oidc?.audience).toEqual(['api'])
  })

  it('names an unknown key with the keys of the block type', () => {
    const e = fail('type: oidc\nclient_id: x\naudiance: y')
    expect(e.code).toBe('INVALID_CONFIG')
    expect(e.message).toContain('unknown key "audiance" in auth (type oidc)')
    expect(e.hint).toContain('audience')
    expect(e.hint).toContain('static_tokens')
    expect(fail('type: no_auth\nclient_id: x').message).toContain(
      'unknown key "client_id" in auth (type no_auth)',
    )
  })

  it('keeps static tokens hashed, with their roles and groups', () => {
    const auth = config(
      [
        'type: static',
        'protect_metrics: true',
        'static_tokens:',
        `  - { name: ci, token_sha256: ${sha('ci-secret').toUpperCase()}, roles: [writer], groups: [ops] }`,
        `  - { name: dashboards, token_sha256: ${sha('dash-secret')} }`,
      ].join('\n'),
    ).auth
    expect(auth).toMatchObject({ type: 'static', protectMetrics: true, oidc: undefined })
    expect(auth.staticTokens).toEqual([
      { name: 'ci', tokenSha256: sha('ci-secret'), roles: ['writer'], groups: ['ops'], namespaces: [] },
      { name: 'dashboards', tokenSha256: sha('dash-secret'), roles: [], groups: [], namespaces: [] },
    ])
  })

  it('expands environment references in a static token hash', () => {
    process.env.LARDER_TEST_CI_HASH = sha('from-env')
    try {
      const auth = config(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: an environment reference of feature_store.yaml
        'type: static\nstatic_tokens:\n  - { name: ci, token_sha256: "${LARDER_TEST_CI_HASH}" }',
      ).auth
      expect(auth.staticTokens[0]?.tokenSha256).toBe(sha('from-env'))
    } finally {
      delete process.env.LARDER_TEST_CI_HASH
    }
  })

  it('refuses static tokens that are no sha256, none at all, or two with one name or hash', () => {
    expect(fail('type: static\nstatic_tokens:\n  - { name: ci, token_sha256: secret }').message).toContain(
      'auth.static_tokens.0.token_sha256',
    )
    expect(fail('type: static\nstatic_tokens: []').message).toContain('auth.static_tokens')
    const twice = (a: string, b: string) =>
      `type: static\nstatic_tokens:\n  - { name: ${a}, token_sha256: ${sha('x')} }\n  - { name: ${b}, token_sha256: ${sha(b === a ? 'y' : 'x')} }`
    expect(fail(twice('ci', 'ci')).message).toContain('two static tokens are named "ci"')
    expect(fail(twice('ci', 'cd')).message).toContain(
      'static tokens "ci" and "cd" have the same token_sha256',
    )
  })

  it('refuses token with token_env_var, as Feast does, and lists the types for an unknown one', () => {
    expect(fail('type: oidc\ntoken: a\ntoken_env_var: B').message).toContain(
      'token and token_env_var are both set',
    )
    expect(fail('type: saml').message).toContain(
      'auth.type: "saml" is not allowed; allowed: no_auth, oidc, static, kubernetes',
    )
  })

  it('loads kubernetes (for clients) without a warning', () => {
    const c = config('type: kubernetes\nuser_token: sa-token')
    expect(c.auth).toMatchObject({ type: 'kubernetes', client: { userToken: 'sa-token' } })
    expect(c.warnings).toEqual([])
  })
})

describe('clientTokenProvider', () => {
  const saved = { ...process.env }
  afterEach(() => {
    process.env = { ...saved }
  })

  it('sends nothing with no_auth', () => {
    expect(clientTokenProvider(NO_AUTH_CONFIG, {})).toBeUndefined()
  })

  it('sends auth.token as written (after environment expansion at load)', async () => {
    const provider = clientTokenProvider(config('type: oidc\ntoken: literal-token').auth, {})
    expect(await provider?.()).toBe('literal-token')
  })

  it('reads token_env_var at every call, so a rotated token is sent from the next call on', async () => {
    const env: NodeJS.ProcessEnv = { MY_TOKEN: 'first' }
    const provider = clientTokenProvider(config('type: oidc\ntoken_env_var: MY_TOKEN').auth, env)!
    expect(await provider()).toBe('first')
    env.MY_TOKEN = 'second'
    expect(await provider()).toBe('second')
    delete env.MY_TOKEN
    await expect(provider()).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      message: 'auth.token_env_var names MY_TOKEN, which is not set',
    })
  })

  it('falls back to LARDER_AUTH_TOKEN, then FEAST_OIDC_TOKEN, and names both when neither is set', async () => {
    const auth = config('type: static\nstatic_tokens:\n  - { name: ci, token_sha256: ' + sha('x') + ' }').auth
    expect(await clientTokenProvider(auth, { LARDER_AUTH_TOKEN: 'l', FEAST_OIDC_TOKEN: 'f' })!()).toBe('l')
    expect(await clientTokenProvider(auth, { FEAST_OIDC_TOKEN: 'f' })!()).toBe('f')
    const none = await clientTokenProvider(auth, {})!().catch((e: LarderError) => e)
    expect(none).toMatchObject({ code: 'UNAUTHENTICATED' })
    expect((none as LarderError).hint).toContain('LARDER_AUTH_TOKEN or FEAST_OIDC_TOKEN')
  })

  it("refuses Feast's identity-provider grants, which Larder's clients do not run", async () => {
    const provider = clientTokenProvider(config('type: oidc\nclient_id: c\nclient_secret: s').auth, {})!
    await expect(provider()).rejects.toMatchObject({ code: 'UNSUPPORTED' })
  })

  it('sends a ServiceAccount token for kubernetes: user_token, else LOCAL_K8S_TOKEN', async () => {
    expect(await clientTokenProvider(config('type: kubernetes\nuser_token: u').auth, {})!()).toBe('u')
    expect(await clientTokenProvider(config('type: kubernetes').auth, { LOCAL_K8S_TOKEN: 'k' })!()).toBe('k')
  })
})
