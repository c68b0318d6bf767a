import cluster from 'node:cluster'
import { type Command, InvalidArgumentError } from 'commander'
import { type Level, type Logger, pino } from 'pino'
import { isLarderError } from '../../core/index.js'
import { type GrpcListening, listenGrpc, servingFetchHandlers, servingRoutes } from '../../grpc/index.js'
import {
  availableCpus,
  type ClusterWorker,
  joinCluster,
  reportWorkerFailure,
  superviseWorkers,
  type WorkerListening,
} from '../../server/cluster/index.js'
import {
  createServerAuth,
  DEFAULT_MAX_BODY_BYTES,
  FeatureServer,
  listen,
  readTls,
} from '../../server/index.js'
import type { CommandContext } from '../context.js'
import { ExitCode } from '../exit-code.js'
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
  workers?: number
}

const LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace']

/**
 * `larder serve`: the feature server on `--port` (Feast's REST routes, the registry REST API, metrics,
 * OpenAPI, and Feast's ServingService in the Connect protocol for Larder's client), and with
 * `--grpc-port` the ServingService over gRPC. Both check the bearer tokens the repo's `auth:` block
 * asks for (`no_auth` by default). The HTTP port refuses browser-borne requests (a `Host` it does not
 * answer to, another origin's writes, bodies that are not JSON); the `feature_server:` keys,
 * `--allowed-host` and `--allowed-origin` widen that. Logs are JSON lines on stdout, among them
 * `feature server listening` with the URLs, the auth type and the accepted host names once it listens.
 * It runs until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish and closes the
 * stores. With `--workers N` (default: the CPUs available) a primary process forks N workers that
 * share the ports, replaces a worker that dies, and stops them all on SIGTERM or SIGINT; its
 * `feature server listening` line lists the workers (`id`, `pid`) once every one listens, and every
 * line of a worker carries its `pid` and `worker` id.
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
    .option(
      '--workers <n>',
      'processes serving the same ports (default: the CPUs available, within a container limit; 1: a single process)',
      positive,
    )
    .action(async (opts: Options) => {
      if (cluster.isWorker) return serveWorker(ctx, opts)
      const workers = opts.workers ?? availableCpus()
      if (workers === 1) return serveSingle(ctx, opts)
      return servePrimary(ctx, opts, workers)
    })
}

/** One process serving on its own, until SIGTERM or SIGINT. */
async function serveSingle(ctx: CommandContext, opts: Options): Promise<void> {
  const logger = serveLogger(ctx, opts, {})
  const started = await startServer(ctx, opts, logger)
  logger.info(started.listening, 'feature server listening')
  const signal = await stopSignal()
  logger.info({ signal }, 'shutting down: finishing in-flight requests')
  await started.close()
  logger.info('stopped')
}

/**
 * The primary of `--workers N`: checks the repo and options once (so a bad config is reported once,
 * with the usual error, before anything is forked), forks the workers and keeps them alive (see
 * `superviseWorkers`), polls the registry for all of them, and on SIGTERM or SIGINT lets each worker
 * drain and stop. Fails with the first worker's error when the workers cannot start.
 */
async function servePrimary(ctx: CommandContext, opts: Options, workers: number): Promise<void> {
  const store = await ctx.openStore()
  readTls(opts.tlsKey, opts.tlsCert)
  createServerAuth(store.config.auth, { permissions: () => store.registry.load() })
  guardOptions(store.config.featureServer, opts)
  await store.registry.load()
  const logger = serveLogger(ctx, opts, { pid: process.pid })
  const ttl = store.config.registry.cacheTtlSeconds
  const supervisor = superviseWorkers({
    workers,
    logger,
    registry: store.registry,
    registryRefreshSeconds: ttl > 0 ? ttl : 1,
  })
  const stopping = stopSignal()
  const ready = await Promise.race([
    supervisor.ready.then((r) => ({ ...r, signal: undefined })),
    stopping.then((signal) => ({ signal, listening: undefined, workers: [] })),
  ]).catch(async (e: unknown) => {
    await supervisor.stop()
    throw e
  })
  if (ready.listening) {
    logger.info(
      { ...ready.listening, project: store.project, workers: ready.workers },
      'feature server listening',
    )
  }
  const signal = ready.signal ?? (await stopping)
  logger.info({ signal }, 'shutting down: workers finish their in-flight requests')
  await supervisor.stop()
  logger.info('stopped')
}

/**
 * A worker of `--workers N`: today's server on the ports the primary shares, with the registry
 * reloaded when the primary says so and `/metrics` answering for the whole cluster. It drains and stops
 * when the primary asks, or on SIGTERM or SIGINT (a terminal's Ctrl-C reaches every worker); it ends at
 * once when the primary is gone (Node's cluster does so).
 */
async function serveWorker(ctx: CommandContext, opts: Options): Promise<void> {
  const logger = serveLogger(ctx, opts, { pid: process.pid, worker: cluster.worker?.id })
  let link: ClusterWorker | undefined
  const started = await startServer(ctx, opts, logger, (server) => {
    link = joinCluster({ metrics: server.metrics, registry: server.registry, logger })
    return link
  }).catch(async (e: unknown) => {
    // the primary reports it, once for the cluster
    await reportWorkerFailure(e)
    throw new ExitCode(1)
  })
  const worker = link!
  worker.ready(started.listening)
  logger.info(started.listening, 'worker listening')
  const signal = await Promise.race([stopSignal(), worker.stopRequested.then(() => 'asked by the primary')])
  logger.info({ signal }, 'shutting down: finishing in-flight requests')
  await started.close()
  worker.leave()
  logger.info('stopped')
}

/** Serve's JSON log lines on stdout, with `base` fields besides `service`. */
function serveLogger(ctx: CommandContext, opts: Options, base: Record<string, unknown>) {
  return pino(
    { level: opts.logLevel, base: { service: 'larder', ...base } },
    { write: (line: string) => ctx.output.out(line) },
  )
}

/**
 * Builds the feature server on the repo, loads its registry, checks the online store and listens (HTTP,
 * and gRPC with `--grpc-port`). In a cluster worker, `join` is called with the server before it
 * listens, and the server's own registry reloads are left to the primary.
 */
async function startServer(
  ctx: CommandContext,
  opts: Options,
  logger: Logger,
  join?: (server: FeatureServer) => unknown,
): Promise<{ listening: WorkerListening; close(): Promise<void> }> {
  const store = await ctx.openStore()
  // permissions come from the server's own registry, which exists once the server is built
  const auth = createServerAuth(store.config.auth, { permissions: () => server.registry.load() })
  const server = new FeatureServer(store, {
    logger,
    maxBodyBytes: opts.maxBodyBytes,
    readTimeoutMs: opts.readTimeoutMs,
    writeTimeoutMs: opts.writeTimeoutMs,
    auth,
    guards: guardOptions(store.config.featureServer, opts),
    ...(join ? { registryRefreshSeconds: 0 } : {}),
  })
  join?.(server)
  // the full text of errors a caller is not shown (an unavailable backend's host and user)
  const grpcHooks = {
    onHiddenError: (err: unknown) => logger.warn({ err }, 'a ServingService call failed'),
  }
  for (const h of servingFetchHandlers(server.target, larderVersion(), auth, grpcHooks))
    server.mount(h.path, h.fetch)
  await server.registry.load()
  await server.target.online().catch((err: unknown) => {
    if (!(isLarderError(err) && err.code === 'BACKEND_UNAVAILABLE')) throw err
    logger.warn({ err: err.message }, 'the online store is unavailable; reads answer 503 until it is back')
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
  return {
    listening: {
      url: http.url,
      metricsUrl: http.metricsUrl,
      grpcUrl: grpc?.url,
      auth: auth.authenticator.type,
      allowedHosts: server.guards.allowedHosts,
    },
    close: async () => {
      await Promise.all([http.close(), grpc?.close()])
    },
  }
}

/** Resolves with the first SIGTERM or SIGINT. */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (s: NodeJS.Signals) => {
      process.off('SIGTERM', stop).off('SIGINT', stop)
      resolve(s)
    }
    process.on('SIGTERM', stop).on('SIGINT', stop)
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
