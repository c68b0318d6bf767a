// `larder serve --workers N` on every core: `POST /get-online-features` with 1 entity row x 50 features
// (5 views x 10) on Redis, the repo and load of bench/server.ts (autocannon in a worker thread, 32
// connections, closed loop), against the built CLI (`bin/larder.js`, so run `npx tsc -p
// tsconfig.build.json` first) with `--workers 1` (one process, the reference) and `--workers 2`, both
// running side by side and measured alternately; the figures are medians over the rounds. Both log at
// the default level (info, one JSON line per request) into a file. The load generator runs on the same
// machine and takes CPU the servers could use: each line reports the cores it used during its runs
// (`loadgen_cores`), so a ratio below the number of cores can be read against what was left.
// Prints one JSON line per worker count; the workers2 line carries `ratio` (rps against workers1).
//
// Env: BENCH_SERVER_SECONDS (default 10 per run), BENCH_SERVER_ROUNDS (default 3), LARDER_TEST_REDIS
// (default 127.0.0.1:6379).
import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FeatureStore } from '../src/feature-store.js'
import { drive, repo } from './server.js'

const SECONDS = Number(process.env.BENCH_SERVER_SECONDS ?? 10)
const ROUNDS = Number(process.env.BENCH_SERVER_ROUNDS ?? 3)
const REDIS = process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379'
const WARMUP_SECONDS = 3
const BIN = resolve(fileURLToPath(new URL('../bin/larder.js', import.meta.url)))
const PATH = '/get-online-features'

type Figures = Awaited<ReturnType<typeof drive>>

interface Served {
  readonly workers: number
  readonly url: string
  readonly process: ChildProcess
  readonly runs: (Figures & { loadgenCores: number })[]
}

/** Starts `larder serve --workers N` on the repo, logging into `log`, and resolves once it listens. */
async function serve(dir: string, workers: number, log: string): Promise<Served> {
  const fd = openSync(log, 'w')
  const child = spawn(
    process.execPath,
    [BIN, '-c', dir, 'serve', '--port', '0', '--workers', String(workers)],
    {
      stdio: ['ignore', fd, 'inherit'],
    },
  )
  closeSync(fd)
  const deadline = Date.now() + 120_000
  for (;;) {
    const ready = readFileSync(log, 'utf8')
      .split('\n')
      .find((l) => l.includes('"msg":"feature server listening"'))
    if (ready) return { workers, url: JSON.parse(ready).url as string, process: child, runs: [] }
    if (child.exitCode !== null)
      throw new Error(`larder serve --workers ${workers} exited with ${child.exitCode}`)
    if (Date.now() > deadline)
      throw new Error(`larder serve --workers ${workers} did not listen within 120 s`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Checks that the server answers every feature PRESENT, so a broken server never scores. */
async function checkPresent(url: string, store: FeatureStore): Promise<void> {
  const catalog = await store.catalog()
  const features = [...catalog.featureViews.values()].flatMap((v) =>
    v.features.map((f) => `${v.name}:${f.name}`),
  )
  const res = await fetch(url + PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ features, entities: { driver_id: [1000] } }),
  })
  const body = (await res.json()) as { results?: { statuses: string[] }[] }
  const present = body.results?.slice(1).every((r) => r.statuses[0] === 'PRESENT')
  if (res.status !== 200 || !present || features.length !== 50) {
    throw new Error(`${url} answered ${res.status} for ${features.length} features: not all PRESENT`)
  }
}

/** One run, with the cores this process (the load generator's thread included) used meanwhile. */
async function run(url: string, seconds: number): Promise<Figures & { loadgenCores: number }> {
  const cpu = process.cpuUsage()
  const started = performance.now()
  const figures = await drive(url, seconds)
  const used = process.cpuUsage(cpu)
  const loadgenCores = (used.user + used.system) / 1000 / (performance.now() - started)
  return { ...figures, loadgenCores }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

export default async function main(): Promise<void> {
  const bench = (workers: number) => `http_online_1x50_redis_workers${workers}`
  const project = `bench_workers_${process.pid}_${Date.now().toString(36)}`
  let setup: { dir: string; store: FeatureStore }
  try {
    setup = await repo(project, `  type: redis\n  connection_string: ${REDIS}\n`)
  } catch (e) {
    for (const w of [1, 2]) console.log(JSON.stringify({ bench: bench(w), skipped: (e as Error).message }))
    return
  }
  const { dir, store } = setup
  const servers: Served[] = []
  try {
    for (const workers of [1, 2]) servers.push(await serve(dir, workers, join(dir, `serve-${workers}.log`)))
    for (const s of servers) {
      await checkPresent(s.url, store)
      await drive(s.url, WARMUP_SECONDS)
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of servers) s.runs.push(await run(s.url, SECONDS))
    }
    const ms = (n: number) => Math.round(n * 100) / 100
    const [one] = servers.map((s) => median(s.runs.map((r) => r.rps)))
    for (const s of servers) {
      const rps = median(s.runs.map((r) => r.rps))
      console.log(
        JSON.stringify({
          bench: bench(s.workers),
          rps: Math.round(rps),
          p50_ms: ms(median(s.runs.map((r) => r.p50))),
          p99_ms: ms(median(s.runs.map((r) => r.p99))),
          ...(s.workers === 1
            ? {}
            : { reference_rps: Math.round(one!), ratio: Math.round((rps / one!) * 100) / 100 }),
          loadgen_cores: ms(median(s.runs.map((r) => r.loadgenCores))),
          runs_rps: s.runs.map((r) => Math.round(r.rps)),
          workers: s.workers,
          seconds: SECONDS,
          rounds: ROUNDS,
        }),
      )
    }
  } finally {
    await Promise.all(
      servers.map(
        (s) =>
          new Promise((r) => {
            s.process.once('exit', r)
            s.process.kill('SIGTERM')
          }),
      ),
    )
    await store.teardown()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
