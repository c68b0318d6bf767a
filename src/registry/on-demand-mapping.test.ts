import { create } from '@bufbuild/protobuf'
import { describe, expect, it } from 'vitest'
import {
  Entity,
  FeatureService,
  FeatureView,
  Field,
  FileSource,
  Float32,
  Float64,
  Int64,
  isLarderError,
  OnDemandFeatureView,
  Project,
  RequestSource,
  transformOf,
} from '../core/index.js'
import { OnDemandFeatureViewSchema } from '../gen/feast/core/OnDemandFeatureView_pb.js'
import { type Registry, RegistrySchema } from '../gen/feast/core/Registry_pb.js'
import { ValueType_Enum } from '../gen/feast/types/Value_pb.js'
import { applyContents, diffContents, type RepoContents } from './apply-objects.js'
import { ProjectCatalog } from './catalog.js'
import { LARDER_TAGS, transformationHash } from './proto-mapping.js'

const location = new Entity({ name: 'location', joinKeys: ['location_id'], valueType: Int64 })
const source = new FileSource({ name: 'location_source', path: 'data/l.parquet', timestampField: 'ts' })
const locationStats = new FeatureView({
  name: 'location_stats',
  entities: [location],
  schema: [
    new Field({ name: 'location_id', dtype: Int64 }),
    new Field({ name: 'temperature', dtype: Float32 }),
  ],
  source,
})
const request = new RequestSource({ name: 'offsets', schema: [new Field({ name: 'offset', dtype: Int64 })] })

function odfv(body: (r: Readonly<Record<string, unknown>>) => Record<string, unknown>) {
  return new OnDemandFeatureView({
    name: 'warmer',
    sources: [locationStats, request],
    schema: [new Field({ name: 'warmer_temperature', dtype: Float64 })],
    transform: body,
  })
}

function contents(view: OnDemandFeatureView): RepoContents {
  const origin = locationStats.withName('origin').withJoinKeyMap({ location_id: 'origin_id' })
  const destination = locationStats.withName('destination').withJoinKeyMap({ location_id: 'destination_id' })
  return {
    project: new Project({ name: 'demo' }),
    entities: [location],
    dataSources: [source, request],
    featureViews: [locationStats],
    onDemandFeatureViews: [view],
    featureServices: [
      new FeatureService({
        name: 'trip',
        features: [origin, destination, view.select(['warmer_temperature'])],
      }),
    ],
  }
}

function applied(view: OnDemandFeatureView): Registry {
  const draft = create(RegistrySchema, {})
  applyContents(draft, contents(view), 1_000_000)
  return draft
}

describe('on-demand feature views in the registry', () => {
  it("stores Feast's message with the source text, a typescript mode and its hash, and reads it back", () => {
    const view = odfv((r) => ({ warmer_temperature: (r.temperature as number) + (r.offset as number) }))
    const registry = applied(view)
    const spec = registry.onDemandFeatureViews[0]!.spec!
    expect(spec.mode).toBe('typescript-row')
    const udf = spec.featureTransformation!.transformation
    expect(udf.case).toBe('userDefinedFunction')
    expect(udf.value).toMatchObject({
      name: 'warmer',
      mode: 'typescript-row',
      bodyText: view.transformation.bodyText,
    })
    expect(udf.case === 'userDefinedFunction' && udf.value.body.length).toBe(0)
    expect(spec.tags[LARDER_TAGS.transformationHash]).toBe(transformationHash(view.transformation.bodyText))
    expect(Object.keys(spec.sources).sort()).toEqual(['location_stats', 'offsets'])

    const catalog = new ProjectCatalog(registry, 'demo')
    const loaded = catalog.onDemandFeatureView('warmer')
    expect(loaded.transformation).toEqual({
      mode: 'typescript-row',
      bodyText: view.transformation.bodyText,
      fn: undefined,
    })
    expect(loaded.inputs.map((i) => i.name)).toEqual(['temperature', 'offset'])
    expect(loaded.tags).toEqual({})
    // the registered text is never run: the deployed function is, and only while the texts agree
    expect(transformOf(loaded, new Map([['warmer', view]]))).toBe(view.transformation.fn)
    const service = catalog.featureService('trip')
    expect(service.featureRefs).toEqual([
      'origin:temperature',
      'destination:temperature',
      'warmer:warmer_temperature',
    ])
    expect(service.projections.map((p) => p.joinKeyMap)).toEqual([
      { location_id: 'origin_id' },
      { location_id: 'destination_id' },
    ])
  })

  it('shows a change of transformation code in the plan, and refuses to run drifted code', () => {
    const before = odfv((r) => ({ warmer_temperature: (r.temperature as number) + (r.offset as number) }))
    const after = odfv((r) => ({ warmer_temperature: (r.temperature as number) + 2 * (r.offset as number) }))
    const registry = applied(before)
    const change = diffContents(registry, contents(after)).find((c) => c.kind === 'on demand feature view')!
    expect(change.action).toBe('update')
    const [first, ...rest] = change.changedFields
    expect(first).toBe(
      `transformation code ${transformationHash(before.transformation.bodyText).slice(0, 12)} -> ${transformationHash(after.transformation.bodyText).slice(0, 12)}`,
    )
    expect(rest).toEqual([])
    expect(
      diffContents(registry, contents(before)).find((c) => c.kind === 'on demand feature view')!.action,
    ).toBe('unchanged')
    const registered = new ProjectCatalog(registry, 'demo').onDemandFeatureView('warmer')
    expect(() => transformOf(registered, new Map([['warmer', after]]))).toThrow(
      /differs from the registered one/,
    )
    expect(() => transformOf(registered, new Map())).toThrow(/not defined in the deployed feature repo/)
  })

  it('loads a Python on-demand view Feast wrote, and refuses to serve it with a message saying why', () => {
    const registry = applied(odfv(() => ({ warmer_temperature: 1 })))
    registry.onDemandFeatureViews.push(
      create(OnDemandFeatureViewSchema, {
        spec: {
          name: 'transformed_conv_rate',
          project: 'demo',
          features: [{ name: 'conv_rate_plus_val1', valueType: ValueType_Enum.DOUBLE }],
          sources: {
            location_stats: {
              source: { case: 'featureViewProjection', value: { featureViewName: 'location_stats' } },
            },
          },
          featureTransformation: {
            transformation: {
              case: 'userDefinedFunction',
              value: {
                name: 'transformed_conv_rate',
                body: new Uint8Array([0x80, 0x04, 0x95]),
                bodyText:
                  '@on_demand_feature_view(...)\ndef transformed_conv_rate(inputs: pd.DataFrame): ...',
                mode: 'pandas',
              },
            },
          },
          mode: 'pandas',
        },
      }),
    )
    const catalog = new ProjectCatalog(registry, 'demo')
    expect(catalog.skipped).toEqual([])
    const python = catalog.onDemandFeatureView('transformed_conv_rate')
    expect(python.transformation.mode).toBe('pandas')
    try {
      transformOf(python, new Map())
      expect.unreachable()
    } catch (e) {
      expect(isLarderError(e) && e.code).toBe('UNSUPPORTED')
      expect((e as Error).message).toBe(
        'on-demand feature view "transformed_conv_rate" has a Python transformation (mode "pandas"), which Larder cannot run',
      )
      expect(isLarderError(e) && e.hint).toContain('redefine it in TypeScript')
    }
  })
})
