import { resolve } from 'node:path'
import type { Command } from 'commander'
import { LarderError } from '../../core/index.js'
import type { ReproduceResult } from '../../receipts/index.js'
import type { CommandContext } from '../context.js'
import { ExitCode } from '../exit-code.js'
import { jsonReplacer, paint } from '../output.js'

interface Options {
  savedDataset?: string
  json?: boolean
}

/** Exit codes of `larder reproduce` besides 0 (identical). */
const CHANGED = 1
const FAILED = 2

export function registerReproduce(program: Command, ctx: CommandContext): void {
  program
    .command('reproduce')
    .description(
      'rebuild the training set a receipt describes and say whether it is identical or what changed ' +
        '(exit 0 identical, 1 changed, 2 error)',
    )
    .argument('[receipt]', 'a receipt file (<training set>.receipt.json)')
    .option('--saved-dataset <name>', 'use the receipt kept with this saved dataset in the registry')
    .option('--json', 'print the verdict as JSON')
    .action(async (receipt: string | undefined, opts: Options) => {
      let result: ReproduceResult
      try {
        if ((receipt === undefined) === (opts.savedDataset === undefined)) {
          throw new LarderError('INVALID_ARGUMENT', 'give either a receipt file or --saved-dataset', {
            hint: 'e.g. larder reproduce training.parquet.receipt.json',
          })
        }
        const store = await ctx.openStore()
        result = await store.reproduce(
          receipt === undefined ? { savedDataset: opts.savedDataset! } : resolve(receipt),
        )
      } catch (error) {
        throw new ExitCode(FAILED, error)
      }
      if (opts.json) {
        const { rebuilt: _, ...verdict } = result
        ctx.output.out(JSON.stringify(verdict, jsonReplacer, 2))
      } else {
        printVerdict(ctx, result)
      }
      if (result.status !== 'identical') throw new ExitCode(CHANGED)
    })
}

/** The first 12 hex digits of a hash: enough to tell two apart on screen. */
const short = (sha256: string) => sha256.slice(0, 12)

function printVerdict(ctx: CommandContext, result: ReproduceResult): void {
  const out = ctx.output
  const { expected, actual } = result.output
  if (actual === null) {
    out.out(`${paint(out, 'red', 'changed:')} the training set cannot be rebuilt as the receipt describes it`)
  } else if (result.status === 'identical') {
    out.out(
      `${paint(out, 'green', 'identical:')} the rebuilt ${result.output.kind} has the receipt's content hash ` +
        `(${actual.rows} rows, sha256 ${short(actual.sha256)})`,
    )
  } else {
    const rows =
      expected.rows === actual.rows ? `${actual.rows} rows` : `${expected.rows} -> ${actual.rows} rows`
    out.out(
      `${paint(out, 'red', 'changed:')} the rebuilt ${result.output.kind} differs from the receipt's ` +
        `(sha256 ${short(expected.sha256)} -> ${short(actual.sha256)}, ${rows})`,
    )
  }
  if (result.changes.length > 0 && result.status === 'identical') {
    out.out('inputs changed without changing the rows:')
  }
  for (const change of result.changes) out.out(`  ${change.message}`)
  for (const note of result.notes) out.out(`${paint(out, 'yellow', 'note:')} ${note}`)
}
