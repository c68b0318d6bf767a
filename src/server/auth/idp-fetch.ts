import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { LarderError } from '../../core/index.js'

/** A `fetch` for GET requests to the identity provider, as jose's `customFetch` calls it. */
export type IdpFetch = (
  url: string,
  init: { readonly headers?: Headers | Record<string, string>; readonly signal?: AbortSignal },
) => Promise<Response>

/**
 * How Larder fetches the identity provider's discovery document and JWKS: the global `fetch`, or,
 * with `verify_ssl: false` or a `ca_cert_path`, an HTTPS GET that trusts that CA bundle or no
 * certificate at all (Feast's two options for a provider with a private or self-signed certificate).
 * Throws INVALID_CONFIG when the CA bundle cannot be read.
 */
export function idpFetch(options: {
  readonly verifySsl: boolean
  readonly caCertPath: string | undefined
}): IdpFetch {
  if (options.verifySsl && options.caCertPath === undefined) return (url, init) => fetch(url, init)
  let ca: Buffer | undefined
  if (options.caCertPath !== undefined) {
    try {
      ca = readFileSync(options.caCertPath)
    } catch (cause) {
      throw new LarderError('INVALID_CONFIG', `auth.ca_cert_path: cannot read ${options.caCertPath}`, {
        hint: "give the PEM file of the CA that signed the identity provider's certificate",
        cause,
      })
    }
  }
  return (url, init) => {
    if (!url.startsWith('https:')) return fetch(url, init)
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'GET',
          headers: Object.fromEntries(new Headers(init.headers).entries()),
          signal: init.signal,
          rejectUnauthorized: options.verifySsl,
          ...(ca ? { ca } : {}),
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('error', reject)
          res.on('end', () => {
            const headers = new Headers()
            for (const [k, v] of Object.entries(res.headers)) {
              if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v)
            }
            resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 502, headers }))
          })
        },
      )
      req.on('error', reject)
      req.end()
    })
  }
}
