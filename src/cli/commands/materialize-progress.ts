import cliProgress from 'cli-progress'
import { type Command, Option } from 'commander'
import { countOf, formatMicros, knownNames } from '../../core/index.js'
import type { FeatureStore } from '../../feature-store.js'
import type { MaterializeProgress, MaterializeResult } from '../../materialize/index.js'
import type { CommandContext } from '../context.js'
import { type Output, paint, printRows } from '../output.js'

/** Options shared by `materialize` and `materialize-incremental`. */
export interface MaterializeCommandOptions {
  views: string[]
  json?: boolean
}

/** Adds `-v, --views` (comma-separated, repeatable) and `--json` to a materialize command. */
export function materializeOptions(command: Command): Command {
  return command
    .addOption(
      new Option('-v, --views <names>', 'feature views to load, comma-separated (repeatable)')
        .argParser((value: string, previous: string[]) => [
          ...previous,
          ...value
            .split(',')
            .map((v) => v.trim())
            .filter(Boolean),
        ])
        .default([], 'every online view'),
    )
    .option('--json', 'print the summary as JSON')
}

/**
 * Runs a materialization with progress on stderr (a bar per view on a TTY, a line now and then
 * otherwise) and prints a summary per view on stdout.
 */
export async function runMaterialize(
  ctx: CommandContext,
  opts: MaterializeCommandOptions,
  run: (store: FeatureStore, onProgress: (e: MaterializeProgress) => void) => Promise<MaterializeResult>,
): Promise<void> {
  const store = await ctx.openStore()
  const where = store.config.onlineStore?.type ?? 'online'
  const progress = ctx.output.isTTY ? barReporter() : lineReporter(ctx.output)
  let result: MaterializeResult
  try {
    result = await run(store, progress.report)
  } finally {
    progress.stop()
  }
  if (opts.json) {
    ctx.output.out(JSON.stringify(result.views.map(summaryRow), null, 2))
    return
  }
  if (result.views.length === 0) {
    const views = [...(await store.catalog()).featureViews.values()].map((v) => v.name)
    ctx.output.out(
      `No feature view to materialize in project "${store.project}" (views: ${knownNames(views)})`,
    )
    return
  }
  const table = result.views
    .map(summaryRow)
    .map(({ rowsPerSecond, ...row }) => ({ ...row, 'rows/s': rowsPerSecond }))
  printRows(ctx.output, table, false, '')
  const rows = result.views.reduce((n, v) => n + v.rows, 0)
  ctx.output.out(
    paint(
      ctx.output,
      'green',
      `Materialized ${countOf(rows, 'row')} of ${countOf(result.views.length, 'feature view')} into the ${where} online store`,
    ),
  )
}

function summaryRow(v: MaterializeResult['views'][number]): Record<string, unknown> {
  return {
    view: v.view,
    start: formatMicros(v.start),
    end: formatMicros(v.end),
    rows: v.rows,
    skipped: v.skipped,
    seconds: Number(v.seconds.toFixed(2)),
    rowsPerSecond: v.seconds > 0 ? Math.round(v.rows / v.seconds) : v.rows,
  }
}

interface Reporter {
  report(e: MaterializeProgress): void
  stop(): void
}

interface BarPayload {
  view: string
  total: number | undefined
  rate: number
  elapsed: number
}

const BAR_WIDTH = 24

/** One cli-progress bar per view on stderr: rows, rows/s, ETA once the total is known, elapsed time. */
function barReporter(): Reporter {
  let nameWidth = 0
  const format: cliProgress.GenericFormatter = (_options, params, payload: BarPayload) => {
    const { total, rate, elapsed } = payload
    let bar: string
    let eta = '?'
    if (total === undefined) {
      const at = Math.floor(elapsed * 8) % BAR_WIDTH
      bar = '░'.repeat(at) + '█' + '░'.repeat(BAR_WIDTH - at - 1)
    } else {
      const done = total === 0 ? BAR_WIDTH : Math.round((params.value / total) * BAR_WIDTH)
      bar = '█'.repeat(done) + '░'.repeat(BAR_WIDTH - done)
      eta = rate > 0 ? `${Math.ceil((total - params.value) / rate)}s` : '0s'
    }
    return `${payload.view.padEnd(nameWidth)} ${bar} ${countOf(params.value, 'row')} | ${Math.round(rate)} rows/s | ETA ${eta} | ${elapsed.toFixed(1)}s`
  }
  const multibar = new cliProgress.MultiBar({
    stream: process.stderr,
    format,
    hideCursor: true,
    clearOnComplete: false,
    fps: 8,
  })
  const bars = new Map<string, cliProgress.SingleBar>()
  return {
    report(e) {
      const payload: BarPayload = {
        view: e.view,
        total: e.rowsTotal,
        rate: e.rowsPerSecond,
        elapsed: e.elapsedSeconds,
      }
      let bar = bars.get(e.view)
      if (!bar) {
        nameWidth = Math.max(nameWidth, e.view.length)
        bar = multibar.create(e.rowsTotal ?? 0, e.rows, payload)
        bars.set(e.view, bar)
      }
      if (e.rowsTotal !== undefined) bar.setTotal(e.rowsTotal)
      bar.update(e.rows, payload)
    },
    stop() {
      multibar.stop()
    },
  }
}

const LINE_EVERY_MS = 2000

/** Plain lines on stderr for logs and pipes: when a view starts, every few seconds, and when it ends. */
function lineReporter(output: Output): Reporter {
  const last = new Map<string, number>()
  return {
    report(e) {
      if (e.phase === 'start') {
        output.err(`${e.view}: materializing ${formatMicros(e.start)} to ${formatMicros(e.end)}`)
        last.set(e.view, performance.now())
        return
      }
      const now = performance.now()
      if (e.phase === 'rows' && now - (last.get(e.view) ?? 0) < LINE_EVERY_MS) return
      last.set(e.view, now)
      const done = e.phase === 'done' ? 'done, ' : ''
      const rate = Math.round(e.rowsPerSecond)
      output.err(
        `${e.view}: ${done}${countOf(e.rows, 'row')}, ${rate} rows/s, ${e.elapsedSeconds.toFixed(1)}s`,
      )
    },
    stop() {},
  }
}
