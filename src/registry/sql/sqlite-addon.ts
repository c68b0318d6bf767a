import { createRequire } from 'node:module'

let addon: { nativeBinding?: string } | undefined

/**
 * better-sqlite3's constructor options that name its compiled addon by path, for every `new
 * Database(...)` of the registry and the online store. Left to itself, better-sqlite3 finds the addon
 * through the `bindings` package, which reads its caller's file from a stack trace; on Node >= 22 a
 * loader hook (`node --import jiti/register`, tsx) turns CommonJS frames into `file://` URLs and that
 * search fails. With no addon at the usual place the options are empty and better-sqlite3 searches
 * as it always does.
 */
export function sqliteAddonOptions(): { nativeBinding?: string } {
  if (addon === undefined) {
    try {
      const require = createRequire(import.meta.url)
      addon = { nativeBinding: require.resolve('better-sqlite3/build/Release/better_sqlite3.node') }
    } catch {
      addon = {}
    }
  }
  return addon
}
