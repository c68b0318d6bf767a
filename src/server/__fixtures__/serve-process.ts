// Test helpers: a fresh `larder init` repo applied to its registry, and `larder serve` run as a child
// process (the built CLI in dist/, as a user runs it), read through its JSON log lines.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DuckDBInstance } from '@duckdb/node-api'
import { initRepo } from '../../cli/commands/init.js'
import { FeatureStore } from '../../feature-store.js'

const BIN = resolve(fileURLToPath(new URL('../../../bin/larder.js', import.meta.url)))

export interface AppliedRepo {
  readonly dir: string
  readonly project: string
  /** Deletes the repo's files. */
  remove(): void
}

/**
 * `larder init` in a temporary directory (sample data ending at `now`'s hour), with the online store
 * block replaced when given (YAML lines without indentation), then applied.
 */
export async function appliedRepo(options: { onlineStore?: string; now?: Date } = {}): Promise<AppliedRepo> {
  const root = mkdtempSync(join(tmpdir(), 'larder-serve-'))
  const dir = join(root, 'demo')
  const project = await initRepo(dir, 'local', options.now)
  if (options.onlineStore !== undefined) {
    const path = join(dir, 'feature_store.yaml')
    const block = options.onlineStore
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => `  ${l}`)
      .join('\n')
    const text = readFileSync(path, 'utf8').replace(
      /online_store:\n(?: {2}.*\n)+/,
      `online_store:\n${block}\n`,
    )
    writeFileSync(path, text)
  }
  const store = await FeatureStore.open(dir)
  try {
    await store.apply()
  } finally {
    await store.close()
  }
  return { dir, project, remove: () => rmSync(root, { recursive: true, force: true }) }
}

/**
 * Gives a `larder init` repo a large window to materialize: its sample data replaced by `drivers`
 * drivers with one row each at `at`, plus drivers 1001 to 1005 two hours earlier (a small window of
 * their own), and `online_write_batch_size: 1000`, so loading the window into SQLite takes seconds with
 * a batch boundary every few milliseconds.
 */
export async function manyDrivers(dir: string, drivers: number, at: Date): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:')
  const db = await instance.connect()
  try {
    const path = join(dir, 'data', 'driver_stats.parquet').replaceAll("'", "''")
    const row = (id: string, ts: string, seed: string) =>
      `SELECT ${id}::BIGINT AS driver_id, ${ts} AS event_timestamp, ${ts} AS created,
         ((hash(${seed}) % 1000) / 1000.0)::FLOAT AS conv_rate,
         ((hash(${seed}, 1) % 1000) / 1000.0)::FLOAT AS acc_rate,
         (hash(${seed}, 2) % 1000)::BIGINT AS avg_daily_trips`
    const ts = `TIMESTAMPTZ '${at.toISOString()}'`
    await db.run(
      `COPY (${row('1001 + d', `${ts} - INTERVAL 2 HOUR`, 'd')} FROM range(5) t(d)
        UNION ALL ${row('2001 + d', ts, 'd')} FROM range(${drivers}) t(d)) TO '${path}' (FORMAT parquet)`,
    )
  } finally {
    db.closeSync()
    instance.closeSync()
  }
  const config = join(dir, 'feature_store.yaml')
  writeFileSync(config, `${readFileSync(config, 'utf8')}materialization:\n  online_write_batch_size: 1000\n`)
}

/** A `larder` child process that logs JSON lines, once it logged that it is ready. */
export interface LarderProcess {
  readonly process: ChildProcess
  /** The log line that said it was ready (it carries the URLs). */
  readonly ready: Record<string, unknown>
  /** Every line the process wrote to stdout so far, parsed (non-JSON lines as `{ text }`). */
  logs(): Record<string, unknown>[]
  /** Everything written to stderr so far. */
  stderr(): string
  /** Sends the signal and resolves with the exit code once the process ended. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Starts `larder <args>` and resolves once it logs a line whose `msg` is `readyMessage`. */
export function startLarderProcess(
  args: readonly string[],
  readyMessage: string,
  timeoutMs = 20_000,
): Promise<LarderProcess> {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  })
  const what = `larder ${args.join(' ')}`
  const lines: Record<string, unknown>[] = []
  let stderr = ''
  let partial = ''
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${what} did not start within ${timeoutMs} ms; stderr: ${stderr}`))
    }, timeoutMs)
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${what} exited with ${code} before it was ready; stderr: ${stderr}`))
    })
    child.stdout!.on('data', (d: Buffer) => {
      partial += d.toString()
      const parts = partial.split('\n')
      partial = parts.pop()!
      for (const line of parts) {
        if (line.trim() === '') continue
        let entry: Record<string, unknown>
        try {
          entry = JSON.parse(line)
        } catch {
          entry = { text: line }
        }
        lines.push(entry)
        if (entry.msg === readyMessage) {
          clearTimeout(timer)
          resolvePromise({
            process: child,
            ready: entry,
            logs: () => lines,
            stderr: () => stderr,
            stop(signal = 'SIGTERM') {
              if (child.exitCode === null && child.signalCode === null) child.kill(signal)
              return exited
            },
          })
        }
      }
    })
  })
}

export interface ServeProcess extends Omit<LarderProcess, 'ready'> {
  readonly url: string
  readonly metricsUrl: string | undefined
  readonly grpcUrl: string | undefined
}

/**
 * Starts `larder -c <repo> serve --port 0 <args>` and resolves once it logs that it listens; one process
 * (`--workers 1`) unless `args` name `--workers`.
 */
export async function startServe(
  repo: string,
  args: readonly string[] = [],
  timeoutMs = 20_000,
): Promise<ServeProcess> {
  const started = await startLarderProcess(
    ['-c', repo, 'serve', '--port', '0', ...(args.includes('--workers') ? [] : ['--workers', '1']), ...args],
    'feature server listening',
    timeoutMs,
  )
  return {
    ...started,
    url: started.ready.url as string,
    metricsUrl: started.ready.metricsUrl as string | undefined,
    grpcUrl: started.ready.grpcUrl as string | undefined,
  }
}
