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
    expect(c.registry).toMatchObject({
      path: '/repo/data/registry.db',
      registryType: 'file',
      cacheTtlSeconds: 600,
    })
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

describe('errors list the allowed values', () => {
  it('entity_key_serialization_version lists 1, 2, 3', () => {
    const e = fail('project: demo\nentity_key_serialization_version: three\n')
    expect(e.message).toContain('entity_key_serialization_version: "three" is not allowed; allowed: 1, 2, 3')
  })

  it('registry names the path string and the object keys', () => {
    const e = fail('project: demo\nregistry: 5\n')
    expect(e.message).toContain('registry: 5 is not a string or an object')
    expect(e.hint).toContain('path string')
    expect(e.hint).toContain('an object with the keys path, registry_type, ')
    expect(e.hint).toContain('cache_mode')
  })

  it('provider lists the allowed providers', () => {
    const e = fail('project: demo\nprovider: gcp\n')
    expect(e.message).toContain('provider: "gcp" is not allowed; allowed: local')
    expect(e.hint).toContain('online_store and offline_store')
  })

  it('an auth type lists the allowed types', () => {
    expect(fail('project: demo\nauth:\n  type: saml\n').message).toContain(
      'auth.type: "saml" is not allowed; allowed: no_auth, oidc, static, kubernetes',
    )
  })

  it('online_store of the wrong shape shows the block to write', () => {
    const e = fail('project: demo\nonline_store: 3\n')
    expect(e.message).toContain('online_store: 3 is not an object, null or a string')
    expect(e.hint).toContain('`online_store: { type: sqlite }`')
  })
})

describe("Feast's forms", () => {
  it('defaults a store block without type as Feast does', () => {
    const c = parseRepoConfig('project: demo\nonline_store:\n  path: o.db\noffline_store: {}\n', '/repo')
    expect(c.onlineStore).toEqual({ type: 'sqlite', options: { path: 'o.db' } })
    expect(c.offlineStore).toEqual({ type: 'duckdb', options: {} })
  })

  it('disables the online store with the strings None and null', () => {
    for (const v of ['None', 'null', '"null"']) {
      expect(parseRepoConfig(`project: demo\nonline_store: ${v}\n`, '/repo').onlineStore).toBeUndefined()
    }
  })

  it('warns once per key Larder does not act on, and not for what it implements', () => {
    const quiet = parseRepoConfig(
      'project: demo\nauth:\n  type: no_auth\nbatch_engine: local\ncoerce_tz_aware: true\nrepo_path: .\n',
      '/repo',
    )
    expect(quiet.warnings).toEqual([])
    const c = parseRepoConfig(
      [
        'project: demo',
        'registry:',
        '  path: r.db',
        '  purge_feast_metadata: true',
        'auth:',
        '  type: oidc',
        '  client_id: x',
        'batch_engine_config:',
        '  type: local',
        '  backend: polars',
        'mlflow:',
        '  enabled: true',
      ].join('\n'),
      '/repo',
    )
    expect(c.warnings).toEqual([
      "feature_store.yaml: registry.purge_feast_metadata: ignored; Larder's file registry keeps no metadata table",
      'feature_store.yaml: batch_engine_config: options backend are ignored; Larder materializes in-process',
      'feature_store.yaml: mlflow: ignored; the MLflow integration is not available in Larder',
    ])
  })

  it('keeps a key neither Feast nor Larder knows an error', () => {
    const e = fail('project: demo\nbatch_engines: local\n')
    expect(e.message).toContain('"batch_engines"')
    expect(e.hint).toContain('batch_engine, batch_engine_config')
  })

  it('rejects a registry store other than a local file, and object-store paths', () => {
    const store = fail(
      'project: demo\nregistry:\n  registry_store_type: PostgreSQLRegistryStore\n  path: r\n',
    )
    expect(store.message).toContain('"PostgreSQLRegistryStore"')
    expect(store.hint).toContain('registry_type: sql')
    expect(
      parseRepoConfig('project: demo\nregistry:\n  registry_store_type: FileRegistryStore\n', '/repo')
        .registry.path,
    ).toBe('/repo/data/registry.db')
    for (const url of ['s3://b/r.db', 'gcs://b/r.db', 'az://c/r.db', 'http://h/r.db']) {
      expect(fail(`project: demo\nregistry: ${url}\n`).message).toContain(`"${url}" is an object-store URL`)
    }
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
