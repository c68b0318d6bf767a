// Test helper: `larder serve-registry` run as a child process (the built CLI in dist/, as a user runs
// it), read through its JSON log lines.
import { type LarderProcess, startLarderProcess } from '../../server/__fixtures__/serve-process.js'

export interface RegistryServerProcess extends Omit<LarderProcess, 'ready'> {
  readonly grpcUrl: string
  readonly restUrl: string | undefined
}

/** Starts `larder -c <repo> serve-registry --port 0 --rest-port 0 <args>` and resolves once it logs that it listens. */
export async function startServeRegistry(
  repo: string,
  args: readonly string[] = [],
  timeoutMs = 20_000,
): Promise<RegistryServerProcess> {
  const started = await startLarderProcess(
    ['-c', repo, 'serve-registry', '--port', '0', '--rest-port', '0', ...args],
    'registry server listening',
    timeoutMs,
  )
  return {
    ...started,
    grpcUrl: started.ready.grpcUrl as string,
    restUrl: started.ready.restUrl as string | undefined,
  }
}
