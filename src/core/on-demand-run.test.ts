import { describe, expect, it } from 'vitest'
import { FileSource } from './data-source.js'
import { Entity } from './entity.js'
import { FeatureView } from './feature-view.js'
import { Field } from './field.js'
import { OnDemandFeatureView, type RowTransform } from './on-demand-feature-view.js'
import { runTransformation } from './on-demand-run.js'
import { Float32, Float64, Int64 } from './types.js'

const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
const stats = new FeatureView({
  name: 'stats',
  entities: [driver],
  schema: [new Field({ name: 'conv_rate', dtype: Float32 })],
  source: new FileSource({ name: 's', path: 'data/s.parquet', timestampField: 'ts' }),
})

function view(transform: RowTransform): OnDemandFeatureView {
  return new OnDemandFeatureView({
    name: 'plus_one',
    sources: [stats],
    schema: [new Field({ name: 'a', dtype: Float64 }), new Field({ name: 'b', dtype: Float64 })],
    transform,
  })
}

function run(transform: RowTransform) {
  const v = view(transform)
  return runTransformation(v, v.transformation.fn!, { conv_rate: [0.5, 1.5] }, 2, (r) => `entity row ${r}`)
}

describe('running a transformation', () => {
  it('returns a column per output field in schema order', () => {
    expect(run((r) => ({ b: (r.conv_rate as number) * 2, a: (r.conv_rate as number) + 1 }))).toEqual([
      [1.5, 2.5],
      [1, 3],
    ])
  })

  it('names a declared field the output lacks', () => {
    expect(() => run(() => ({ a: 1 }))).toThrow(
      'on-demand feature view "plus_one" returned no "b" for entity row 0',
    )
  })

  it('names a field the output has but the schema does not declare', () => {
    expect(() => run(() => ({ a: 1, b: 2, c: 3 }))).toThrow(
      'on-demand feature view "plus_one" returned the undeclared field "c" for entity row 0',
    )
  })

  it('names the field and the row of a value of the wrong type', () => {
    expect(() => run((r) => ({ a: 1, b: r.conv_rate === 1.5 ? 'high' : 0 }))).toThrow(
      'on-demand feature view "plus_one" returned the string "high" for "b" (Float64) for entity row 1',
    )
  })

  it('turns a throwing function into TRANSFORMATION_FAILED naming the view and the row', () => {
    expect(() =>
      run(() => {
        throw new TypeError('boom')
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'TRANSFORMATION_FAILED',
        message: 'on-demand feature view "plus_one" threw for entity row 0: boom',
      }),
    )
  })

  it('checks the length of batch outputs', () => {
    const v = new OnDemandFeatureView({
      name: 'batchy',
      mode: 'batch',
      sources: [stats],
      schema: [new Field({ name: 'a', dtype: Float64 })],
      transform: () => ({ a: [1] }),
    })
    expect(() => runTransformation(v, v.transformation.fn!, { conv_rate: [1, 2] }, 2, String)).toThrow(
      'on-demand feature view "batchy" returned 1 value for "a" for a batch of 2 rows',
    )
  })
})

describe('defining an on-demand view', () => {
  it('rejects a source feature that does not exist', () => {
    expect(
      () =>
        new OnDemandFeatureView({
          name: 'bad',
          // @ts-expect-error a typed view's select rejects an unknown feature at compile time as well
          sources: [stats.select(['conv_rat'])],
          schema: [new Field({ name: 'a', dtype: Float64 })],
          transform: () => ({ a: 1 }),
        }),
    ).toThrow('feature "conv_rat" not found in feature view "stats"')
  })

  it('rejects writeToOnlineStore with request data', () => {
    expect(
      () =>
        new OnDemandFeatureView({
          name: 'stored',
          sources: [stats, stats.withName('other')],
          schema: [new Field({ name: 'a', dtype: Float64 })],
          writeToOnlineStore: true,
          transform: () => ({ a: 1 }),
        }),
    ).toThrow(/writeToOnlineStore but reads 2 feature views/)
  })

  it('rejects two sources giving an input the same name', () => {
    expect(
      () =>
        new OnDemandFeatureView({
          name: 'twice',
          sources: [stats, stats.withName('again')],
          schema: [new Field({ name: 'a', dtype: Float64 })],
          transform: () => ({ a: 1 }),
        }),
    ).toThrow(
      'on-demand feature view "twice" gets the input "conv_rate" from both feature view "stats" and feature view "again"',
    )
  })
})
