import { type Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { countOf, formatMicros } from '../../core/index.js'
import { jsonValue, parityJson } from '../../serving/index.js'
import { instant } from '../arguments.js'
import type { CommandContext } from '../context.js'
import { paint, printRows } from '../output.js'

interface Options {
  views: string[]
  sample?: number
  seed?: number
  at?: string
  json?: boolean
}

function positiveInt(name: string, min: number): (text: string) => number {
  return (text) => {
    const n = Number(text)
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(
        `${name} must be an integer of at least ${min}, got ${JSON.stringify(text)}`,
      )
    }
    return n
  }
}

export function registerParity(program: Command, ctx: CommandContext): void {
  program
    .command('parity')
    .description(
      'compare sampled keys offline (point-in-time join) and online; exits 1 on any mismatch, so it can gate CI',
    )
    .addOption(
      new Option('-v, --views <names>', 'views to check, comma-separated (repeatable)')
        .argParser((value: string, previous: string[]) => [
          ...previous,
          ...value
            .split(',')
            .map((v) => v.trim())
            .filter(Boolean),
        ])
        .default([], 'every materialized view and on-demand view'),
    )
    .option('--sample <n>', 'entity keys sampled per view (default 100)', positiveInt('--sample', 1))
    .option('--seed <n>', 'seed of the key sample (default 0)', positiveInt('--seed', 0))
    .option(
      '--at <time>',
      "the instant compared (default: each view's last materialized end); a later one also finds stale windows",
      instant('--at'),
    )
    .option('--json', 'print the report as JSON')
    .action(async (opts: Options) => {
      const store = await ctx.openStore()
      const report = await store.checkParity({
        views: opts.views,
        sample: opts.sample,
        seed: opts.seed,
        at: opts.at,
      })
      const out = ctx.output
      if (opts.json) {
        out.out(JSON.stringify(parityJson(report), null, 2))
      } else {
        const checked = report.views.filter((v) => v.skipped === undefined && v.error === undefined)
        printRows(
          out,
          checked.map((v) => ({
            view: v.view,
            at: v.at === undefined ? '' : formatMicros(v.at),
            keys: v.keys,
            values: v.compared,
            mismatches: v.mismatches,
            rate: percent(v.mismatchRate),
          })),
          false,
          `No materialized view to check in project "${report.project}" (run larder materialize-incremental first)`,
        )
        const examples = checked.flatMap((v) => v.examples.map((m) => ({ view: v.view, ...m })))
        if (examples.length > 0) {
          out.out('Examples:')
          printRows(
            out,
            examples.map((m) => ({
              key: Object.entries(m.key)
                .map(([k, x]) => `${k}=${String(x)}`)
                .join(','),
              feature: m.feature,
              offline: text(jsonValue(m.offline, m.valueType)),
              online: `${text(jsonValue(m.online, m.valueType))} (${m.onlineStatus})`,
              cause: m.cause.code,
            })),
            false,
            '',
          )
          for (const m of examples) {
            const key = Object.entries(m.key)
              .map(([k, x]) => `${k}=${String(x)}`)
              .join(',')
            out.out(`${paint(out, 'bold', `${m.feature} ${key}`)}: ${m.cause.message}`)
            if (m.cause.fix !== null) out.out(`  ${paint(out, 'yellow', 'fix:')} ${m.cause.fix}`)
          }
        }
        for (const v of report.views) {
          if (v.skipped !== undefined) out.err(`skipped ${v.view}: ${v.skipped}`)
          if (v.error !== undefined) out.err(`${paint(out, 'red', 'error:')} ${v.view}: ${v.error}`)
        }
        const values = countOf(report.compared, 'value')
        const views = countOf(checked.length, 'view')
        const failed = report.errors > 0 ? `; ${countOf(report.errors, 'view')} could not be compared` : ''
        out.out(
          report.mismatches === 0
            ? paint(
                out,
                report.errors > 0 ? 'red' : 'green',
                `parity: all ${values} match in ${views}${failed}`,
              )
            : paint(
                out,
                'red',
                `parity: ${report.mismatches} of ${values} differ (${percent(report.mismatches / report.compared)}) in ${countOf(checked.filter((v) => v.mismatches > 0).length, 'view')} of ${checked.length}${failed}`,
              ),
        )
      }
      if (report.mismatches > 0 || report.errors > 0) {
        // the verdict is printed; exit 1 without an error line, so CI or a deploy stops here
        throw new CommanderError(1, 'larder.parityMismatch', `${report.mismatches} parity mismatches`)
      }
    })
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(rate > 0 && rate < 0.001 ? 3 : 1)}%`
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}
