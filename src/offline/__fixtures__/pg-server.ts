import { userInfo } from 'node:os'
import pg from 'pg'
import { afterAll, beforeAll } from 'vitest'
import { formatMicros, type Micros } from '../../core/index.js'
import { PostgresOfflineStore } from '../postgres/postgres-offline-store.js'

// The PostgreSQL server the postgres offline store's tests run against, a schema of their own, and
// what the property tests of both join forms share.

export const PG_HOST = process.env.LARDER_TEST_PG_HOST ?? '127.0.0.1'
export const PG_PORT = Number(process.env.LARDER_TEST_PG_PORT ?? 5432)
export const PG_DATABASE = process.env.LARDER_TEST_PG_DATABASE ?? 'test'

/** The first of `postgres` and the OS user that can log in (trust auth), or why none can. */
export async function findPgUser(): Promise<{ user?: string; unavailable?: string }> {
  const reasons: string[] = []
  for (const user of [process.env.LARDER_TEST_PG_USER ?? 'postgres', userInfo().username]) {
    const client = new pg.Client({
      host: PG_HOST,
      port: PG_PORT,
      database: PG_DATABASE,
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
  return {
    unavailable: `no PostgreSQL login at ${PG_HOST}:${PG_PORT}/${PG_DATABASE} (${reasons.join('; ')})`,
  }
}

/** A fresh schema and a client working in it (UTC); `drop` removes the schema and closes the client. */
export async function testSchema(
  user: string,
  prefix: string,
): Promise<{ client: pg.Client; schema: string; drop(): Promise<void> }> {
  const schema = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  const client = new pg.Client({ host: PG_HOST, port: PG_PORT, database: PG_DATABASE, user })
  await client.connect()
  await client.query(`CREATE SCHEMA "${schema}"`)
  await client.query(`SET search_path = "${schema}"; SET TimeZone = 'UTC'`)
  return {
    client,
    schema,
    async drop() {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await client.end()
    },
  }
}

/** The offline store options that reach the test server and read unqualified tables from `schema`. */
export function pgOptions(user: string, schema: string) {
  return {
    repoPath: '.',
    host: PG_HOST,
    port: PG_PORT,
    database: PG_DATABASE,
    db_schema: schema,
    user,
    min_conn: 1,
    max_conn: 4,
    conn_type: 'pool' as const,
    entity_select_mode: 'temp_table' as const,
  }
}

/** What a property test comparing the two join forms works in: one schema, one store per form. */
export interface JoinForms {
  readonly db: Awaited<ReturnType<typeof testSchema>>
  readonly lateral: PostgresOfflineStore
  readonly window: PostgresOfflineStore
}

/**
 * Registers the suite's hooks: before its tests, a fresh schema named from `prefix` and a store per
 * join form (`lateral`, `window`) reading it; after them, the stores closed and the schema dropped.
 * The returned object is filled in once the suite starts.
 */
export function joinFormsPerSuite(user: string, prefix: string): JoinForms {
  const forms: { -readonly [K in keyof JoinForms]?: JoinForms[K] } = {}
  beforeAll(async () => {
    forms.db = await testSchema(user, prefix)
    forms.lateral = new PostgresOfflineStore(pgOptions(user, forms.db.schema))
    forms.window = new PostgresOfflineStore({
      ...pgOptions(user, forms.db.schema),
      point_in_time_join: 'window',
    })
  })
  afterAll(async () => {
    await forms.lateral?.close()
    await forms.window?.close()
    await forms.db?.drop()
  })
  return forms as JoinForms
}

/** A number, string or null as a SQL literal; strings are test data and are not escaped. */
export function sqlLiteral(v: number | string | null): string {
  return v === null ? 'NULL' : typeof v === 'string' ? `'${v}'` : String(v)
}

/** The instant `offset` microseconds after `origin` as a timestamp literal; NULL for a null offset. */
export function sqlTimestamp(origin: Micros, offset: number | null): string {
  return offset === null ? 'NULL' : `'${formatMicros(origin + offset)}'`
}
