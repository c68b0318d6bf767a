// Test helper: runs the CLI in this process, as `larder ...argv` would, and captures what it prints.
import { runCli } from '../main.js'
import type { Output } from '../output.js'

/** What one CLI call printed and its exit code. */
export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs `larder ...argv` without colours or a TTY; each printed message ends with a newline. */
export async function larder(...argv: string[]): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  const output: Output = {
    out: (t) => {
      stdout += t.endsWith('\n') ? t : `${t}\n`
    },
    err: (t) => {
      stderr += t.endsWith('\n') ? t : `${t}\n`
    },
    color: false,
    isTTY: false,
  }
  const code = await runCli(argv, output)
  return { code, stdout, stderr }
}
