import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort, redisUnavailable } from './probes.js'

const run = promisify(execFile)

/** A Redis Cluster started by {@link startRedisCluster}. */
export interface RedisClusterHandle {
  readonly ports: readonly number[]
  /** The masters as a Feast `connection_string`: `127.0.0.1:p1,127.0.0.1:p2,…`. */
  readonly connectionString: string
  /** Stops the servers and removes their directories. */
  stop(): Promise<void>
}

/** Undefined when `redis-server` and `redis-cli` can be run, else the reason. */
export async function redisClusterUnavailable(): Promise<string | undefined> {
  for (const bin of ['redis-server', 'redis-cli']) {
    try {
      await run(bin, ['--version'])
    } catch {
      return `${bin} is not installed (a Redis Cluster is started from redis-server processes)`
    }
  }
  return undefined
}

/**
 * Starts a Redis Cluster of `masters` masters without replicas: `redis-server --cluster-enabled yes`
 * processes on free loopback ports (and free bus ports, +10000), each in a temporary directory, joined
 * with `redis-cli --cluster create`. Resolves once every node reports `cluster_state:ok`.
 *
 * @example const cluster = await startRedisCluster(); ...; await cluster.stop()
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterHandle> {
  const ports: number[] = []
  while (ports.length < masters) {
    const port = await freePort()
    if (port <= 55_535 && !ports.includes(port) && (await isFree(port + 10_000))) ports.push(port)
  }
  const dirs: string[] = []
  const servers: ChildProcess[] = []
  const kill = () => {
    for (const server of servers) if (server.exitCode === null) server.kill('SIGKILL')
  }
  process.once('exit', kill)
  const stop = async () => {
    process.removeListener('exit', kill)
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            if (server.exitCode !== null || server.signalCode !== null) return resolve()
            server.once('exit', () => resolve())
            server.kill('SIGTERM')
          }),
      ),
    )
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (const port of ports) {
      const dir = mkdtempSync(join(tmpdir(), `larder-redis-cluster-${port}-`))
      dirs.push(dir)
      servers.push(
        spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '5000',
            '--dir',
            dir,
            '--save',
            '',
            '--appendonly',
            'no',
            '--daemonize',
            'no',
            '--loglevel',
            'warning',
          ],
          { stdio: 'ignore' },
        ),
      )
    }
    for (const port of ports)
      await waitFor(
        async () => (await redisUnavailable('127.0.0.1', port)) === undefined,
        `redis-server on port ${port} to start`,
      )
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    )
    for (const port of ports) {
      await waitFor(async () => {
        const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info'])
        return stdout.includes('cluster_state:ok')
      }, `the cluster node on port ${port} to report cluster_state:ok`)
    }
  } catch (e) {
    await stop()
    throw e
  }
  return { ports, connectionString: ports.map((p) => `127.0.0.1:${p}`).join(','), stop }
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}
