import { readFile, stat } from 'node:fs/promises'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { LarderError } from '../core/index.js'
import { type FeatureServer, isApiPath } from './feature-server.js'

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

/**
 * Serves a built single-page app from `dir` on the feature server, after its own routes, so the UI,
 * the registry REST API and the online routes share one origin. A file under `dir` is served as is
 * (hashed assets as immutable); any other GET path without a file extension answers `index.html`,
 * so deep links survive a reload. API paths that match no route keep the server's JSON 404. The
 * files need no token when the server authenticates requests (the UI's login page must load); its
 * API routes do.
 * Throws NOT_FOUND when `dir` has no `index.html` (the UI was not built).
 *
 * @example await serveStaticUi(server, 'dist/ui')
 */
export async function serveStaticUi(server: FeatureServer, dir: string): Promise<void> {
  const root = resolve(dir)
  const index = await readFile(join(root, 'index.html')).catch(() => {
    throw new LarderError('NOT_FOUND', `the web UI is not built: ${join(root, 'index.html')} is missing`, {
      hint: 'run `npm run build` in the Larder package (it builds the UI into dist/ui)',
    })
  })
  const html = () =>
    new Response(index, {
      headers: { 'content-type': TYPES['.html']!, 'cache-control': 'no-cache' },
    })
  server.app.get('*', async (c, next) => {
    const path = c.req.path
    if (isApiPath(path)) return next()
    let decoded: string
    try {
      decoded = decodeURIComponent(path)
    } catch {
      return next()
    }
    const file = normalize(join(root, decoded))
    if (file !== root && file.startsWith(root + sep)) {
      const info = await stat(file).catch(() => undefined)
      if (info?.isFile()) {
        const body = await readFile(file)
        const immutable = decoded.startsWith('/assets/')
        return new Response(body, {
          headers: {
            'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
            'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
          },
        })
      }
    }
    if (extname(decoded) !== '') return next()
    return html()
  })
}
