import { isIPv4, isIPv6 } from 'node:net'
import { hostname } from 'node:os'
import type { Context, MiddlewareHandler } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { normalizeHostPattern, normalizeOrigin, splitHost } from '../config/index.js'
import { LarderError } from '../core/index.js'

/** Who may reach a server from a browser; the `feature_server:` keys of `feature_store.yaml`. */
export interface RequestGuardOptions {
  /**
   * `Host` names accepted besides the defaults (any IP address, `localhost`, the name the server is
   * bound to, and the machine's host name when bound to every interface): `name` (any port),
   * `name:port`, `.example.com` (the domain and its subdomains), or `*` (any Host: behind a proxy
   * that sets it).
   */
  readonly allowedHosts?: readonly string[]
  /** Origins (`https://app.example.com`) that may call cross-origin, or `*` for any; default none. */
  readonly allowedOrigins?: readonly string[]
  /** Answer allowed origins with `Access-Control-Allow-Credentials: true` (refused with `*`). */
  readonly allowCredentials?: boolean
}

/** Methods that change state: their requests must come from an allowed origin and carry a JSON body. */
const STATE_CHANGING: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** `content-type` values accepted as they are, without parsing (what clients send). */
const JSON_EXACT: ReadonlySet<string> = new Set([
  'application/json',
  'application/json; charset=utf-8',
  'application/json;charset=utf-8',
  'application/json; charset=UTF-8',
  'application/json;charset=UTF-8',
])

/** Media types of the Connect, gRPC-Web and gRPC protocols, accepted on RPC paths. */
const RPC_TYPES: ReadonlySet<string> = new Set([
  'application/json',
  'application/proto',
  'application/connect+json',
  'application/connect+proto',
  'application/grpc',
  'application/grpc+proto',
  'application/grpc+json',
  'application/grpc-web',
  'application/grpc-web+proto',
  'application/grpc-web+json',
  'application/grpc-web-text',
  'application/grpc-web-text+proto',
])

/** Response headers a page of an allowed origin may read. */
const EXPOSED_HEADERS =
  'x-request-id, www-authenticate, larder-error-code, larder-error-hint, grpc-status, grpc-message, grpc-status-details-bin'

const ORIGIN_FIX =
  'to let a web app on that origin call this server, add it to feature_server.allowed_origins in feature_store.yaml (or pass --allowed-origin)'

const PREFLIGHT_METHODS = 'GET, HEAD, POST, DELETE'
const PREFLIGHT_MAX_AGE = '600'

/** Most `Host` values remembered as accepted, so a repeated one costs one set lookup. */
const ACCEPTED_CACHE = 256

/** Longest text of a header echoed in an error body. */
const ECHO_LIMIT = 200

/** Connect protocol code of each refusal status. */
const CONNECT_CODES: Readonly<Record<number, string>> = {
  403: 'permission_denied',
  415: 'invalid_argument',
  421: 'failed_precondition',
}

/**
 * The checks that keep web pages from using a server through a user's browser:
 *
 * - **Host** (DNS rebinding): a request whose `Host` names a host this server does not answer to is
 *   421 Misdirected Request. Accepted by default: any IP address (an address cannot be rebound),
 *   `localhost`, the name the server is bound to (see {@link bindTo}), and, bound to every interface,
 *   the machine's host name; `allowedHosts` adds names, `*` accepts any. A request without `Host`
 *   (HTTP/1.0, in-process calls) is not from a browser and passes.
 * - **Origin**: a POST, PUT, PATCH or DELETE whose `Origin` is neither the server's own (the scheme,
 *   host and port the request was sent to) nor an allowed origin is 403.
 * - **Content type**: such a request carrying a body must be `application/json` (parameter
 *   `charset=utf-8` allowed), or on RPC paths a Connect, gRPC-Web or gRPC type; anything else — the
 *   `text/plain`, form and multipart bodies a page may send cross-origin without a preflight — is 415.
 *   A body without a content type passes only from a client that is not a browser (no `Origin`, no
 *   `Sec-Fetch-Site`), as Feast's Python client sends `/get-online-features`.
 * - **CORS**: off unless `allowedOrigins` is set; then an allowed origin's preflight is answered (204,
 *   private network access included) and its responses carry `Access-Control-Allow-Origin`; a
 *   preflight from any other origin is 403.
 *
 * Refusals answer the server's JSON error body (`status_code`, `error_type`, `detail`, `hint`,
 * `details.reason`), or on RPC paths the Connect error body. The sets are built once; a request from
 * a known `Host` without `Origin` allocates nothing here.
 *
 * @example
 * const guards = new RequestGuards({ allowedHosts: ['features.example.com'] })
 * guards.bindTo('0.0.0.0')
 * app.use('*', guards.middleware())
 */
export class RequestGuards {
  readonly #anyHost: boolean
  /** Names accepted on any port (lower case, IPv6 bracketed). */
  readonly #names = new Set<string>(['localhost'])
  /** `name:port` accepted on that port only. */
  readonly #hostPorts = new Set<string>()
  /** `.example.com`: the domain and every subdomain. */
  readonly #domains: string[] = []
  /** Raw `Host` values already accepted (bounded). */
  readonly #accepted = new Set<string>()
  readonly #anyOrigin: boolean
  readonly #origins: ReadonlySet<string>
  readonly #credentials: boolean
  readonly #cors: boolean

  /**
   * Checks and normalizes the options. Throws INVALID_ARGUMENT naming a value that is not a host or
   * an origin, and `*` among the origins together with `allowCredentials`.
   */
  constructor(options: RequestGuardOptions = {}) {
    const hosts = (options.allowedHosts ?? []).map((h) => checked('allowed host', h, normalizeHostPattern))
    const origins = (options.allowedOrigins ?? []).map((o) => checked('allowed origin', o, normalizeOrigin))
    this.#anyHost = hosts.includes('*')
    for (const host of hosts) this.#addHost(host)
    this.#anyOrigin = origins.includes('*')
    this.#origins = new Set(origins)
    this.#credentials = options.allowCredentials ?? false
    if (this.#credentials && this.#anyOrigin) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        'allowCredentials (feature_server.allow_credentials) is true while the allowed origins hold "*": any web page could call the server with the user\'s cookies',
        { hint: 'name the origins that may call with credentials, or turn allow_credentials off' },
      )
    }
    this.#cors = origins.length > 0
  }

  /**
   * Adds the name of the address a listener is bound to: an IP address needs nothing (addresses are
   * always accepted), a host name is accepted from now on, and every interface (`0.0.0.0`, `::`)
   * adds the machine's host name. Other names reaching such a server need `allowedHosts`.
   */
  bindTo(address: string): void {
    const bare = address.startsWith('[') ? address.slice(1, -1) : address
    if (bare === '' || bare === '0.0.0.0' || bare === '::') {
      const machine = hostname().toLowerCase()
      if (machine !== '') this.#addHost(machine)
      return
    }
    if (isIPv4(bare) || isIPv6(bare)) return
    this.#addHost(normalizeHostPattern(bare))
  }

  /** The names accepted besides IP addresses, for a startup log line (`*` when any is). */
  get allowedHosts(): readonly string[] {
    if (this.#anyHost) return ['*']
    return [...this.#names, ...this.#hostPorts, ...this.#domains]
  }

  /**
   * Whether a request with this `Host` header may be served. Undefined (no header: not a browser)
   * passes; a value that is not a host does not.
   */
  hostAllowed(host: string | undefined): boolean {
    if (host === undefined || this.#anyHost || this.#accepted.has(host)) return true
    const parsed = splitHost(host)
    if (parsed === undefined) return false
    const { name, port } = parsed
    const ok =
      isIPv4(name) ||
      name.startsWith('[') ||
      this.#names.has(name) ||
      (port !== undefined && this.#hostPorts.has(`${name}:${port}`)) ||
      this.#domains.some((d) => name.endsWith(d) || name === d.slice(1))
    if (ok && this.#accepted.size < ACCEPTED_CACHE) this.#accepted.add(host)
    return ok
  }

  /**
   * Whether a state-changing request with this `Origin`, sent to `requestUrl` (the URL the server
   * rebuilt from the request's scheme and `Host`), may be served: its own origin, or an allowed one.
   */
  originAllowed(origin: string, requestUrl: string): boolean {
    return isOwnOrigin(origin, requestUrl) || this.#corsAllows(origin)
  }

  /**
   * The Hono middleware applying every check (see the class). `isRpc` says which paths speak the
   * Connect protocol: they accept its content types and answer refusals in its error shape.
   */
  middleware(options: { isRpc?: (path: string) => boolean } = {}): MiddlewareHandler {
    const isRpc = options.isRpc ?? (() => false)
    // not async: the common request (known host, no Origin, JSON) costs no promise of its own
    return (c, next) => {
      const host = c.req.header('host')
      if (!this.hostAllowed(host)) return Promise.resolve(this.#refuseHost(c, host!, isRpc(c.req.path)))
      const method = c.req.method
      if (method === 'OPTIONS') {
        const origin = c.req.header('origin')
        if (origin !== undefined && c.req.header('access-control-request-method') !== undefined) {
          return Promise.resolve(this.#preflight(c, origin))
        }
      }
      const changing = STATE_CHANGING.has(method)
      if (!changing && !this.#cors) return next()
      const origin = c.req.header('origin')
      const refused = changing ? this.#refusal(c, method, origin, isRpc(c.req.path)) : undefined
      if (!this.#cors) return refused ? Promise.resolve(refused) : next()
      return this.#withCors(c, next, origin, refused)
    }
  }

  /** Runs the request (unless `refused`) and adds the CORS headers an allowed origin gets. */
  async #withCors(
    c: Context,
    next: () => Promise<void>,
    origin: string | undefined,
    refused: Response | undefined,
  ): Promise<Response> {
    let res = refused
    if (res === undefined) {
      await next()
      res = c.res
    }
    res.headers.append('vary', 'Origin')
    if (origin === undefined || !this.#corsAllows(origin)) return res
    res.headers.set('access-control-allow-origin', this.#allowOriginValue(origin))
    if (this.#credentials) res.headers.set('access-control-allow-credentials', 'true')
    res.headers.set('access-control-expose-headers', EXPOSED_HEADERS)
    return res
  }

  /** The refusal of a state-changing request: another origin (403), a body that is not accepted (415). */
  #refusal(c: Context, method: string, origin: string | undefined, rpc: boolean): Response | undefined {
    if (origin !== undefined && !this.originAllowed(origin, c.req.url)) {
      return refuse(c, rpc, 403, 'PERMISSION_DENIED', {
        detail: `origin ${quote(origin)} may not call ${method} ${c.req.path} on this server: the request comes from a page of another site`,
        hint: ORIGIN_FIX,
        details: { reason: 'origin_not_allowed', origin: clip(origin) },
      })
    }
    return contentTypeRefusal(c, method, rpc)
  }

  #addHost(pattern: string): void {
    if (pattern === '*') return
    if (pattern.startsWith('.')) this.#domains.push(pattern)
    else if (splitHost(pattern)?.port !== undefined) this.#hostPorts.add(pattern)
    else this.#names.add(pattern)
  }

  #corsAllows(origin: string): boolean {
    return this.#anyOrigin || this.#origins.has(origin)
  }

  #allowOriginValue(origin: string): string {
    return this.#anyOrigin && !this.#credentials ? '*' : origin
  }

  #preflight(c: Context, origin: string): Response {
    const asked = c.req.header('access-control-request-method')
    if (!this.#corsAllows(origin)) {
      return refuse(c, false, 403, 'PERMISSION_DENIED', {
        detail: `origin ${quote(origin)} may not call this server from a web page (CORS preflight of ${clip(asked ?? '')} ${c.req.path})`,
        hint: ORIGIN_FIX,
        details: { reason: 'origin_not_allowed', origin: clip(origin) },
      })
    }
    const headers: Record<string, string> = {
      'access-control-allow-origin': this.#allowOriginValue(origin),
      'access-control-allow-methods': PREFLIGHT_METHODS,
      'access-control-max-age': PREFLIGHT_MAX_AGE,
      vary: 'Origin, Access-Control-Request-Headers',
    }
    const requested = c.req.header('access-control-request-headers')
    if (requested) headers['access-control-allow-headers'] = requested
    if (this.#credentials) headers['access-control-allow-credentials'] = 'true'
    // Chromium asks before a public page calls a private address; an allowed origin may
    if (c.req.header('access-control-request-private-network') === 'true') {
      headers['access-control-allow-private-network'] = 'true'
    }
    return c.body(null, 204, headers)
  }

  #refuseHost(c: Context, host: string, rpc: boolean): Response {
    const name = splitHost(host)?.name ?? host
    return refuse(c, rpc, 421, 'PERMISSION_DENIED', {
      detail: `this server does not answer to the host ${quote(host)}: a page reaching it under another site's name (DNS rebinding) is refused`,
      hint: `if you reach the server under this name, allow it: feature_server.allowed_hosts in feature_store.yaml, or --allowed-host ${clip(name)} (behind a proxy that sets Host, "*" allows any)`,
      details: { reason: 'host_not_allowed', host: clip(host) },
    })
  }
}

/**
 * Whether `origin` is the origin of `url`: the URL starts with it and a `/` follows. Browsers
 * serialize `Origin` as the server rebuilt the URL (lower case, default port left out).
 */
function isOwnOrigin(origin: string, url: string): boolean {
  return url.length > origin.length && url.charCodeAt(origin.length) === 47 && url.startsWith(origin)
}

/** The 415 answering a state-changing request whose body is not of an accepted type, or undefined. */
function contentTypeRefusal(c: Context, method: string, rpc: boolean): Response | undefined {
  const type = c.req.header('content-type')
  if (type === undefined) {
    const length = c.req.header('content-length')
    const body = (length !== undefined && length !== '0') || c.req.header('transfer-encoding') !== undefined
    const browser = c.req.header('origin') !== undefined || c.req.header('sec-fetch-site') !== undefined
    if (!body || !browser) return undefined
  } else if (JSON_EXACT.has(type) || acceptedType(type, rpc)) {
    return undefined
  }
  const expected = rpc ? [...RPC_TYPES].join(', ') : 'application/json'
  return refuse(c, rpc, 415, 'UNSUPPORTED', {
    detail:
      type === undefined
        ? `${method} ${c.req.path} from a browser carries a body without a content type; expected ${expected}`
        : `${method} ${c.req.path} does not accept the content type ${quote(type)}; expected ${expected}`,
    hint: rpc
      ? 'send the call with a Connect, gRPC-Web or gRPC client'
      : 'send the body as JSON with the header "content-type: application/json" (curl: -H \'content-type: application/json\')',
    details: { reason: 'content_type', content_type: type === undefined ? null : clip(type), expected },
  })
}

/** Whether a content type other than the exact JSON spellings is accepted: JSON with only a UTF-8 charset, or an RPC type on an RPC path. */
function acceptedType(type: string, rpc: boolean): boolean {
  const [media = '', ...params] = type.split(';').map((p) => p.trim().toLowerCase())
  if (rpc && media !== 'application/json') return RPC_TYPES.has(media)
  if (media !== 'application/json') return false
  return params.every((p) => /^charset\s*=\s*"?utf-?8"?$/.test(p))
}

/** A refusal in the server's JSON error body, or on an RPC path the Connect error body with Larder's headers. */
function refuse(
  c: Context,
  rpc: boolean,
  status: ContentfulStatusCode,
  errorType: string,
  error: { detail: string; hint: string; details: Record<string, unknown> },
): Response {
  if (rpc) {
    return c.json({ code: CONNECT_CODES[status] ?? 'unknown', message: error.detail }, status, {
      'larder-error-code': errorType,
      'larder-error-hint': encodeURIComponent(error.hint),
    })
  }
  const requestId = c.get('requestId') as string | undefined
  return c.json(
    {
      status_code: status,
      error_type: errorType,
      detail: error.detail,
      hint: error.hint,
      details: error.details,
      ...(requestId ? { request_id: requestId } : {}),
    },
    status,
  )
}

function checked(what: string, value: string, normalize: (text: string) => string): string {
  try {
    return normalize(value)
  } catch (e) {
    throw new LarderError('INVALID_ARGUMENT', `${what}: ${(e as Error).message}`, {
      details: { value },
    })
  }
}

function clip(text: string): string {
  return text.length > ECHO_LIMIT ? `${text.slice(0, ECHO_LIMIT)}…` : text
}

function quote(text: string): string {
  return JSON.stringify(clip(text))
}
