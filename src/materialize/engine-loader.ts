import type { RepoConfig } from '../config/index.js'
import { knownNames, LarderError } from '../core/index.js'
import type { Registry } from '../registry/index.js'
import type { BatchEngine } from './engine.js'
import { LocalEngine } from './local-engine.js'

/** Engines by `batch_engine.type`; `bullmq` (and its driver) is imported only when a config selects it. */
const ENGINES: Readonly<Record<string, (config: RepoConfig, registry: Registry) => Promise<BatchEngine>>> = {
  local: async (_config, registry) => new LocalEngine(registry.jobs),
  bullmq: async (config) => (await import('./bullmq/index.js')).createBullmqEngine(config),
}

/**
 * The engine `batch_engine` names: `local` keeps its jobs in the registry; `bullmq` validates its
 * options and connects to its queue. INVALID_CONFIG for bad options (naming the key and the fix),
 * MISSING_DEPENDENCY when `bullmq` is not installed.
 *
 * @example const engine = await createBatchEngine(config, registry)
 */
export async function createBatchEngine(config: RepoConfig, registry: Registry): Promise<BatchEngine> {
  const create = ENGINES[config.batchEngine.type]
  if (!create) {
    throw new LarderError('INVALID_CONFIG', `batch_engine type "${config.batchEngine.type}" is not known`, {
      hint: `use one of ${knownNames(Object.keys(ENGINES))}`,
    })
  }
  return create(config, registry)
}
