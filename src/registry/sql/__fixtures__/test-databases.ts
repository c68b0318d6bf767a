import { userInfo } from 'node:os'
import mysql from 'mysql2/promise'
import pg from 'pg'

/**
 * Throwaway databases on the test services for the SQL registry's tests: each suite gets a database
 * of its own (dropped afterwards), so a test may read the whole registry. Nothing here is used by
 * the library.
 */
export interface TestDatabase {
  /** The registry URL of the new database. */
  readonly url: string
  /** Runs one statement with `?` parameters through the driver, as Feast's registry would. */
  exec(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>
  drop(): Promise<void>
}

export type Available<T> =
  | { database: T; unavailable?: undefined }
  | { database?: undefined; unavailable: string }

const PG_HOST = process.env.LARDER_TEST_PG_HOST ?? '127.0.0.1'
const PG_PORT = Number(process.env.LARDER_TEST_PG_PORT ?? 5432)
const PG_DATABASE = process.env.LARDER_TEST_PG_DATABASE ?? 'test'
const MYSQL_HOST = process.env.LARDER_TEST_MYSQL_HOST ?? '127.0.0.1'
const MYSQL_PORT = Number(process.env.LARDER_TEST_MYSQL_PORT ?? 3306)
const MYSQL_USER = process.env.LARDER_TEST_MYSQL_USER ?? 'root'
const MYSQL_DATABASE = process.env.LARDER_TEST_MYSQL_DATABASE ?? 'test'

function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 36 ** 4).toString(36)}`
}

/** A fresh PostgreSQL database (as `postgres` or the OS user, trust auth), or why there is none. */
export async function postgresTestDatabase(): Promise<Available<TestDatabase>> {
  const reasons: string[] = []
  for (const user of [process.env.LARDER_TEST_PG_USER ?? 'postgres', userInfo().username]) {
    const admin = new pg.Client({
      host: PG_HOST,
      port: PG_PORT,
      database: PG_DATABASE,
      user,
      connectionTimeoutMillis: 2000,
    })
    try {
      await admin.connect()
    } catch (e) {
      reasons.push(`${user}: ${(e as Error).message}`)
      await admin.end().catch(() => {})
      continue
    }
    const name = uniqueName('larder_reg')
    await admin.query(`CREATE DATABASE ${name}`)
    await admin.end()
    const url = `postgresql://${user}@${PG_HOST}:${PG_PORT}/${name}`
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    return {
      database: {
        url,
        async exec(sql, params = []) {
          let i = 0
          return (
            await client.query(
              sql.replace(/\?/g, () => `$${++i}`),
              params as unknown[],
            )
          ).rows
        },
        async drop() {
          await client.end().catch(() => {})
          const again = new pg.Client({ host: PG_HOST, port: PG_PORT, database: PG_DATABASE, user })
          await again.connect()
          await again.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
          await again.end()
        },
      },
    }
  }
  return {
    unavailable: `no PostgreSQL login at ${PG_HOST}:${PG_PORT}/${PG_DATABASE} (${reasons.join('; ')})`,
  }
}

/** A fresh MySQL/MariaDB database (as root without a password), or why there is none. */
export async function mysqlTestDatabase(): Promise<Available<TestDatabase>> {
  let admin: mysql.Connection
  try {
    admin = await mysql.createConnection({
      host: MYSQL_HOST,
      port: MYSQL_PORT,
      user: MYSQL_USER,
      database: MYSQL_DATABASE,
      connectTimeout: 2000,
    })
  } catch (e) {
    return {
      unavailable: `no MySQL/MariaDB login as ${MYSQL_USER} at ${MYSQL_HOST}:${MYSQL_PORT}/${MYSQL_DATABASE} (${(e as Error).message})`,
    }
  }
  const name = uniqueName('larder_reg')
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.changeUser({ database: name })
  return {
    database: {
      url: `mysql://${MYSQL_USER}@${MYSQL_HOST}:${MYSQL_PORT}/${name}`,
      async exec(sql, params = []) {
        const [rows] = await admin.query(sql, params as unknown[])
        return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : []
      },
      async drop() {
        await admin.query(`DROP DATABASE IF EXISTS ${name}`)
        await admin.end()
      },
    },
  }
}
