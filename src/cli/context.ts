import { resolve } from 'node:path'
import { FeatureStore } from '../feature-store.js'
import type { Output } from './output.js'

/** Options every command inherits from the root program. */
export interface GlobalOptions {
  chdir?: string
  featureStoreYaml?: string
  verbose?: boolean
}

/** What a command needs from the program: where to write, and how to open the repo. */
export interface CommandContext {
  readonly output: Output
  readonly globals: () => GlobalOptions
  /** Opens the feature repo named by --chdir (or the working directory); closed by the runner. */
  openStore(): Promise<FeatureStore>
}

export function repoPath(globals: GlobalOptions): string {
  return resolve(globals.chdir ?? process.env.LARDER_REPO_PATH ?? '.')
}

/**
 * Makes a context whose store is opened at most once and closed by `close()`. The config's warnings
 * (Feast keys Larder accepts without acting on them) are printed once, on stderr, when it opens.
 */
export function createContext(
  output: Output,
  globals: () => GlobalOptions,
): CommandContext & { close(): Promise<void> } {
  let store: Promise<FeatureStore> | undefined
  return {
    output,
    globals,
    openStore() {
      const g = globals()
      store ??= FeatureStore.open(repoPath(g), { configFile: g.featureStoreYaml }).then((opened) => {
        for (const warning of opened.config.warnings) output.err(`warning: ${warning}`)
        return opened
      })
      return store
    },
    async close() {
      if (store) await (await store.catch(() => undefined))?.close()
    },
  }
}
