import { describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../../config/index.js'
import { bullmqOptions, redactedUrl } from './bullmq-config.js'

function config(block: string) {
  return parseRepoConfig(
    `project: p\nregistry: data/registry.db\nprovider: local\nbatch_engine:\n${block
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n')}\n`,
    '/tmp/repo',
  )
}

function failure(block: string): { code?: string; message: string; hint?: string } {
  try {
    bullmqOptions(config(block))
  } catch (e) {
    return e as { code?: string; message: string; hint?: string }
  }
  throw new Error('expected INVALID_CONFIG')
}

describe('batch_engine options of bullmq', () => {
  it('defaults every option', () => {
    expect(bullmqOptions(config('type: bullmq'))).toEqual({
      connection_string: 'redis://127.0.0.1:6379',
      redis_type: 'redis',
      queue: 'larder',
      concurrency: 1,
      partitions: 4,
      slice: undefined,
      max_attempts: 3,
      lock_duration_ms: 30_000,
      prefix: 'larder',
    })
  })

  it('reads durations and every key', () => {
    const options = bullmqOptions(
      config(
        'type: bullmq\nconnection_string: rediss://:pw@cache:6380/2\nqueue: mat\nconcurrency: 3\npartitions: 8\nslice: 1d6h\nmax_attempts: 5\nlock_duration_ms: 2000\nprefix: "{larder}"',
      ),
    )
    expect(options).toMatchObject({ slice: 108_000, partitions: 8, prefix: '{larder}', queue: 'mat' })
  })

  it('names the key and the fix of a bad option', () => {
    const cases: [string, string][] = [
      ['connection_string: 127.0.0.1:6379', 'batch_engine.connection_string'],
      ['queue: "a:b"', 'batch_engine.queue'],
      ['partitions: 0', 'batch_engine.partitions'],
      ['slice: 500ms', 'batch_engine.slice'],
      ['slice: soon', 'batch_engine.slice'],
      ['lock_duration_ms: 10', 'batch_engine.lock_duration_ms'],
      ['concurrency: 1.5', 'batch_engine.concurrency'],
    ]
    for (const [line, key] of cases) {
      const e = failure(`type: bullmq\n${line}`)
      expect(e.code, line).toBe('INVALID_CONFIG')
      expect(e.message, line).toContain(key)
      expect(e.hint, line).toContain('feature_store.yaml')
    }
    const unknown = failure('type: bullmq\nworkers: 3')
    expect(unknown.message).toContain('"workers"')
    expect(unknown.hint).toContain('partitions')
  })

  it('takes a Redis Cluster from several nodes, its keys under a {hash tag}', () => {
    const nodes = 'redis://:secret@10.0.0.1:7000,redis://10.0.0.2:7001'
    const options = bullmqOptions(
      config(`type: bullmq\nredis_type: redis_cluster\nconnection_string: ${nodes}`),
    )
    expect(options).toMatchObject({ redis_type: 'redis_cluster', prefix: '{larder}' })
    expect(redactedUrl(nodes)).toBe('redis://10.0.0.1:7000,redis://10.0.0.2:7001')
    const untagged = failure('type: bullmq\nredis_type: redis_cluster\nprefix: jobs')
    expect(untagged.message).toContain('batch_engine.prefix')
    expect(untagged.hint).toContain('"{jobs}"')
    const several = failure(`type: bullmq\nconnection_string: ${nodes}`)
    expect(several.message).toContain('lists 2 servers')
    expect(several.hint).toContain('redis_type: redis_cluster')
    expect(several.message).not.toContain('secret')
  })

  it('refuses a repo whose engine is not bullmq, saying how to choose it', () => {
    const e = failure('type: local')
    expect(e.code).toBe('INVALID_CONFIG')
    expect(e.hint).toContain('type: bullmq')
  })
})
