import { readFile, stat } from 'node:fs/promises'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { promisify } from 'node:util'
import { brotliCompress, constants, gzip } from 'node:zlib'
import { type Authorizer, LarderError } from '../core/index.js'
import { principalOf } from './auth/http-auth.js'
import { type FeatureServer, isApiPath } from './feature-server.js'
import { registerStreamStatusRoute } from './registry-api.js'

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
}

/** Types worth compressing (images and fonts other than SVG are compressed already). */
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.json', '.svg', '.map', '.txt'])

/** Smaller files gain nothing from compression but the work of it. */
const MIN_COMPRESSED_BYTES = 1024

/** The icon served at `/favicon.ico` when the build has none: browsers ask for that path by default. */
const FAVICON_FALLBACK = 'favicon.svg'

/** Brotli's quality for a file compressed on first request: within a few per cent of 11's size at a small fraction of its time. */
const BROTLI_QUALITY = 5

const brotli = promisify(brotliCompress)
const gzipAsync = promisify(gzip)

type Encoding = 'br' | 'gzip'

/** A file of the build, with its compressed forms once computed. */
interface Served {
  readonly body: Buffer
  readonly ext: string
  readonly type: string
  readonly cacheControl: string
  readonly encoded: Map<Encoding, Promise<Buffer>>
}

/**
 * The encoding to answer with from an `Accept-Encoding` header: brotli, else gzip, else none. An
 * encoding with `q=0` is refused.
 */
export function chooseEncoding(accept: string | undefined): Encoding | undefined {
  if (!accept) return undefined
  const accepted = new Set<string>()
  for (const part of accept.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';')
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='))
    if (q !== undefined && Number(q.slice(2)) === 0) continue
    if (name) accepted.add(name)
  }
  if (accepted.has('br')) return 'br'
  if (accepted.has('gzip') || accepted.has('*')) return 'gzip'
  return undefined
}

export interface StaticUiOptions {
  /**
   * The status server of `larder stream` (its `/health` and `/metrics`), which the UI's stream views
   * page reads through `GET /api/v1/stream_status`; without it that route says none is configured.
   */
  readonly streamStatusUrl?: string
  /** Who may read `/api/v1/stream_status` (DESCRIBE on the project); default: whoever the server authenticated. */
  readonly authorizer?: Authorizer
}

/** The registry REST API's prefix, under which the stream status route is served. */
const REGISTRY_PATH = '/api/v1'

/** Allows every principal the server's middleware authenticated. */
const ALLOW_ALL: Authorizer = { authorize: () => undefined }

/**
 * Serves a built single-page app from `dir` on the feature server, after its own routes, so the UI,
 * the registry REST API and the online routes share one origin. A file under `dir` is served as is;
 * any other GET path without a file extension answers `index.html`, so deep links survive a reload.
 * `/favicon.ico` answers the build's `favicon.svg` when the build has no `.ico`. API paths that match
 * no route keep the server's JSON 404. The files need no token when the server authenticates
 * requests (the UI's login page must load); its API routes do.
 *
 * Caching: hashed files under `/assets/` are `immutable` for a year, every other file (and
 * `index.html`) `no-cache`. Also registers `GET /api/v1/stream_status` (see
 * `registerStreamStatusRoute`) with `options`. Text files of 1 KiB or more are answered brotli- or gzip-compressed when
 * `Accept-Encoding` allows (brotli first), each compressed once on first request and kept in memory
 * for the life of the server (the build does not change under it); `Vary: Accept-Encoding` always.
 * Throws NOT_FOUND when `dir` has no `index.html` (the UI was not built).
 *
 * @example await serveStaticUi(server, 'dist/ui')
 */
export async function serveStaticUi(
  server: FeatureServer,
  dir: string,
  options: StaticUiOptions = {},
): Promise<void> {
  const root = resolve(dir)
  const index = await readFile(join(root, 'index.html')).catch(() => {
    throw new LarderError('NOT_FOUND', `the web UI is not built: ${join(root, 'index.html')} is missing`, {
      hint: 'run `npm run build` in the Larder package (it builds the UI into dist/ui)',
    })
  })
  registerStreamStatusRoute(
    server.app,
    REGISTRY_PATH,
    { authorizer: options.authorizer ?? ALLOW_ALL, principal: principalOf },
    options.streamStatusUrl,
  )
  server.describeRoute(
    'get',
    `${REGISTRY_PATH}/stream_status`,
    "What the stream processor's status server reports (lag, throughput, health), for the stream views page",
  )
  const cache = new Map<string, Served>()
  const served = (body: Buffer, file: string, immutable: boolean): Served => ({
    body,
    ext: extname(file),
    type: TYPES[extname(file)] ?? 'application/octet-stream',
    cacheControl: immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    encoded: new Map(),
  })
  const html = served(index, 'index.html', false)
  /** The file at `decoded` under the root, read once; undefined when there is none. */
  const lookup = async (decoded: string): Promise<Served | undefined> => {
    const hit = cache.get(decoded)
    if (hit) return hit
    const file = normalize(join(root, decoded))
    if (file === root || !file.startsWith(root + sep)) return undefined
    const info = await stat(file).catch(() => undefined)
    if (!info?.isFile()) return undefined
    const found = served(await readFile(file), file, decoded.startsWith('/assets/'))
    cache.set(decoded, found)
    return found
  }
  const respond = async (file: Served, accept: string | undefined): Promise<Response> => {
    const headers: Record<string, string> = {
      'content-type': file.type,
      'cache-control': file.cacheControl,
      vary: 'Accept-Encoding',
    }
    const encoding =
      COMPRESSIBLE.has(file.ext) && file.body.length >= MIN_COMPRESSED_BYTES
        ? chooseEncoding(accept)
        : undefined
    if (encoding === undefined) return new Response(file.body, { headers })
    let body = file.encoded.get(encoding)
    if (!body) {
      body =
        encoding === 'br'
          ? brotli(file.body, {
              params: {
                [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
                [constants.BROTLI_PARAM_SIZE_HINT]: file.body.length,
              },
            })
          : gzipAsync(file.body, { level: 9 })
      file.encoded.set(encoding, body)
    }
    headers['content-encoding'] = encoding
    return new Response(await body, { headers })
  }
  server.app.get('*', async (c, next) => {
    const path = c.req.path
    if (isApiPath(path)) return next()
    let decoded: string
    try {
      decoded = decodeURIComponent(path)
    } catch {
      return next()
    }
    const accept = c.req.header('accept-encoding')
    const file =
      (await lookup(decoded)) ??
      (decoded === '/favicon.ico' ? await lookup(`/${FAVICON_FALLBACK}`) : undefined)
    if (file) return respond(file, accept)
    if (extname(decoded) !== '') return next()
    return respond(html, accept)
  })
}
