import type { Command } from 'commander'
import { formatMicros, LarderError } from '../../core/index.js'
import {
  type ExplainStatus,
  explainJson,
  formatAge,
  jsonValue,
  onlineJoinKeys,
  parseJoinKeyText,
} from '../../serving/index.js'
import { instant } from '../arguments.js'
import type { CommandContext } from '../context.js'
import { type Output, paint, printRows } from '../output.js'

interface Options {
  features?: string
  featureService?: string
  at?: string
  json?: boolean
}

const STATUS_STYLE: Record<ExplainStatus, Parameters<typeof paint>[1]> = {
  PRESENT: 'green',
  NULL_VALUE: 'yellow',
  NOT_FOUND: 'red',
  OUTSIDE_MAX_AGE: 'yellow',
  ERROR: 'red',
}

export function registerExplain(program: Command, ctx: CommandContext): void {
  program
    .command('explain')
    .description(
      'say why each feature of an entity reads as it does (status, value, cause) and the command that fixes it',
    )
    .argument('<entity>', 'the entity row: join_key=value, comma-separated for several keys (driver_id=1001)')
    .option('--features <refs>', 'comma-separated view:feature references')
    .option('-s, --feature-service <name>', 'explain the features of this feature service')
    .option('--at <time>', 'the instant to explain at (ISO-8601; default now)', instant('--at'))
    .option('--json', 'print the report as JSON (as POST /explain returns it)')
    .action(async (arg: string, opts: Options) => {
      if (!opts.features === !opts.featureService) {
        throw new LarderError('INVALID_ARGUMENT', 'give either --features or --feature-service', {
          hint: 'e.g. larder explain driver_id=1001 --features driver_hourly_stats:conv_rate',
        })
      }
      const selection = {
        features: opts.features
          ?.split(',')
          .map((f) => f.trim())
          .filter(Boolean),
        featureService: opts.featureService,
      }
      const store = await ctx.openStore()
      const types = await onlineJoinKeys(store, selection)
      const report = await store.explain({ ...selection, entityRow: entityRow(arg, types), at: opts.at })
      if (opts.json) {
        ctx.output.out(JSON.stringify(explainJson(report), null, 2))
        return
      }
      ctx.output.out(`${arg} at ${formatMicros(report.at)}`)
      printRows(
        ctx.output,
        report.features.map((f) => ({
          feature: f.feature,
          status: paint(ctx.output, STATUS_STYLE[f.status], f.status),
          value: display(jsonValue(f.value, f.valueType)),
          age: f.eventTs === undefined ? '' : formatAge(report.at - f.eventTs),
          cause: f.cause.code,
        })),
        false,
        'no features',
      )
      for (const f of report.features) printCause(ctx.output, f.feature, f.cause)
    })
}

function printCause(output: Output, feature: string, cause: { message: string; fix: string | null }): void {
  output.out(`${paint(output, 'bold', feature)}: ${cause.message}`)
  if (cause.fix !== null) output.out(`  ${paint(output, 'yellow', 'fix:')} ${cause.fix}`)
}

/**
 * Parses `driver_id=1001[,rider_id=r1]` into a row, each value by its key's type (request fields of
 * on-demand views too); a name the features do not use stays text.
 */
export function entityRow(arg: string, types: ReadonlyMap<string, number>): Record<string, unknown> {
  const row: Record<string, unknown> = {}
  for (const pair of arg.split(',')) {
    const eq = pair.indexOf('=')
    if (eq <= 0) {
      throw new LarderError('INVALID_ARGUMENT', `entity ${JSON.stringify(arg)} is not join_key=value`, {
        hint: 'e.g. driver_id=1001 (several keys: driver_id=1001,rider_id=r1)',
      })
    }
    const key = pair.slice(0, eq)
    const text = pair.slice(eq + 1)
    const type = types.get(key)
    row[key] = type === undefined ? text : parseJoinKeyText(text, type, key)
  }
  return row
}

function display(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}
