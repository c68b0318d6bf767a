// Cold start: what a CLI call, a serverless function or a freshly scaled server pays before its first
// answer. In a temporary directory, `larder init` + `apply` + `materialize-incremental` make the demo
// repo with the built CLI (dist/, so build first); then each figure is the wall time of a fresh process,
// interleaved run by run with the reference `node -e 0`:
//
// cold_start_larder_get: `larder get driver_id=1001 --features driver_hourly_stats:conv_rate`.
// cold_start_larder_get_on_demand: `larder get` of the feature service with the on-demand view (its
//   definitions transpiled on the first run, then read from the repo's cache).
// cold_start_sdk_open_get: a script importing `larderjs` that runs `FeatureStore.open` and a first
//   `getOnlineFeatures`.
//
// Each line: median wall ms, the reference median, and the ratio. Env: BENCH_RUNS (default 9).
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const RUNS = Math.max(7, Number(process.env.BENCH_RUNS ?? 9))
const ROOT = resolve(import.meta.dirname, '..')
const BIN = join(ROOT, 'bin', 'larder.js')

const SDK_SCRIPT = `import { FeatureStore } from 'larderjs'
const store = await FeatureStore.open(process.argv[2])
const response = await store.getOnlineFeatures({
  entities: { driver_id: [1001] },
  features: ['driver_hourly_stats:conv_rate'],
})
if (response.results[1].statuses[0] !== 'PRESENT') throw new Error('conv_rate of 1001 is not PRESENT')
await store.close()
`

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** Runs node with `args` in `cwd`; the wall ms from spawn to exit. Throws on a non-zero exit. */
function timed(args: readonly string[], cwd: string): number {
  const start = performance.now()
  const r = spawnSync(process.execPath, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  })
  const ms = performance.now() - start
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  return ms
}

export default async function coldStart(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'larder-bench-cold-'))
  try {
    const repo = join(root, 'demo')
    timed([BIN, 'init', repo], root)
    timed([BIN, 'apply'], repo)
    timed([BIN, 'materialize-incremental', new Date().toISOString()], repo)
    // The script imports `larderjs` as an application beside the repo would: from its node_modules.
    mkdirSync(join(root, 'node_modules'), { recursive: true })
    symlinkSync(ROOT, join(root, 'node_modules', 'larderjs'), 'dir')
    const script = join(root, 'first-read.mjs')
    writeFileSync(script, SDK_SCRIPT)

    const cases: Record<string, readonly string[]> = {
      cold_start_larder_get: [BIN, 'get', 'driver_id=1001', '--features', 'driver_hourly_stats:conv_rate'],
      cold_start_larder_get_on_demand: [
        BIN,
        'get',
        'driver_id=1001,val_to_add=1,val_to_add_2=2',
        '--feature-service',
        'driver_activity_v3',
      ],
      cold_start_sdk_open_get: [script, repo],
    }
    const reference: number[] = []
    const samples = new Map<string, number[]>(Object.keys(cases).map((k) => [k, []]))
    // One untimed round warms the OS file cache (and the repo's definition cache) for every case.
    timed(['-e', '0'], repo)
    for (const args of Object.values(cases)) timed(args, repo)
    for (let run = 0; run < RUNS; run++) {
      reference.push(timed(['-e', '0'], repo))
      for (const [name, args] of Object.entries(cases)) samples.get(name)!.push(timed(args, repo))
    }
    const referenceMs = median(reference)
    console.log(JSON.stringify({ bench: 'cold_start_node_e0', wall_ms: round(referenceMs), runs: RUNS }))
    for (const [name, xs] of samples) {
      const ms = median(xs)
      console.log(
        JSON.stringify({
          bench: name,
          wall_ms: round(ms),
          reference_node_e0_ms: round(referenceMs),
          ratio: round(ms / referenceMs),
          runs: RUNS,
        }),
      )
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}
