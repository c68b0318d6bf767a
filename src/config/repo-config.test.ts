import { describe, expect, it } from 'vitest'
import { LarderError } from '../core/index.js'
import { expandEnv } from './expand-env.js'
import { parseRepoConfig } from './repo-config.js'

function fail(text: string): LarderError {
  try {
    parseRepoConfig(text, '/repo')
  } catch (e) {
    expect(e).toBeInstanceOf(LarderError)
    return e as LarderError
  }
  throw new Error('expected the config to be rejected')
}

describe('feature_store.yaml', () => {
  it("applies Feast's defaults", () => {
    const c = parseRepoConfig('project: demo\n', '/repo')
    expect(c.project).toBe('demo')
    expect(c.registry).toEqual({ path: '/repo/data/registry.db', registryType: 'file', cacheTtlSeconds: 600 })
    expect(c.onlineStore).toEqual({ type: 'sqlite', options: {} })
    expect(c.offlineStore).toEqual({ type: 'duckdb', options: {} })
    expect(c.entityKeySerializationVersion).toBe(3)
  })

  it('accepts the registry as an object and store options', () => {
    const c = parseRepoConfig(
      [
        'project: demo',
        'registry:',
        '  path: /abs/registry.db',
        '  cache_ttl_seconds: 5',
        'online_store:',
        '  type: redis',
        '  connection_string: localhost:6379',
        'entity_key_serialization_version: 2',
      ].join('\n'),
      '/repo',
    )
    expect(c.registry.path).toBe('/abs/registry.db')
    expect(c.registry.cacheTtlSeconds).toBe(5)
    expect(c.onlineStore).toEqual({ type: 'redis', options: { connection_string: 'localhost:6379' } })
    expect(c.entityKeySerializationVersion).toBe(2)
  })

  it('disables the online store with null', () => {
    expect(parseRepoConfig('project: demo\nonline_store: null\n', '/repo').onlineStore).toBeUndefined()
  })

  it('names a typo and lists the known keys', () => {
    const e = fail('project: demo\nregistery: data/registry.db\n')
    expect(e.message).toContain('"registery"')
    expect(e.hint).toContain('registry')
    expect(e.hint).toContain('online_store')
    const nested = fail('project: demo\nregistry:\n  path: r.db\n  cache_ttl: 3\n')
    expect(nested.message).toContain('"cache_ttl"')
    expect(nested.hint).toContain('cache_ttl_seconds')
  })

  it('rejects a missing or invalid project and bad YAML', () => {
    expect(fail('registry: r.db\n').message).toContain('project')
    expect(fail('project: _bad\n').message).toContain('"_bad"')
    expect(fail('project: [unclosed\n').message).toContain('not valid YAML')
  })
})

describe('environment expansion', () => {
  const env = { HOST: 'db.local', PORT: '5433' }
  it('substitutes ${VAR}, $VAR and defaults', () => {
    expect(expandEnv('host: ${HOST}:$PORT', 'f', env)).toBe('host: db.local:5433')
    expect(expandEnv('user: ${USER_NAME:-larder}', 'f', env)).toBe('user: larder')
    expect(expandEnv('cost: $$5', 'f', env)).toBe('cost: $5')
  })
  it('names an unset variable', () => {
    expect(() => expandEnv('password: ${DB_PASSWORD}', 'feature_store.yaml', env)).toThrow(/DB_PASSWORD/)
  })
})
