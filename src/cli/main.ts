import { Command, CommanderError } from 'commander'
import { isLarderError } from '../core/index.js'
import { larderVersion } from './commands/version.js'
import { type CommandContext, createContext, type GlobalOptions } from './context.js'
import { ExitCode } from './exit-code.js'
import { type Output, paint, processOutput } from './output.js'

type Register = (program: Command, ctx: CommandContext) => void

/**
 * Every command by the name it is called with, in the order `larder --help` lists them, with the
 * import of the module that registers it: a command's module, and the stores, servers and drivers it
 * imports, load only when that command is registered.
 */
const COMMANDS: ReadonlyArray<readonly [name: string, load: () => Promise<Register>]> = [
  ['init', async () => (await import('./commands/init.js')).registerInit],
  ['plan', async () => (await import('./commands/plan.js')).registerPlan],
  ['apply', async () => (await import('./commands/apply.js')).registerApply],
  ['teardown', async () => (await import('./commands/teardown.js')).registerTeardown],
  ['materialize', async () => (await import('./commands/materialize.js')).registerMaterialize],
  [
    'materialize-incremental',
    async () => (await import('./commands/materialize-incremental.js')).registerMaterializeIncremental,
  ],
  ['jobs', async () => (await import('./commands/jobs.js')).registerJobs],
  ['get', async () => (await import('./commands/get.js')).registerGet],
  ['explain', async () => (await import('./commands/explain.js')).registerExplain],
  ['parity', async () => (await import('./commands/parity.js')).registerParity],
  ['list', async () => (await import('./commands/list.js')).registerList],
  ['describe', async () => (await import('./commands/describe.js')).registerDescribe],
  ['permissions', async () => (await import('./commands/permissions.js')).registerPermissions],
  [
    'get-historical-features',
    async () => (await import('./commands/get-historical-features.js')).registerGetHistoricalFeatures,
  ],
  ['reproduce', async () => (await import('./commands/reproduce.js')).registerReproduce],
  ['codegen', async () => (await import('./commands/codegen.js')).registerCodegen],
  ['registry-dump', async () => (await import('./commands/registry-dump.js')).registerRegistryDump],
  ['registry', async () => (await import('./commands/registry-migrate.js')).registerRegistryMigrate],
  ['config-schema', async () => (await import('./commands/config-schema.js')).registerConfigSchema],
  ['serve', async () => (await import('./commands/serve.js')).registerServe],
  ['serve-registry', async () => (await import('./commands/serve-registry.js')).registerServeRegistry],
  ['worker', async () => (await import('./commands/worker.js')).registerWorker],
  ['stream', async () => (await import('./commands/stream.js')).registerStream],
  ['ui', async () => (await import('./commands/ui.js')).registerUi],
  ['version', async () => (await import('./commands/version.js')).registerVersion],
]

/** The root program's options that take a value, in every spelling (see `runCli`). */
const GLOBAL_VALUE_OPTIONS = new Set(['-c', '--chdir', '-f', '--feature-store-yaml'])

/**
 * The name of the command `argv` runs when it names one of {@link COMMANDS} after only the root
 * program's options, else undefined (no command, help, `--version`, a typo or anything this cannot
 * read for certain): then every command is registered, as help and commander's suggestions need.
 */
export function commandNamed(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('-')) return COMMANDS.some(([name]) => name === arg) ? arg : undefined
    if (arg === '--verbose') continue
    if (GLOBAL_VALUE_OPTIONS.has(arg)) i++
    else if (!/^(--chdir=|--feature-store-yaml=|-c.|-f.)/.test(arg)) return undefined
  }
  return undefined
}

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
  try {
    const named = commandNamed(argv)
    const loads = COMMANDS.filter(([name]) => named === undefined || name === named).map(([, load]) => load())
    for (const register of await Promise.all(loads)) register(program, ctx)
    for (const command of program.commands) command.exitOverride().configureOutput(program.configureOutput())
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
