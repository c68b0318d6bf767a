import { type Client, Code, ConnectError, createClient, type Transport } from '@connectrpc/connect'
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node'
import { type Abortable, isLarderError, LarderError, type LarderErrorCode } from '../core/index.js'
import { ServingService } from '../gen/feast/serving/ServingService_pb.js'
import {
  ERROR_CODE_HEADER,
  ERROR_HINT_HEADER,
  requestMessage,
  responseFromMessage,
  VALUE_TYPES_HEADER,
} from '../grpc/serving-messages.js'
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
  /** Headers sent with every call, e.g. an `authorization` header for a proxy in front of the server. */
  readonly headers?: Readonly<Record<string, string>>
}

/**
 * A remote feature store with the in-process SDK's read API: `getOnlineFeatures` takes the same
 * request and returns the same response as `FeatureStore.getOnlineFeatures`, values and statuses
 * included (int64 beyond 2^53 as a bigint), so an application switches between in-process and
 * remote reads by changing the object it calls. Errors are `LarderError`s with the server's code and
 * hint; a server that cannot be reached is BACKEND_UNAVAILABLE.
 *
 * @example
 * const store = new LarderClient('http://127.0.0.1:6566')
 * const res = await store.getOnlineFeatures({ entities: { driver_id: [1001] }, features: ['driver_hourly_stats:conv_rate'] })
 */
export class LarderClient {
  readonly url: string
  readonly #client: Client<typeof ServingService>
  readonly #timeoutMs: number
  readonly #headers: Readonly<Record<string, string>>

  constructor(url: string, options: LarderClientOptions = {}) {
    this.url = url.replace(/\/+$/, '')
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
    const response = await this.#call(() =>
      this.#client.getOnlineFeatures(message, {
        signal: options.signal,
        timeoutMs: this.#timeoutMs,
        headers: options.strict ? { ...this.#headers, [STRICT_HEADER]: 'true' } : this.#headers,
        onHeader: (headers) => {
          valueTypes = headers.get(VALUE_TYPES_HEADER)?.split(',').filter(Boolean).map(Number)
        },
      }),
    )
    return responseFromMessage(response, valueTypes)
  }

  /** The server's version, from Feast's `GetFeastServingInfo`. */
  async version(options: Abortable = {}): Promise<string> {
    const info = await this.#call(() =>
      this.#client.getFeastServingInfo(
        {},
        { signal: options.signal, timeoutMs: this.#timeoutMs, headers: this.#headers },
      ),
    )
    return info.version
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
