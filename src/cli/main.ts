import { Command, CommanderError } from 'commander'
import { isLarderError } from '../core/index.js'
import { registerApply } from './commands/apply.js'
import { registerCodegen } from './commands/codegen.js'
import { registerConfigSchema } from './commands/config-schema.js'
import { registerDescribe } from './commands/describe.js'
import { registerExplain } from './commands/explain.js'
import { registerGet } from './commands/get.js'
import { registerGetHistoricalFeatures } from './commands/get-historical-features.js'
import { registerInit } from './commands/init.js'
import { registerJobs } from './commands/jobs.js'
import { registerList } from './commands/list.js'
import { registerMaterialize } from './commands/materialize.js'
import { registerMaterializeIncremental } from './commands/materialize-incremental.js'
import { registerParity } from './commands/parity.js'
import { registerPermissions } from './commands/permissions.js'
import { registerPlan } from './commands/plan.js'
import { registerRegistryDump } from './commands/registry-dump.js'
import { registerRegistryMigrate } from './commands/registry-migrate.js'
import { registerReproduce } from './commands/reproduce.js'
import { registerServe } from './commands/serve.js'
import { registerServeRegistry } from './commands/serve-registry.js'
import { registerStream } from './commands/stream.js'
import { registerTeardown } from './commands/teardown.js'
import { registerUi } from './commands/ui.js'
import { larderVersion, registerVersion } from './commands/version.js'
import { registerWorker } from './commands/worker.js'
import { createContext, type GlobalOptions } from './context.js'
import { ExitCode } from './exit-code.js'
import { type Output, paint, processOutput } from './output.js'

/**
 * Runs the `larder` CLI on `argv` (without the node and script entries) and resolves to the exit code:
 * 0 on success, 1 on an error (printed as one line plus a hint; `--verbose` adds the causes), or the
 * code a command chose (`ExitCode`: `larder reproduce` exits 1 on a changed set, 2 on an error).
 */
export async function runCli(argv: readonly string[], output: Output = processOutput()): Promise<number> {
  const program = new Command('larder')
    .description('Larder: a feature store for TypeScript, compatible with Feast')
    .version(larderVersion(), '-V, --version')
    .option('-c, --chdir <dir>', 'run in this feature repo instead of the working directory')
    .option('-f, --feature-store-yaml <file>', 'config file name inside the repo', 'feature_store.yaml')
    .option('--verbose', 'print the causes of an error')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => output.out(s), writeErr: (s) => output.err(s) })
  const ctx = createContext(output, () => program.opts<GlobalOptions>())
  for (const register of [
    registerInit,
    registerPlan,
    registerApply,
    registerTeardown,
    registerMaterialize,
    registerMaterializeIncremental,
    registerJobs,
    registerGet,
    registerExplain,
    registerParity,
    registerList,
    registerDescribe,
    registerPermissions,
    registerGetHistoricalFeatures,
    registerReproduce,
    registerCodegen,
    registerRegistryDump,
    registerRegistryMigrate,
    registerConfigSchema,
    registerServe,
    registerServeRegistry,
    registerWorker,
    registerStream,
    registerUi,
    registerVersion,
  ]) {
    register(program, ctx)
  }
  for (const command of program.commands) command.exitOverride().configureOutput(program.configureOutput())
  try {
    await program.parseAsync(argv, { from: 'user' })
    return 0
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode
    const verbose = Boolean(program.opts<GlobalOptions>().verbose)
    if (error instanceof ExitCode) {
      if (error.error !== undefined) reportError(output, error.error, verbose)
      return error.code
    }
    reportError(output, error, verbose)
    return 1
  } finally {
    await ctx.close()
  }
}

function reportError(output: Output, error: unknown, verbose: boolean): void {
  if (isLarderError(error)) {
    output.err(`${paint(output, 'red', 'error:')} ${error.message}`)
    if (error.hint) output.err(`${paint(output, 'yellow', 'hint:')} ${error.hint}`)
  } else {
    const message = error instanceof Error ? error.message : String(error)
    output.err(`${paint(output, 'red', 'internal error:')} ${message}`)
    output.err(
      `${paint(output, 'yellow', 'hint:')} this is a bug in Larder; run again with --verbose and report the output`,
    )
  }
  if (!verbose) return
  let cause: unknown = error
  for (let depth = 0; cause && depth < 10; depth++) {
    output.err(cause instanceof Error ? `  ${cause.stack ?? cause.message}` : `  ${String(cause)}`)
    cause = cause instanceof Error ? cause.cause : undefined
    if (cause) output.err('caused by:')
  }
}
