import { describe, expect, it } from 'vitest'
import { isLarderError } from '../core/index.js'
import { DEFAULT_ONLINE_LIMITS, parseRepoConfig } from './index.js'

const parse = (block: string) => parseRepoConfig(`project: demo\n${block}`, '/repo')

describe('the limits of one online read in feature_server:', () => {
  it('default to 100,000 rows, 1,000 features and 500,000 values', () => {
    expect(parse('').onlineLimits).toEqual({
      maxEntityRows: 100_000,
      maxFeatures: 1_000,
      maxFeatureValues: 500_000,
    })
    expect(DEFAULT_ONLINE_LIMITS).toEqual(parse('').onlineLimits)
  })

  it('are read from the block, without a warning, beside Feast keys that are warned about', () => {
    const config = parse(
      'feature_server:\n  type: local\n  max_entity_rows: 5000\n  max_feature_values: 20000\n  metrics: { enabled: true }\n',
    )
    expect(config.onlineLimits).toEqual({ maxEntityRows: 5000, maxFeatures: 1_000, maxFeatureValues: 20_000 })
    expect(config.warnings).toHaveLength(1)
    expect(config.warnings[0]).toContain('feature_server: type, metrics ignored')
    expect(config.warnings[0]).toContain('max_entity_rows')
  })

  it('refuse a limit that is not a positive integer, naming the key and the value', () => {
    for (const [value, key] of [
      ['0', 'max_entity_rows'],
      ['-5', 'max_features'],
      ['1.5', 'max_feature_values'],
      ['"many"', 'max_entity_rows'],
    ] as const) {
      let error: unknown
      try {
        parse(`feature_server:\n  ${key}: ${value}\n`)
      } catch (e) {
        error = e
      }
      expect(isLarderError(error) && error.code).toBe('INVALID_CONFIG')
      expect((error as Error).message).toContain(`feature_server.${key}: ${value}`)
    }
  })
})
