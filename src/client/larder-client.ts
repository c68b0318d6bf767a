import { type Client, Code, ConnectError, createClient, type Transport } from '@connectrpc/connect'
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node'
import {
  type Abortable,
  isLarderError,
  LarderError,
  type LarderErrorCode,
  type TokenProvider,
  toMicros,
} from '../core/index.js'
import { ServingService } from '../gen/feast/serving/ServingService_pb.js'
import {
  ERROR_CODE_HEADER,
  ERROR_HINT_HEADER,
  requestMessage,
  responseFromMessage,
  VALUE_TYPES_HEADER,
} from '../grpc/serving-messages.js'
import type {
  JobJson,
  JobProgress,
  JobRecord,
  JobStatus,
  ProgressJson,
  ViewProgress,
} from '../registry/jobs.js'
import {
  type GetOnlineFeaturesOptions,
  type OnlineFeaturesRequest,
  type OnlineFeaturesResponse,
  STRICT_HEADER,
} from '../serving/online-features.js'

export interface LarderClientOptions {
  /**
   * `connect` (default) calls the feature server's HTTP port (`larder serve --port`) with the Connect
   * protocol over HTTP/1.1; `grpc` calls the gRPC port (`larder serve --grpc-port`) over HTTP/2.
   */
  readonly protocol?: 'connect' | 'grpc'
  /** Milliseconds before a call fails with BACKEND_UNAVAILABLE (default 10 s). */
  readonly timeoutMs?: number
  /** Headers sent with every call, e.g. a header a proxy in front of the server asks for. */
  readonly headers?: Readonly<Record<string, string>>
  /** A bearer token sent with every call (`authorization: Bearer <token>`), for a server with `auth`. */
  readonly token?: string
  /**
   * Gives the bearer token for each call, instead of `token`: it is called before every call (a
   * provider caches as it sees fit), so a rotated or refreshed token is used from the next call on.
   */
  readonly tokenProvider?: TokenProvider
}

/**
 * A remote feature store with the in-process SDK's read API: `getOnlineFeatures` takes the same
 * request and returns the same response as `FeatureStore.getOnlineFeatures`, values and statuses
 * included (int64 beyond 2^53 as a bigint), so an application switches between in-process and
 * remote reads by changing the object it calls. `listJobs`, `getJob` and `cancelJob` do the same for
 * the server's jobs, over its REST routes (`/jobs`). With `token` or `tokenProvider`, every call
 * carries `authorization: Bearer <token>`. Errors are `LarderError`s with the server's code and hint
 * (UNAUTHENTICATED for a missing or refused token, PERMISSION_DENIED); a server that cannot be
 * reached is BACKEND_UNAVAILABLE.
 *
 * @example
 * const store = new LarderClient('http://127.0.0.1:6566')
 * const res = await store.getOnlineFeatures({ entities: { driver_id: [1001] }, features: ['driver_hourly_stats:conv_rate'] })
 */
export class LarderClient {
  readonly url: string
  readonly #protocol: 'connect' | 'grpc'
  readonly #client: Client<typeof ServingService>
  readonly #timeoutMs: number
  readonly #headers: Readonly<Record<string, string>>
  readonly #token: TokenProvider | undefined

  constructor(url: string, options: LarderClientOptions = {}) {
    this.url = url.replace(/\/+$/, '')
    this.#protocol = options.protocol ?? 'connect'
    if (options.token !== undefined && options.tokenProvider !== undefined) {
      throw new LarderError('INVALID_ARGUMENT', 'LarderClient takes token or tokenProvider, not both', {
        hint: 'pass tokenProvider to have the token asked for at each call',
      })
    }
    const token = options.token
    this.#token = token !== undefined ? async () => token : options.tokenProvider
    const transport: Transport =
      options.protocol === 'grpc'
        ? createGrpcTransport({ baseUrl: this.url })
        : createConnectTransport({ baseUrl: this.url, httpVersion: '1.1' })
    this.#client = createClient(ServingService, transport)
    this.#timeoutMs = options.timeoutMs ?? 10_000
    this.#headers = { ...options.headers }
  }

  /** The latest feature values of entity rows, as {@link FeatureStore.getOnlineFeatures} returns them. */
  async getOnlineFeatures(
    request: OnlineFeaturesRequest,
    options: Abortable & Pick<GetOnlineFeaturesOptions, 'strict'> = {},
  ): Promise<OnlineFeaturesResponse> {
    let valueTypes: number[] | undefined
    const message = requestMessage(request)
    const response = await this.#call(async () =>
      this.#client.getOnlineFeatures(message, {
        signal: options.signal,
        timeoutMs: this.#timeoutMs,
        headers: await this.#callHeaders(options.strict ? { [STRICT_HEADER]: 'true' } : {}),
        onHeader: (headers) => {
          valueTypes = headers.get(VALUE_TYPES_HEADER)?.split(',').filter(Boolean).map(Number)
        },
      }),
    )
    return responseFromMessage(response, valueTypes)
  }

  /** The server's version, from Feast's `GetFeastServingInfo`. */
  async version(options: Abortable = {}): Promise<string> {
    const info = await this.#call(async () =>
      this.#client.getFeastServingInfo(
        {},
        { signal: options.signal, timeoutMs: this.#timeoutMs, headers: await this.#callHeaders() },
      ),
    )
    return info.version
  }

  /**
   * The project's jobs, newest first, as {@link FeatureStore.listJobs} returns them (`GET /jobs`):
   * only those in the `status` states when given, at most `limit` (default 50, at most 1000).
   */
  async listJobs(
    options: Abortable & { readonly status?: readonly JobStatus[]; readonly limit?: number } = {},
  ): Promise<JobRecord[]> {
    const query = new URLSearchParams()
    if (options.status && options.status.length > 0) query.set('status', options.status.join(','))
    if (options.limit !== undefined) query.set('limit', String(options.limit))
    const path = query.size > 0 ? `/jobs?${query}` : '/jobs'
    const body = (await this.#rest('GET', path, options)) as { jobs: JobJson[] }
    return body.jobs.map(jobRecord)
  }

  /** One job, as {@link FeatureStore.getJob} returns it (`GET /jobs/{id}`); NOT_FOUND naming the id. */
  async getJob(id: string, options: Abortable = {}): Promise<JobRecord> {
    return jobRecord((await this.#rest('GET', `/jobs/${encodeURIComponent(id)}`, options)) as JobJson)
  }

  /**
   * Cancels a job, as {@link FeatureStore.cancelJob} (`DELETE /jobs/{id}`): its runner stops at the
   * next batch boundary; a lost job is marked cancelled at once. Returns the job as stored after.
   */
  async cancelJob(id: string, options: Abortable = {}): Promise<JobRecord> {
    return jobRecord((await this.#rest('DELETE', `/jobs/${encodeURIComponent(id)}`, options)) as JobJson)
  }

  /**
   * Calls one of the server's REST routes and returns its JSON body. An error answer becomes the
   * server's LarderError (code, message, hint, details); no answer, BACKEND_UNAVAILABLE.
   */
  async #rest(method: 'GET' | 'DELETE', path: string, options: Abortable): Promise<unknown> {
    if (this.#protocol === 'grpc') {
      throw new LarderError(
        'UNSUPPORTED',
        `jobs are served over HTTP, and the client for ${this.url} speaks gRPC`,
        {
          hint: "create a LarderClient with the feature server's HTTP URL (larder serve --port) to read jobs",
        },
      )
    }
    const timeout = AbortSignal.timeout(this.#timeoutMs)
    const headers = await this.#callHeaders({ accept: 'application/json' })
    let response: Response
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers,
        signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
      })
    } catch (cause) {
      if (options.signal?.aborted)
        throw new LarderError('ABORTED', `${method} ${path} was aborted`, { cause })
      throw new LarderError(
        'BACKEND_UNAVAILABLE',
        `the feature server at ${this.url} did not answer ${method} ${path}: ${(cause as Error).message}`,
        { hint: 'check that `larder serve` runs there', cause },
      )
    }
    const text = await response.text()
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      body = undefined
    }
    if (response.ok && body !== undefined) return body
    const error = body as
      | { error_type?: unknown; detail?: unknown; hint?: unknown; details?: unknown }
      | undefined
    if (typeof error?.error_type === 'string' && typeof error.detail === 'string') {
      throw new LarderError(error.error_type as LarderErrorCode, error.detail, {
        hint: typeof error.hint === 'string' ? error.hint : undefined,
        details:
          typeof error.details === 'object' && error.details !== null
            ? (error.details as Record<string, unknown>)
            : undefined,
      })
    }
    throw new LarderError(
      'INTERNAL',
      `the feature server at ${this.url} answered ${method} ${path} with ${response.status} and no JSON: ${text.slice(0, 200)}`,
      { hint: 'check that the URL is the HTTP port of `larder serve`, not a proxy or another service' },
    )
  }

  /** The headers of one call: the client's, `extra`, and the bearer token asked for now. */
  async #callHeaders(extra: Record<string, string> = {}): Promise<Record<string, string>> {
    const headers: Record<string, string> = { ...this.#headers, ...extra }
    if (this.#token) headers.authorization = `Bearer ${await tokenFrom(this.#token)}`
    return headers
  }

  async #call<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (e) {
      throw this.#larderError(e)
    }
  }

  #larderError(e: unknown): LarderError {
    if (isLarderError(e)) return e
    const err = ConnectError.from(e)
    const code = err.metadata.get(ERROR_CODE_HEADER) as LarderErrorCode | null
    if (code !== null) {
      const hint = err.metadata.get(ERROR_HINT_HEADER)
      return new LarderError(code, err.rawMessage, {
        hint: hint === null ? undefined : decodeURIComponent(hint),
        cause: err,
      })
    }
    if (err.code === Code.Canceled)
      return new LarderError('ABORTED', 'the online read was aborted', { cause: err })
    if (err.code === Code.Unauthenticated || err.code === Code.PermissionDenied) {
      return new LarderError(
        err.code === Code.Unauthenticated ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED',
        `the feature server at ${this.url} refused the call: ${err.rawMessage}`,
        { hint: 'pass a valid token with the token or tokenProvider option', cause: err },
      )
    }
    if (err.code === Code.Unavailable || err.code === Code.DeadlineExceeded || err.code === Code.Unknown) {
      return new LarderError(
        'BACKEND_UNAVAILABLE',
        `the feature server at ${this.url} did not answer: ${err.rawMessage}`,
        {
          hint: 'check that `larder serve` runs there (for protocol grpc, on its --grpc-port)',
          cause: err,
        },
      )
    }
    return new LarderError('INTERNAL', `the feature server at ${this.url} failed: ${err.rawMessage}`, {
      cause: err,
    })
  }
}

/**
 * A job as the SDK holds it, from its JSON. The JSON's status is the effective one; a `lost` job is
 * stored running (or queued), and comes back as running, from which `effectiveStatus` reads `lost`
 * again (its heartbeat is kept).
 */
function jobRecord(json: JobJson): JobRecord {
  const at = (text: string | null) => (text === null ? undefined : toMicros(text))
  const progress = (p: ProgressJson): ViewProgress => ({
    rowsDone: p.rows_done,
    rowsTotal: p.rows_total ?? undefined,
    tasksDone: p.tasks_done,
    tasksTotal: p.tasks_total,
  })
  const views = Object.entries(json.progress.views)
  const jobProgress: JobProgress = {
    ...progress(json.progress),
    ...(views.length > 0 ? { views: Object.fromEntries(views.map(([v, p]) => [v, progress(p)])) } : {}),
  }
  return {
    id: json.job_id,
    project: json.project,
    kind: json.kind,
    engine: json.engine,
    status: json.status === 'lost' ? 'running' : json.status,
    featureViews: json.feature_views,
    request: json.request,
    progress: jobProgress,
    createdBy: json.created_by,
    runner: json.runner ?? undefined,
    createdAt: toMicros(json.created_at),
    startedAt: at(json.started_at),
    finishedAt: at(json.finished_at),
    heartbeatAt: toMicros(json.heartbeat_at),
    cancelRequestedAt: at(json.cancel_requested_at),
    error: json.error ?? undefined,
    result: json.result ?? undefined,
  }
}

/** The provider's token; its failure is UNAUTHENTICATED (a LarderError it threw keeps its code). */
async function tokenFrom(token: TokenProvider): Promise<string> {
  try {
    return await token()
  } catch (cause) {
    if (isLarderError(cause)) throw cause
    throw new LarderError(
      'UNAUTHENTICATED',
      `the token provider failed: ${(cause as Error)?.message ?? cause}`,
      {
        hint: 'check the tokenProvider passed to LarderClient',
        cause,
      },
    )
  }
}
