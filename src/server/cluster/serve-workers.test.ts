// End to end: `larder serve --workers 2` as a child process (built dist/) on a `larder init` repo: a
// worker killed with SIGKILL is replaced while the other keeps answering, /metrics sums every worker,
// a registry change found by the primary reaches every worker, and workers that cannot start end the
// primary with one error.
import { spawn } from 'node:child_process'
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FeatureStore } from '../../feature-store.js'
import {
  type AppliedRepo,
  appliedRepo,
  type ServeProcess,
  startServe,
} from '../__fixtures__/serve-process.js'

const BIN = resolve(fileURLToPath(new URL('../../../bin/larder.js', import.meta.url)))
const READ = JSON.stringify({
  features: ['driver_hourly_stats:conv_rate'],
  entities: { driver_id: [1001] },
})

let repo: AppliedRepo
let server: ServeProcess
/** The pids of the workers the `feature server listening` line named. */
let firstPids: number[]

let requestCount = 0
const nextId = (prefix: string) => `${prefix}-${requestCount++}`

/**
 * One request with `x-request-id: id`; `agent: false` opens a connection of its own (the primary hands
 * new connections to the workers in turn), an agent keeps its connection.
 */
function call(
  url: string,
  path: string,
  id: string,
  options: { agent?: Agent | false; body?: string } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      `${url}${path}`,
      {
        method: options.body === undefined ? 'GET' : 'POST',
        agent: options.agent ?? false,
        headers: { 'x-request-id': id, 'content-type': 'application/json' },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          text += d
        })
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, text }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** Polls until `find` returns a value, failing after `timeoutMs` with `what`. */
async function waitFor<T>(what: string, find: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = find()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The pid of the worker that logged the request with id `id`, once it logged it. */
function servedBy(id: string): Promise<number> {
  return waitFor(`the log line of request ${id}`, () => {
    const line = server.logs().find((l) => l.msg === 'request' && l.reqId === id)
    return line ? (line.pid as number) : undefined
  })
}

/** `larder_http_requests_total` of successful `/get-online-features` reads in a scrape. */
function readsCounted(text: string): number {
  const line = text
    .split('\n')
    .find((l) =>
      l.startsWith('larder_http_requests_total{route="/get-online-features",method="POST",status="200"}'),
    )
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

beforeAll(async () => {
  repo = await appliedRepo()
  server = await startServe(repo.dir, ['--workers', '2', '--metrics-port', '0'], 120_000)
  const ready = server.logs().find((l) => l.msg === 'feature server listening')!
  firstPids = (ready.workers as { pid: number }[]).map((w) => w.pid)
}, 150_000)

afterAll(async () => {
  await server?.stop('SIGKILL')
  repo?.remove()
})

describe('larder serve --workers 2 (child processes, real HTTP)', () => {
  it('starts two workers, each its own process, and names them when it listens', () => {
    expect(firstPids).toHaveLength(2)
    expect(new Set(firstPids).size).toBe(2)
    expect(firstPids).not.toContain(server.process.pid)
  })

  it('sums a counter of every worker in /metrics, whichever worker answers the scrape', async () => {
    const reads = 20
    const ids = Array.from({ length: reads }, () => nextId('read'))
    for (const id of ids) {
      expect((await call(server.url, '/get-online-features', id, { body: READ })).status).toBe(200)
    }
    const readers = new Set(await Promise.all(ids.map(servedBy)))
    expect(readers).toEqual(new Set(firstPids))

    const scrapers = new Set<number>()
    for (let i = 0; i < 4; i++) {
      const id = nextId('scrape')
      const scrape = await call(server.url, '/metrics', id)
      expect(scrape.status).toBe(200)
      expect(readsCounted(scrape.text)).toBe(reads)
      scrapers.add(await servedBy(id))
    }
    expect(scrapers).toEqual(new Set(firstPids))
    const separate = await fetch(server.metricsUrl!)
    expect(readsCounted(await separate.text())).toBe(reads)
  })

  it('reloads the registry in every worker when one of them is asked to refresh', async () => {
    appendFileSync(
      join(repo.dir, 'features.ts'),
      `
export const driverStatsCopy = new FeatureView({
  name: 'driver_stats_copy',
  entities: [driver],
  schema: [new Field({ name: 'conv_rate', dtype: Float32 })],
  online: true,
  source: driverStatsSource,
})
`,
    )
    const store = await FeatureStore.open(repo.dir)
    try {
      await store.apply()
    } finally {
      await store.close()
    }
    // the registry's cache_ttl_seconds is 600: only the refresh asked of one worker brings the other,
    // and it answers once both serve the new registry
    expect((await call(server.url, '/registry/refresh', nextId('refresh'), { body: '' })).status).toBe(200)
    await waitFor('the primary to log the new registry', () =>
      server.logs().find((l) => l.msg === 'registry changed; workers reload it'),
    )
    const body = JSON.stringify({
      features: ['driver_stats_copy:conv_rate'],
      entities: { driver_id: [1001] },
    })
    const answered = new Set<number>()
    for (let i = 0; i < 20 && answered.size < 2; i++) {
      const id = nextId('copy')
      const res = await call(server.url, '/get-online-features', id, { body })
      expect(res.status, res.text).toBe(200)
      answered.add(await servedBy(id))
    }
    expect(answered).toEqual(new Set(firstPids))
  })

  it('replaces a worker killed with SIGKILL while requests on the other one all succeed', async () => {
    const [victim, survivor] = firstPids as [number, number]
    // keep-alive connections that landed on the surviving worker
    const onSurvivor: Agent[] = []
    for (let i = 0; i < 40 && onSurvivor.length < 2; i++) {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 })
      const id = nextId('probe')
      expect((await call(server.url, '/get-online-features', id, { agent, body: READ })).status).toBe(200)
      if ((await servedBy(id)) === survivor) onSurvivor.push(agent)
      else agent.destroy()
    }
    expect(onSurvivor).toHaveLength(2)

    let stop = false
    const sent: string[] = []
    const failures: string[] = []
    const load = onSurvivor.map(async (agent) => {
      while (!stop) {
        const id = nextId('during')
        sent.push(id)
        try {
          const res = await call(server.url, '/get-online-features', id, { agent, body: READ })
          if (res.status !== 200) failures.push(`${id}: ${res.status} ${res.text}`)
        } catch (e) {
          failures.push(`${id}: ${(e as Error).message}`)
        }
      }
    })
    await waitFor('requests before the kill', () => (sent.length >= 10 ? true : undefined))
    process.kill(victim, 'SIGKILL')
    const replaced = await waitFor('a replacement worker', () =>
      server.logs().find((l) => l.msg === 'replacement worker listening'),
    )
    const during = sent.length
    await waitFor('requests after the replacement', () => (sent.length >= during + 10 ? true : undefined))
    stop = true
    await Promise.all(load)
    for (const agent of onSurvivor) agent.destroy()

    expect(failures).toEqual([])
    expect(new Set(await Promise.all(sent.map(servedBy)))).toEqual(new Set([survivor]))
    expect(server.logs()).toContainEqual(
      expect.objectContaining({ msg: 'worker exited; replacing it', workerPid: victim, signal: 'SIGKILL' }),
    )
    const newPid = replaced.workerPid as number
    expect(firstPids).not.toContain(newPid)
    // new connections go to each worker in turn: the replacement answers one of them
    const pids = new Set<number>()
    for (let i = 0; i < 20 && !pids.has(newPid); i++) {
      const id = nextId('after')
      expect((await call(server.url, '/get-online-features', id, { body: READ })).status).toBe(200)
      pids.add(await servedBy(id))
    }
    expect(pids).toContain(newPid)
  })

  it('lets every worker drain and stop on SIGTERM, then exits 0', async () => {
    expect(await server.stop('SIGTERM')).toBe(0)
    const stopped = server.logs().filter((l) => l.msg === 'worker stopped')
    expect(stopped).toHaveLength(2)
    expect(stopped.map((l) => l.code)).toEqual([0, 0])
    expect(server.logs().at(-1)).toMatchObject({ msg: 'stopped', pid: server.process.pid })
  })
})

/** Runs `larder <args>` to its end. */
function runLarder(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.on('exit', (code) => resolvePromise({ code, stdout, stderr }))
  })
}

describe('larder serve --workers 2 that cannot start', () => {
  let dir: string
  let taken: Server

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'larder-workers-'))
    taken = createServer()
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r))
  })

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true })
    await new Promise((r) => taken.close(r))
  })

  it('reports a bad config once, from the primary, and forks no worker', async () => {
    writeFileSync(
      join(dir, 'feature_store.yaml'),
      'project: demo\nregistry: data/registry.db\nprovider: nowhere\n',
    )
    const run = await runLarder(['-c', dir, 'serve', '--workers', '2', '--port', '0'])
    expect(run.code).toBe(1)
    expect(run.stderr.match(/^error:/gm)).toHaveLength(1)
    expect(run.stdout).not.toContain('worker started')
  })

  it('ends with the workers error once when they cannot listen, instead of forking again', async () => {
    const port = (taken.address() as { port: number }).port
    const local = await appliedRepo()
    try {
      const run = await runLarder(['-c', local.dir, 'serve', '--workers', '2', '--port', String(port)])
      expect(run.code).toBe(1)
      expect(run.stderr.match(/^error:.*/gm)).toEqual([
        `error: cannot listen on 127.0.0.1:${port}: EADDRINUSE`,
      ])
      const started = run.stdout.split('\n').filter((l) => l.includes('"worker started"'))
      expect(started).toHaveLength(2)
    } finally {
      local.remove()
    }
  })
})
