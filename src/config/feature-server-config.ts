import { isIPv4, isIPv6 } from 'node:net'
import { z } from 'zod'
import { LarderError } from '../core/index.js'

/**
 * The `feature_server:` block. Feast's keys (`type`, `metrics`, `feature_logging`, …) are accepted
 * and ignored (a warning names them); Larder reads the browser-facing keys of its HTTP servers
 * (`larder serve`, `larder ui`, the REST port of `larder serve-registry`): which `Host` names they
 * answer to, which other origins may call them from a web page, and whether those calls may carry
 * cookies.
 */
export interface BrowserAccessConfig {
  /** Host names (normalized, see {@link normalizeHostPattern}) accepted besides the defaults; `*` accepts any. */
  readonly allowedHosts: readonly string[]
  /** Origins (normalized, see {@link normalizeOrigin}) allowed to call cross-origin (CORS); `*` allows any. */
  readonly allowedOrigins: readonly string[]
  /** Answer allowed origins with `Access-Control-Allow-Credentials: true` (never with `*`). */
  readonly allowCredentials: boolean
}

/** The keys of the `feature_server:` block Larder acts on; the others are Feast's, ignored. */
export const BROWSER_ACCESS_KEYS: readonly string[] = [
  'allowed_hosts',
  'allowed_origins',
  'allow_credentials',
]

const oneOrMany = z.union([z.string().min(1), z.array(z.string().min(1))])

/** `feature_server:`: Feast's block (its keys kept loosely, ignored) with Larder's browser keys. */
export const featureServerConfigSchema = z.looseObject({
  type: z.enum(['local', 'mcp']).optional().describe("Feast's feature server type; ignored"),
  allowed_hosts: oneOrMany
    .optional()
    .describe(
      'Larder: Host names its HTTP servers answer besides IP addresses, localhost and the bound name (a name, name:port, .example.com for a domain and its subdomains, or "*" for any, behind a proxy that sets Host)',
    ),
  allowed_origins: oneOrMany
    .optional()
    .describe(
      'Larder: web origins (https://app.example.com) allowed to call the servers from a browser (CORS, and state-changing requests); "*" for any. Default none',
    ),
  allow_credentials: z
    .boolean()
    .optional()
    .describe('Larder: let allowed origins send cookies (Access-Control-Allow-Credentials); not with "*"'),
})

export const NO_BROWSER_ACCESS: BrowserAccessConfig = Object.freeze({
  allowedHosts: Object.freeze([]),
  allowedOrigins: Object.freeze([]),
  allowCredentials: false,
})

const HOST_NAME = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/

/**
 * Why `text` is not a host an allowlist can hold, or undefined when it is: `*`, a DNS name, an IPv4
 * address, an IPv6 address (bracketed or not), each optionally with `:port`, or `.example.com`
 * (the domain and every subdomain, any port).
 */
export function hostPatternIssue(text: string): string | undefined {
  try {
    normalizeHostPattern(text)
    return undefined
  } catch (e) {
    return (e as Error).message
  }
}

/**
 * The canonical form of an allowed host: lower case, a trailing dot dropped, IPv6 in brackets, the
 * port kept when given (then only that port matches). Throws an Error saying what is wrong.
 *
 * @example normalizeHostPattern('Features.Example.com:8443') // 'features.example.com:8443'
 */
export function normalizeHostPattern(text: string): string {
  const raw = text.trim().toLowerCase()
  if (raw === '*') return raw
  if (raw === '' || /[/@?#\s]/.test(raw) || raw.includes('://')) {
    throw new Error(
      `"${text}" is not a host name; write a name such as features.example.com, optionally with :port`,
    )
  }
  if (isIPv6(raw)) return `[${raw}]`
  const parsed = splitHost(raw, true)
  if (parsed === undefined) {
    throw new Error(
      `"${text}" is not a host name; write a name such as features.example.com, an IP address, or [::1]:8080`,
    )
  }
  const { name, port } = parsed
  if (name.startsWith('.')) {
    if (port !== undefined)
      throw new Error(`"${text}": a domain pattern (.example.com) matches any port; leave the port out`)
    if (!HOST_NAME.test(name.slice(1))) throw new Error(`"${text}" is not a domain; write .example.com`)
    return name
  }
  return port === undefined ? name : `${name}:${port}`
}

/**
 * A `Host` header value split into its name (lower case, no trailing dot, IPv6 in brackets) and port,
 * or undefined when it is not a valid host (a DNS name, an IPv4 address or a bracketed IPv6 address,
 * with an optional port from 1 to 65535). With `domainPattern`, the name may start with a dot.
 */
export function splitHost(
  host: string,
  domainPattern = false,
): { name: string; port: number | undefined } | undefined {
  const text = host.toLowerCase()
  let name: string
  let rest: string
  if (text.startsWith('[')) {
    const end = text.indexOf(']')
    if (end < 0 || !isIPv6(text.slice(1, end))) return undefined
    name = text.slice(0, end + 1)
    rest = text.slice(end + 1)
  } else {
    const colon = text.indexOf(':')
    name = colon < 0 ? text : text.slice(0, colon)
    rest = colon < 0 ? '' : text.slice(colon)
    if (name.endsWith('.') && name.length > 1) name = name.slice(0, -1)
    const bare = domainPattern && name.startsWith('.') ? name.slice(1) : name
    if (!HOST_NAME.test(bare) && !isIPv4(bare)) return undefined
  }
  if (rest === '') return { name, port: undefined }
  if (!/^:\d{1,5}$/.test(rest)) return undefined
  const port = Number(rest.slice(1))
  return port >= 1 && port <= 65535 ? { name, port } : undefined
}

/**
 * The serialized origin a browser sends in `Origin` for `text` (`scheme://host[:port]`, lower case, the
 * default port dropped), or `*`. Only http and https origins; no path, query, user or `null`. Throws
 * an Error saying what is wrong.
 *
 * @example normalizeOrigin('HTTPS://App.Example.com:443/') // 'https://app.example.com'
 */
export function normalizeOrigin(text: string): string {
  const raw = text.trim()
  if (raw === '*') return raw
  if (raw === 'null') {
    throw new Error(
      '"null" is the origin of sandboxed frames and local files, any of which could send it; it cannot be allowed',
    )
  }
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new Error(`"${text}" is not an origin; write scheme://host[:port], e.g. https://app.example.com`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`"${text}" is not an http or https origin; write e.g. https://app.example.com`)
  }
  const extra = url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== ''
  if (extra || url.pathname !== '/' || raw.endsWith('?') || raw.endsWith('#')) {
    throw new Error(`"${text}" is not an origin: it has more than scheme://host[:port]; write ${url.origin}`)
  }
  return url.origin
}

/**
 * The browser keys of a parsed `feature_server:` block, checked and normalized. Throws INVALID_CONFIG
 * naming the key, the value and the fix (a host or origin that is not one; `*` in `allowed_origins`
 * with `allow_credentials: true`).
 */
export function browserAccessOf(
  block: z.output<typeof featureServerConfigSchema> | undefined,
  source: string,
): BrowserAccessConfig {
  if (block === undefined) return NO_BROWSER_ACCESS
  const list = (key: 'allowed_hosts' | 'allowed_origins', normalize: (text: string) => string) => {
    const value = block[key]
    const items = value === undefined ? [] : typeof value === 'string' ? [value] : value
    return items.map((item, i) => {
      try {
        return normalize(item)
      } catch (e) {
        const path = typeof value === 'string' ? `feature_server.${key}` : `feature_server.${key}[${i}]`
        throw new LarderError('INVALID_CONFIG', `${source}: ${path}: ${(e as Error).message}`, {
          details: { path: ['feature_server', key, ...(typeof value === 'string' ? [] : [i])], value: item },
        })
      }
    })
  }
  const allowedHosts = list('allowed_hosts', normalizeHostPattern)
  const allowedOrigins = list('allowed_origins', normalizeOrigin)
  const allowCredentials = block.allow_credentials ?? false
  if (allowCredentials && allowedOrigins.includes('*')) {
    throw new LarderError(
      'INVALID_CONFIG',
      `${source}: feature_server.allow_credentials is true while feature_server.allowed_origins holds "*": any web page could then call the servers with the user's cookies`,
      {
        hint: 'list the origins that may call with credentials in feature_server.allowed_origins, or set allow_credentials: false',
        details: { path: ['feature_server', 'allow_credentials'], value: true },
      },
    )
  }
  return Object.freeze({
    allowedHosts: Object.freeze([...new Set(allowedHosts)]),
    allowedOrigins: Object.freeze([...new Set(allowedOrigins)]),
    allowCredentials,
  })
}
