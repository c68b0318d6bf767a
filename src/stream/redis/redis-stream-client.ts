import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  createClient,
  DisconnectsClientError,
  RESP_TYPES,
  ReconnectStrategyError,
  type RedisArgument,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
} from 'redis'
import type { LarderError } from '../../core/index.js'
import { brokerUnreachable, redactUrl } from '../broker-support.js'

/** The part of node-redis a stream consumer uses: raw commands on one connection. */
export interface RedisStreamClient {
  /** The server's URL without its password, for messages. */
  readonly where: string
  /**
   * Sends one command and resolves to its RESP2 reply, bulk strings as Buffers. An error reply
   * rejects with that error (its message starts with the Redis error code, e.g. `NOGROUP`); a lost
   * connection rejects with BACKEND_UNAVAILABLE.
   */
  send(args: readonly RedisArgument[]): Promise<unknown>
  /**
   * Closes the connection without waiting for the server: a command in flight (a blocking read)
   * rejects, and a client that is reconnecting stops at once.
   */
  close(): Promise<void>
}

/** How long connecting may take before it fails. */
const CONNECT_TIMEOUT_MS = 3000
/** Reconnect attempts after a lost connection (backoff up to 2 s each, about 30 s in all) before the client gives up. */
const RECONNECT_ATTEMPTS = 20

/**
 * Connects one client to the Redis server at `url` (`redis://` or `rediss://`, with user, password and
 * database as node-redis reads them). A server that is down fails within a few seconds with
 * BACKEND_UNAVAILABLE naming the URL (never its password). Once connected, a lost connection is
 * retried with backoff for about 30 s, and commands sent meanwhile fail at once with
 * BACKEND_UNAVAILABLE instead of queueing.
 *
 * @example const client = await connectStreamClient('redis://127.0.0.1:6379', 'larder:trips:worker-1')
 */
export async function connectStreamClient(url: string, name: string): Promise<RedisStreamClient> {
  const where = redactUrl(url)
  let connected = false
  const client = createClient({
    url,
    // CLIENT SETNAME takes no spaces
    name: name.replace(/\s/g, '_'),
    RESP: 2,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      // the first connect fails at once; later, a bounded backoff, so a dead server ends in an error
      reconnectStrategy: (retries: number, cause: Error) =>
        connected && retries < RECONNECT_ATTEMPTS ? Math.min(100 * 2 ** retries, 2000) : cause,
    },
  }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer })
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (cause) {
    client.destroy()
    throw brokerUnreachable(
      'Redis',
      where,
      cause,
      `start Redis, or set stream_processor.redis_connection_string in feature_store.yaml (it names ${where})`,
    )
  }
  connected = true
  const lost = (cause: unknown): LarderError =>
    brokerUnreachable(
      'Redis',
      where,
      cause,
      `the connection to ${where} was lost; it is retried for about 30 s: check that Redis runs, then retry`,
    )
  return {
    where,
    async send(args) {
      try {
        return await client.sendCommand([...args])
      } catch (e) {
        throw connectionFailed(e) ? lost(e) : e
      }
    },
    async close() {
      client.destroy()
    },
  }
}

/**
 * Whether a command failed because the connection did (refused, reset, timed out, closed, not
 * reconnected yet) rather than with an error reply of the server.
 */
function connectionFailed(e: unknown): boolean {
  return (
    e instanceof ClientOfflineError ||
    e instanceof ClientClosedError ||
    e instanceof DisconnectsClientError ||
    e instanceof SocketClosedUnexpectedlyError ||
    e instanceof ConnectionTimeoutError ||
    e instanceof SocketTimeoutError ||
    e instanceof ReconnectStrategyError ||
    // a socket error of Node (ECONNRESET, EPIPE, ECONNREFUSED…) rejects the commands in flight
    (e instanceof Error && typeof (e as NodeJS.ErrnoException).syscall === 'string')
  )
}
