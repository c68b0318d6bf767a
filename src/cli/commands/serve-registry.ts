import { type Command, InvalidArgumentError } from 'commander'
import { type Level, pino } from 'pino'
import { loadRepoConfig } from '../../config/index.js'
import { LarderError } from '../../core/index.js'
import { createRegistry, redactUrl } from '../../registry/index.js'
import { startRegistryServer } from '../../registry-server/index.js'
import { BackgroundRegistry, createServerAuth, readTls } from '../../server/index.js'
import { type CommandContext, repoPath } from '../context.js'
import { allowedHostOption, allowedOriginOption, type BrowserFlags, guardOptions } from './browser-flags.js'

interface Options extends BrowserFlags {
  host: string
  port: number
  restPort?: number
  rest: boolean
  tlsKey?: string
  tlsCert?: string
  logLevel: Level
}

const LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace']

/**
 * `larder serve-registry`: the repo's registry (file or SQL) served as Feast's registry server, the
 * `feast.registry.RegistryServer` gRPC service on `--port` (6570), and Feast's REST registry API
 * under `/api/v1` on `--rest-port` (6572; `--no-rest` leaves it out); both check the bearer tokens the
 * repo's `auth:` block asks for (`no_auth` by default). Clients are repos with
 * `registry: { registry_type: remote, path: host:6570 }`, Larder's or Feast's. Logs are JSON lines on
 * stdout, the first one `registry server listening` with the URLs. It runs until SIGTERM or SIGINT,
 * then lets calls in flight finish and closes the registry.
 */
export function registerServeRegistry(program: Command, ctx: CommandContext): void {
  program
    .command('serve-registry')
    .description("serve the repo's registry as Feast's registry server (gRPC, and the REST registry API)")
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('-p, --port <port>', 'gRPC port of the RegistryServer service (0: any free port)', port, 6570)
    .option(
      '--rest-port <port>',
      'port of the REST registry API under /api/v1 (0: any free port)',
      port,
      6572,
    )
    .option('--no-rest', 'serve gRPC only')
    .option('--tls-key <file>', 'PEM private key; with --tls-cert both servers speak TLS')
    .option('--tls-cert <file>', 'PEM certificate chain')
    .option('--log-level <level>', `log level: ${LEVELS.join(', ')}`, level, 'info' as Level)
    .addOption(allowedHostOption())
    .addOption(allowedOriginOption())
    .addHelpText(
      'after',
      `
Clients point their feature_store.yaml at the gRPC port:
  registry:
    registry_type: remote
    path: <host>:6570

Writes from Larder clients keep per-object optimistic concurrency (a stale change fails with
CONFLICT); writes from Feast clients are applied as Feast applies them.

With an auth block (type oidc or static) every call needs a bearer token; clients set
auth: { type: oidc } (or static) and the token in LARDER_AUTH_TOKEN. See docs/security.md.`,
    )
    .action(async (opts: Options) => {
      const globals = ctx.globals()
      const config = loadRepoConfig(repoPath(globals), globals.featureStoreYaml)
      for (const warning of config.warnings) ctx.output.err(`warning: ${warning}`)
      if (config.registry.registryType === 'remote') {
        throw new LarderError(
          'INVALID_CONFIG',
          `registry.registry_type is remote (${config.registry.path}): serve-registry serves a file or SQL registry, not another server`,
          { hint: 'run serve-registry in a repo whose registry is a file or a database' },
        )
      }
      // the permissions enforced are those of the registry served, read once built below
      const auth = createServerAuth(config.auth, { permissions: () => permissions.load() })
      const where =
        config.registry.registryType === 'sql' ? redactUrl(config.registry.path) : config.registry.path
      const logger = pino(
        { level: opts.logLevel, base: { service: 'larder-registry' } },
        { write: (line: string) => ctx.output.out(line) },
      )
      const registry = await createRegistry(config.registry, config.repoPath)
      // reads of the registry server are always current; its permissions follow within a second,
      // by the registry's cheap version check in the background rather than one per authorization
      const permissions = new BackgroundRegistry(registry, {
        intervalSeconds: 1,
        onError: (err) =>
          logger.warn({ err }, 'registry reload for permissions failed; enforcing the previous ones'),
      })
      try {
        await registry.load({ allowCache: false })
        const server = await startRegistryServer(registry, {
          host: opts.host,
          port: opts.port,
          restPort: opts.rest ? opts.restPort : undefined,
          where,
          tls: readTls(opts.tlsKey, opts.tlsCert),
          onInternalError: (err) => logger.error({ err }, 'request failed'),
          auth,
          guards: guardOptions(config.featureServer, opts),
        })
        logger.info(
          {
            grpcUrl: server.grpcUrl,
            restUrl: server.restUrl,
            registry: where,
            auth: auth.authenticator.type,
          },
          'registry server listening',
        )
        const signal = await new Promise<NodeJS.Signals>((resolve) => {
          const stop = (s: NodeJS.Signals) => {
            process.off('SIGTERM', stop).off('SIGINT', stop)
            resolve(s)
          }
          process.on('SIGTERM', stop).on('SIGINT', stop)
        })
        logger.info({ signal }, 'shutting down: finishing in-flight calls')
        await server.close()
        logger.info('stopped')
      } finally {
        await permissions.close()
        await registry.close()
      }
    })
}

function port(text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('a port is an integer from 0 to 65535')
  return n
}

function level(text: string): Level {
  if (!(LEVELS as readonly string[]).includes(text))
    throw new InvalidArgumentError(`one of ${LEVELS.join(', ')}`)
  return text as Level
}
