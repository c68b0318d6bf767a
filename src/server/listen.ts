import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'
import { LarderError } from '../core/index.js'
import { errorResponse } from './errors.js'
import type { FeatureServer } from './feature-server.js'

export interface ListenOptions {
  /** Interface to bind (default 127.0.0.1). */
  readonly host?: string
  /** Port of the feature server (default 6566, Feast's); 0 picks a free one. */
  readonly port?: number
  /** PEM files; with both, the server speaks HTTPS. */
  readonly tlsKey?: string
  readonly tlsCert?: string
  /**
   * Also answer `GET /metrics` on this port (plain HTTP on the same host), as Feast's separate metrics
   * server; it asks for a token as the main port does when the server protects its metrics.
   */
  readonly metricsPort?: number
  /** How long `close()` lets in-flight requests finish before cutting their connections (default 10 s). */
  readonly drainTimeoutMs?: number
}

/** A listening feature server. */
export interface Listening {
  /** e.g. `http://127.0.0.1:6566` */
  readonly url: string
  readonly metricsUrl: string | undefined
  /**
   * Stops accepting connections, lets in-flight requests finish (idle keep-alive connections are
   * closed at once; the rest after `drainTimeoutMs`), then stops the feature server's own work. The
   * store stays open for its owner to close.
   */
  close(): Promise<void>
}

/**
 * Serves a feature server over HTTP (or HTTPS with `tlsKey` and `tlsCert`) and, with `metricsPort`,
 * its metrics on a second port. The bound name joins the `Host` names the server answers to (the
 * machine's host name when bound to every interface), and the metrics port checks `Host` as the
 * main port does. Resolves once both listen; rejects with BACKEND_UNAVAILABLE when a port cannot be
 * bound.
 *
 * @example const { url, close } = await listen(server, { port: 6566 })
 */
export async function listen(server: FeatureServer, options: ListenOptions = {}): Promise<Listening> {
  const host = options.host ?? '127.0.0.1'
  const tls = readTls(options.tlsKey, options.tlsCert)
  server.guards.bindTo(host)
  const http = createAdaptorServer({
    fetch: server.fetch,
    hostname: host,
    ...(tls ? { createServer: createHttpsServer, serverOptions: tls } : {}),
  }) as Server
  const port = await bind(http, host, options.port ?? 6566)
  let metrics: Server | undefined
  let metricsPort: number | undefined
  if (options.metricsPort !== undefined) {
    metrics = createHttpServer((req, res) => {
      if (!server.guards.hostAllowed(req.headers.host)) {
        res.writeHead(421, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            status_code: 421,
            error_type: 'PERMISSION_DENIED',
            detail: `this server does not answer to the host ${JSON.stringify(req.headers.host?.slice(0, 200))}`,
            hint: 'allow the name with feature_server.allowed_hosts in feature_store.yaml, or --allowed-host',
            details: { reason: 'host_not_allowed' },
          }),
        )
        return
      }
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            status_code: 404,
            error_type: 'NOT_FOUND',
            detail: 'only GET /metrics is served here',
          }),
        )
        return
      }
      const headers = new Headers()
      for (const [k, v] of Object.entries(req.headers)) {
        if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v)
      }
      server.metricsFor(headers).then(
        ({ contentType, text }) => res.writeHead(200, { 'content-type': contentType }).end(text),
        (err: unknown) => {
          const answer = errorResponse(err, undefined)
          res
            .writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers })
            .end(JSON.stringify(answer.body))
        },
      )
    })
    try {
      metricsPort = await bind(metrics, host, options.metricsPort)
    } catch (e) {
      await closeServer(http, 0)
      throw e
    }
  }
  const shown = host.includes(':') ? `[${host}]` : host
  const drain = options.drainTimeoutMs ?? 10_000
  let closing: Promise<void> | undefined
  return {
    url: `${tls ? 'https' : 'http'}://${shown}:${port}`,
    metricsUrl: metrics ? `http://${shown}:${metricsPort}/metrics` : undefined,
    close() {
      closing ??= (async () => {
        await Promise.all([closeServer(http, drain), metrics ? closeServer(metrics, 0) : undefined])
        await server.close()
      })()
      return closing
    },
  }
}

/**
 * Reads a PEM key and certificate, or undefined when neither is given. Throws INVALID_ARGUMENT when
 * only one is given or a file cannot be read.
 */
export function readTls(
  keyPath: string | undefined,
  certPath: string | undefined,
): { key: Buffer; cert: Buffer } | undefined {
  if (keyPath === undefined && certPath === undefined) return undefined
  if (keyPath === undefined || certPath === undefined) {
    throw new LarderError('INVALID_ARGUMENT', 'TLS needs both a key and a certificate', {
      hint: 'give --tls-key and --tls-cert together',
    })
  }
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path)
    } catch (cause) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `cannot read the TLS ${what} ${path}: ${(cause as Error).message}`,
        {
          cause,
        },
      )
    }
  }
  return { key: read(keyPath, 'key'), cert: read(certPath, 'certificate') }
}

function bind(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) =>
      reject(
        new LarderError('BACKEND_UNAVAILABLE', `cannot listen on ${host}:${port}: ${e.code ?? e.message}`, {
          hint:
            e.code === 'EADDRINUSE' ? 'another process uses the port; pick another with --port' : undefined,
          cause: e,
        }),
      )
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

/** Stops accepting, closes idle connections now and busy ones after `drainMs`, and settles when all are gone. */
function closeServer(server: Server, drainMs: number): Promise<void> {
  return new Promise((resolve) => {
    // connections that finish their request go idle later; close them as they do
    const sweep = setInterval(() => server.closeIdleConnections(), 50)
    const timer = setTimeout(() => server.closeAllConnections(), drainMs)
    server.close(() => {
      clearInterval(sweep)
      clearTimeout(timer)
      resolve()
    })
    server.closeIdleConnections()
  })
}
