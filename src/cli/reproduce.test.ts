import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FeatureView } from '../core/index.js'
import { FeatureStore } from '../feature-store.js'
import { initRepo } from './commands/init.js'

// `larder get-historical-features` writes a receipt by default and `larder reproduce` checks it, both
// through the built CLI (run `npx tsc -p tsconfig.build.json` first).

const BIN = resolve(import.meta.dirname, '../../bin/larder.js')
const BUILT = existsSync(resolve(import.meta.dirname, '../../dist/cli/commands/reproduce.js'))
const FEATURES = 'driver_hourly_stats:conv_rate,driver_hourly_stats:avg_daily_trips'

/** Runs the built CLI and resolves to its exit code and output. */
function larder(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, ...argv],
      { env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1
        done({ code, stdout, stderr })
      },
    )
  })
}

describe.skipIf(!process.env.CI && !BUILT)('larder reproduce (built CLI)', () => {
  let root: string
  let repo: string
  let entities: string
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'larder-reproduce-cli-'))
    repo = join(root, 'demo')
    await initRepo(repo, 'local', new Date('2026-11-20T12:30:00Z'))
    entities = join(repo, 'data', 'entities.csv')
    expect((await larder('-c', repo, 'apply')).code).toBe(0)
  }, 120_000)
  afterAll(() => {
    rmSync(root, { recursive: true, force: true })
  })

  it('writes a receipt beside the output, says identical (exit 0), then names the changed file (exit 1)', async () => {
    const out = join(root, 'training.parquet')
    const wrote = await larder(
      '-c',
      repo,
      'get-historical-features',
      '-e',
      entities,
      '--features',
      FEATURES,
      '-o',
      out,
    )
    expect(wrote.stderr).not.toContain('error')
    expect(wrote.code).toBe(0)
    const receiptPath = `${out}.receipt.json`
    expect(wrote.stdout).toContain(`Wrote the receipt to ${receiptPath}`)
    const receipt = JSON.parse(readFileSync(receiptPath, 'utf8'))
    expect(receipt.output).toMatchObject({ kind: 'parquet', path: '../training.parquet', rows: 9 })
    expect(receipt.entities).toMatchObject({ kind: 'file', path: 'data/entities.csv', rows: 9 })

    const same = await larder('-c', repo, 'reproduce', receiptPath)
    expect(same.stderr).toBe('')
    expect(same.code).toBe(0)
    expect(same.stdout).toMatch(
      /^identical: the rebuilt parquet has the receipt's content hash \(9 rows, sha256 [0-9a-f]{12}\)\n$/,
    )
    const json = await larder('-c', repo, 'reproduce', receiptPath, '--json')
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout)).toMatchObject({
      status: 'identical',
      output: { kind: 'parquet', expected: { sha256: receipt.output.sha256, rows: 9 } },
      changes: [],
    })

    // A row ten minutes before the first entity row, for its driver: its values change.
    const [driver, at] = readFileSync(entities, 'utf8').trim().split('\n')[1]!.split(',') as [string, string]
    const before = new Date(new Date(at).getTime() - 10 * 60_000).toISOString()
    const store = await FeatureStore.open(repo)
    try {
      const view = (await store.getFeatureView('driver_hourly_stats')) as FeatureView
      await (await store.offline()).writeRows(view, [
        {
          driver_id: Number(driver),
          event_timestamp: before,
          created: before,
          conv_rate: 0.25,
          acc_rate: 0.25,
          avg_daily_trips: 999_999,
        },
      ])
    } finally {
      await store.close()
    }
    const changed = await larder('-c', repo, 'reproduce', receiptPath)
    expect(changed.code).toBe(1)
    expect(changed.stdout).toMatch(
      /^changed: the rebuilt parquet differs from the receipt's \(sha256 [0-9a-f]{12} -> [0-9a-f]{12}, 9 rows\)\n/,
    )
    expect(changed.stdout).toContain(
      '  source "driver_hourly_stats_source": file data/driver_stats.parquet changed (',
    )
    const changedJson = JSON.parse((await larder('-c', repo, 'reproduce', receiptPath, '--json')).stdout)
    expect(changedJson.status).toBe('changed')
    expect(changedJson.changes).toEqual([
      expect.objectContaining({ kind: 'source file', name: 'data/driver_stats.parquet', change: 'changed' }),
    ])
  }, 120_000)

  it("keeps a saved dataset's receipt in the registry, skips receipts with --no-receipt, and exits 2 on an error", async () => {
    const out = join(root, 'saved.parquet')
    const saved = await larder(
      '-c',
      repo,
      'get-historical-features',
      '-e',
      entities,
      '--features',
      FEATURES,
      '-o',
      out,
      '--save-as',
      'training_v1',
    )
    expect(saved.code).toBe(0)
    expect(saved.stdout).toContain('Registered saved dataset "training_v1"')
    expect(existsSync(`${out}.receipt.json`)).toBe(true)
    const fromRegistry = await larder('-c', repo, 'reproduce', '--saved-dataset', 'training_v1')
    expect(fromRegistry.stdout).toMatch(/^identical: /)
    expect(fromRegistry.code).toBe(0)
    const listed = JSON.parse((await larder('-c', repo, 'list', 'saved-datasets', '--json')).stdout)
    expect(JSON.stringify(listed)).not.toContain('larder.dev/receipt')

    const plain = join(root, 'plain.csv')
    const none = await larder(
      '-c',
      repo,
      'get-historical-features',
      '-e',
      entities,
      '--features',
      FEATURES,
      '-o',
      plain,
      '--no-receipt',
    )
    expect(none.code).toBe(0)
    expect(none.stdout).not.toContain('receipt')
    expect(existsSync(`${plain}.receipt.json`)).toBe(false)

    const missing = await larder('-c', repo, 'reproduce', join(root, 'nope.receipt.json'))
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain(
      `error: receipt ${join(root, 'nope.receipt.json')} cannot be read: no such file`,
    )
    const notJson = join(root, 'bad.receipt.json')
    writeFileSync(notJson, '{')
    const bad = await larder('-c', repo, 'reproduce', notJson)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain(`error: receipt ${notJson} is not JSON`)
    const both = await larder('-c', repo, 'reproduce')
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('error: give either a receipt file or --saved-dataset')
  }, 120_000)
})
