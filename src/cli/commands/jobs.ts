import { setTimeout as sleep } from 'node:timers/promises'
import { type Command, InvalidArgumentError } from 'commander'
import { formatMicros, type Micros, nowMicros } from '../../core/index.js'
import type { FeatureStore } from '../../feature-store.js'
import {
  effectiveStatus,
  isFinal,
  type JobLogLine,
  type JobRecord,
  jobJson,
  jobStatusesOf,
  type ViewProgress,
} from '../../registry/index.js'
import type { CommandContext } from '../context.js'
import { type Output, paint, printRows } from '../output.js'

/** How often `cancel --wait` and `logs --follow` read the job again. */
const POLL_MS = 1000

/**
 * `larder jobs list | get ID | cancel ID | logs ID`: the long work of the project (materializations,
 * historical retrievals to a file or table, `larder stream` processors) as the engine's job store keeps it, whichever process or
 * worker runs it. A job whose process died shows `lost`; `cancel` marks it cancelled.
 */
export function registerJobs(program: Command, ctx: CommandContext): void {
  const jobs = program
    .command('jobs')
    .description(
      "list, inspect, cancel and read the logs of jobs (materializations, historical retrievals, stream processors) from the engine's job store",
    )

  jobs
    .command('list')
    .description(
      'the jobs of the project, newest first: id, kind, engine, status, views, progress, created, by',
    )
    .option(
      '--status <status...>',
      'only jobs in these states: queued, running, succeeded, failed, cancelled (comma-separated or repeated; a lost job is stored running)',
    )
    .option('--limit <n>', 'at most N jobs (default 50)', positiveInteger)
    .option('--json', 'print as JSON')
    .action(async (opts: { status?: string[]; limit?: number; json?: boolean }) => {
      const status = jobStatusesOf(opts.status ?? [])
      const store = await ctx.openStore()
      const listed = await store.listJobs({
        status: status.length > 0 ? status : undefined,
        limit: opts.limit,
      })
      const now = nowMicros()
      if (opts.json) {
        ctx.output.out(
          JSON.stringify(
            listed.map((job) => jobJson(job, now)),
            null,
            2,
          ),
        )
        return
      }
      printRows(
        ctx.output,
        listed.map((job) => jobRow(job, now)),
        false,
        `No ${status.length > 0 ? `${status.join(' or ')} ` : ''}jobs in project "${store.project}" (run \`larder materialize-incremental END\`)`,
      )
    })

  jobs
    .command('get')
    .description('one job: its state, progress per view, request, error and result')
    .argument('<id>', 'the job id (see larder jobs list)')
    .option('--json', 'print as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const store = await ctx.openStore()
      const job = await store.getJob(id)
      if (opts.json) ctx.output.out(JSON.stringify(jobJson(job, nowMicros()), null, 2))
      else ctx.output.out(describeJob(ctx.output, job, nowMicros()))
    })

  jobs
    .command('cancel')
    .description(
      'cancel a job: it stops at its next batch boundary and records no interval for a view it did not finish; a lost job is marked cancelled at once',
    )
    .argument('<id>', 'the job id (see larder jobs list)')
    .option('--wait', 'wait until the job has stopped, then print its final state')
    .option('--json', 'print the job as JSON, as it stands after the request (or once stopped, with --wait)')
    .action(async (id: string, opts: { wait?: boolean; json?: boolean }) => {
      const store = await ctx.openStore()
      let job = await store.cancelJob(id)
      const finishedBefore = isFinal(job.status) && job.cancelRequestedAt === undefined
      while (opts.wait && !isFinal(job.status)) {
        await sleep(POLL_MS)
        job = await store.getJob(id)
        // its runner died while we waited: nobody else will mark it
        if (effectiveStatus(job, nowMicros()) === 'lost') job = await store.cancelJob(id)
      }
      if (opts.json) {
        ctx.output.out(JSON.stringify(jobJson(job, nowMicros()), null, 2))
        return
      }
      ctx.output.out(
        finishedBefore
          ? `Job ${id} had already finished: ${job.status}`
          : isFinal(job.status)
            ? `Job ${id}: ${job.status}${job.status === 'cancelled' ? '' : ' (it finished before the cancel took effect)'}`
            : `Job ${id}: cancel requested; it stops at its next batch boundary (now ${effectiveStatus(job, nowMicros())}; --wait waits for it)`,
      )
    })

  jobs
    .command('logs')
    .description("a job's log lines, oldest first")
    .argument('<id>', 'the job id (see larder jobs list)')
    .option('--limit <n>', 'only the newest N lines', positiveInteger)
    .option('-f, --follow', 'keep printing new lines until the job has finished')
    .action(async (id: string, opts: { limit?: number; follow?: boolean }) => {
      const store = await ctx.openStore()
      await printLogs(ctx.output, store, id, opts)
    })
}

/** Prints the job's log (the newest `limit` lines), and with `follow` the new lines until the job is final. */
async function printLogs(
  output: Output,
  store: FeatureStore,
  id: string,
  opts: { limit?: number; follow?: boolean },
): Promise<void> {
  let last: JobLogLine | undefined
  for (;;) {
    // the state before the lines: a runner stores its last lines before its final state
    const job = await store.getJob(id)
    const lines = await store.jobLogs(id, last === undefined ? { limit: opts.limit } : {})
    const fresh = linesAfter(lines, last)
    for (const line of fresh) output.out(logLine(output, line))
    last = fresh.at(-1) ?? last
    if (!opts.follow || isFinal(job.status) || effectiveStatus(job, nowMicros()) === 'lost') return
    await sleep(POLL_MS)
  }
}

/** The lines after `last` (all of them when `last` is no longer kept, or undefined). */
function linesAfter(lines: readonly JobLogLine[], last: JobLogLine | undefined): readonly JobLogLine[] {
  if (last === undefined) return lines
  const at = lines.findLastIndex(
    (l) => l.at === last.at && l.level === last.level && l.message === last.message,
  )
  return lines.slice(at + 1)
}

function logLine(output: Output, line: JobLogLine): string {
  const level = line.level.padEnd(5)
  const painted =
    line.level === 'error'
      ? paint(output, 'red', level)
      : line.level === 'warn'
        ? paint(output, 'yellow', level)
        : level
  return `${formatMicros(line.at)}  ${painted}  ${line.message}`
}

/** One job as a row of `jobs list`. */
function jobRow(job: JobRecord, now: Micros): Record<string, unknown> {
  return {
    id: job.id,
    kind: job.kind,
    engine: job.engine,
    status: effectiveStatus(job, now),
    views: job.featureViews ?? 'all',
    rows: rowsText(job.progress),
    tasks: `${job.progress.tasksDone}/${job.progress.tasksTotal}`,
    created: formatMicros(job.createdAt),
    by: job.createdBy,
  }
}

/** `done/total`, or `done` while the total is unknown. */
function rowsText(p: ViewProgress): string {
  return p.rowsTotal === undefined ? `${p.rowsDone}` : `${p.rowsDone}/${p.rowsTotal}`
}

/** `larder jobs get`: one field a line, then the per-view progress, request, error and result. */
function describeJob(output: Output, job: JobRecord, now: Micros): string {
  const status = effectiveStatus(job, now)
  const time = (at: Micros | undefined) => (at === undefined ? '' : formatMicros(at))
  const fields: [string, string][] = [
    ['job', job.id],
    ['kind', job.kind],
    ['engine', job.engine],
    [
      'status',
      status === 'succeeded'
        ? paint(output, 'green', status)
        : status === 'failed' || status === 'lost'
          ? paint(output, 'red', status)
          : status,
    ],
    ['views', job.featureViews?.join(', ') ?? 'all'],
    [
      'progress',
      `${rowsText(job.progress)} rows, ${job.progress.tasksDone}/${job.progress.tasksTotal} tasks`,
    ],
    ...Object.entries(job.progress.views ?? {}).map(([view, p]): [string, string] => [
      `  ${view}`,
      `${rowsText(p)} rows, ${p.tasksDone}/${p.tasksTotal} tasks`,
    ]),
    ['request', JSON.stringify(job.request)],
    ['created', `${formatMicros(job.createdAt)} by ${job.createdBy}`],
    ['started', time(job.startedAt)],
    ['finished', time(job.finishedAt)],
    ['heartbeat', formatMicros(job.heartbeatAt)],
    ['runner', job.runner ?? ''],
    ['cancel', job.cancelRequestedAt === undefined ? '' : `requested ${formatMicros(job.cancelRequestedAt)}`],
    ['error', job.error === undefined ? '' : `${job.error.code}: ${job.error.message}`],
    ['result', job.result === undefined ? '' : JSON.stringify(job.result)],
  ]
  const shown = fields.filter(([, value]) => value !== '')
  const width = Math.max(...shown.map(([name]) => name.length))
  return shown.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')
}

function positiveInteger(text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('give a positive integer')
  return n
}
