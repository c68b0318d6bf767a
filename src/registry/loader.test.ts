import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../config/index.js'
import { FileRegistry } from './file/file-registry.js'
import { createRegistry, redactUrl, registryConfigFor, sqlDialectFor } from './loader.js'

describe('createRegistry', () => {
  it('keeps a SQL registry URL as written and picks the dialect by its scheme, SQLAlchemy suffixes included', () => {
    const config = parseRepoConfig(
      'project: demo\nregistry:\n  registry_type: sql\n  path: postgresql+psycopg://u:secret@db:5432/feast\n  cache_ttl_seconds: 60\n',
      '/repo',
    )
    expect(config.registry).toMatchObject({
      registryType: 'sql',
      path: 'postgresql+psycopg://u:secret@db:5432/feast',
      cacheTtlSeconds: 60,
      schemaMode: 'auto',
    })
    expect(sqlDialectFor(config.registry.path).id).toBe('postgresql')
    expect(sqlDialectFor('mysql+pymysql://root@h/db').id).toBe('mysql')
    expect(sqlDialectFor('mariadb://root@h/db').id).toBe('mysql')
    expect(sqlDialectFor('sqlite:///data/registry.sqlite').id).toBe('sqlite')
    expect(redactUrl(config.registry.path)).toBe('postgresql+psycopg://u:***@db:5432/feast')
  })

  it('rejects a URL of a database it does not know, listing the known schemes', () => {
    const error = (() => {
      try {
        sqlDialectFor('oracle://scott@h/db')
      } catch (e) {
        return e as { code: string; hint: string }
      }
    })()
    expect(error?.code).toBe('INVALID_CONFIG')
    expect(error?.hint).toContain('postgresql://')
  })

  it('opens the file registry for a path, and a SQLite registry relative to the repo for sqlite:///', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'larder-loader-'))
    const file = await createRegistry(registryConfigFor(join(dir, 'registry.db')), dir)
    expect(file).toBeInstanceOf(FileRegistry)
    const sql = await createRegistry(
      { path: 'sqlite:///data/registry.sqlite', registryType: 'sql', cacheTtlSeconds: 0, schemaMode: 'auto' },
      dir,
    )
    expect((await sql.load()).version).toBe('')
    await sql.close()
    const verify = await createRegistry(
      { path: 'sqlite:///data/other.sqlite', registryType: 'sql', cacheTtlSeconds: 0, schemaMode: 'verify' },
      dir,
    ).catch((e) => e)
    expect(verify.code).toBe('INVALID_CONFIG')
    expect(verify.message).toContain('schema_mode is verify')
  })
})
