// A local OpenID provider for the auth tests: keys made with jose, a discovery document and a JWKS
// served by node:http, tokens signed on demand. Nothing is mocked below the HTTP socket.
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
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

export class TestIdp {
  readonly #server: Server
  readonly #keys: Key[] = []
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

  /** Starts a provider on a free loopback port, publishing one RS256 and one ES256 key. */
  static async start(): Promise<TestIdp> {
    let idp: TestIdp | undefined
    const server = createServer((req, res) => idp!.#answer(req.url ?? '', res))
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

  #answer(url: string, res: import('node:http').ServerResponse): void {
    const json = (body: unknown) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    if (url === new URL(this.discoveryUrl).pathname) {
      json({ issuer: this.issuer, jwks_uri: this.jwksUrl, authorization_endpoint: `${this.issuer}/auth` })
    } else if (url === new URL(this.jwksUrl).pathname) {
      this.jwksFetches++
      json({ keys: this.#keys.map((k) => k.jwk) })
    } else {
      res.writeHead(404).end()
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
