// Test helper: a generated feature repo the size of a real team's (many views with long snake_case
// names, owners, tags, a push source, on-demand views and services), applied to its registry, plus a
// second small project in the same registry, so the UI shows its project picker.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FeatureStore } from '../../feature-store.js'
import { initRepo } from '../commands/init.js'

/** Themes of the generated views: names as long as teams write them. */
const THEMES = [
  'driver_hourly_conversion_statistics',
  'customer_lifetime_value_summary',
  'merchant_transaction_risk_signals',
  'rider_session_engagement_metrics',
  'vehicle_maintenance_sensor_rollups',
]
const OWNERS = ['pricing@example.com', 'risk@example.com', 'growth@example.com', 'fleet@example.com']
const SOURCES = 10

/** The name of the i-th generated feature view. */
export function largeViewName(i: number): string {
  return `${THEMES[i % THEMES.length]}_${String(i).padStart(2, '0')}`
}

/** The name of the i-th generated feature service. */
export function largeServiceName(i: number): string {
  return `model_scoring_service_v${i}`
}

/** The generated on-demand views, which read the first view and a request source. */
export const LARGE_ON_DEMAND = ['conversion_rate_adjusted', 'acceptance_rate_adjusted'] as const

/**
 * A features.ts of `views` feature views over the sample Parquet file (10 file sources and a push
 * source), two on-demand views and `services` services of three or four views each (every fifth one
 * with an on-demand view too).
 */
export function largeRepoDefinitions(views: number, services: number): string {
  const lines = [
    "import { Entity, FeatureService, FeatureView, Field, FileSource, Float32, Float64, Int64, OnDemandFeatureView, PushSource, RequestSource } from 'larderjs'",
    "export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64, owner: 'fleet@example.com' })",
  ]
  for (let s = 0; s < SOURCES; s++) {
    lines.push(
      `export const source_${s} = new FileSource({ name: 'warehouse_export_${THEMES[s % THEMES.length]}_${s}', path: 'data/driver_stats.parquet', timestampField: 'event_timestamp', createdTimestampColumn: 'created' })`,
    )
  }
  lines.push(
    "export const push = new PushSource({ name: 'realtime_driver_events_push', batchSource: source_0 })",
  )
  for (let i = 0; i < views; i++) {
    const source = i % 9 === 0 ? 'push' : `source_${i % SOURCES}`
    lines.push(
      `export const view_${i} = new FeatureView({ name: '${largeViewName(i)}', entities: [driver], ttl: '${1 + (i % 3)}d', maxAge: '${1 + (i % 12)}h', source: ${source}, owner: '${OWNERS[i % OWNERS.length]}', description: 'Generated view ${i} of the ${THEMES[i % THEMES.length]} family', tags: { team: 'team_${i % 7}', tier: '${i % 2 === 0 ? 'gold' : 'silver'}' }, schema: [new Field({ name: 'conv_rate', dtype: Float32, description: 'Conversion rate', tags: { pii: 'false' } }), new Field({ name: 'acc_rate', dtype: Float32 }), new Field({ name: 'avg_daily_trips', dtype: Int64 })] })`,
    )
  }
  lines.push(
    "export const requestValues = new RequestSource({ name: 'scoring_request_values', schema: [new Field({ name: 'val_to_add', dtype: Int64 })] })",
  )
  for (const [k, name] of LARGE_ON_DEMAND.entries()) {
    const input = k === 0 ? 'conv_rate' : 'acc_rate'
    lines.push(
      `export const odfv_${k} = new OnDemandFeatureView({ name: '${name}', sources: [view_0.select(['${input}']), requestValues], schema: [new Field({ name: '${name}_value', dtype: Float64 })], transform: ({ ${input}, val_to_add }) => ({ ${name}_value: ${input} === null ? null : (${input} as number) + (val_to_add as number) }) })`,
    )
  }
  for (let i = 0; i < services; i++) {
    const picks = [...new Set([i % views, (i * 7 + 3) % views, (i * 13 + 5) % views, (i * 31 + 11) % views])]
    const parts = picks.map((v) => `view_${v}`)
    if (i % 5 === 0) parts.push(`odfv_${(i / 5) % LARGE_ON_DEMAND.length}`)
    lines.push(
      `export const service_${i} = new FeatureService({ name: '${largeServiceName(i)}', owner: '${OWNERS[i % OWNERS.length]}', features: [${parts.join(', ')}] })`,
    )
  }
  return `${lines.join('\n')}\n`
}

export interface LargeRepo {
  readonly dir: string
  readonly project: string
  /** A second project applied to the same registry, with the demo's definitions. */
  readonly otherProject: string
  /** Deletes both repos. */
  remove(): void
}

async function apply(dir: string): Promise<void> {
  const store = await FeatureStore.open(dir)
  try {
    await store.apply()
  } finally {
    await store.close()
  }
}

/**
 * A `larder init` repo whose definitions are replaced by `largeRepoDefinitions(views, services)`,
 * applied, and a second `init` repo (project `other_team`) applied to the same registry file.
 */
export async function largeRepo(
  options: { views?: number; services?: number; now?: Date } = {},
): Promise<LargeRepo> {
  const root = mkdtempSync(join(tmpdir(), 'larder-ui-large-'))
  const dir = join(root, 'large_repo')
  const project = await initRepo(dir, 'local', options.now)
  writeFileSync(join(dir, 'features.ts'), largeRepoDefinitions(options.views ?? 50, options.services ?? 20))
  await apply(dir)
  const other = join(root, 'other_team')
  const otherProject = await initRepo(other, 'local', options.now)
  const config = join(other, 'feature_store.yaml')
  writeFileSync(
    config,
    readFileSync(config, 'utf8').replace(
      /^registry: .*$/m,
      `registry: ${JSON.stringify(join(dir, 'data', 'registry.db'))}`,
    ),
  )
  await apply(other)
  return { dir, project, otherProject, remove: () => rmSync(root, { recursive: true, force: true }) }
}
