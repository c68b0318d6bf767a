/** The part of node-redis the Redis online store uses, the same for one server and for a cluster. */
import { createHash } from 'node:crypto'
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  createClient,
  createCluster,
  RESP_TYPES,
  ReconnectStrategyError,
  type RedisArgument,
  RootNodesUnavailableError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
} from 'redis'
import type { LarderError } from '../../core/index.js'
import { unreachable } from '../store-support.js'
import type { RedisConnectionOptions } from './redis-config.js'

/** A command and the key that routes it to its node in a cluster. */
export interface RedisCommand {
  readonly key: Buffer
  readonly args: RedisArgument[]
}

export interface RedisConnection {
  /** `host:port[,…]`, for messages. */
  readonly where: string
  /** True for a Redis Cluster: the keys of one command (a script call's too) must share a hash slot. */
  readonly cluster: boolean
  /**
   * Sends the commands pipelined and returns their replies in order (bulk strings as Buffers, maps
   * as flat `[key, value, …]` arrays). A failed command rejects with its error reply.
   */
  pipeline(commands: readonly RedisCommand[], readonly: boolean): Promise<unknown[]>
  /** Loads a Lua script on every master and returns its SHA1. */
  loadScript(script: string): Promise<string>
  /** Batches of keys matching a glob pattern, from every master. */
  scan(pattern: Buffer): AsyncIterable<Buffer[]>
  close(): Promise<void>
}

const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer, [RESP_TYPES.MAP]: Array } as const

/**
 * Connects to one Redis server or a Redis Cluster. A server that is down fails within the connect
 * timeout with BACKEND_UNAVAILABLE naming host and port; once connected, lost connections are
 * retried with backoff, and a command that meets a lost connection (in flight when it dropped, or
 * sent to a single server while it reconnects) fails at once with BACKEND_UNAVAILABLE too, so a
 * server answers 503 rather than 500 and queues nothing for the outage.
 */
export async function connectRedis(
  options: RedisConnectionOptions,
  cluster: boolean,
): Promise<RedisConnection> {
  const where = options.nodes.map((n) => `${n.host}:${n.port}`).join(',')
  let connected = false
  const socket = {
    connectTimeout: options.connectTimeoutMs,
    // fail the first connect at once; after that, reconnect with backoff
    reconnectStrategy: (retries: number, cause: Error) =>
      connected ? Math.min(50 * 2 ** retries, 2000) : cause,
    ...(options.ssl ? { tls: true as const } : {}),
  }
  const auth = { username: options.username, password: options.password }
  const service = cluster ? 'the Redis Cluster' : 'Redis'
  const fail = (cause: unknown) =>
    unreachable(
      service,
      where,
      cause,
      `start Redis or fix online_store.connection_string in feature_store.yaml (it names ${where})`,
    )
  // after the first connect: the driver reconnects by itself, so the request can simply be retried
  const lost = (cause: unknown): LarderError =>
    unreachable(
      service,
      where,
      cause,
      `the connection is retried in the background; check that Redis runs at ${where}, then retry the request`,
    )
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work()
    } catch (e) {
      throw connectionFailed(e) ? lost(e) : e
    }
  }
  if (!cluster) {
    const node = options.nodes[0]!
    const client = createClient({
      ...auth,
      database: options.db,
      // while reconnecting, commands fail instead of waiting in an unbounded queue for Redis to return
      disableOfflineQueue: true,
      socket: { ...socket, host: node.host, port: node.port },
    })
    client.on('error', () => {})
    try {
      await client.connect()
    } catch (cause) {
      throw fail(cause)
    }
    connected = true
    const buffers = client.withTypeMapping(BUFFERS)
    return {
      where,
      cluster: false,
      async pipeline(commands) {
        if (commands.length === 0) return []
        // node-redis queues pipelines while reconnecting even with disableOfflineQueue
        if (!client.isReady) throw lost(new ClientOfflineError())
        const multi = buffers.multi()
        for (const c of commands) multi.addCommand(c.args)
        return guard(async () => {
          try {
            return await multi.execAsPipeline()
          } catch (e) {
            throw firstError(e)
          }
        })
      },
      loadScript: (script) => guard(async () => String(await client.sendCommand(['SCRIPT', 'LOAD', script]))),
      scan: (pattern) => scanNode({ sendCommand: (args) => guard(() => buffers.sendCommand(args)) }, pattern),
      close: () => client.close(),
    }
  }
  const redisCluster = createCluster({
    rootNodes: options.nodes.map((n) => ({ socket: { host: n.host, port: n.port } })),
    defaults: { ...auth, socket },
  })
  redisCluster.on('error', () => {})
  try {
    await redisCluster.connect()
  } catch (cause) {
    throw fail(cause)
  }
  connected = true
  return {
    where,
    cluster: true,
    // each command goes to the node of its key's slot (a script call's keys share one slot): node-redis
    // routes each (following MOVED/ASK) and batches the writes per node
    pipeline: (commands, readonly) =>
      guard(() =>
        Promise.all(
          commands.map((c) => redisCluster.sendCommand(c.key, readonly, c.args, { typeMapping: BUFFERS })),
        ),
      ),
    async loadScript(script) {
      await guard(() =>
        Promise.all(
          redisCluster.masters.map(async (master) =>
            (await redisCluster.nodeClient(master)).sendCommand(['SCRIPT', 'LOAD', script]),
          ),
        ),
      )
      return createHash('sha1').update(script).digest('hex')
    },
    async *scan(pattern) {
      for (const master of redisCluster.masters) {
        const client = (await guard(() => redisCluster.nodeClient(master))).withTypeMapping(BUFFERS)
        yield* scanNode({ sendCommand: (args) => guard(() => client.sendCommand(args)) }, pattern)
      }
    },
    close: () => redisCluster.close(),
  }
}

/**
 * Sends script calls (EVALSHA) pipelined; when the server lost the scripts (restart, SCRIPT FLUSH,
 * failover), runs `reload` and sends them again, once. In a cluster where only some masters lost
 * them, the calls that ran on the others run a second time, so scripts must be safe to repeat.
 */
export async function runScripts(
  connection: RedisConnection,
  commands: readonly RedisCommand[],
  reload: () => Promise<void>,
): Promise<unknown[]> {
  try {
    return await connection.pipeline(commands, false)
  } catch (e) {
    if (!(e instanceof Error && e.message.startsWith('NOSCRIPT'))) throw e
    await reload()
    return connection.pipeline(commands, false)
  }
}

/**
 * Whether a command failed because the connection did (refused, reset, timed out, closed, or not
 * reconnected yet), rather than with an error reply of the server.
 */
function connectionFailed(e: unknown): boolean {
  return (
    e instanceof ClientOfflineError ||
    e instanceof ClientClosedError ||
    e instanceof SocketClosedUnexpectedlyError ||
    e instanceof ConnectionTimeoutError ||
    e instanceof SocketTimeoutError ||
    e instanceof ReconnectStrategyError ||
    e instanceof RootNodesUnavailableError ||
    // a socket error of Node (ECONNRESET, EPIPE, ECONNREFUSED…) rejects the commands in flight
    (e instanceof Error && typeof (e as NodeJS.ErrnoException).syscall === 'string')
  )
}

/** The first error reply of a failed pipeline (node-redis wraps them in a MultiErrorReply). */
function firstError(e: unknown): unknown {
  const multi = e as { errors?: () => Iterable<unknown> }
  if (typeof multi?.errors === 'function') for (const error of multi.errors()) return error
  return e
}

interface Sender {
  sendCommand(args: RedisArgument[]): Promise<unknown>
}

async function* scanNode(client: Sender, pattern: Buffer): AsyncIterable<Buffer[]> {
  let cursor = '0'
  do {
    const [next, keys] = (await client.sendCommand(['SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000'])) as [
      Buffer,
      Buffer[],
    ]
    cursor = next.toString()
    if (keys.length > 0) yield keys
  } while (cursor !== '0')
}
