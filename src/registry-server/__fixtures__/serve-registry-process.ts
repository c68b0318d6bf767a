// Test helper: `larder serve-registry` run as a child process (the built CLI in dist/, as a user runs
// it), read through its JSON log lines.
import { type ChildProcess, spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const BIN = resolve(fileURLToPath(new URL('../../../bin/larder.js', import.meta.url)))

export interface RegistryServerProcess {
  readonly process: ChildProcess
  readonly grpcUrl: string
  readonly restUrl: string | undefined
  /** Every line the server wrote to stdout so far, parsed (non-JSON lines as `{ text }`). */
  logs(): Record<string, unknown>[]
  stderr(): string
  /** Sends the signal and resolves with the exit code once the process ended. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Starts `larder -c <repo> serve-registry --port 0 --rest-port 0 <args>` and resolves once it logs that it listens. */
export function startServeRegistry(
  repo: string,
  args: readonly string[] = [],
  timeoutMs = 20_000,
): Promise<RegistryServerProcess> {
  const child = spawn(
    process.execPath,
    [BIN, '-c', repo, 'serve-registry', '--port', '0', '--rest-port', '0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  )
  const lines: Record<string, unknown>[] = []
  let stderr = ''
  let partial = ''
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`larder serve-registry did not start within ${timeoutMs} ms; stderr: ${stderr}`))
    }, timeoutMs)
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`larder serve-registry exited with ${code} before listening; stderr: ${stderr}`))
    })
    child.stdout!.on('data', (d: Buffer) => {
      partial += d.toString()
      const parts = partial.split('\n')
      partial = parts.pop()!
      for (const line of parts) {
        if (line.trim() === '') continue
        let entry: Record<string, unknown>
        try {
          entry = JSON.parse(line)
        } catch {
          entry = { text: line }
        }
        lines.push(entry)
        if (entry.msg === 'registry server listening') {
          clearTimeout(timer)
          resolvePromise({
            process: child,
            grpcUrl: entry.grpcUrl as string,
            restUrl: entry.restUrl as string | undefined,
            logs: () => lines,
            stderr: () => stderr,
            stop(signal = 'SIGTERM') {
              if (child.exitCode === null && child.signalCode === null) child.kill(signal)
              return exited
            },
          })
        }
      }
    })
  })
}
