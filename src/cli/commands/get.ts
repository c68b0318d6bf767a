import type { Command } from 'commander'
import { formatDuration, LarderError, toMicros } from '../../core/index.js'
import { parseJoinKeyText } from '../../serving/entity-values.js'
import { jsonValue, toJsonResponse } from '../../serving/json-response.js'
import {
  type FieldStatus,
  type OnlineFeaturesResponse,
  onlineJoinKeys,
} from '../../serving/online-features.js'
import type { FeatureSelectionRequest } from '../../serving/online-plan.js'
import type { CommandContext } from '../context.js'
import { type Output, paint, printRows } from '../output.js'

interface Options {
  features?: string
  featureService?: string
  fullFeatureNames?: boolean
  json?: boolean
}

const STATUS_STYLE: Record<FieldStatus, Parameters<typeof paint>[1]> = {
  PRESENT: 'green',
  NULL_VALUE: 'yellow',
  NOT_FOUND: 'red',
  OUTSIDE_MAX_AGE: 'yellow',
}

export function registerGet(program: Command, ctx: CommandContext): void {
  program
    .command('get')
    .description('read online feature values of entities: value, status and age per feature')
    .argument(
      '<entities...>',
      'one entity row per argument: join_key=value, comma-separated for several keys (driver_id=1001)',
    )
    .option('--features <refs>', 'comma-separated view:feature references')
    .option('-s, --feature-service <name>', 'read the features of this feature service')
    .option('--full-feature-names', 'name features view__feature')
    .option('--json', "print Feast's JSON response (as POST /get-online-features returns it)")
    .action(async (args: string[], opts: Options) => {
      if (!opts.features === !opts.featureService) {
        throw new LarderError('INVALID_ARGUMENT', 'give either --features or --feature-service', {
          hint: 'e.g. larder get driver_id=1001 --features driver_hourly_stats:conv_rate',
        })
      }
      const selection: FeatureSelectionRequest = {
        features: opts.features
          ?.split(',')
          .map((f) => f.trim())
          .filter(Boolean),
        featureService: opts.featureService,
        fullFeatureNames: opts.fullFeatureNames,
      }
      const store = await ctx.openStore()
      const types = await onlineJoinKeys(store, selection)
      const rows = args.map((arg) => entityRow(arg, types))
      const asked = new Date()
      // A person types these keys: one that no view uses is a typo, not context to ignore.
      const response = await store.getOnlineFeatures(
        { ...selection, entities: rows },
        { now: asked, strict: true },
      )
      if (response.results.some((r) => r.statuses.includes('NOT_FOUND'))) {
        const views = opts.featureService
          ? (await store.catalog()).featureService(opts.featureService).projections.map((p) => p.view.name)
          : selection.features?.map((f) => f.split(':')[0]!)
        // The materialization module (and what it imports) is loaded only to explain a miss.
        const { unloadedViews } = await import('../../materialize/index.js')
        for (const u of await unloadedViews(store, views)) ctx.output.err(`warning: ${u.message}`)
      }
      if (opts.json) {
        ctx.output.out(JSON.stringify(toJsonResponse(response), null, 2))
        return
      }
      // The response lists the request's join-key columns first, then the features; request fields
      // of on-demand views are read but not returned.
      const keyCount = Object.keys(rows[0] ?? {}).filter((k) =>
        response.metadata.featureNames.includes(k),
      ).length
      printRows(
        ctx.output,
        table(ctx.output, response, args, keyCount, toMicros(asked)),
        false,
        'no features',
      )
    })
}

/** Parses `driver_id=1001[,rider_id=r1]` into a row, each value by its join key's type. */
function entityRow(arg: string, types: ReadonlyMap<string, number>): Record<string, unknown> {
  const row: Record<string, unknown> = {}
  for (const pair of arg.split(',')) {
    const eq = pair.indexOf('=')
    if (eq <= 0) {
      throw new LarderError('INVALID_ARGUMENT', `entity ${JSON.stringify(arg)} is not join_key=value`, {
        hint: 'write one row per argument, e.g. driver_id=1001 (several keys: driver_id=1001,rider_id=r1)',
      })
    }
    const key = pair.slice(0, eq)
    const text = pair.slice(eq + 1)
    const type = types.get(key)
    // A key no view uses is passed on as text, so the read reports it with the keys it expects.
    row[key] = type === undefined ? text : parseJoinKeyText(text, type, key)
  }
  return row
}

/** One line per entity row and feature: value, status and age (now minus the event timestamp). */
function table(
  output: Output,
  response: OnlineFeaturesResponse,
  args: readonly string[],
  keyCount: number,
  now: number,
): Record<string, unknown>[] {
  const names = response.metadata.featureNames
  const out: Record<string, unknown>[] = []
  for (let r = 0; r < args.length; r++) {
    for (let c = keyCount; c < names.length; c++) {
      const column = response.results[c]!
      const status = column.statuses[r]!
      const ts = column.eventTimestamps[r]!
      out.push({
        entity: args[r],
        feature: names[c],
        value: display(jsonValue(column.values[r]!, response.metadata.valueTypes[c])),
        status: paint(output, STATUS_STYLE[status], status),
        age: ts === 0 ? '' : age(now - ts),
      })
    }
  }
  return out
}

function display(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

function age(micros: number): string {
  const seconds = Math.round(micros / 1_000_000)
  if (seconds < 0) return `in ${formatDuration(-seconds)}`
  return seconds === 0 ? '0s' : formatDuration(seconds)
}
