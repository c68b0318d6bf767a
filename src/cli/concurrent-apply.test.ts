import { type ChildProcess, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FileRegistry } from '../registry/index.js'
import { initRepo } from './commands/init.js'

const BIN = resolve(import.meta.dirname, '../../bin/larder.js')

interface Run {
  child: ChildProcess
  stdout: string
  stderr: string
  exit: Promise<number>
}

function larderProcess(repo: string): Run {
  const child = spawn(process.execPath, [BIN, '-c', repo, 'apply'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((r) => child.on('exit', (code) => r(code ?? -1))),
  }
  child.stdout!.on('data', (d) => {
    run.stdout += d
  })
  child.stderr!.on('data', (d) => {
    run.stderr += d
  })
  return run
}

async function until(check: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('two processes applying at once', () => {
  it.skipIf(!process.env.CI && !existsSync(resolve(import.meta.dirname, '../../dist/cli/main.js')))(
    'one commits, the other gets a conflict, and no object is lost',
    async () => {
      const root = mkdtempSync(join(tmpdir(), 'larder-race-'))
      const a = join(root, 'demo')
      await initRepo(a, 'local')
      const b = join(root, 'demo_b')
      cpSync(a, b, { recursive: true })
      const registryPath = join(a, 'data', 'registry.db')
      // Same project and registry; B's repo defines one more feature service.
      writeFileSync(
        join(b, 'feature_store.yaml'),
        readFileSync(join(a, 'feature_store.yaml'), 'utf8').replace(
          'registry: data/registry.db',
          `registry: ${registryPath}`,
        ),
      )
      writeFileSync(
        join(b, 'features.ts'),
        `${readFileSync(join(b, 'features.ts'), 'utf8')}\nexport const onlyInB = new FeatureService({ name: 'only_in_b', features: [driverHourlyStats] })\n`,
      )
      // Hold the registry's lock so that both processes plan against the same (empty) registry first.
      const lock = `${registryPath}.lock`
      writeFileSync(
        lock,
        JSON.stringify({
          pid: process.pid,
          host: hostname(),
          token: 'test',
          since: new Date().toISOString(),
        }),
      )
      const runs = [larderProcess(a), larderProcess(b)]
      try {
        await until(() => runs.every((r) => r.stdout.includes('Plan for project')), 'both plans')
      } finally {
        unlinkSync(lock)
      }
      const codes = await Promise.all(runs.map((r) => r.exit))
      expect([...codes].sort()).toEqual([0, 1])
      const loser = runs[codes.indexOf(1)]!
      expect(loser.stderr).toContain('changed since it was read')
      expect(loser.stderr).toContain('hint:')
      const catalog = (await new FileRegistry({ path: registryPath, cacheTtlSeconds: 0 }).load()).catalog(
        'demo',
      )
      const winnerIsB = codes[1] === 0
      expect(catalog.featureViews.size).toBe(2)
      expect(catalog.featureServices.has('only_in_b')).toBe(winnerIsB)
      expect(catalog.featureServices.has('driver_activity_v1')).toBe(true)
    },
  )
})
