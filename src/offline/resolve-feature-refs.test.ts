import { describe, expect, it } from 'vitest'
import {
  Entity,
  FeatureService,
  FeatureView,
  Field,
  FileSource,
  Float64,
  Int64,
  LarderError,
} from '../core/index.js'
import { resolveFeatureRefs } from './resolve-feature-refs.js'

const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'] })
const source = new FileSource({ name: 's', path: 's.parquet', timestampField: 'event_timestamp' })
const stats = new FeatureView({
  name: 'stats',
  entities: [driver],
  source,
  schema: [new Field({ name: 'conv_rate', dtype: Float64 }), new Field({ name: 'trips', dtype: Int64 })],
})
const profile = new FeatureView({
  name: 'profile',
  entities: [driver],
  source,
  schema: [new Field({ name: 'age', dtype: Int64 })],
})
const views = new Map<string, FeatureView>([
  ['stats', stats],
  ['profile', profile],
])

function thrown(fn: () => unknown): LarderError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(LarderError)
    return e as LarderError
  }
  throw new Error('expected a LarderError')
}

describe('resolveFeatureRefs', () => {
  it('groups references by view in order of first appearance', () => {
    const resolved = resolveFeatureRefs(['stats:trips', 'profile:age', 'stats:conv_rate'], views)
    expect(resolved.map((s) => [s.projection.nameToUse, s.features])).toEqual([
      ['stats', ['trips', 'conv_rate']],
      ['profile', ['age']],
    ])
  })

  it("resolves a feature service's projections against the current views", () => {
    const service = new FeatureService({
      name: 'svc',
      features: [
        stats.select(['conv_rate']).withName('s2').withJoinKeyMap({ driver_id: 'other_id' }),
        profile,
      ],
    })
    const newer = stats.with({
      schema: [...stats.schema!, new Field({ name: 'extra', dtype: Int64 })],
    })
    const resolved = resolveFeatureRefs(service, new Map([...views, ['stats', newer]]))
    expect(resolved[0]!.projection.view).toBe(newer)
    expect(resolved[0]!.projection.nameToUse).toBe('s2')
    expect(resolved[0]!.projection.joinKeyMap).toEqual({ driver_id: 'other_id' })
    expect(resolved.map((s) => s.features)).toEqual([['conv_rate'], ['age']])
  })

  it('lists known views and features, and rejects repeats and malformed references', () => {
    const view = thrown(() => resolveFeatureRefs(['nope:x'], views))
    expect(view.message).toBe('feature reference "nope:x": feature view "nope" not found')
    expect(view.hint).toBe('known feature views: profile, stats')
    const feature = thrown(() => resolveFeatureRefs(['stats:nope'], views))
    expect(feature.hint).toBe('known features: conv_rate, trips')
    const service = new FeatureService({ name: 'svc', features: [stats] })
    expect(thrown(() => resolveFeatureRefs(service, new Map())).message).toBe(
      'feature service "svc": feature view "stats" not found',
    )
    expect(thrown(() => resolveFeatureRefs(['stats:trips', 'stats:trips'], views)).message).toContain(
      'given twice',
    )
    expect(thrown(() => resolveFeatureRefs(['stats'], views)).message).toContain('is not "<view>:<feature>"')
  })
})
