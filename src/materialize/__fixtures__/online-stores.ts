// The online stores the materialization and serving suites run against: memory and SQLite always,
// Redis and PostgreSQL when their services answer (under CI=true a missing service fails the suite).
import { userInfo } from 'node:os'
import pg from 'pg'
import { redisUnavailable } from '../../testing/services.js'

export interface TestOnlineStore {
  readonly name: string
  /** The `online_store` block (YAML lines) of a test repo. */
  readonly config: string
  /** Why the service cannot be used, or undefined when it can. */
  readonly unavailable: string | undefined
}

const [redisHost, redisPort] = (process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379').split(':') as [
  string,
  string,
]
const pgHost = process.env.LARDER_TEST_PG_HOST ?? '127.0.0.1'
const pgPort = Number(process.env.LARDER_TEST_PG_PORT ?? 5432)
const pgDatabase = process.env.LARDER_TEST_PG_DATABASE ?? 'test'

/** The first of `postgres` and the OS user that can log in without a password, or why none can. */
async function postgresLogin(): Promise<{ user?: string; unavailable?: string }> {
  const reasons: string[] = []
  for (const user of [process.env.LARDER_TEST_PG_USER ?? 'postgres', userInfo().username]) {
    const client = new pg.Client({
      host: pgHost,
      port: pgPort,
      database: pgDatabase,
      user,
      connectionTimeoutMillis: 2000,
    })
    try {
      await client.connect()
      return { user }
    } catch (e) {
      reasons.push(`${user}: ${(e as Error).message}`)
    } finally {
      await client.end().catch(() => {})
    }
  }
  return { unavailable: `no PostgreSQL login at ${pgHost}:${pgPort}/${pgDatabase} (${reasons.join('; ')})` }
}

/** Memory and SQLite, then Redis and PostgreSQL with the reason each is unavailable, if it is. */
export async function testOnlineStores(): Promise<TestOnlineStore[]> {
  const postgres = await postgresLogin()
  return [
    { name: 'memory', config: 'type: memory', unavailable: undefined },
    { name: 'sqlite', config: 'type: sqlite\npath: data/online.db', unavailable: undefined },
    {
      name: 'redis',
      config: `type: redis\nconnection_string: ${redisHost}:${redisPort}`,
      unavailable: await redisUnavailable(redisHost, Number(redisPort)),
    },
    {
      name: 'postgres',
      config: `type: postgres\nhost: ${pgHost}\nport: ${pgPort}\ndatabase: ${pgDatabase}\nuser: ${postgres.user}`,
      unavailable: postgres.unavailable,
    },
  ]
}
