// End to end: `larder serve` on a Redis online store while the test kills and restarts the
// redis-server it started. While Redis is down, reads answer 503 with the JSON error body (never 500,
// never a hang) and the server stays up; once Redis is back, the server reconnects by itself.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeWithService, freePort, redisUnavailable } from '../testing/services.js'
import { type AppliedRepo, appliedRepo, type ServeProcess, startServe } from './__fixtures__/serve-process.js'

const run = promisify(execFile)

/** The server's `--read-timeout-ms`: no request may take much longer than this while Redis is down. */
const READ_TIMEOUT_MS = 1000
/** A request still unanswered this long after it was sent counts as a hang (well above the read timeout, so a slow shared machine does not flake). */
const HANG_MS = READ_TIMEOUT_MS + 4000
/** The bound: the server answers again within this long after Redis is back. */
const RECOVERY_MS = 5000
const LOAD_WORKERS = 4

const READ = {
  features: ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:avg_daily_trips'],
  entities: { driver_id: [1001, 1002] },
}

async function binaryUnavailable(): Promise<string | undefined> {
  try {
    await run('redis-server', ['--version'])
    return undefined
  } catch {
    return 'redis-server is not installed (the test starts, kills and restarts its own Redis)'
  }
}

/** A redis-server on 127.0.0.1:port that keeps nothing on disk, so a restart starts empty. */
class RedisProcess {
  readonly port: number
  readonly #dir = mkdtempSync(join(tmpdir(), 'larder-redis-outage-'))
  #process: ChildProcess | undefined

  constructor(port: number) {
    this.port = port
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.#dir,
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
    )
    this.#process = child
    // should the test worker die before afterAll, the server must not outlive it
    const orphan = () => child.kill('SIGKILL')
    process.once('exit', orphan)
    child.once('exit', () => process.removeListener('exit', orphan))
    const deadline = Date.now() + 20_000
    while ((await redisUnavailable('127.0.0.1', this.port, 500)) !== undefined) {
      if (child.exitCode !== null)
        throw new Error(`redis-server on port ${this.port} exited with ${child.exitCode}`)
      if (Date.now() > deadline)
        throw new Error(`redis-server on port ${this.port} did not answer PING within 20 s`)
      await sleep(20)
    }
  }

  /** SIGKILL, as a crash: no shutdown, connections drop at once. Resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.#process
    this.#process = undefined
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGKILL')
    await exited
  }

  async remove(): Promise<void> {
    await this.kill()
    rmSync(this.#dir, { recursive: true, force: true })
  }
}

interface Answer {
  readonly sentAt: number
  readonly doneAt: number
  /** The HTTP status, or 0 when the request got no answer within {@link HANG_MS} or failed at the socket. */
  readonly status: number
  readonly text: string
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

const unavailable = await binaryUnavailable()

describeWithService('larder serve while its Redis is killed and restarted', unavailable, () => {
  let redis: RedisProcess
  let repo: AppliedRepo | undefined
  let server: ServeProcess | undefined
  const now = new Date()

  async function post(path: string, body: unknown): Promise<Answer> {
    const sentAt = performance.now()
    try {
      const res = await fetch(`${server!.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(HANG_MS),
      })
      const text = await res.text()
      return { sentAt, doneAt: performance.now(), status: res.status, text }
    } catch (e) {
      return { sentAt, doneAt: performance.now(), status: 0, text: String(e) }
    }
  }

  beforeAll(async () => {
    redis = new RedisProcess(await freePort())
    await redis.start()
    repo = await appliedRepo({
      now,
      onlineStore: `type: redis\nconnection_string: "127.0.0.1:${redis.port}"`,
    })
    server = await startServe(repo.dir, ['--read-timeout-ms', String(READ_TIMEOUT_MS)])
  }, 60_000)

  afterAll(async () => {
    await server?.stop('SIGKILL')
    await redis?.remove()
    repo?.remove()
  })

  it('answers 503 naming the online store while Redis is down, and recovers within 5 s of its return', async () => {
    const materialized = await post('/materialize-incremental', { end_ts: now.toISOString() })
    expect(materialized.status, materialized.text).toBe(200)
    const before = await post('/get-online-features', READ)
    expect(before.status, before.text).toBe(200)
    const values = JSON.parse(before.text).results.slice(1)
    expect(values[0].statuses).toEqual(['PRESENT', 'PRESENT'])

    // A bounded load: a few clients reading back to back until told to stop.
    const answers: Answer[] = []
    let loading = true
    const workers = Array.from({ length: LOAD_WORKERS }, async () => {
      while (loading) answers.push(await post('/get-online-features', READ))
    })

    try {
      await sleep(500)
      await redis.kill()
      const downAt = performance.now()
      // long enough for several reads to fail and for the driver's reconnect backoff to grow
      await sleep(3000)
      const restartAt = performance.now()
      await redis.start()
      const backAt = performance.now()

      // The first 200 of a read sent after Redis answers PING again.
      let firstOk: Answer | undefined
      while (!firstOk && performance.now() - backAt < RECOVERY_MS + HANG_MS) {
        const answer = await post('/get-online-features', READ)
        if (answer.status === 200) firstOk = answer
        else await sleep(20)
      }
      expect(firstOk, 'the server never answered 200 again after Redis came back').toBeDefined()
      const recoveryMs = firstOk!.doneAt - backAt
      console.info(`recovered ${Math.round(recoveryMs)} ms after redis-server answered PING again`)
      expect(recoveryMs).toBeLessThan(RECOVERY_MS)
      await sleep(300)
      loading = false
      await Promise.all(workers)

      // Every answer is a 200 or a 503; nothing hung, nothing is a 500.
      const statuses = new Set(answers.map((a) => a.status))
      const unexpected = answers.filter((a) => a.status !== 200 && a.status !== 503)
      expect(
        unexpected.map((a) => a.status),
        `unexpected answers: ${unexpected
          .slice(0, 3)
          .map((a) => a.text)
          .join('; ')}; server errors logged: ${JSON.stringify(
          server!
            .logs()
            .filter((l) => typeof l.level === 'number' && l.level >= 50)
            .slice(0, 3),
        )}`,
      ).toEqual([])

      // Reads sent and answered while Redis was down are 503 with the server's error body.
      const during = answers.filter((a) => a.sentAt > downAt && a.doneAt < restartAt)
      expect(during.length).toBeGreaterThan(0)
      for (const answer of during) {
        expect(answer.status, answer.text).toBe(503)
        const body = JSON.parse(answer.text)
        expect(body).toMatchObject({ status_code: 503, error_type: 'BACKEND_UNAVAILABLE' })
        expect(body.detail).toMatch(/online store|redis/i)
        expect(typeof body.hint).toBe('string')
      }
      console.info(
        `during the outage: ${during.length} answers, e.g. ${during[0]!.text}; statuses overall: ${[...statuses].join(', ')}`,
      )
    } finally {
      loading = false
      await Promise.all(workers)
    }

    expect(server!.process.exitCode).toBeNull()
    expect(server!.process.signalCode).toBeNull()

    // The restarted Redis keeps nothing: the rows are gone until they are written again.
    const empty = await post('/get-online-features', READ)
    expect(empty.status, empty.text).toBe(200)
    expect(JSON.parse(empty.text).results[1].statuses).toEqual(['NOT_FOUND', 'NOT_FOUND'])

    // The server writes through its reconnected client too: re-materialize the same window.
    const rewritten = await post('/materialize', {
      start_ts: new Date(now.getTime() - 8 * 86_400_000).toISOString(),
      end_ts: now.toISOString(),
    })
    expect(rewritten.status, rewritten.text).toBe(200)
    const after = await post('/get-online-features', READ)
    expect(after.status, after.text).toBe(200)
    expect(JSON.parse(after.text).results.slice(1)).toEqual(values)
  }, 60_000)
})
