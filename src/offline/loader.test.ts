import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../config/index.js'
import { FileSource, LarderError } from '../core/index.js'
import { createOfflineStore } from './loader.js'

const dir = mkdtempSync(join(tmpdir(), 'larder-loader-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const config = (offlineStore: string) =>
  parseRepoConfig(`project: demo\noffline_store:\n${offlineStore}`, dir)

async function failure(yaml: string): Promise<LarderError> {
  try {
    await createOfflineStore(config(yaml))
  } catch (e) {
    expect(e).toBeInstanceOf(LarderError)
    expect((e as LarderError).code).toBe('INVALID_CONFIG')
    return e as LarderError
  }
  throw new Error('expected the config to be rejected')
}

describe('createOfflineStore', () => {
  it("loads duckdb by default and for Feast's file and dask types", async () => {
    for (const block of [
      '  type: duckdb\n',
      '  type: file\n',
      '  type: dask\n',
      '  type: duckdb\n  threads: 2\n  memory_limit: 1GB\n',
    ]) {
      const store = await createOfflineStore(config(block))
      expect(store.type).toBe('duckdb')
      await store.close()
    }
    const fallback = await createOfflineStore(parseRepoConfig('project: demo\n', dir))
    expect(fallback.type).toBe('duckdb')
    await fallback.close()
  })

  it('passes the options on: relative paths and temp_directory resolve against the repo', async () => {
    const store = await createOfflineStore(
      config('  type: duckdb\n  temp_directory: spill\n  point_in_time_join: window\n'),
    )
    const missing = (await store
      .describeSource(new FileSource({ name: 'x', path: 'data/x.parquet', timestampField: 'ts' }))
      .catch((e: unknown) => e)) as LarderError
    expect(missing.message).toContain(join(dir, 'data/x.parquet'))
    await store.close()
  })

  it('names an unknown type and lists the known ones', async () => {
    const e = await failure('  type: bigquery\n')
    expect(e.message).toBe('feature_store.yaml: unknown offline_store type "bigquery"')
    expect(e.hint).toBe('known types: dask, duckdb, file, postgres')
  })

  it("rejects unknown and invalid options of the backend, listing the backend's keys", async () => {
    const unknown = await failure('  type: duckdb\n  staging_location: s3://bucket\n')
    expect(unknown.message).toBe('feature_store.yaml: unknown key "staging_location" in offline_store')
    expect(unknown.hint).toBe(
      'options of the duckdb offline store: memory_limit, point_in_time_join, temp_directory, threads',
    )
    const invalid = await failure('  type: duckdb\n  threads: 0\n')
    expect(invalid.message).toContain('offline_store.threads')
    const memory = await failure('  type: file\n  memory_limit: lots\n')
    expect(memory.message).toContain('offline_store.memory_limit')
  })
})
