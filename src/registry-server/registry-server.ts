import type { Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'
import { Hono } from 'hono'
import { LarderError, NO_AUTH, type ServerAuth } from '../core/index.js'
import { listenGrpc } from '../grpc/index.js'
import type { Registry } from '../registry/index.js'
import { authenticate, principalOf } from '../server/auth/http-auth.js'
import { errorResponse } from '../server/errors.js'
import { registerRegistryApi } from '../server/registry-api.js'
import { type RequestGuardOptions, RequestGuards } from '../server/request-guards.js'
import { registryRoutes } from './registry-service.js'
import { RegistryWriter } from './registry-writes.js'

export interface RegistryServerOptions {
  /** Interface to bind (default 127.0.0.1). */
  readonly host?: string
  /** Port of the gRPC service (Feast's default 6570); 0 picks a free one. */
  readonly port: number
  /** Port of the REST registry API (Feast's default 6572); undefined serves no REST API. */
  readonly restPort?: number
  /** Where the registry lives, for messages (a file path or a redacted database URL). */
  readonly where: string
  /** PEM key and certificate; with them both servers speak TLS. */
  readonly tls?: { readonly key: Buffer; readonly cert: Buffer }
  /** Called with each error answered as an internal error, whose message the client does not see. */
  readonly onInternalError?: (error: unknown) => void
  /**
   * Who may call (default: no authentication, everyone may do everything): every gRPC call and every
   * REST request is authenticated (`authorization: Bearer …`) and authorized (see
   * `RegistryServiceOptions.auth` and `registerRegistryApi`).
   */
  readonly auth?: ServerAuth
  /**
   * Who may reach the REST port from a browser (`server/request-guards.ts`): `Host` names besides IP
   * addresses, `localhost` and the bound name (421 otherwise), and the origins CORS allows (none by
   * default). The gRPC port needs no such check: browsers cannot speak h2c, a rebound name fails the
   * TLS certificate check, and its content types always need a preflight, which it never answers.
   */
  readonly guards?: RequestGuardOptions
}

/** A listening registry server. */
export interface RegistryServerListening {
  /** e.g. `http://127.0.0.1:6570` (gRPC over h2c). */
  readonly grpcUrl: string
  /** e.g. `http://127.0.0.1:6572`, the REST API under `/api/v1`; undefined without `restPort`. */
  readonly restUrl: string | undefined
  /** Stops accepting, lets calls in flight finish, and resolves when both servers are closed. The registry stays open. */
  close(): Promise<void>
}

/**
 * Serves a registry as Feast's registry server: the `feast.registry.RegistryServer` gRPC service on
 * `port` and, with `restPort`, Feast's REST registry API (read side, under `/api/v1`, the routes
 * `larder serve` mounts) on a second port, as `feast serve_registry` does. Rejects with
 * BACKEND_UNAVAILABLE when a port cannot be bound.
 *
 * @example const server = await startRegistryServer(registry, { port: 6570, restPort: 6572, where: 'data/registry.db' })
 */
export async function startRegistryServer(
  registry: Registry,
  options: RegistryServerOptions,
): Promise<RegistryServerListening> {
  const host = options.host ?? '127.0.0.1'
  const grpc = await listenGrpc(
    registryRoutes(registry, {
      where: options.where,
      onInternalError: options.onInternalError,
      auth: options.auth,
    }),
    { host, port: options.port, tls: options.tls },
  )
  let rest: { url: string; close(): Promise<void> } | undefined
  if (options.restPort !== undefined) {
    try {
      rest = await listenRest(registry, host, options.restPort, options)
    } catch (e) {
      await grpc.close()
      throw e
    }
  }
  let closing: Promise<void> | undefined
  return {
    grpcUrl: grpc.url,
    restUrl: rest?.url,
    close() {
      closing ??= Promise.all([grpc.close(), rest?.close()]).then(() => {})
      return closing
    },
  }
}

async function listenRest(
  registry: Registry,
  host: string,
  port: number,
  options: RegistryServerOptions,
): Promise<{ url: string; close(): Promise<void> }> {
  const reader = new RegistryWriter(registry, options.where)
  const auth = options.auth ?? NO_AUTH
  const guards = new RequestGuards(options.guards)
  guards.bindTo(host)
  const app = new Hono()
  app.use('*', guards.middleware())
  app.use('*', authenticate(auth.authenticator))
  registerRegistryApi(
    app,
    '/api/v1',
    () => reader.read(true),
    { authorizer: auth.authorizer, principal: principalOf },
    registry,
  )
  app.onError((err, c) => {
    const { status, body, headers } = errorResponse(err, undefined)
    if (status >= 500) options.onInternalError?.(err)
    return c.json(body, status, headers)
  })
  app.notFound((c) => {
    const { status, body } = errorResponse(
      new LarderError('NOT_FOUND', `no route ${c.req.method} ${c.req.path}`, {
        hint: 'the registry server answers the REST registry API under /api/v1',
      }),
      undefined,
    )
    return c.json(body, status)
  })
  const tls = options.tls
  const server = createAdaptorServer({
    fetch: app.fetch,
    hostname: host,
    ...(tls ? { createServer: createHttpsServer, serverOptions: tls } : {}),
  }) as Server
  const bound = await new Promise<number>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) =>
      reject(
        new LarderError('BACKEND_UNAVAILABLE', `cannot listen on ${host}:${port}: ${e.code ?? e.message}`, {
          hint:
            e.code === 'EADDRINUSE'
              ? 'another process uses the port; pick another with --rest-port'
              : undefined,
          cause: e,
        }),
      )
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve((server.address() as AddressInfo).port)
    })
  })
  const shown = host.includes(':') ? `[${host}]` : host
  return {
    url: `${tls ? 'https' : 'http'}://${shown}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        // connections that finish their request go idle later; close them as they do
        const sweep = setInterval(() => server.closeIdleConnections(), 50)
        const timer = setTimeout(() => server.closeAllConnections(), 10_000)
        server.close(() => {
          clearInterval(sweep)
          clearTimeout(timer)
          resolve()
        })
        server.closeIdleConnections()
      }),
  }
}
