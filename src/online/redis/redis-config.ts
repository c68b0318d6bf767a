import { z } from 'zod'
import { knownNames } from '../../core/index.js'

export interface RedisNode {
  readonly host: string
  readonly port: number
}

/** Feast's `connection_string`, parsed. */
export interface RedisConnectionOptions {
  readonly nodes: readonly RedisNode[]
  readonly db: number
  readonly username: string | undefined
  readonly password: string | undefined
  readonly ssl: boolean
  readonly connectTimeoutMs: number
}

const SETTINGS = ['db', 'password', 'username', 'ssl', 'socket_connect_timeout'] as const
const DEFAULT_CONNECT_TIMEOUT_MS = 3000

/**
 * Parses Feast's Redis `connection_string`: `host:port[,host:port…][,key=value…]`, where values are
 * JSON-decoded when they can be, as Feast does (`db=0`, `ssl=true`, `password=…`). Settings:
 * `db`, `username`, `password`, `ssl`, `socket_connect_timeout` (seconds, default 3).
 *
 * @example parseConnectionString('localhost:6379,db=1,ssl=true')
 */
export function parseConnectionString(text: string): RedisConnectionOptions {
  const nodes: RedisNode[] = []
  let db = 0
  let username: string | undefined
  let password: string | undefined
  let ssl = false
  let connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === '') continue
    const eq = part.indexOf('=')
    if (eq < 0) {
      const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(part)
      const port = m?.[3] === undefined ? 6379 : Number(m[3])
      if (!m || port < 1 || port > 65535) throw new Error(`"${part}" is not host:port`)
      nodes.push({ host: m[1] ?? m[2]!, port })
      continue
    }
    const key = part.slice(0, eq).trim()
    const raw = part.slice(eq + 1).trim()
    const value = jsonOrText(raw)
    switch (key as (typeof SETTINGS)[number]) {
      case 'db':
        if (!Number.isInteger(value) || (value as number) < 0)
          throw new Error(`db=${raw} is not a database number`)
        db = value as number
        break
      case 'username':
        username = String(value)
        break
      case 'password':
        password = raw
        break
      case 'ssl':
        ssl = value === true || value === 1 || /^true$/i.test(String(value))
        break
      case 'socket_connect_timeout':
        if (typeof value !== 'number' || !(value > 0))
          throw new Error(`socket_connect_timeout=${raw} is not a number of seconds`)
        connectTimeoutMs = value * 1000
        break
      default:
        throw new Error(`unknown setting "${key}" (known: ${knownNames(SETTINGS)})`)
    }
  }
  if (nodes.length === 0) throw new Error('it names no host:port')
  return Object.freeze({ nodes: Object.freeze(nodes), db, username, password, ssl, connectTimeoutMs })
}

function jsonOrText(raw: string): unknown {
  try {
    return JSON.parse(raw)
  } catch {
    return raw
  }
}

/** `online_store: { type: redis, ... }`, with Feast's keys and defaults. */
export const optionsSchema = z
  .object({
    connection_string: z
      .string()
      .default('localhost:6379')
      .transform((text, ctx) => {
        try {
          return parseConnectionString(text)
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: `connection_string "${text}": ${(e as Error).message}` })
          return z.NEVER
        }
      })
      .describe('host:port[,host:port…][,db=0,username=…,password=…,ssl=true,socket_connect_timeout=3]'),
    redis_type: z
      .enum(['redis', 'redis_cluster'])
      .default('redis')
      .describe('A single server or a Redis Cluster'),
    key_ttl_seconds: z
      .number()
      .int()
      .positive()
      .optional()
      .describe("Expire every key this long after its last write (a view's storageTtl takes precedence)"),
    skip_dedup: z
      .boolean()
      .default(false)
      .describe('Write without comparing event timestamps (faster; older rows may win)'),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.redis_type === 'redis_cluster' && o.connection_string.db !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['connection_string'],
        message: 'a Redis Cluster has only database 0',
      })
    }
  })

export type RedisOptions = z.output<typeof optionsSchema>
