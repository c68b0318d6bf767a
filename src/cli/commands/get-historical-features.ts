import { resolve } from 'node:path'
import type { Command } from 'commander'
import { countOf, LarderError } from '../../core/index.js'
import type { JobRecord } from '../../registry/index.js'
import { instant } from '../arguments.js'
import type { CommandContext } from '../context.js'
import { startTicker } from '../progress.js'

interface Options {
  entities?: string
  features?: string
  featureService?: string
  fullFeatureNames?: boolean
  asOfKnownTime?: boolean
  startDate?: string
  endDate?: string
  out: string
  saveAs?: string
  receipt: boolean
}

export function registerGetHistoricalFeatures(program: Command, ctx: CommandContext): void {
  program
    .command('get-historical-features')
    .description('build point-in-time correct training data and write it to a Parquet or CSV file')
    .option('-e, --entities <file>', 'entity rows: a Parquet or CSV file with join keys and event_timestamp')
    .option('--features <refs>', 'comma-separated view:feature references')
    .option('-s, --feature-service <name>', 'read the features of this feature service')
    .option('--full-feature-names', 'name columns view__feature')
    .option('--as-of-known-time', 'ignore feature rows created after the entity timestamp')
    .option(
      '--start-date <time>',
      'without --entities: every row from this time (ISO-8601, UTC if naive)',
      instant('--start-date'),
    )
    .option('--end-date <time>', 'without --entities: every row up to this time', instant('--end-date'))
    .requiredOption('-o, --out <file>', 'output file: .parquet or .csv')
    .option('--save-as <name>', 'also register the output as a saved dataset (Parquet only)')
    .option(
      '--no-receipt',
      "skip the receipt (<out>.receipt.json, and the saved dataset's) that larder reproduce rebuilds from",
    )
    .action(async (opts: Options) => {
      if (!opts.features === !opts.featureService) {
        throw new LarderError('INVALID_ARGUMENT', 'give either --features or --feature-service', {
          hint: 'e.g. --features driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate',
        })
      }
      if (!opts.entities && !(opts.startDate && opts.endDate)) {
        throw new LarderError(
          'INVALID_ARGUMENT',
          'give --entities, or --start-date and --end-date for every row in a range',
          {
            hint: 'e.g. --entities entities.parquet',
          },
        )
      }
      const out = resolve(opts.out)
      const csv = /\.csv$/i.test(out)
      if (!csv && !/\.parquet$/i.test(out)) {
        throw new LarderError('INVALID_ARGUMENT', `--out ${opts.out} is neither .parquet nor .csv`, {
          hint: 'name the output file.parquet or file.csv',
        })
      }
      if (opts.saveAs && csv) {
        throw new LarderError('INVALID_ARGUMENT', '--save-as needs a Parquet output', {
          hint: 'write --out training.parquet',
        })
      }
      const store = await ctx.openStore()
      // the write runs as a job: its id first, so that another shell can follow or cancel it
      let ticker: { stop(): number } | undefined
      const onJob = (job: JobRecord) => {
        ctx.output.err(`Job ${job.id} (larder jobs get ${job.id}; larder jobs cancel ${job.id})`)
        ticker = startTicker(ctx.output, 'Retrieving historical features')
      }
      try {
        const job = await store.getHistoricalFeatures({
          entities: opts.entities ? resolve(opts.entities) : undefined,
          features: opts.features
            ?.split(',')
            .map((f) => f.trim())
            .filter(Boolean),
          featureService: opts.featureService,
          fullFeatureNames: opts.fullFeatureNames,
          asOfKnownTime: opts.asOfKnownTime,
          startDate: opts.startDate,
          endDate: opts.endDate,
        })
        for (const notice of job.notices) ctx.output.err(`note: ${notice}`)
        const receipt = opts.receipt
        const { rows, receiptPath } = opts.saveAs
          ? await store.createSavedDataset(job, {
              name: opts.saveAs,
              path: out,
              allowOverwrite: false,
              onJob,
              receipt,
            })
          : csv
            ? await job.toCsv(out, { onJob, receipt })
            : await job.toParquet(out, { onJob, receipt })
        const seconds = ticker?.stop() ?? 0
        ctx.output.out(
          `Wrote ${countOf(rows, 'row')} (${countOf(job.columns.length, 'column')}) to ${out} in ${seconds.toFixed(2)}s`,
        )
        if (receiptPath)
          ctx.output.out(`Wrote the receipt to ${receiptPath} (larder reproduce ${receiptPath})`)
        if (opts.saveAs) ctx.output.out(`Registered saved dataset "${opts.saveAs}"`)
      } finally {
        ticker?.stop()
      }
    })
}
