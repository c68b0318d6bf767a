import {
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
} from 'node:http2'
import type { AddressInfo } from 'node:net'
import type { ConnectRouter } from '@connectrpc/connect'
import { connectNodeAdapter } from '@connectrpc/connect-node'
import { LarderError } from '../core/index.js'

export interface GrpcListenOptions {
  /** Interface to bind (default 127.0.0.1). */
  readonly host?: string
  /** 0 picks a free port. */
  readonly port: number
  /** PEM key and certificate; with them the server speaks TLS (and HTTP/1.1 via ALPN for gRPC-Web). */
  readonly tls?: { readonly key: Buffer; readonly cert: Buffer }
}

/** A listening gRPC server. */
export interface GrpcListening {
  /** e.g. `http://127.0.0.1:6567` (gRPC over h2c) or `https://…` with TLS. */
  readonly url: string
  /** Stops accepting, lets calls in flight finish (sessions get a GOAWAY), and resolves when all are closed. */
  close(): Promise<void>
}

/**
 * Serves Connect routes (gRPC, gRPC-Web and Connect) over HTTP/2 on `port`: cleartext h2c, as gRPC
 * clients with "insecure" credentials expect, or TLS with `tls`. Rejects with BACKEND_UNAVAILABLE
 * when the port cannot be bound.
 *
 * @example await listenGrpc(servingRoutes(target, version), { port: 6567 })
 */
export async function listenGrpc(
  routes: (router: ConnectRouter) => void,
  options: GrpcListenOptions,
): Promise<GrpcListening> {
  const host = options.host ?? '127.0.0.1'
  const handler = connectNodeAdapter({ routes })
  const server: Http2Server | Http2SecureServer = options.tls
    ? createSecureServer({ key: options.tls.key, cert: options.tls.cert, allowHTTP1: true }, handler)
    : createServer(handler)
  const sessions = new Set<Http2Session>()
  server.on('session', (s: Http2Session) => {
    sessions.add(s)
    s.once('close', () => sessions.delete(s))
  })
  const port = await new Promise<number>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) =>
      reject(
        new LarderError(
          'BACKEND_UNAVAILABLE',
          `cannot listen for gRPC on ${host}:${options.port}: ${e.code ?? e.message}`,
          {
            hint:
              e.code === 'EADDRINUSE'
                ? 'another process uses the port; pick another with --grpc-port'
                : undefined,
            cause: e,
          },
        ),
      )
    server.once('error', onError)
    server.listen(options.port, host, () => {
      server.off('error', onError)
      resolve((server.address() as AddressInfo).port)
    })
  })
  const shown = host.includes(':') ? `[${host}]` : host
  let closing: Promise<void> | undefined
  return {
    url: `${options.tls ? 'https' : 'http'}://${shown}:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const s of sessions) s.close()
      })
      return closing
    },
  }
}
