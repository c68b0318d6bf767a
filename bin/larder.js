#!/usr/bin/env node
// The commands that move a dataset through this process run with a bounded V8 heap: Node otherwise
// lets garbage pile up to a large share of the host's memory before it collects, so a 10M-row
// materialization would hold hundreds of MiB it no longer uses. When the user chose no heap limit
// (`--max-old-space-size` in Node's flags or NODE_OPTIONS), the command runs in a child process with
// HEAP_LIMIT_MIB; other commands (`worker` too: a supervisor's SIGKILL must end the process that works),
// and a user's own limit, start as they are.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const HEAP_LIMIT_MIB = 256
const BOUNDED_COMMANDS = new Set(['materialize', 'materialize-incremental'])
const HEAP_FLAG = /--max[-_]old[-_]space[-_]size/
/** The global options that take a value as the next argument. */
const VALUE_OPTIONS = new Set(['-c', '--chdir', '-f', '--feature-store-yaml'])

/** The command named by the arguments: the first one that is neither a global option nor its value. */
function commandName(argv) {
  for (let i = 0; i < argv.length; i++) {
    if (VALUE_OPTIONS.has(argv[i])) i++
    else if (!argv[i].startsWith('-')) return argv[i]
  }
  return undefined
}

const args = process.argv.slice(2)
const userLimit = HEAP_FLAG.test(process.execArgv.join(' ')) || HEAP_FLAG.test(process.env.NODE_OPTIONS ?? '')

if (userLimit || !BOUNDED_COMMANDS.has(commandName(args))) {
  // started by the branch below: end with the parent, even when it was killed without a chance to pass
  // a signal on (SIGKILL)
  if (process.channel && BOUNDED_COMMANDS.has(commandName(args))) {
    process.channel.unref()
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'))
  }
  const { runCli } = await import('../dist/cli/main.js')
  process.exitCode = await runCli(args)
} else {
  const child = spawn(
    process.execPath,
    [...process.execArgv, `--max-old-space-size=${HEAP_LIMIT_MIB}`, fileURLToPath(import.meta.url), ...args],
    { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] },
  )
  // Ctrl-C reaches the child through the terminal's process group; a signal sent to this process alone
  // is passed on, and this process exits as the child does.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal))
  child.on('exit', (code, signal) => {
    if (code === 134 || signal === 'SIGABRT') {
      process.stderr.write(
        `larder ${commandName(args)}: the process ran out of its ${HEAP_LIMIT_MIB} MiB JavaScript heap; ` +
          'raise it with NODE_OPTIONS=--max-old-space-size=1024 (MiB), or lower online_write_batch_size\n',
      )
    }
    process.exitCode = code ?? 1
  })
}
