import type { Command } from 'commander'
import {
  type DataSource,
  type FileSource,
  formatDuration,
  formatMicros,
  isKind,
  knownNames,
  LarderError,
  type PostgreSQLSource,
  type PushSource,
} from '../../core/index.js'
import { type ProjectCatalog, projectNames } from '../../registry/index.js'
import type { CommandContext } from '../context.js'
import { printRows } from '../output.js'

type Lister = (catalog: ProjectCatalog, all: { projects: string[] }) => Record<string, unknown>[]

/** The kinds `larder list` knows, by their CLI names, each with its table columns. */
const LISTERS: Record<string, Lister> = {
  entities: (c) =>
    [...c.entities.values()].map((e) => ({
      name: e.name,
      joinKey: e.joinKey,
      type: e.valueType?.name ?? '',
      description: e.description,
      tags: e.tags,
    })),
  'feature-views': (c) =>
    [...c.featureViews.values()].map((v) => {
      const intervals = c.materializationIntervals(v.name)
      const last = intervals.reduce((m, i) => Math.max(m, i.end), 0)
      return {
        name: v.name,
        entities: v.entities.map((e) => e.name),
        features: v.features.map((f) => f.name),
        source: v.source.name,
        ttl: formatDuration(v.ttl),
        online: v.online,
        materializedUntil: last ? formatMicros(last) : '',
        tags: v.tags,
      }
    }),
  'on-demand-feature-views': (c) =>
    [...c.onDemandFeatureViews.values()].map((v) => ({
      name: v.name,
      sources: [...v.sourceProjections.map((p) => p.nameToUse), ...v.requestSources.map((r) => r.name)],
      features: v.schema.map((f) => f.name),
      mode: v.transformation.mode,
      writeToOnlineStore: v.writeToOnlineStore,
      tags: v.tags,
    })),
  'feature-services': (c) =>
    [...c.featureServices.values()].map((s) => ({
      name: s.name,
      features: s.featureRefs,
      description: s.description,
      tags: s.tags,
    })),
  'data-sources': (c) =>
    [...c.dataSources.values()].map((s) => ({
      name: s.name,
      type: s.constructor.name,
      detail: sourceDetail(s),
    })),
  projects: (_c, all) => all.projects.map((name) => ({ name })),
  'saved-datasets': (c) =>
    [...c.savedDatasets.values()].map((d) => ({
      name: d.name,
      features: d.features,
      joinKeys: d.joinKeys,
      path: d.path,
      featureService: d.featureServiceName,
      created: d.createdAt === undefined ? '' : formatMicros(d.createdAt),
      tags: d.tags,
    })),
}

function sourceDetail(s: DataSource): string {
  if (isKind(s, 'FileSource')) return (s as FileSource).path
  if (isKind(s, 'PostgreSQLSource')) return (s as PostgreSQLSource).table || (s as PostgreSQLSource).query
  if (isKind(s, 'PushSource')) return `batch: ${(s as PushSource).batchSource?.name ?? '(none)'}`
  return ''
}

function parseTags(values: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    values.map((t) => {
      const at = t.indexOf(':')
      if (at <= 0) {
        throw new LarderError('INVALID_ARGUMENT', `--tags ${JSON.stringify(t)} is not key:value`, {
          hint: 'write --tags team:drivers',
        })
      }
      return [t.slice(0, at), t.slice(at + 1)]
    }),
  )
}

export function registerList(program: Command, ctx: CommandContext): void {
  program
    .command('list')
    .description(`list registered objects: ${Object.keys(LISTERS).join(', ')}`)
    .argument('<kind>', Object.keys(LISTERS).join(' | '))
    .option('--json', 'print as JSON')
    .option('--tags <key:value...>', 'only objects carrying all these tags')
    .action(async (kind: string, opts: { json?: boolean; tags?: string[] }) => {
      const lister = LISTERS[kind]
      if (!lister) {
        throw new LarderError('INVALID_ARGUMENT', `unknown kind "${kind}"`, {
          hint: `known kinds: ${knownNames(Object.keys(LISTERS))}`,
        })
      }
      const store = await ctx.openStore()
      const state = await store.registry.load()
      const wanted = parseTags(opts.tags ?? [])
      const rows = lister(state.catalog(store.project), { projects: projectNames(state.proto) }).filter(
        (row) =>
          Object.entries(wanted).every(
            ([k, v]) => (row.tags as Record<string, string> | undefined)?.[k] === v,
          ),
      )
      printRows(
        ctx.output,
        rows,
        Boolean(opts.json),
        `No ${kind.replaceAll('-', ' ')} in project "${store.project}" (${
          kind === 'saved-datasets'
            ? 'save one with `larder get-historical-features --save-as NAME`'
            : 'run `larder apply`'
        })`,
      )
    })
}
