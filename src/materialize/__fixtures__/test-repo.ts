// Builds throwaway feature repos for the materialization and serving tests: config, definitions that
// re-export a fixture module, Parquet data written through the offline store, applied to the registry.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseRepoConfig } from '../../config/index.js'
import type { FeatureView } from '../../core/index.js'
import { FeatureStore } from '../../feature-store.js'
import { createOfflineStore, type Row } from '../../offline/index.js'
import { uniqueProject } from '../../testing/online-conformance.js'

export const DRIVER_FEATURES = resolve(fileURLToPath(new URL('./driver-features.ts', import.meta.url)))

export interface TestRepoOptions {
  /** The `online_store` block as YAML lines without indentation, e.g. `type: memory`. */
  readonly onlineStore: string
  /** Default: a unique name, so repos may share a Redis or PostgreSQL database. */
  readonly project?: string
  /** Absolute path of the module whose exports the repo's features.ts re-exports. */
  readonly definitions?: string
  /** The whole text of features.ts, instead of re-exporting `definitions`. */
  readonly featuresFile?: string
  /** Rows to write to each view's source before apply. */
  readonly data?: ReadonlyMap<FeatureView, readonly Row[]>
  /** Writes more source files before apply, given the repo directory. */
  readonly prepare?: (dir: string) => Promise<void>
  /** The `batch_engine` block as YAML lines without indentation; default none (local). */
  readonly batchEngine?: string
}

export interface TestRepo {
  readonly dir: string
  readonly project: string
  readonly store: FeatureStore
  /** Reopens the repo as another process would: a fresh store over the same files. */
  reopen(): Promise<FeatureStore>
  /** Tears the project down (online tables included), closes the stores and deletes the files. */
  close(): Promise<void>
}

export function configText(project: string, onlineStore: string, batchEngine?: string): string {
  const indent = (lines: string) =>
    lines
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => `  ${l}`)
      .join('\n')
  return [
    `project: ${project}`,
    'registry: data/registry.db',
    'provider: local',
    'online_store:',
    indent(onlineStore),
    'offline_store:',
    '  type: duckdb',
    ...(batchEngine === undefined ? [] : ['batch_engine:', indent(batchEngine)]),
    'entity_key_serialization_version: 3',
    '',
  ].join('\n')
}

/** Writes a repo, its data and definitions, opens it and applies it. */
export async function createTestRepo(options: TestRepoOptions): Promise<TestRepo> {
  const project = options.project ?? uniqueProject('t')
  const dir = mkdtempSync(join(tmpdir(), 'larder-mat-'))
  mkdirSync(join(dir, 'data'))
  const yaml = configText(project, options.onlineStore, options.batchEngine)
  writeFileSync(join(dir, 'feature_store.yaml'), yaml)
  const reexport = `export * from ${JSON.stringify(options.definitions ?? DRIVER_FEATURES)}\n`
  writeFileSync(join(dir, 'features.ts'), options.featuresFile ?? reexport)
  const offline = await createOfflineStore(parseRepoConfig(yaml, dir))
  try {
    for (const [view, rows] of options.data ?? []) await offline.writeRows(view, rows)
  } finally {
    await offline.close()
  }
  await options.prepare?.(dir)
  const store = await FeatureStore.open(dir)
  await store.apply()
  const opened: FeatureStore[] = [store]
  return {
    dir,
    project,
    store,
    async reopen() {
      const again = await FeatureStore.open(dir)
      opened.push(again)
      return again
    },
    async close() {
      try {
        await store.teardown()
      } finally {
        for (const s of opened) await s.close()
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}
