import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import Database from 'better-sqlite3'
import type { RepoConfig } from '../../config/index.js'
import { LarderError } from '../../core/index.js'
import { sqliteAddonOptions } from '../../registry/sql/sqlite-addon.js'
import type { OnlineStore } from '../online-store.js'
import type { SqliteOptions } from './sqlite-config.js'
import { SqliteOnlineStore } from './sqlite-online-store.js'

export type { SqliteDatabase, SqliteStatement } from './sqlite-database.js'
export { FILE_CHECK_INTERVAL_MS, SqliteOnlineStore, type SqliteStoreOptions } from './sqlite-online-store.js'

/**
 * Opens Feast's SQLite online store at `options.path` (relative paths resolve against the repo;
 * the directory is created) with better-sqlite3. The store follows its file: a deleted file is
 * recreated empty and a replaced one reopened (see {@link SqliteOnlineStore}).
 */
export async function openOnlineStore(options: SqliteOptions, config: RepoConfig): Promise<OnlineStore> {
  const path = options.path === ':memory:' ? options.path : resolve(config.repoPath, options.path)
  let db: Database.Database
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    db = new Database(path, sqliteAddonOptions())
  } catch (cause) {
    const message = (cause as Error).message
    if (/NODE_MODULE_VERSION|compiled against a different Node/.test(message)) {
      throw new LarderError(
        'MISSING_DEPENDENCY',
        'better-sqlite3 was built for another Node.js version than the one running',
        { hint: 'npm rebuild better-sqlite3', cause },
      )
    }
    throw new LarderError('BACKEND_UNAVAILABLE', `cannot open the SQLite database ${path}: ${message}`, {
      hint: 'check online_store.path in feature_store.yaml and that its directory is writable',
      cause,
    })
  }
  return new SqliteOnlineStore(db, path, { open: () => new Database(path, sqliteAddonOptions()) })
}
