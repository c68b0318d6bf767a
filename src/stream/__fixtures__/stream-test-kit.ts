// Helpers of the stream processor's tests: repo definitions that import the core by path, bounded
// polls, a PostgreSQL login for an online store block, and a target with another stream_processor block.
import { userInfo } from 'node:os'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import type { StreamProcessor, StreamTarget } from '../processor.js'

/** The core module as a repo's features.ts imports it (jiti loads the TypeScript source). */
export const CORE = fileURLToPath(new URL('../../core/index.ts', import.meta.url))

/** Waits until `ready()` holds, polling every `everyMs`; throws naming `what` after `timeoutMs`. */
export async function waitUntil(
  ready: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
  everyMs = 25,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await ready()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Events the processor's first source has finished with: written and acknowledged, or dead-lettered. */
export function handled(processor: StreamProcessor): number {
  const s = processor.health().sources[0]
  return s === undefined ? 0 : s.events + s.deadLettered
}

/** Waits until the processor's first source has handled `count` events (a bounded poll). */
export async function untilHandled(processor: StreamProcessor, count: number, timeoutMs = 20_000) {
  await waitUntil(
    () => handled(processor) >= count,
    `${count} events handled (health: ${JSON.stringify(processor.health())})`,
    timeoutMs,
  )
}

/** The same store with these `stream_processor` settings over the repo's own (real backends, no copies). */
export function withSettings(store: StreamTarget, settings: Readonly<Record<string, unknown>>): StreamTarget {
  return {
    config: { ...store.config, streamProcessor: { ...store.config.streamProcessor, ...settings } },
    registry: store.registry,
    online: () => store.online(),
    offline: () => store.offline(),
    deployedStreamViews: store.deployedStreamViews && (() => store.deployedStreamViews!()),
  }
}

const PG_HOST = process.env.LARDER_TEST_PG_HOST ?? '127.0.0.1'
const PG_PORT = Number(process.env.LARDER_TEST_PG_PORT ?? 5432)
const PG_DATABASE = process.env.LARDER_TEST_PG_DATABASE ?? 'test'

/**
 * A PostgreSQL online store block on its own schema (the first of `postgres` and the OS user that can
 * log in), or why there is none; `dropSchema` removes the schema afterwards.
 */
export async function postgresOnline(schema: string): Promise<{
  block?: string
  unavailable?: string
  dropSchema: () => Promise<void>
}> {
  const reasons: string[] = []
  for (const user of [process.env.LARDER_TEST_PG_USER ?? 'postgres', userInfo().username]) {
    const config = {
      host: PG_HOST,
      port: PG_PORT,
      database: PG_DATABASE,
      user,
      connectionTimeoutMillis: 2000,
    }
    const client = new pg.Client(config)
    try {
      await client.connect()
      return {
        block: [
          'type: postgres',
          `host: ${PG_HOST}`,
          `port: ${PG_PORT}`,
          `database: ${PG_DATABASE}`,
          `user: ${user}`,
          `db_schema: ${schema}`,
          'conn_type: pool',
          'max_conn: 4',
        ].join('\n'),
        dropSchema: async () => {
          const c = new pg.Client(config)
          await c.connect()
          try {
            await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
          } finally {
            await c.end()
          }
        },
      }
    } catch (e) {
      reasons.push(`${user}: ${(e as Error).message}`)
    } finally {
      await client.end().catch(() => {})
    }
  }
  return {
    unavailable: `no PostgreSQL login at ${PG_HOST}:${PG_PORT}/${PG_DATABASE} (${reasons.join('; ')})`,
    dropSchema: async () => {},
  }
}
