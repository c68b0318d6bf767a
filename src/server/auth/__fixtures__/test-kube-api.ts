// A local stand-in for the Kubernetes API server in the kubernetes auth tests: HTTPS with a CA made by
// openssl for this run, the TokenReview endpoint (authentication.k8s.io/v1) and the RBAC lists of
// RoleBindings and ClusterRoleBindings (rbac.authorization.k8s.io/v1), answering as the real server
// does. Every request's shape is checked: a wrong method, path, content type, body or caller token is
// answered as the API server would (404, 415, 400, 401), and counted in `refused`.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A user the API server knows by a token. */
export interface KubeUser {
  readonly username: string
  readonly groups: readonly string[]
}

/** A RoleBinding (with `namespace`) or ClusterRoleBinding (without), as the RBAC API lists it. */
export interface KubeBinding {
  readonly name: string
  readonly namespace?: string
  readonly role: string
  readonly subjects: readonly { kind: string; name: string; namespace?: string }[]
}

export class TestKubeApi {
  readonly #server: Server
  readonly #dir: string
  /** The API server's URL (`https://127.0.0.1:<port>`). */
  readonly url: string
  /** The PEM file of the CA that signed the server's certificate. */
  readonly caPath: string
  /** A ServiceAccount token file of the server under test (the caller the API server expects). */
  readonly callerTokenPath: string
  /** Requests answered, by `METHOD path` (query excluded). */
  readonly calls: string[] = []
  /** Requests refused for their shape or their caller, with the reason. */
  readonly refused: string[] = []
  readonly users = new Map<string, KubeUser>()
  readonly bindings: KubeBinding[] = []

  private constructor(server: Server, dir: string) {
    this.#server = server
    this.#dir = dir
    this.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
    this.caPath = join(dir, 'ca.pem')
    this.callerTokenPath = join(dir, 'token')
  }

  /** Starts the server on a free loopback port with a fresh CA and server certificate. */
  static async start(): Promise<TestKubeApi> {
    const dir = mkdtempSync(join(tmpdir(), 'larder-kube-api-'))
    const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' })
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'ca-key.pem'),
      '-out',
      join(dir, 'ca.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=test kubernetes CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    )
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'csr.pem'),
      '-subj',
      '/CN=kubernetes',
    )
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc\n')
    openssl(
      'x509',
      '-req',
      '-in',
      join(dir, 'csr.pem'),
      '-CA',
      join(dir, 'ca.pem'),
      '-CAkey',
      join(dir, 'ca-key.pem'),
      '-CAcreateserial',
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-extfile',
      join(dir, 'ext.cnf'),
    )
    writeFileSync(join(dir, 'token'), 'token-of-the-larder-server-service-account\n')
    let api: TestKubeApi | undefined
    const server = createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      (req, res) => void api!.#answer(req, res),
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    api = new TestKubeApi(server, dir)
    return api
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => {
        rmSync(this.#dir, { recursive: true, force: true })
        resolve()
      })
      this.#server.closeAllConnections()
    })
  }

  async #answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks).toString('utf8')
    const path = new URL(req.url ?? '/', this.url).pathname
    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value))
    }
    const status = (code: number, reason: string, message: string) => {
      this.refused.push(`${req.method} ${path}: ${message}`)
      json(code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code })
    }
    const caller = readFileSync(this.callerTokenPath, 'utf8').trim()
    if (req.headers.authorization !== `Bearer ${caller}`) {
      return status(401, 'Unauthorized', 'Unauthorized')
    }
    if (req.headers.accept !== undefined && !req.headers.accept.includes('application/json')) {
      return status(406, 'NotAcceptable', `only application/json is served, not ${req.headers.accept}`)
    }
    this.calls.push(`${req.method} ${path}`)
    if (path === '/apis/authentication.k8s.io/v1/tokenreviews') {
      if (req.method !== 'POST') return status(405, 'MethodNotAllowed', `${req.method} is not allowed`)
      if (req.headers['content-type'] !== 'application/json') {
        return status(415, 'UnsupportedMediaType', `unsupported media type ${req.headers['content-type']}`)
      }
      let review: { apiVersion?: unknown; kind?: unknown; spec?: { token?: unknown } }
      try {
        review = JSON.parse(body)
      } catch {
        return status(400, 'BadRequest', 'the body is not JSON')
      }
      if (review.apiVersion !== 'authentication.k8s.io/v1' || review.kind !== 'TokenReview') {
        return status(
          400,
          'BadRequest',
          `not a TokenReview of authentication.k8s.io/v1: ${body.slice(0, 100)}`,
        )
      }
      const token = review.spec?.token
      if (typeof token !== 'string' || token === '') {
        return status(
          422,
          'Invalid',
          'TokenReview.authentication.k8s.io "" is invalid: spec.token: Required value',
        )
      }
      const user = this.users.get(token)
      const answer = {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        metadata: {},
        spec: { token },
      }
      if (user === undefined) {
        return json(201, {
          ...answer,
          status: { user: {}, error: '[invalid bearer token, token lookup failed]' },
        })
      }
      return json(201, {
        ...answer,
        status: {
          authenticated: true,
          user: { username: user.username, uid: `uid-of-${user.username}`, groups: [...user.groups] },
          audiences: ['https://kubernetes.default.svc.cluster.local'],
        },
      })
    }
    if (req.method !== 'GET') return status(405, 'MethodNotAllowed', `${req.method} is not allowed`)
    const rbac = '/apis/rbac.authorization.k8s.io/v1'
    const list = (kind: string, items: readonly KubeBinding[]) =>
      json(200, {
        kind,
        apiVersion: 'rbac.authorization.k8s.io/v1',
        metadata: { resourceVersion: '1' },
        items: items.map((b) => ({
          metadata: { name: b.name, ...(b.namespace === undefined ? {} : { namespace: b.namespace }) },
          roleRef: {
            apiGroup: 'rbac.authorization.k8s.io',
            kind: b.namespace === undefined ? 'ClusterRole' : 'Role',
            name: b.role,
          },
          subjects: b.subjects.map((s) => ({
            ...s,
            ...(s.kind === 'ServiceAccount' ? {} : { apiGroup: 'rbac.authorization.k8s.io' }),
          })),
        })),
      })
    const namespaced = new RegExp(`^${rbac}/namespaces/([^/]+)/rolebindings$`).exec(path)
    if (namespaced) {
      const ns = decodeURIComponent(namespaced[1]!)
      return list(
        'RoleBindingList',
        this.bindings.filter((b) => b.namespace === ns),
      )
    }
    if (path === `${rbac}/rolebindings`) {
      return list(
        'RoleBindingList',
        this.bindings.filter((b) => b.namespace !== undefined),
      )
    }
    if (path === `${rbac}/clusterrolebindings`) {
      return list(
        'ClusterRoleBindingList',
        this.bindings.filter((b) => b.namespace === undefined),
      )
    }
    return status(404, 'NotFound', `the server could not find the requested resource (${path})`)
  }
}
