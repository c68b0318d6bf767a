// `larder init --template streaming` end to end, as its README runs it: the repo applied, `larder stream`
// as a child process (the built CLI in dist/: build first), events sent to the repo's Redis stream by
// the test and by the repo's own producer script, and the features read back with `larder get`.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClient } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type LarderProcess, startLarderProcess } from '../server/__fixtures__/serve-process.js'
import { describeWithService, redisUnavailable } from '../testing/services.js'
import { larder } from './__fixtures__/run-larder.js'

const REDIS_URL = 'redis://127.0.0.1:6379'
/** This package's node_modules: linked into the new repo, as `npm install` there would provide `redis`. */
const NODE_MODULES = fileURLToPath(new URL('../../node_modules', import.meta.url))
const DRIVER = 4242

/** Polls `check` until it returns a value other than undefined; fails naming `what` after many tries. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const value = await check()
    if (value !== undefined) return value
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`never saw ${what}`)
}

/** `larder get <driver_id=…> -s driver_trips_v1 --json` as one record of feature → value per driver. */
async function readDrivers(repo: string, drivers: readonly number[]): Promise<Record<string, unknown>[]> {
  const result = await larder(
    '-c',
    repo,
    'get',
    ...drivers.map((d) => `driver_id=${d}`),
    '-s',
    'driver_trips_v1',
    '--json',
  )
  expect(result.code, result.stderr).toBe(0)
  const body = JSON.parse(result.stdout) as {
    metadata: { feature_names: string[] }
    results: { values: unknown[] }[]
  }
  return drivers.map((_, row) =>
    Object.fromEntries(body.metadata.feature_names.map((name, i) => [name, body.results[i]!.values[row]])),
  )
}

/** Runs `node produce-events.mjs <args>` in the repo to its end. */
function produce(
  repo: string,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['produce-events.mjs', ...args], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, REDIS_URL },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.once('error', fail)
    child.once('close', (code) => done({ code, stdout, stderr }))
  })
}

describeWithService('larder init --template streaming', await redisUnavailable('127.0.0.1', 6379), () => {
  const project = `trips_${process.pid}_${Date.now()}`
  const stream = `${project}:trips`
  let root: string
  let repo: string
  const redis = createClient({ url: REDIS_URL })
  const redisUrlBefore = process.env.REDIS_URL
  let processor: LarderProcess | undefined

  beforeAll(async () => {
    // the repo's feature_store.yaml and producer read REDIS_URL; `larder stream` inherits this
    process.env.REDIS_URL = REDIS_URL
    root = mkdtempSync(join(tmpdir(), 'larder-init-streaming-'))
    repo = join(root, project)
    await redis.connect()
  })
  afterAll(async () => {
    await processor?.stop('SIGKILL')
    await redis.del([stream, `${stream}:dead`]).catch(() => undefined)
    await redis.close()
    if (redisUrlBefore === undefined) delete process.env.REDIS_URL
    else process.env.REDIS_URL = redisUrlBefore
    if (existsSync(join(repo, 'node_modules'))) unlinkSync(join(repo, 'node_modules'))
    rmSync(root, { recursive: true, force: true })
  })

  it('lists its templates in --help and refuses an unknown one', async () => {
    const help = await larder('init', '--help')
    expect(help.stdout).toMatch(/--template <name> +repo template: local, streaming/)
    expect(help.stdout).toMatch(/^ {2}local +batch features/m)
    expect(help.stdout).toMatch(/^ {2}streaming +a stream feature view over a Redis stream/m)
    const unknown = await larder('init', join(root, 'other'), '--template', 'kafka')
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('unknown template "kafka"')
    expect(unknown.stderr).toContain('known templates: local, streaming')
  })

  it('creates a repo whose stream is named after the project, its producer kept out of the definitions', async () => {
    const created = await larder('init', repo, '--template', 'streaming')
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toContain('npx larder stream')
    expect(created.stdout).toContain('node produce-events.mjs')
    for (const f of [
      'feature_store.yaml',
      'features.ts',
      'produce-events.mjs',
      '.larderignore',
      '.gitignore',
      'README.md',
      'package.json',
      'data/driver_trips/.gitkeep',
    ]) {
      expect(existsSync(join(repo, f)), f).toBe(true)
    }
    const yaml = readFileSync(join(repo, 'feature_store.yaml'), 'utf8')
    expect(yaml).toContain(`project: ${project}`)
    expect(yaml).toMatch(/^stream_processor:\n {2}redis_connection_string: /m)
    expect(yaml).not.toContain(root)
    expect(readFileSync(join(repo, 'features.ts'), 'utf8')).toContain(`stream: '${stream}'`)
    expect(readFileSync(join(repo, 'produce-events.mjs'), 'utf8')).toContain(`const STREAM = '${stream}'`)
    expect(readFileSync(join(repo, '.larderignore'), 'utf8')).toMatch(/^produce-events\.mjs$/m)
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'))
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['larderjs', 'redis'])
    expect(pkg.scripts).toMatchObject({ stream: 'larder stream', produce: 'node produce-events.mjs' })
  })

  it('applies: the stream view with its aggregations, its sources and the feature service', async () => {
    const applied = await larder('-c', repo, 'apply')
    expect(applied.stderr).toBe('')
    expect(applied.code).toBe(0)
    const views = JSON.parse((await larder('-c', repo, 'list', 'stream-feature-views', '--json')).stdout)
    expect(views).toMatchObject([
      {
        name: 'driver_trips',
        entities: ['driver'],
        features: ['fare', 'city'],
        aggregations: [
          'sum_fare_600s = sum(fare) over 10m',
          'count_fare_600s = count(fare) over 10m',
          'sum_fare_3600s = sum(fare) over 1h',
          'count_fare_3600s = count(fare) over 1h',
          'last_city_3600s = last(city) over 1h',
        ],
        source: 'driver_trips_stream',
        batchSource: 'driver_trips_source',
      },
    ])
    const services = JSON.parse((await larder('-c', repo, 'list', 'feature-services', '--json')).stdout)
    expect(services.map((s: { name: string }) => s.name)).toEqual(['driver_trips_v1'])
  })

  it('larder stream serves the events online within their windows and dead-letters a bad one', async () => {
    processor = await startLarderProcess(['-c', repo, 'stream', '--port', '0'], 'stream ready')
    const now = Date.now()
    const trip = (agoMs: number, fare: string, city: string) => ({
      driver_id: String(DRIVER),
      event_timestamp: new Date(now - agoMs).toISOString(),
      fare,
      city,
    })
    await redis.xAdd(stream, '*', trip(20 * 60_000, '100', 'Faro')) // in the 1 h windows only
    await redis.xAdd(stream, '*', trip(2 * 60_000, '10', 'Lisbon'))
    await redis.xAdd(stream, '*', trip(30_000, '20.5', 'Porto'))
    await redis.xAdd(stream, '*', trip(10_000, 'lots', 'Braga')) // not a number: dead-lettered
    const features = await eventually('the three trips counted', async () => {
      const [row] = await readDrivers(repo, [DRIVER])
      return row!.count_fare_3600s === 3 ? row : undefined
    })
    expect(features).toEqual({
      driver_id: DRIVER,
      fare: 20.5,
      city: 'Porto',
      sum_fare_600s: 30.5,
      count_fare_600s: 2,
      sum_fare_3600s: 130.5,
      count_fare_3600s: 3,
      last_city_3600s: 'Porto',
    })
    const dead = await eventually('the dead letter', async () => {
      const entries = (await redis.xRange(`${stream}:dead`, '-', '+')) ?? []
      return entries.length > 0 ? entries : undefined
    })
    expect(dead).toHaveLength(1)
    expect(dead[0]!.message.reason).toMatch(/field "fare"/)
  })

  it("the repo's producer sends events that the processor counts, as its health and metrics say", async () => {
    symlinkSync(NODE_MODULES, join(repo, 'node_modules'), 'dir')
    const produced = await produce(repo, ['--count', '12', '--rate', '100'])
    expect(produced.stderr).toBe('')
    expect(produced.code).toBe(0)
    expect(produced.stdout).toContain(`sent 12 events to ${stream}`)
    const drivers = [1001, 1002, 1003, 1004, 1005]
    const counted = (rows: Record<string, unknown>[]) =>
      rows.reduce((sum, r) => sum + ((r.count_fare_600s as number | null) ?? 0), 0)
    await eventually('the 12 produced trips counted', async () => {
      const read = await readDrivers(repo, drivers)
      return counted(read) === 12 ? read : undefined
    })
    // read again: a read that saw the last tile may have read the latest values just before that
    // batch wrote them; now every batch is written and nothing more comes
    const rows = await readDrivers(repo, drivers)
    for (const row of rows.filter((r) => r.count_fare_600s !== null)) {
      expect(row.sum_fare_600s as number).toBeGreaterThanOrEqual(5 * (row.count_fare_600s as number))
      expect(['Lisbon', 'Porto', 'Braga', 'Coimbra']).toContain(row.last_city_3600s)
      expect(row.city).toBe(row.last_city_3600s)
    }
    const url = processor!.ready.url as string
    // the counts move once a batch is acknowledged, just after its writes are readable
    const health = await eventually('every event acknowledged', async () => {
      const body = (await (await fetch(`${url}/health`)).json()) as { sources?: { events?: number }[] }
      return body.sources?.[0]?.events === 15 ? body : undefined
    })
    expect(health).toMatchObject({
      status: 'ok',
      sources: [
        {
          source: 'driver_trips_stream',
          views: ['driver_trips'],
          state: 'running',
          events: 15,
          deadLettered: 1,
        },
      ],
    })
    const metrics = await (await fetch(`${url}/metrics`)).text()
    expect(metrics).toContain('larder_stream_events_total{feature_view="driver_trips"} 15')
    expect(metrics).toContain('larder_stream_dead_lettered_total{source="driver_trips_stream"} 1')
  })

  it('stops on SIGTERM, having appended every written event to the Parquet directory', async () => {
    expect(await processor!.stop('SIGTERM')).toBe(0)
    expect(processor!.logs().map((l) => l.msg)).toContain('stopping after the batches in hand')
    processor = undefined
    expect(readdirSync(join(repo, 'data', 'driver_trips')).some((f) => f.endsWith('.parquet'))).toBe(true)
    const out = join(root, 'trips.parquet')
    const training = await larder(
      '-c',
      repo,
      'get-historical-features',
      '--start-date',
      '2000-01-01',
      '--end-date',
      new Date(Date.now() + 60_000).toISOString(),
      '--features',
      'driver_trips:fare,driver_trips:count_fare_600s',
      '-o',
      out,
    )
    expect(training.code, training.stderr).toBe(0)
    expect(training.stdout).toMatch(/Wrote 15 rows/)
  })
})
