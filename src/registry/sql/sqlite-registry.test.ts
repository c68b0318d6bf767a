import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describeFeastSqlInterop, describeRegistryConformance } from '../../testing/registry-conformance.js'
import { createRegistry } from '../loader.js'

function sqliteHarness() {
  const dir = mkdtempSync(join(tmpdir(), 'larder-sql-registry-'))
  const path = join(dir, 'registry.sqlite')
  const url = `sqlite:///${path}`
  return { dir, path, url }
}

describeRegistryConformance('sqlite', async () => {
  const { dir, url } = sqliteHarness()
  return {
    open: ({ cacheTtlSeconds = 0 } = {}) =>
      createRegistry({ path: url, registryType: 'sql', cacheTtlSeconds, schemaMode: 'auto' }, dir),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  }
})

describeFeastSqlInterop('sqlite', async () => {
  const { dir, path, url } = sqliteHarness()
  let db: Database.Database | undefined
  return {
    url,
    baseDir: dir,
    exec: async (sql, params = []) => {
      db ??= new Database(path)
      const statement = db.prepare(sql)
      if (statement.reader) return statement.all(...params) as Record<string, unknown>[]
      statement.run(...params)
      return []
    },
    drop: async () => {
      db?.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})
