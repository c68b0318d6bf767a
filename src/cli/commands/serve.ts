import { type Command, InvalidArgumentError } from 'commander'
import { type Level, pino } from 'pino'
import { isLarderError } from '../../core/index.js'
import { type GrpcListening, listenGrpc, servingFetchHandlers, servingRoutes } from '../../grpc/index.js'
import {
  createServerAuth,
  DEFAULT_MAX_BODY_BYTES,
  FeatureServer,
  listen,
  readTls,
} from '../../server/index.js'
import type { CommandContext } from '../context.js'
import { allowedHostOption, allowedOriginOption, type BrowserFlags, guardOptions } from './browser-flags.js'
import { larderVersion } from './version.js'

interface Options extends BrowserFlags {
  host: string
  port: number
  tlsKey?: string
  tlsCert?: string
  metricsPort?: number
  grpcPort?: number
  maxBodyBytes: number
  readTimeoutMs: number
  writeTimeoutMs: number
  logLevel: Level
}

const LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace']

/**
 * `larder serve`: the feature server on `--port` (Feast's REST routes, the registry REST API, metrics,
 * OpenAPI, and Feast's ServingService in the Connect protocol for Larder's client), and with
 * `--grpc-port` the ServingService over gRPC. Both check the bearer tokens the repo's `auth:` block
 * asks for (`no_auth` by default). The HTTP port refuses browser-borne requests (a `Host` it does not
 * answer to, another origin's writes, bodies that are not JSON); the `feature_server:` keys,
 * `--allowed-host` and `--allowed-origin` widen that. Logs are JSON lines on stdout, the first one
 * `feature server listening` with the URLs, the auth type and the accepted host names. It runs until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish and closes the
 * stores.
 */
export function registerServe(program: Command, ctx: CommandContext): void {
  program
    .command('serve')
    .description('serve features over HTTP: the Feast REST API, the registry REST API and Prometheus metrics')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('-p, --port <port>', 'HTTP port (0: any free port)', port, 6566)
    .option('--tls-key <file>', 'PEM private key; with --tls-cert the server speaks HTTPS')
    .option('--tls-cert <file>', 'PEM certificate chain')
    .option('--metrics-port <port>', 'also serve GET /metrics on this port', port)
    .option('--grpc-port <port>', "also serve Feast's ServingService over gRPC (HTTP/2) on this port", port)
    .option(
      '--max-body-bytes <n>',
      'largest request body; larger ones answer 413',
      positive,
      DEFAULT_MAX_BODY_BYTES,
    )
    .option('--read-timeout-ms <n>', 'an online read slower than this answers 503', positive, 1000)
    .option(
      '--write-timeout-ms <n>',
      'an online write of /push or /write-to-online-store slower than this answers 503 and is aborted',
      positive,
      10_000,
    )
    .option('--log-level <level>', `log level: ${LEVELS.join(', ')}`, level, 'info' as Level)
    .addOption(allowedHostOption())
    .addOption(allowedOriginOption())
    .action(async (opts: Options) => {
      const store = await ctx.openStore()
      // permissions come from the server's own registry, which exists once the server is built
      const auth = createServerAuth(store.config.auth, { permissions: () => server.registry.load() })
      const logger = pino(
        { level: opts.logLevel, base: { service: 'larder' } },
        { write: (line: string) => ctx.output.out(line) },
      )
      const server = new FeatureServer(store, {
        logger,
        maxBodyBytes: opts.maxBodyBytes,
        readTimeoutMs: opts.readTimeoutMs,
        writeTimeoutMs: opts.writeTimeoutMs,
        auth,
        guards: guardOptions(store.config.featureServer, opts),
      })
      // the full text of errors a caller is not shown (an unavailable backend's host and user)
      const grpcHooks = {
        onHiddenError: (err: unknown) => logger.warn({ err }, 'a ServingService call failed'),
      }
      for (const h of servingFetchHandlers(server.target, larderVersion(), auth, grpcHooks))
        server.mount(h.path, h.fetch)
      await server.registry.load()
      await server.target.online().catch((err: unknown) => {
        if (!(isLarderError(err) && err.code === 'BACKEND_UNAVAILABLE')) throw err
        logger.warn(
          { err: err.message },
          'the online store is unavailable; reads answer 503 until it is back',
        )
      })
      const http = await listen(server, {
        host: opts.host,
        port: opts.port,
        tlsKey: opts.tlsKey,
        tlsCert: opts.tlsCert,
        metricsPort: opts.metricsPort,
      }).catch(async (e: unknown) => {
        await server.close()
        throw e
      })
      let grpc: GrpcListening | undefined
      if (opts.grpcPort !== undefined) {
        grpc = await listenGrpc(servingRoutes(server.target, larderVersion(), auth, grpcHooks), {
          host: opts.host,
          port: opts.grpcPort,
          tls: readTls(opts.tlsKey, opts.tlsCert),
        }).catch(async (e: unknown) => {
          await http.close()
          throw e
        })
      }
      logger.info(
        {
          url: http.url,
          metricsUrl: http.metricsUrl,
          grpcUrl: grpc?.url,
          project: store.project,
          auth: auth.authenticator.type,
          allowedHosts: server.guards.allowedHosts,
        },
        'feature server listening',
      )
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        const stop = (s: NodeJS.Signals) => {
          process.off('SIGTERM', stop).off('SIGINT', stop)
          resolve(s)
        }
        process.on('SIGTERM', stop).on('SIGINT', stop)
      })
      logger.info({ signal }, 'shutting down: finishing in-flight requests')
      await Promise.all([http.close(), grpc?.close()])
      logger.info('stopped')
    })
}

function port(text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('a port is an integer from 0 to 65535')
  return n
}

function positive(text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('give a positive integer')
  return n
}

function level(text: string): Level {
  if (!(LEVELS as readonly string[]).includes(text))
    throw new InvalidArgumentError(`one of ${LEVELS.join(', ')}`)
  return text as Level
}
