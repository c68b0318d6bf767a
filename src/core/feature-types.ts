/**
 * Feature references and value types known to the TypeScript compiler. Two sources give the same
 * shape, {@link FeatureTypes}: definitions built with literal names and types (`FeatureTypesOf<typeof
 * defs>`), and a {@link FeatureTypeMap} that `larder codegen` writes from a registry. `typedStore`
 * (the package root) reads features with them: a misspelled reference does not compile, and each
 * column of the result has the JS type Larder decodes its values to.
 */

import type { Entity } from './entity.js'
import type { EntityKeyValue } from './entity-key.js'
import { LarderError } from './errors.js'
import type { FeatureService, ProjectionOf } from './feature-service.js'
import type { FeatureFields, FeatureView } from './feature-view.js'
import type { Field } from './field.js'
import type { OnDemandFeatureView } from './on-demand-feature-view.js'
import type { StreamFeatureView } from './stream-feature-view.js'
import type { FeastType } from './types.js'
import type { FeastRecord, FeastValue, ScalarMapValue, ZonedTimestampValue } from './value-codec.js'

/** The JS type of each scalar Feast type's values, as the `Value` codec decodes them. */
interface ScalarValues {
  Invalid: FeastValue
  Bytes: Uint8Array
  PdfBytes: Uint8Array
  ImageBytes: Uint8Array
  String: string
  Json: string
  Uuid: string
  TimeUuid: string
  Decimal: string
  Int32: number
  Float32: number
  Float64: number
  /** A number within ±(2^53 − 1), else a bigint, so every int64 is exact. */
  Int64: number | bigint
  /** Epoch seconds, as for Int64. */
  UnixTimestamp: number | bigint
  Bool: boolean
  Map: FeastRecord
  ScalarMap: ScalarMapValue
  ZonedTimestamp: ZonedTimestampValue
}

/**
 * The JS type of a (non-null) value of the Feast type `T`, as Larder decodes it online and as an
 * on-demand view's output is checked: `number` for Float32, Float64 and Int32; `number | bigint` for
 * Int64 and UnixTimestamp (epoch seconds; a bigint beyond ±2^53); `string` for String, Json, Uuid,
 * TimeUuid and Decimal; `Uint8Array` for the bytes types; an array for `Array(T)` and a `Set` for
 * `Set(T)` (a timestamp or nested-list element may be null); a record for a struct; `FeastValue` for
 * a type the compiler does not know (a wide `FeastType`).
 *
 * @example const rate: FeastJsType<typeof Float32> = 0.5
 */
export type FeastJsType<T extends FeastType> = T extends {
  readonly fields: infer F extends Readonly<Record<string, FeastType>>
}
  ? { -readonly [K in keyof F]?: FeastJsType<F[K]> | null }
  : T extends { readonly name: `Array(${string})`; readonly element: infer E extends FeastType }
    ? ElementJsType<E>[]
    : T extends { readonly name: `Set(${string})`; readonly element: infer E extends FeastType }
      ? Set<ElementJsType<E>>
      : T['name'] extends keyof ScalarValues
        ? ScalarValues[T['name']]
        : FeastValue

/** An element of a list or set: timestamps may be Feast's null timestamp, nested lists an empty Value. */
type ElementJsType<E extends FeastType> = E extends { readonly name: 'UnixTimestamp' }
  ? number | bigint | null
  : E extends { readonly element: FeastType }
    ? FeastJsType<E> | null
    : FeastJsType<E>

/**
 * What the compiler knows of a project's features: `refs` maps each reference `"view:feature"` to the
 * JS type of its values, `services` maps each feature service to its references (`"<view or
 * alias>:feature"`) and their types, `joinKeys` maps each join key to the JS type of its values. A
 * key may be a pattern (`` `trip_stats:${string}` ``) when only the view's name is known.
 */
export interface FeatureTypes {
  readonly refs: object
  readonly services: object
  readonly joinKeys: object
}

/**
 * A project's features as data, with Feast types as values: what `larder codegen` writes, and what
 * `typedStore` accepts in place of definitions. Build it with {@link featureTypeMap}.
 */
export interface FeatureTypeMap {
  /** The project it was generated from. */
  readonly project: string
  /** Per view (feature, on-demand or stream view): feature name to Feast type. */
  readonly views: { readonly [view: string]: { readonly [feature: string]: FeastType } }
  /** Per feature service: reference (`"<view or alias>:feature"`) to Feast type. */
  readonly services: { readonly [service: string]: { readonly [ref: string]: FeastType } }
  /** Per join key: the Feast type of its values. */
  readonly joinKeys: { readonly [joinKey: string]: FeastType }
}

/**
 * Checks and freezes a {@link FeatureTypeMap}, keeping its literal type so that `typedStore` can
 * derive references and value types from it. Throws INVALID_ARGUMENT naming the first entry that is
 * not a Feast type.
 *
 * @example export const featureTypes = featureTypeMap({ project: 'demo',
 *   views: { driver_hourly_stats: { conv_rate: Float32 } }, services: {}, joinKeys: { driver_id: Int64 } })
 */
export function featureTypeMap<const M extends FeatureTypeMap>(map: M): M {
  if (typeof map !== 'object' || map === null || typeof map.project !== 'string') {
    throw new LarderError(
      'INVALID_ARGUMENT',
      'featureTypeMap was not given { project, views, services, joinKeys }',
      {
        hint: 'regenerate the file with `larder codegen -o <file>`',
      },
    )
  }
  const check = (where: string, entry: string, group: unknown): void => {
    if (typeof group !== 'object' || group === null) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `featureTypeMap of project "${map.project}": ${where} is not an object`,
        { hint: 'regenerate the file with `larder codegen -o <file>`' },
      )
    }
    for (const [name, t] of Object.entries(group)) {
      if (typeof t !== 'object' || t === null || typeof (t as FeastType).valueType !== 'number') {
        throw new LarderError(
          'INVALID_ARGUMENT',
          `featureTypeMap of project "${map.project}": ${where ? `${where}, ` : ''}${entry} "${name}" has ${t === null ? 'null' : typeof t}, not a Feast type`,
          { hint: "give a type constant from 'larderjs' (Float32, Int64, Array(String), ...)" },
        )
      }
    }
  }
  for (const [view, features] of Object.entries(map.views ?? {})) check(`view "${view}"`, 'feature', features)
  for (const [service, refs] of Object.entries(map.services ?? {})) {
    check(`service "${service}"`, 'reference', refs)
  }
  check('', 'join key', map.joinKeys)
  return Object.freeze({
    project: map.project,
    views: freezeGroups(map.views),
    services: freezeGroups(map.services),
    joinKeys: Object.freeze({ ...map.joinKeys }),
  }) as M
}

function freezeGroups<G extends object>(groups: G | undefined): G {
  return Object.freeze(
    Object.fromEntries(
      Object.entries(groups ?? {}).map(([k, v]) => [k, Object.freeze({ ...(v as object) })]),
    ),
  ) as G
}

/** `[reference, JS type]` for each field of `Fld`, reported under `name`. */
type FieldEntries<Name extends string, Fld> = Fld extends {
  readonly name: infer F extends string
  readonly dtype: infer T extends FeastType
}
  ? [`${Name}:${F}`, FeastJsType<T>]
  : never

/** The feature fields of a view type (every field when the compiler cannot tell). */
type ViewFeatureFields<V> =
  V extends FeatureView<string, infer F, infer E>
    ? FeatureFields<F, E>
    : V extends OnDemandFeatureView<string, infer F>
      ? F
      : Field

/** `[reference, JS type]` for each feature a projection selects, under its `nameToUse`. */
type ProjectionEntries<P> = P extends {
  readonly view: infer V
  readonly nameToUse: infer R extends string
  readonly featureNames: readonly (infer K)[] | undefined
}
  ? FieldEntries<R, Extract<ViewFeatureFields<V>, { readonly name: K }>>
  : never

/** `[reference, JS type]` for each feature of a view definition; stream views by name only. */
type ViewEntries<X> =
  X extends StreamFeatureView<infer N>
    ? [`${N}:${string}`, FeastValue]
    : X extends FeatureView | OnDemandFeatureView
      ? ProjectionEntries<X['projection']>
      : never

/** `[reference, JS type]` for each feature a feature service item contributes. */
type ServiceItemEntries<I> =
  I extends StreamFeatureView<infer N> ? [`${N}:${string}`, FeastValue] : ProjectionEntries<ProjectionOf<I>>

/** `[join key, JS type]` of an entity: its value type's, or any key value when it has none. */
type EntityEntries<X> =
  X extends Entity<string, infer K, infer V>
    ? string extends K
      ? never
      : [K, FeastType extends V ? EntityKeyValue : FeastJsType<V>]
    : never

/** `[join key, JS type]` of the entities a definition names. */
type JoinKeyEntries<X> = X extends FeatureView<string, Field, infer E> ? EntityEntries<E> : EntityEntries<X>

/** An object type from `[key, type]` entries (entries with the same key join their types). */
type EntryMap<E> = { [P in E & readonly [string, unknown] as P[0]]: P[1] }

/** The references and their JS types a feature service reads. */
export type ServiceFeatureTypes<S> =
  S extends FeatureService<string, infer I> ? EntryMap<ServiceItemEntries<I>> : never

/** The members of a collection of definitions: an array's elements, or an object's (module's) values. */
type Members<D> = D extends readonly unknown[] ? D[number] : D[keyof D]

type MapFeatureTypes<M extends FeatureTypeMap> = {
  refs: EntryMap<
    {
      [V in keyof M['views'] & string]: {
        [F in keyof M['views'][V] & string]: [`${V}:${F}`, FeastJsType<M['views'][V][F]>]
      }[keyof M['views'][V] & string]
    }[keyof M['views'] & string]
  >
  services: {
    -readonly [S in keyof M['services']]: {
      -readonly [R in keyof M['services'][S]]: FeastJsType<M['services'][S][R]>
    }
  }
  joinKeys: { -readonly [K in keyof M['joinKeys']]: FeastJsType<M['joinKeys'][K]> }
}

type DefinitionFeatureTypes<X> = {
  refs: EntryMap<ViewEntries<X>>
  services: {
    [S in Extract<X, FeatureService> as S['name']]: ServiceFeatureTypes<S>
  }
  joinKeys: EntryMap<JoinKeyEntries<X>>
}

/**
 * The {@link FeatureTypes} of a collection of definitions (an array, or a module's exports:
 * `typeof import('./features.js')`) or of a {@link FeatureTypeMap}. Only what the compiler can see
 * counts: a view declared with literal names and types gives its exact references; a view without a
 * schema gives `` `view:${string}` ``; members that are not definitions are ignored.
 */
export type FeatureTypesOf<D> = D extends FeatureTypeMap
  ? MapFeatureTypes<D>
  : DefinitionFeatureTypes<Members<D>>

/** The feature references `"view:feature"` of {@link FeatureTypes} `M`. */
export type FeatureRefOf<M extends FeatureTypes> = keyof M['refs'] & string

/** The feature service names of {@link FeatureTypes} `M`. */
export type FeatureServiceNameOf<M extends FeatureTypes> = keyof M['services'] & string

/** The join keys of {@link FeatureTypes} `M`. */
export type JoinKeyOf<M extends FeatureTypes> = keyof M['joinKeys'] & string

/** The JS type of the values of feature reference `R` in {@link FeatureTypes} `M` (null not included). */
export type FeatureValueOf<M extends FeatureTypes, R extends FeatureRefOf<M>> = M['refs'][R & keyof M['refs']]
