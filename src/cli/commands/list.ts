import { type Command, InvalidArgumentError } from 'commander'
import {
  type DataSource,
  type FileSource,
  formatDuration,
  formatMicros,
  type KafkaSource,
  type KinesisSource,
  kindOf,
  knownNames,
  LarderError,
  type NatsSource,
  type PostgreSQLSource,
  type PushSource,
  type RedisStreamSource,
} from '../../core/index.js'
import {
  type MaterializationRun,
  materializationRunJson,
  type ProjectCatalog,
  projectNames,
} from '../../registry/index.js'
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
  'stream-feature-views': (c) =>
    [...c.streamFeatureViews.values()].map((v) => {
      const intervals = c.materializationIntervals(v.name)
      const last = intervals.reduce((m, i) => Math.max(m, i.end), 0)
      return {
        name: v.name,
        entities: v.entities.map((e) => e.name),
        features: v.storageView.features.map((f) => f.name),
        aggregations: v.aggregations.map((a) => `${a.outputName} = ${a.describe()}`),
        source: v.source.name,
        batchSource: v.batchSource.name,
        ttl: formatDuration(v.ttl),
        online: v.online,
        transformation: v.transformation?.mode ?? '',
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
      events:
        d.eventRange === undefined
          ? ''
          : `${formatMicros(d.eventRange.min)} → ${formatMicros(d.eventRange.max)}`,
      tags: d.tags,
    })),
}

/** The kind read from the registry's run history rather than its objects. */
const RUNS_KIND = 'materializations'
/** Runs `larder list materializations` shows without `--limit`. */
const DEFAULT_RUNS_SHOWN = 20
/** Longest error shown in the table's status column; `--json` has it whole. */
const STATUS_CHARS = 80

/** One run as a table row: view, started, window, rows, duration, newest event, who, status. */
function runRow(r: MaterializationRun): Record<string, unknown> {
  const failed = r.error === undefined ? 'failed' : `failed: ${r.error}`
  return {
    view: r.view,
    started: formatMicros(r.startedAt),
    window: `${formatMicros(r.start)} .. ${formatMicros(r.end)}`,
    rows: `${r.rowsRead} read, ${r.rowsWritten} written${r.rowsSkipped > 0 ? `, ${r.rowsSkipped} older skipped` : ''}`,
    duration: `${(r.durationMs / 1000).toFixed(2)}s`,
    newestEvent: r.newestEvent === undefined ? '' : formatMicros(r.newestEvent),
    who: r.runBy,
    status:
      r.status === 'succeeded'
        ? r.status
        : failed.length > STATUS_CHARS
          ? `${failed.slice(0, STATUS_CHARS - 1)}…`
          : failed,
  }
}

function positiveInteger(text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('give a positive integer')
  return n
}

const batchOf = (s: { batchSource?: { name: string } }) => `batch: ${s.batchSource?.name ?? '(none)'}`

/** What the `detail` column shows of each kind of source. */
const SOURCE_DETAIL: Record<string, (s: never) => string> = {
  FileSource: (s: FileSource) => s.path,
  PostgreSQLSource: (s: PostgreSQLSource) => s.table || s.query,
  PushSource: (s: PushSource) => batchOf(s),
  KafkaSource: (s: KafkaSource) => `topic ${s.topic}; ${batchOf(s)}`,
  KinesisSource: (s: KinesisSource) => `stream ${s.streamName} (${s.region}); ${batchOf(s)}`,
  RedisStreamSource: (s: RedisStreamSource) => `stream ${s.stream}; ${batchOf(s)}`,
  NatsSource: (s: NatsSource) => `subject ${s.subject}; ${batchOf(s)}`,
}

function sourceDetail(s: DataSource): string {
  return (SOURCE_DETAIL[kindOf(s) ?? ''] as ((s: DataSource) => string) | undefined)?.(s) ?? ''
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
    .description(
      `list registered objects (${Object.keys(LISTERS).join(', ')}) or the history of ${RUNS_KIND}, newest first`,
    )
    .argument('<kind>', [...Object.keys(LISTERS), RUNS_KIND].join(' | '))
    .option('--json', 'print as JSON')
    .option('--tags <key:value...>', 'only objects carrying all these tags')
    .option('--view <name>', `${RUNS_KIND}: only the runs of this feature view`)
    .option(
      '--limit <n>',
      `${RUNS_KIND}: at most N runs, newest first (default ${DEFAULT_RUNS_SHOWN})`,
      positiveInteger,
    )
    .action(
      async (kind: string, opts: { json?: boolean; tags?: string[]; view?: string; limit?: number }) => {
        if (kind === RUNS_KIND) {
          if (opts.tags !== undefined) {
            throw new LarderError(
              'INVALID_ARGUMENT',
              `--tags does not apply to \`larder list ${RUNS_KIND}\``,
              {
                hint: 'filter runs with --view NAME and --limit N',
              },
            )
          }
          return listRuns(ctx, opts)
        }
        const lister = LISTERS[kind]
        if (!lister) {
          throw new LarderError('INVALID_ARGUMENT', `unknown kind "${kind}"`, {
            hint: `known kinds: ${knownNames([...Object.keys(LISTERS), RUNS_KIND])}`,
          })
        }
        if (opts.view !== undefined || opts.limit !== undefined) {
          throw new LarderError(
            'INVALID_ARGUMENT',
            `--view and --limit apply to \`larder list ${RUNS_KIND}\` only, not to ${kind}`,
            { hint: `leave them out, or run \`larder list ${RUNS_KIND} --view NAME --limit N\`` },
          )
        }
        await listObjects(ctx, kind, lister, opts)
      },
    )
}

/** `larder list KIND` for a kind of registry object, filtered by `--tags`. */
async function listObjects(
  ctx: CommandContext,
  kind: string,
  lister: Lister,
  opts: { json?: boolean; tags?: string[] },
): Promise<void> {
  const store = await ctx.openStore()
  const state = await store.registry.load()
  const wanted = parseTags(opts.tags ?? [])
  const rows = lister(state.catalog(store.project), { projects: projectNames(state.proto) }).filter((row) =>
    Object.entries(wanted).every(([k, v]) => (row.tags as Record<string, string> | undefined)?.[k] === v),
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
}

/** `larder list materializations`: the run history, newest first, as a table or JSON. */
async function listRuns(
  ctx: CommandContext,
  opts: { json?: boolean; view?: string; limit?: number },
): Promise<void> {
  const store = await ctx.openStore()
  const runs = await store.listMaterializationRuns({
    view: opts.view,
    limit: opts.limit ?? DEFAULT_RUNS_SHOWN,
  })
  const of = opts.view === undefined ? '' : ` of feature view "${opts.view}"`
  printRows(
    ctx.output,
    opts.json ? runs.map(materializationRunJson) : runs.map(runRow),
    Boolean(opts.json),
    `No materialization runs${of} recorded in project "${store.project}" (run \`larder materialize-incremental END\`)`,
  )
}
