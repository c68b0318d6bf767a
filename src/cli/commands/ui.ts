import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type Command, InvalidArgumentError } from 'commander'
import { type Level, pino } from 'pino'
import { isLarderError } from '../../core/index.js'
import { UI_AUTH_PATH, uiAuthSettings } from '../../server/auth/index.js'
import { createServerAuth, FeatureServer, listen, serveStaticUi } from '../../server/index.js'
import type { CommandContext } from '../context.js'
import { paint } from '../output.js'
import { allowedHostOption, allowedOriginOption, type BrowserFlags, guardOptions } from './browser-flags.js'

interface Options extends BrowserFlags {
  host: string
  port: number
  tlsKey?: string
  tlsCert?: string
  open?: boolean
  uiDir?: string
  streamStatus?: string
  logLevel: Level
}

const LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace']

/** Where `npm run build` puts the UI: dist/ui beside dist/cli. */
const BUILT_UI = fileURLToPath(new URL('../../ui/', import.meta.url))

/**
 * `larder ui`: the web UI of the repo, served with the registry REST API (`/api/v1`) and the online
 * routes of the feature server on one origin (default http://127.0.0.1:8888). Prints the URL; opens a
 * browser only with `--open`. With an `auth:` block other than `no_auth`, the API routes ask for a
 * bearer token, which the UI asks for and keeps in the tab's sessionStorage; its files stay public.
 * With `oidc` and a discovery URL, the UI's "Sign in" runs the provider's authorization-code flow with
 * PKCE as the public client `ui_client_id` (else `client_id`), its redirect URI the UI's own origin
 * plus `/`; `GET /ui-auth.json` tells the UI those public settings.
 * `--tls-key` with `--tls-cert` serve it over HTTPS, as `larder serve`. Browser-borne requests are
 * refused as by `larder serve` (`--allowed-host`, `--allowed-origin` and the `feature_server:` keys
 * widen that). `--stream-status` names the status server of `larder stream`, whose lag and throughput
 * the stream views page shows. Logs (JSON) go to stderr at `--log-level` (default warn). Runs until SIGTERM or SIGINT.
 */
export function registerUi(program: Command, ctx: CommandContext): void {
  program
    .command('ui')
    .description('serve the web UI: browse the registry, lineage, freshness, and try features online')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('-p, --port <port>', 'HTTP port (0: any free port)', port, 8888)
    .option('--tls-key <file>', 'PEM private key; with --tls-cert the UI is served over HTTPS')
    .option('--tls-cert <file>', 'PEM certificate chain')
    .addOption(allowedHostOption())
    .addOption(allowedOriginOption())
    .option('--open', 'open the UI in the default browser')
    .option('--ui-dir <dir>', 'serve this UI build instead of the bundled one')
    .option(
      '--stream-status <url>',
      'status server of `larder stream` (e.g. http://127.0.0.1:6574): the stream views page shows its lag and throughput',
    )
    .option('--log-level <level>', `log level on stderr: ${LEVELS.join(', ')}`, level, 'warn' as Level)
    .action(async (opts: Options) => {
      const store = await ctx.openStore()
      // permissions come from the server's own registry, which exists once the server is built
      const auth = createServerAuth(store.config.auth, { permissions: () => server.registry.load() })
      const logger = pino({ level: opts.logLevel, base: { service: 'larder-ui' } }, pino.destination(2))
      const server = new FeatureServer(store, {
        logger,
        auth,
        guards: guardOptions(store.config.featureServer, opts),
      })
      // public: the UI reads it before it has a token, to offer "Sign in" with the identity provider
      const settings = uiAuthSettings(store.config.auth)
      server.app.get(UI_AUTH_PATH, (c) => c.json(settings, 200, { 'cache-control': 'no-cache' }))
      server.describeRoute('get', UI_AUTH_PATH, "The UI's public sign-in settings (no token needed)")
      await serveStaticUi(server, opts.uiDir ?? BUILT_UI, {
        streamStatusUrl: opts.streamStatus,
        authorizer: auth.authorizer,
      })
      await server.registry.load()
      await server.target.online().catch((err: unknown) => {
        if (!(isLarderError(err) && err.code === 'BACKEND_UNAVAILABLE')) throw err
        ctx.output.err(
          `warning: the online store is unavailable (${err.message}); "Try it" answers 503 until it is back`,
        )
      })
      const http = await listen(server, {
        host: opts.host,
        port: opts.port,
        tlsKey: opts.tlsKey,
        tlsCert: opts.tlsCert,
      }).catch(async (e: unknown) => {
        await server.close()
        throw e
      })
      ctx.output.out(`Larder UI for project ${store.project}: ${paint(ctx.output, 'bold', http.url)}`)
      ctx.output.out('registry API under /api/v1, online features at /get-online-features; Ctrl-C stops')
      if (auth.authenticator.type !== 'no_auth') {
        ctx.output.out(
          settings.oidc
            ? `auth ${auth.authenticator.type}: the UI signs in with ${settings.oidc.discovery_url} as client ${settings.oidc.client_id} (authorization code + PKCE, redirect URI ${http.url}/), or takes a pasted token; kept for the browser tab`
            : `auth ${auth.authenticator.type}: the UI asks for a bearer token, kept for the browser tab`,
        )
      }
      if (opts.open) openBrowser(http.url)
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGTERM', stop).off('SIGINT', stop)
          resolve()
        }
        process.on('SIGTERM', stop).on('SIGINT', stop)
      })
      await http.close()
    })
}

/** Best effort: the platform's opener, detached; a failure only means the user opens the URL. */
function openBrowser(url: string): void {
  const command =
    process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open'
  try {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true })
    child.on('error', () => undefined)
    child.unref()
  } catch {
    // the URL is printed above
  }
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
