// Test helpers of the BullMQ engine: `larder worker` child processes (the built CLI in dist/, as a user
// runs it, read through its JSON log lines), a redis-server of a test's own, digests of the online
// state of every online store, and repos over the bulk fixture data that materialize with the engine.
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { Redis } from 'ioredis'
import pg from 'pg'
import { freePort, redisUnavailable } from '../../../testing/services.js'
import { writeBulkData } from '../../__fixtures__/bulk-data.js'
import { createTestRepo, type TestRepo } from '../../__fixtures__/test-repo.js'

const BIN = resolve(fileURLToPath(new URL('../../../../bin/larder.js', import.meta.url)))
const BULK_FEATURES = fileURLToPath(new URL('../../__fixtures__/bulk-features.ts', import.meta.url))
export const START = '2025-12-31T00:00:00Z'
export const END = '2026-01-02T00:00:00Z'

/** A `larder worker` child process. */
export interface WorkerProcess {
  readonly process: ChildProcess
  /** Every JSON log line so far. */
  logs(): Record<string, unknown>[]
  /** Resolves with the first log line (from now on, or already logged) that `match` accepts. */
  waitFor(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>
  /** Sends the signal and resolves with the exit code (null after a kill) once it ended. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Starts `larder -c <dir> worker <args>` and resolves once it logged `worker ready`. */
export async function startWorker(dir: string, args: readonly string[] = []): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [BIN, '-c', dir, 'worker', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  })
  const lines: Record<string, unknown>[] = []
  const waiters = new Set<() => void>()
  let stderr = ''
  let partial = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n')
    partial = parts.pop()!
    for (const line of parts) if (line.trim() !== '') lines.push(JSON.parse(line))
    for (const wake of waiters) wake()
  })
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  child.once('exit', () => {
    for (const wake of waiters) wake()
  })
  const worker: WorkerProcess = {
    process: child,
    logs: () => lines,
    waitFor(match, timeoutMs = 30_000) {
      return new Promise((resolvePromise, reject) => {
        const check = () => {
          const found = lines.find(match)
          if (found) done(() => resolvePromise(found))
          else if (child.exitCode !== null || child.signalCode !== null)
            done(() => reject(new Error(`the worker ended (stderr: ${stderr})`)))
        }
        const timer = setTimeout(
          () =>
            done(() =>
              reject(new Error(`no matching worker log line in ${timeoutMs} ms; stderr: ${stderr}`)),
            ),
          timeoutMs,
        )
        const done = (settle: () => void) => {
          clearTimeout(timer)
          waiters.delete(check)
          settle()
        }
        waiters.add(check)
        check()
      })
    },
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
  await worker.waitFor((l) => l.msg === 'worker ready', 20_000)
  return worker
}

/** `n` workers on the repo at `dir`. */
export function startWorkers(dir: string, n: number, args: readonly string[] = []): Promise<WorkerProcess[]> {
  return Promise.all(Array.from({ length: n }, () => startWorker(dir, args)))
}

/** The `batch_engine` block of a test: its own queue and key prefix on `url`, plus `extra` lines. */
export function engineBlock(url: string, extra: readonly string[] = []): string {
  const id = randomUUID().slice(0, 8)
  return [
    'type: bullmq',
    `connection_string: ${url}`,
    `queue: test-${id}`,
    `prefix: larder-test-${id}`,
    ...extra,
  ].join('\n')
}

/** Deletes every key under the `prefix:` of an engine block (its queue and its jobs); fails when Redis is gone. */
export async function clearEngine(url: string, block: string): Promise<void> {
  const prefix = /prefix: (.+)/.exec(block)![1]!
  const redis = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => null })
  redis.on('error', () => {})
  try {
    for (let cursor = '0'; ; ) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      if (keys.length > 0) await redis.unlink(...keys)
      cursor = next
      if (cursor === '0') break
    }
  } finally {
    redis.disconnect()
  }
}

/** A repo over `drivers` x `hours` bulk rows, with the online store and engine blocks given. */
export function bulkRepo(
  onlineStore: string,
  drivers: number,
  hours: number,
  batchEngine?: string,
): Promise<TestRepo> {
  return createTestRepo({
    onlineStore,
    definitions: BULK_FEATURES,
    prepare: (dir) => writeBulkData(dir, drivers, hours),
    ...(batchEngine === undefined ? {} : { batchEngine }),
  })
}

/** Every online row of `bulk_stats`, normalized so that two projects compare, and their digest. */
export interface OnlineState {
  readonly rows: number
  readonly digest: string
}

/** The online state of the repo's `bulk_stats` in the store `online` (its YAML block) describes. */
export async function onlineState(repo: TestRepo, online: string): Promise<OnlineState> {
  const type = /type: (\w+)/.exec(online)![1]!
  const rows = await DUMPS[type]!(repo, settings(online))
  return { rows: rows.length, digest: createHash('sha256').update(JSON.stringify(rows)).digest('hex') }
}

function settings(block: string): Record<string, string> {
  return Object.fromEntries(
    block.split('\n').map((l) => [l.slice(0, l.indexOf(':')).trim(), l.slice(l.indexOf(':') + 1).trim()]),
  )
}

type Dump = (repo: TestRepo, options: Record<string, string>) => Promise<unknown[]>

const DUMPS: Readonly<Record<string, Dump>> = {
  sqlite: async (repo, o) => {
    const db = new Database(join(repo.dir, o.path!), { readonly: true })
    try {
      return db
        .prepare(
          `SELECT hex(entity_key) AS k, feature_name AS f, hex(value) AS v, event_ts AS e, created_ts AS c FROM "${repo.project}_bulk_stats" ORDER BY 1, 2`,
        )
        .all()
    } finally {
      db.close()
    }
  },
  postgres: async (repo, o) => {
    const client = new pg.Client({ host: o.host, port: Number(o.port), database: o.database, user: o.user })
    await client.connect()
    try {
      const { rows } = await client.query(
        `SELECT encode(entity_key, 'hex') AS k, feature_name AS f, encode(value, 'hex') AS v, ` +
          `(extract(epoch FROM event_ts) * 1000000)::bigint::text AS e, (extract(epoch FROM created_ts) * 1000000)::bigint::text AS c ` +
          `FROM "${repo.project}_bulk_stats" ORDER BY 1, 2`,
      )
      return rows
    } finally {
      await client.end()
    }
  },
  redis: async (repo, o) => {
    const [host, port] = o.connection_string!.split(':') as [string, string]
    const redis = new Redis({ host, port: Number(port) })
    try {
      const suffix = Buffer.from(repo.project)
      const entries: [string, [string, string][]][] = []
      for (let cursor = '0'; ; ) {
        const [next, keys] = await redis.scanBuffer(cursor, 'MATCH', `*${repo.project}`, 'COUNT', 1000)
        for (const key of keys) {
          // the job store's index of the project ends with its name too
          if (!key.subarray(key.length - suffix.length).equals(suffix) || (await redis.type(key)) !== 'hash')
            continue
          const hash = await redis.hgetallBuffer(key)
          const fields = Object.entries(hash)
            .map(([f, v]) => [f, v.toString('hex')] as [string, string])
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          entries.push([key.subarray(0, key.length - suffix.length).toString('hex'), fields])
        }
        cursor = next.toString()
        if (cursor === '0') break
      }
      return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    } finally {
      redis.disconnect()
    }
  },
}

/** A redis-server of a test's own, persisting to an append-only file, that can be stopped and restarted. */
export interface OwnRedis {
  readonly port: number
  readonly url: string
  /** Stops it with SHUTDOWN (the append-only file is flushed first). */
  shutdown(): Promise<void>
  /** Starts it again on the same port and directory, and waits until it answers. */
  restart(): Promise<void>
  /** Stops it and deletes its directory. */
  remove(): Promise<void>
}

/** Starts redis-server on a free port with `--appendonly yes` in a temporary directory. */
export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'larder-redis-'))
  let server: ChildProcess | undefined
  const start = async () => {
    server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--appendonly', 'yes', '--dir', dir, '--save', ''],
      { stdio: 'ignore' },
    )
    for (let i = 0; (await redisUnavailable('127.0.0.1', port, 500)) !== undefined; i++) {
      if (i > 100) throw new Error(`redis-server on port ${port} did not start`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const stop = async (how: () => void) => {
    const s = server
    if (!s || s.exitCode !== null || s.signalCode !== null) return
    const ended = new Promise((r) => s.once('exit', r))
    how()
    await ended
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    shutdown: () =>
      stop(() => {
        const cli = spawn('redis-cli', ['-p', String(port), 'shutdown'], { stdio: 'ignore' })
        cli.on('error', () => server?.kill('SIGTERM'))
      }),
    restart: start,
    async remove() {
      await stop(() => server?.kill('SIGKILL'))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
