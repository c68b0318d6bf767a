import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadRepoConfig } from './repo-config.js'
import { parseYamlText } from './yaml-text.js'

describe('YAML parses kept between processes', () => {
  let cache: string
  let saved: string | undefined
  const kept = () => {
    try {
      return readdirSync(join(cache, 'larder', 'config'))
    } catch {
      return []
    }
  }
  beforeEach(() => {
    cache = mkdtempSync(join(tmpdir(), 'larder-yaml-cache-'))
    saved = process.env.XDG_CACHE_HOME
    process.env.XDG_CACHE_HOME = cache
  })
  afterEach(() => {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME
    else process.env.XDG_CACHE_HOME = saved
    rmSync(cache, { recursive: true, force: true })
  })

  it('reads a text parsed before from the cache, which only its user may read', () => {
    const text = 'project: demo\nonline_store:\n  type: redis\n'
    expect(parseYamlText(text, { cache: true })).toEqual({ project: 'demo', online_store: { type: 'redis' } })
    const [file] = kept()
    expect(file).toMatch(/^[0-9a-f]{64}\.json$/)
    expect(statSync(join(cache, 'larder', 'config', file!)).mode & 0o777).toBe(0o600)
    // what the cache holds is what a later parse of the same text answers
    writeFileSync(join(cache, 'larder', 'config', file!), '{"project":"from_cache"}')
    expect(parseYamlText(text, { cache: true })).toEqual({ project: 'from_cache' })
    expect(parseYamlText(`${text}\n`, { cache: true })).toEqual({
      project: 'demo',
      online_store: { type: 'redis' },
    })
  })

  it('keeps nothing that JSON would change, nothing uncached, and no text that does not parse', () => {
    expect(parseYamlText('limit: .inf\n', { cache: true })).toEqual({ limit: Number.POSITIVE_INFINITY })
    expect(parseYamlText('project: demo\n', { cache: false })).toEqual({ project: 'demo' })
    expect(() => parseYamlText('project: [demo\n', { cache: true })).toThrow()
    expect(kept()).toEqual([])
  })

  it('keeps no config with a value from the environment', () => {
    const repo = mkdtempSync(join(tmpdir(), 'larder-yaml-env-'))
    try {
      process.env.LARDER_TEST_SECRET = 'hunter2'
      writeFileSync(
        join(repo, 'feature_store.yaml'),
        'project: demo\nonline_store:\n  type: redis\n  connection_string: "localhost:6379,password=$LARDER_TEST_SECRET"\n',
      )
      expect(loadRepoConfig(repo).project).toBe('demo')
      expect(kept()).toEqual([])
      writeFileSync(join(repo, 'feature_store.yaml'), 'project: demo\n')
      expect(loadRepoConfig(repo).project).toBe('demo')
      expect(kept()).toHaveLength(1)
    } finally {
      delete process.env.LARDER_TEST_SECRET
      rmSync(repo, { recursive: true, force: true })
    }
  })
})
