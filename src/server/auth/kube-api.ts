import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { KubernetesSettings } from '../../config/index.js'
import { LarderError } from '../../core/index.js'

/** How the API server is named to callers: never its address (`callerSafeError`). */
export const KUBE_BACKEND = 'the Kubernetes API server'

/** Where Kubernetes clients find the API server inside a pod when nothing else names it. */
const IN_CLUSTER_URL = 'https://kubernetes.default.svc'

/**
 * The API server's URL as Kubernetes clients find it: `auth.api_server_url`, else
 * `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` (an IPv6 host in brackets, port 443
 * when unset), else `https://kubernetes.default.svc`. No trailing slash.
 */
export function kubeApiServerUrl(settings: KubernetesSettings, env: NodeJS.ProcessEnv = process.env): string {
  if (settings.apiServerUrl !== undefined) return settings.apiServerUrl.replace(/\/+$/, '')
  const host = env.KUBERNETES_SERVICE_HOST?.trim()
  if (host === undefined || host === '') return IN_CLUSTER_URL
  const port = env.KUBERNETES_SERVICE_PORT?.trim() || '443'
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/**
 * A minimal client of the Kubernetes API server: JSON GETs and POSTs authenticated with the server's
 * own ServiceAccount token (read at each call, so a rotated token is used), over TLS trusting the
 * configured CA bundle. Every failure to get a 2xx JSON answer is BACKEND_UNAVAILABLE naming the API
 * server (its address and status in the message, for the log; callers see only the backend's name).
 */
export class KubeApi {
  readonly url: string
  readonly #settings: KubernetesSettings
  readonly #ca: Buffer | undefined

  /** Throws INVALID_CONFIG when the ServiceAccount token, or the CA bundle of an https URL, cannot be read. */
  constructor(settings: KubernetesSettings, env: NodeJS.ProcessEnv = process.env) {
    this.#settings = settings
    this.url = kubeApiServerUrl(settings, env)
    this.#token()
    if (this.url.startsWith('https:')) {
      try {
        this.#ca = readFileSync(settings.caCertPath)
      } catch (cause) {
        throw new LarderError(
          'INVALID_CONFIG',
          `auth type kubernetes: cannot read the API server's CA bundle ${settings.caCertPath}`,
          {
            hint: 'run the server in a pod with its ServiceAccount mounted, or set auth.ca_cert_path to the PEM CA of the API server',
            details: { path: ['auth', 'ca_cert_path'] },
            cause,
          },
        )
      }
    }
  }

  /** GET `path` (below the API server's URL) as JSON. */
  get(path: string, signal?: AbortSignal): Promise<unknown> {
    return this.#call('GET', path, undefined, signal)
  }

  /** POST `body` as JSON to `path`, answering the JSON the API server returns. */
  post(path: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    return this.#call('POST', path, JSON.stringify(body), signal)
  }

  #token(): string {
    const path = this.#settings.tokenPath
    try {
      const token = readFileSync(path, 'utf8').trim()
      if (token !== '') return token
    } catch (cause) {
      throw new LarderError(
        'INVALID_CONFIG',
        `auth type kubernetes: cannot read the server's ServiceAccount token ${path}`,
        {
          hint: 'run the server in a pod with its ServiceAccount token mounted, or set auth.service_account_token_path',
          details: { path: ['auth', 'service_account_token_path'] },
          cause,
        },
      )
    }
    throw new LarderError(
      'INVALID_CONFIG',
      `auth type kubernetes: the ServiceAccount token file ${path} is empty`,
      {
        hint: 'mount the ServiceAccount token there, or set auth.service_account_token_path',
        details: { path: ['auth', 'service_account_token_path'] },
      },
    )
  }

  #call(
    method: 'GET' | 'POST',
    path: string,
    body: string | undefined,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const url = `${this.url}${path}`
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization: `Bearer ${this.#token()}`,
    }
    if (body !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = String(Buffer.byteLength(body))
    }
    const unavailable = (what: string, cause?: unknown, status?: number) =>
      new LarderError('BACKEND_UNAVAILABLE', `${KUBE_BACKEND} at ${this.url}: ${method} ${path} ${what}`, {
        hint:
          status === 401 || status === 403
            ? "let the server's ServiceAccount create tokenreviews (ClusterRole system:auth-delegator) and list rolebindings and clusterrolebindings"
            : 'check that the API server is reachable from the server (auth.api_server_url, KUBERNETES_SERVICE_HOST)',
        details: { backend: KUBE_BACKEND, ...(status === undefined ? {} : { status }) },
        cause,
      })
    const timeout = AbortSignal.timeout(this.#settings.requestTimeoutSeconds * 1000)
    const request = url.startsWith('https:') ? httpsRequest : httpRequest
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          headers,
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
          ...(this.#ca ? { ca: this.#ca } : {}),
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('error', (e) => reject(unavailable(`failed while answering: ${e.message}`, e)))
          res.on('end', () => {
            const status = res.statusCode ?? 0
            const text = Buffer.concat(chunks).toString('utf8')
            if (status < 200 || status > 299) {
              reject(unavailable(`answered ${status}: ${text.slice(0, 300)}`, undefined, status))
              return
            }
            try {
              resolve(JSON.parse(text))
            } catch (e) {
              reject(unavailable('answered something other than JSON', e, status))
            }
          })
        },
      )
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (signal?.aborted) reject(signal.reason)
        else if (timeout.aborted) {
          reject(unavailable(`got no answer within ${this.#settings.requestTimeoutSeconds} s`, e))
        } else reject(unavailable(`failed: ${e.code ?? e.message}`, e))
      })
      req.end(body)
    })
  }
}
