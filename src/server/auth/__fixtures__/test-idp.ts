// A local OpenID provider for the auth tests: keys made with jose, a discovery document and a JWKS
// served by node:http, tokens signed on demand, and the authorization-code flow with PKCE for the web
// UI (an authorization endpoint that consents at once, a token endpoint that checks the verifier).
// Nothing is mocked below the HTTP socket.
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose'
import { parseRepoConfig } from '../../../config/index.js'
import { createServerAuth, type ServerAuthConfig } from '../server-auth.js'

type Alg = 'RS256' | 'ES256'
type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']

interface Key {
  readonly kid: string
  readonly alg: Alg
  readonly privateKey: PrivateKey
  readonly jwk: JWK
}

export interface SignOptions {
  /** Key id to sign with (default: the first published key). */
  readonly kid?: string
  /** Sign with this key instead, stating `kid` in the header (a forgery when the kid is published). */
  readonly key?: Key
  /** Seconds from now; default 300. `null` leaves exp out. */
  readonly expiresIn?: number | null
  /** Seconds from now for nbf; default none. */
  readonly notBefore?: number
  readonly audience?: string | string[]
  readonly issuer?: string
}

/** A key pair that the provider does not publish, for forged tokens. */
export async function strayKey(kid: string, alg: Alg = 'RS256'): Promise<Key> {
  return makeKey(kid, alg)
}

async function makeKey(kid: string, alg: Alg): Promise<Key> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } }
}

/** How the provider answers the authorization-code flow; tests change it between sign-ins. */
export interface CodeFlowOptions {
  /** The only client the authorization endpoint knows (a public client: no secret). */
  clientId: string
  /** Claims of the access tokens it issues. */
  claims: JWTPayload
  /** Their audience. */
  audience: string
  /** Their lifetime in seconds. */
  expiresIn: number
  /** Sends the browser back with another state than the one it was given (a forged answer). */
  tamperState: boolean
}

/** One request to the token endpoint and the provider's decision. */
export interface TokenExchange {
  readonly accepted: boolean
  /** Why it was refused (`error_description`). */
  readonly reason?: string
}

interface Grant {
  readonly challenge: string
  readonly redirectUri: string
  readonly clientId: string
  readonly nonce: string
}

export class TestIdp {
  readonly #server: Server
  readonly #keys: Key[] = []
  readonly #grants = new Map<string, Grant>()
  /** The authorization-code flow's settings. */
  readonly codeFlow: CodeFlowOptions = {
    clientId: 'larder-ui',
    claims: { preferred_username: 'ada' },
    audience: 'larder',
    expiresIn: 300,
    tamperState: false,
  }
  /** Every request to the token endpoint, in order. */
  readonly exchanges: TokenExchange[] = []
  /** The query of every request to the authorization endpoint, in order. */
  readonly authorizations: URLSearchParams[] = []
  /** The issuer URL (the server's origin plus `/realms/test`). */
  readonly issuer: string
  readonly discoveryUrl: string
  readonly jwksUrl: string
  /** How many times the JWKS was fetched. */
  jwksFetches = 0

  private constructor(server: Server, origin: string) {
    this.#server = server
    this.issuer = `${origin}/realms/test`
    this.discoveryUrl = `${this.issuer}/.well-known/openid-configuration`
    this.jwksUrl = `${this.issuer}/protocol/openid-connect/certs`
  }

  /** The authorization endpoint of the code flow. */
  get authorizationEndpoint(): string {
    return `${this.issuer}/protocol/openid-connect/auth`
  }

  /** The token endpoint of the code flow. */
  get tokenEndpoint(): string {
    return `${this.issuer}/protocol/openid-connect/token`
  }

  /** Starts a provider on a free loopback port, publishing one RS256 and one ES256 key. */
  static async start(): Promise<TestIdp> {
    let idp: TestIdp | undefined
    const server = createServer((req, res) => void idp!.#answer(req, res))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    idp = new TestIdp(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`)
    await idp.addKey('rsa-1', 'RS256')
    await idp.addKey('ec-1', 'ES256')
    return idp
  }

  /** Publishes a new key in the JWKS (a rotation); tokens can then be signed with `kid`. */
  async addKey(kid: string, alg: Alg = 'RS256'): Promise<void> {
    this.#keys.push(await makeKey(kid, alg))
  }

  /** A signed access token with `claims`, from this issuer unless `issuer` says otherwise. */
  async sign(claims: JWTPayload, options: SignOptions = {}): Promise<string> {
    const key = options.key ?? this.#keys.find((k) => k.kid === (options.kid ?? this.#keys[0]!.kid))!
    const now = Math.floor(Date.now() / 1000)
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(options.issuer ?? this.issuer)
      .setIssuedAt(now)
    if (options.audience !== undefined) jwt.setAudience(options.audience)
    if (options.expiresIn !== null) jwt.setExpirationTime(now + (options.expiresIn ?? 300))
    if (options.notBefore !== undefined) jwt.setNotBefore(now + options.notBefore)
    return jwt.sign(key.privateKey)
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }

  async #answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.issuer)
    // a browser reads the discovery document and calls the token endpoint from the UI's origin
    res.setHeader('access-control-allow-origin', '*')
    const json = (body: unknown, status = 200) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    if (req.method === 'OPTIONS') {
      res
        .writeHead(204, {
          'access-control-allow-headers': 'content-type',
          'access-control-allow-methods': 'GET, POST',
        })
        .end()
    } else if (url.pathname === new URL(this.discoveryUrl).pathname) {
      json({
        issuer: this.issuer,
        jwks_uri: this.jwksUrl,
        authorization_endpoint: this.authorizationEndpoint,
        token_endpoint: this.tokenEndpoint,
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
      })
    } else if (url.pathname === new URL(this.jwksUrl).pathname) {
      this.jwksFetches++
      json({ keys: this.#keys.map((k) => k.jwk) })
    } else if (url.pathname === new URL(this.authorizationEndpoint).pathname && req.method === 'GET') {
      this.#authorize(url.searchParams, res)
    } else if (url.pathname === new URL(this.tokenEndpoint).pathname && req.method === 'POST') {
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      const answer = await this.#exchange(req.headers['content-type'], Buffer.concat(chunks).toString('utf8'))
      json(answer.body, answer.status)
    } else {
      res.writeHead(404).end()
    }
  }

  /** Consents at once: checks the request as a provider does and sends the browser back with a code. */
  #authorize(query: URLSearchParams, res: ServerResponse): void {
    this.authorizations.push(query)
    const flow = this.codeFlow
    const redirectUri = query.get('redirect_uri') ?? ''
    const challenge = query.get('code_challenge') ?? ''
    const state = query.get('state') ?? ''
    const problem =
      query.get('response_type') !== 'code'
        ? 'response_type must be code'
        : query.get('client_id') !== flow.clientId
          ? `unknown client ${query.get('client_id')}`
          : !/^https?:\/\//.test(redirectUri)
            ? 'redirect_uri must be an http(s) URL'
            : query.get('code_challenge_method') !== 'S256'
              ? 'code_challenge_method must be S256'
              : !/^[A-Za-z0-9_-]{43}$/.test(challenge)
                ? 'code_challenge must be a base64url SHA-256'
                : state === '' || !query.get('nonce')
                  ? 'state and nonce are required'
                  : !(query.get('scope') ?? '').split(' ').includes('openid')
                    ? 'scope must include openid'
                    : undefined
    if (problem !== undefined) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(problem)
      return
    }
    const code = randomBytes(16).toString('hex')
    this.#grants.set(code, { challenge, redirectUri, clientId: flow.clientId, nonce: query.get('nonce')! })
    const back = new URL(redirectUri)
    back.searchParams.set('code', code)
    back.searchParams.set('state', flow.tamperState ? `${state}-forged` : state)
    res.writeHead(302, { location: back.toString() }).end()
  }

  /** The token endpoint: a code is good once, for its client and redirect URI, with the verifier of its challenge. */
  async #exchange(type: string | undefined, text: string): Promise<{ status: number; body: unknown }> {
    const refuse = (error: string, reason: string) => {
      this.exchanges.push({ accepted: false, reason })
      return { status: 400, body: { error, error_description: reason } }
    }
    if (type !== 'application/x-www-form-urlencoded') return refuse('invalid_request', `content-type ${type}`)
    const form = new URLSearchParams(text)
    if (form.get('grant_type') !== 'authorization_code') return refuse('unsupported_grant_type', 'grant_type')
    const code = form.get('code') ?? ''
    const grant = this.#grants.get(code)
    this.#grants.delete(code)
    if (grant === undefined) return refuse('invalid_grant', 'the code is unknown or was used already')
    if (form.get('client_id') !== grant.clientId)
      return refuse('invalid_client', 'the code was issued to another client')
    if (form.get('redirect_uri') !== grant.redirectUri)
      return refuse('invalid_grant', 'redirect_uri differs from the authorization request')
    const verifier = form.get('code_verifier') ?? ''
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) {
      return refuse('invalid_grant', 'code_verifier must be 43 to 128 unreserved characters')
    }
    if (createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) {
      return refuse(
        'invalid_grant',
        'PKCE verification failed: the code_verifier does not match the code_challenge',
      )
    }
    this.exchanges.push({ accepted: true })
    const flow = this.codeFlow
    const accessToken = await this.sign(flow.claims, { audience: flow.audience, expiresIn: flow.expiresIn })
    const idToken = await this.sign({ sub: 'ada', nonce: grant.nonce }, { audience: grant.clientId })
    return {
      status: 200,
      body: {
        access_token: accessToken,
        token_type: 'Bearer',
        expires_in: flow.expiresIn,
        id_token: idToken,
        scope: 'openid',
      },
    }
  }
}

/** The sha256 (hex) of a static token, as `auth.static_tokens[].token_sha256` holds it. */
export function tokenSha256(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/**
 * A server's auth from an `auth:` block of type oidc trusting `idp` (client id `larder`) plus a static
 * token `ci` (role `writer`) for `ciToken`, with more YAML lines in `extra`, parsed as feature_store.yaml is.
 */
export function oidcAuth(idp: TestIdp, ciToken: string, extra: readonly string[] = []): ServerAuthConfig {
  const lines = [
    'type: oidc',
    `auth_discovery_url: ${idp.discoveryUrl}`,
    'client_id: larder',
    'static_tokens:',
    `  - { name: ci, token_sha256: ${tokenSha256(ciToken)}, roles: [writer] }`,
    ...extra,
  ]
  const yaml = `project: demo\nauth:\n${lines.map((l) => `  ${l}`).join('\n')}\n`
  return createServerAuth(parseRepoConfig(yaml, '/repo').auth)
}
