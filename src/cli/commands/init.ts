import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { parseRepoConfig } from '../../config/index.js'
import { type FeatureView, knownNames, LarderError } from '../../core/index.js'
import { createOfflineStore } from '../../offline/index.js'
import { loadRepoDefinitions } from '../../repo/load-repo.js'
import type { CommandContext } from '../context.js'

/** The templates of `larder init`, with the line `--help` shows for each. */
const TEMPLATES = {
  local: 'batch features over a Parquet file with 7 days of sample data, and an on-demand view',
  streaming: 'a stream feature view over a Redis stream, with windowed aggregations and an event producer',
} as const
type TemplateName = keyof typeof TEMPLATES

const SAMPLE_DAYS = 7
const SAMPLE_DRIVERS = [1001, 1002, 1003, 1004, 1005]

/** Reads a template file shipped with the package (`templates/<name>/<file>.txt`). */
function template(name: string, file: string, project: string): string {
  const path = new URL(`../../../templates/${name}/${file}.txt`, import.meta.url)
  return readFileSync(path, 'utf8').replaceAll('{{project}}', project)
}

/** A project name from a directory name: Feast's rule, with `-` turned into `_` so SQLite tables stay plain. */
export function projectNameFor(dir: string): string {
  const cleaned = basename(resolve(dir))
    .replace(/[^A-Za-z0-9_]/g, '_')
    .replace(/^_+/, '')
  return cleaned === '' ? 'feature_repo' : cleaned
}

/** A small seeded generator, so two `init`s make the same sample values. */
function seeded(seed: number): () => number {
  let s = seed
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31
    return s / 2 ** 31
  }
}

/** Hourly rows per driver for the last `SAMPLE_DAYS` days, ending at the current hour (UTC). */
function sampleRows(now: Date): Record<string, unknown>[] {
  const random = seeded(42)
  const end = Math.floor(now.getTime() / 3_600_000) * 3_600_000
  const rows: Record<string, unknown>[] = []
  for (let t = end - SAMPLE_DAYS * 86_400_000; t <= end; t += 3_600_000) {
    for (const driverId of SAMPLE_DRIVERS) {
      rows.push({
        driver_id: driverId,
        event_timestamp: new Date(t),
        created: new Date(t),
        conv_rate: Math.round(random() * 1e4) / 1e4,
        acc_rate: Math.round(random() * 1e4) / 1e4,
        avg_daily_trips: Math.floor(random() * 1000),
      })
    }
  }
  return rows
}

/**
 * The entity table of the README's training example, as CSV: three drivers at three instants inside
 * the sample data, with a label and the request values the on-demand view reads.
 */
function entityTableCsv(now: Date): string {
  const random = seeded(7)
  const end = Math.floor(now.getTime() / 3_600_000) * 3_600_000
  const lines = ['driver_id,event_timestamp,label_driver_reported_satisfaction,val_to_add,val_to_add_2']
  for (const hoursBack of [1, 25, 72]) {
    for (const driverId of SAMPLE_DRIVERS.slice(0, 3)) {
      const at = new Date(end - hoursBack * 3_600_000 - 15 * 60_000).toISOString()
      lines.push(`${driverId},${at},${1 + Math.floor(random() * 5)},${driverId % 10},${hoursBack}`)
    }
  }
  return `${lines.join('\n')}\n`
}

/**
 * The dependency a new repo's package.json names: the Larder that created it, by a path relative to
 * the repo, so that `npm install` there links that very package (Larder is not on a registry yet).
 */
function larderDependency(root: string): string {
  const packageRoot = fileURLToPath(new URL('../../../', import.meta.url))
  return `file:${relative(root, packageRoot).split(sep).join('/') || '.'}`
}

/**
 * Creates a runnable feature repo in `dir` from a template: config, definitions, `.gitignore`,
 * `README.md`, `package.json`, and the template's data and scripts (`local`: sample data and an entity
 * table; `streaming`: the empty directory its stream view appends to, an event producer and the
 * `.larderignore` that keeps the producer out of the definitions). Refuses a directory that is not
 * empty. Returns the project name.
 */
export async function initRepo(dir: string, templateName: string, now = new Date()): Promise<string> {
  if (!Object.hasOwn(TEMPLATES, templateName)) {
    throw new LarderError('INVALID_ARGUMENT', `unknown template "${templateName}"`, {
      hint: `known templates: ${knownNames(Object.keys(TEMPLATES))}`,
    })
  }
  const name = templateName as TemplateName
  const root = resolve(dir)
  if (existsSync(root) && readdirSync(root).length > 0) {
    throw new LarderError('ALREADY_EXISTS', `${root} already exists and is not empty`, {
      hint: 'choose a new directory name, e.g. `larder init my_features`',
    })
  }
  const project = projectNameFor(root)
  mkdirSync(join(root, 'data'), { recursive: true })
  const configText = template(name, 'feature_store.yaml', project)
  writeFileSync(join(root, 'feature_store.yaml'), configText)
  writeFileSync(join(root, 'features.ts'), template(name, 'features.ts', project))
  writeFileSync(join(root, '.gitignore'), template(name, 'gitignore', project))
  writeFileSync(join(root, 'README.md'), template(name, 'README.md', project))
  const pkg = {
    name: project.replaceAll('_', '-').toLowerCase(),
    private: true,
    type: 'module',
    scripts: { apply: 'larder apply', plan: 'larder plan' } as Record<string, string>,
    dependencies: { larderjs: larderDependency(root) } as Record<string, string>,
  }
  if (name === 'streaming') {
    pkg.scripts.stream = 'larder stream'
    pkg.scripts.produce = 'node produce-events.mjs'
    // the producer's client, and the one `larder stream` reads Redis streams with
    pkg.dependencies.redis = '^6.0.0'
  }
  writeFileSync(join(root, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`)
  if (name === 'streaming') {
    writeFileSync(join(root, 'produce-events.mjs'), template(name, 'produce-events.mjs', project))
    writeFileSync(join(root, '.larderignore'), template(name, 'larderignore', project))
    // the stream view's batch source: a directory the processor appends part files to (kept in git)
    mkdirSync(join(root, 'data', 'driver_trips'))
    writeFileSync(join(root, 'data', 'driver_trips', '.gitkeep'), '')
    return project
  }
  writeFileSync(join(root, 'data', 'entities.csv'), entityTableCsv(now))

  // The sample data follows the template's own definitions, written through the offline store.
  const defs = await loadRepoDefinitions(root)
  const view = defs.featureViews.find((v) => v.name === 'driver_hourly_stats') as FeatureView
  const offline = await createOfflineStore(parseRepoConfig(configText, root))
  try {
    await offline.writeRows(view, sampleRows(now))
  } finally {
    await offline.close()
  }
  return project
}

/** What to run next, per template. */
const NEXT_STEPS: Readonly<Record<TemplateName, string>> = {
  local: `  npx larder plan      # what apply would change
  npx larder apply     # register the definitions and create the online tables
  npx larder list feature-views`,
  streaming: `  npm install                   # Larder and the redis client
  npx larder apply              # register the definitions and create the online tables
  npx larder stream             # consume the Redis stream (leave it running)
  node produce-events.mjs       # in another shell: send trip events
  npx larder get driver_id=1001 -s driver_trips_v1

It needs Redis 6.2 or later on 127.0.0.1:6379, or REDIS_URL; README.md says more.`,
}

export function registerInit(program: Command, ctx: CommandContext): void {
  const width = Math.max(...Object.keys(TEMPLATES).map((t) => t.length))
  program
    .command('init')
    .description('create a runnable feature repo from a template')
    .argument('[dir]', 'directory to create', 'feature_repo')
    .option('-t, --template <name>', `repo template: ${Object.keys(TEMPLATES).join(', ')}`, 'local')
    .addHelpText(
      'after',
      `\nTemplates:\n${Object.entries(TEMPLATES)
        .map(([t, about]) => `  ${t.padEnd(width)}  ${about}`)
        .join('\n')}`,
    )
    .action(async (dir: string, opts: { template: string }) => {
      const project = await initRepo(dir, opts.template)
      ctx.output.out(`Created feature repo "${project}" in ${resolve(dir)}

  cd ${dir}
${NEXT_STEPS[opts.template as TemplateName]}`)
    })
}
