// A generated feature repo for the web UI's scale tests: a `larder init` repo whose definitions are
// replaced by `views` feature views over `sources` file sources (all reading the sample Parquet file),
// one entity, and `services` feature services of three views each.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface GeneratedRepo {
  readonly views: string[]
  readonly sources: string[]
  readonly services: string[]
  /** Every direct link the lineage must draw, as `kind:name->kind:name` (the UI's edge ids). */
  readonly links: string[]
}

const view = (i: number) => `view_${String(i).padStart(2, '0')}_driver_statistics`
const source = (i: number) => `source_${String(i).padStart(2, '0')}`
const service = (i: number) => `service_${String(i).padStart(2, '0')}`

/**
 * Writes the generated definitions into the `larder init` repo at `dir` (over its features.ts); the
 * caller runs `larder apply`. View `i` reads source `i % sources`; service `s` reads views `s`,
 * `s + services` and `s + 2 * services` modulo `views`.
 */
export function writeGeneratedRepo(
  dir: string,
  { views = 50, sources = 10, services = 20 }: { views?: number; sources?: number; services?: number } = {},
): GeneratedRepo {
  const lines = [
    "import { Entity, FeatureService, FeatureView, Field, FileSource, Float32, Int64 } from 'larderjs'",
    '',
    "export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })",
  ]
  const links: string[] = []
  for (let s = 0; s < sources; s++) {
    lines.push(
      `export const s${s} = new FileSource({ name: '${source(s)}', path: 'data/driver_stats.parquet', timestampField: 'event_timestamp', createdTimestampColumn: 'created' })`,
    )
  }
  for (let v = 0; v < views; v++) {
    lines.push(
      `export const v${v} = new FeatureView({ name: '${view(v)}', entities: [driver], ttl: '1d', source: s${v % sources}, online: true, schema: [new Field({ name: 'conv_rate', dtype: Float32 }), new Field({ name: 'acc_rate', dtype: Float32 })] })`,
    )
    links.push(`dataSource:${source(v % sources)}->featureView:${view(v)}`)
    links.push(`entity:driver->featureView:${view(v)}`)
  }
  for (let s = 0; s < services; s++) {
    const read = [...new Set([s, s + services, s + 2 * services].map((i) => i % views))]
    lines.push(
      `export const fs${s} = new FeatureService({ name: '${service(s)}', features: [${read.map((i) => `v${i}`).join(', ')}] })`,
    )
    for (const i of read) links.push(`featureView:${view(i)}->featureService:${service(s)}`)
  }
  writeFileSync(join(dir, 'features.ts'), `${lines.join('\n')}\n`)
  return {
    views: Array.from({ length: views }, (_, i) => view(i)),
    sources: Array.from({ length: sources }, (_, i) => source(i)),
    services: Array.from({ length: services }, (_, i) => service(i)),
    links,
  }
}
