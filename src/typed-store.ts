import type {
  Abortable,
  FeatureRefOf,
  FeatureService,
  FeatureServiceNameOf,
  FeatureTypes,
  FeatureTypesOf,
  Micros,
  ServiceFeatureTypes,
} from './core/index.js'
import { LarderError } from './core/index.js'
import type { GetHistoricalFeaturesOptions, TrainingJob } from './feature-store.js'
import type {
  FieldStatus,
  GetOnlineFeaturesOptions,
  OnlineFeaturesRequest,
  OnlineFeaturesResponse,
} from './serving/index.js'

/** What {@link typedStore} needs of a store: `FeatureStore`, a test store and `LarderClient` all fit. */
export interface OnlineFeatureReader {
  getOnlineFeatures(
    request: OnlineFeaturesRequest,
    options?: GetOnlineFeaturesOptions,
  ): Promise<OnlineFeaturesResponse>
}

/** A store that also builds training data (`FeatureStore`). */
export interface HistoricalFeatureReader extends OnlineFeatureReader {
  getHistoricalFeatures(request: GetHistoricalFeaturesOptions, options?: Abortable): Promise<TrainingJob>
}

/**
 * Entity rows whose known join keys carry their value types: `{ driver_id: [1001, 1002] }` for an
 * Int64 key takes numbers or bigints, never strings. Other columns (request data for on-demand views)
 * are allowed as they are.
 */
export type TypedEntityRows<M extends FeatureTypes> =
  | ({ readonly [K in keyof M['joinKeys']]?: readonly M['joinKeys'][K][] } & Readonly<
      Record<string, readonly unknown[]>
    >)
  | readonly ({ readonly [K in keyof M['joinKeys']]?: M['joinKeys'][K] } & Readonly<
      Record<string, unknown>
    >)[]

/** A feature service a typed read accepts: a name `M` knows, or a service object (typed by its items). */
export type TypedServiceInput<M extends FeatureTypes> = FeatureServiceNameOf<M> | FeatureService

/** Either feature references of `M` or a feature service, as in `getOnlineFeatures`. */
export type TypedFeatureSelection<M extends FeatureTypes> =
  | {
      /** Feature references `"view:feature"` that `M` knows. */
      readonly features: readonly FeatureRefOf<M>[]
      readonly featureService?: undefined
    }
  | {
      /** A feature service by name (one `M` knows) or as its definition. */
      readonly featureService: TypedServiceInput<M>
      readonly features?: undefined
    }

/** The request of {@link TypedFeatureStore.getOnlineFeatures}: `getOnlineFeatures`'s, with typed references. */
export type TypedOnlineRequest<M extends FeatureTypes> = {
  readonly entities: TypedEntityRows<M>
  /** Name feature columns `<view or alias>__<feature>` instead of `<feature>` (default false). */
  readonly fullFeatureNames?: boolean
} & TypedFeatureSelection<M>

/** The request of {@link TypedFeatureStore.getHistoricalFeatures}: `getHistoricalFeatures`'s, with typed references. */
export type TypedHistoricalRequest<M extends FeatureTypes> = Omit<
  GetHistoricalFeaturesOptions,
  'features' | 'featureService'
> &
  TypedFeatureSelection<M>

/** One column of a typed response: a value (or null), a status and an event timestamp per entity row. */
export interface TypedFeatureVector<T> {
  readonly values: readonly T[]
  readonly statuses: readonly FieldStatus[]
  /** Event timestamps in microseconds; 0 for join-key columns and values not found. */
  readonly eventTimestamps: readonly Micros[]
}

/**
 * `getOnlineFeatures`'s response with its columns typed: `columns.conv_rate.values` is `(number |
 * null)[]` for a Float32 feature, and `rows()` gives one record per entity row. A feature's value is
 * null when it is not found or stored as null; join-key columns hold the request's values.
 */
export interface TypedOnlineResponse<C> extends OnlineFeaturesResponse {
  /** Each column (the request's join keys, then the features) by its output name. */
  readonly columns: { readonly [K in keyof C]: TypedFeatureVector<C[K]> }
  /** One record per entity row, from column name to value (statuses are in `columns`). */
  rows(): { [K in keyof C]: C[K] }[]
}

/** The output column of a reference: `feature`, or `view__feature` with full feature names. */
type ColumnName<R, Full extends boolean> = R extends `${infer V}:${infer F}`
  ? Full extends true
    ? `${V}__${F}`
    : F
  : never

/** The references (and their JS types) a request reads: its `features`, or its service's. */
type RequestedRefs<M extends FeatureTypes, Q> = Q extends { readonly features: readonly (infer R)[] }
  ? Pick<M['refs'], R & keyof M['refs']>
  : Q extends { readonly featureService: infer S }
    ? S extends FeatureService
      ? ServiceFeatureTypes<S>
      : S extends keyof M['services']
        ? M['services'][S]
        : never
    : never

/** The entity columns a request gives. */
type EntityColumns<Q> = Q extends { readonly entities: infer E }
  ? E extends readonly (infer Row)[]
    ? keyof Row
    : keyof E
  : never

/** The typed columns of a response to request `Q`: its join keys, then its features (nullable). */
export type ResponseColumns<M extends FeatureTypes, Q> = {
  [K in EntityColumns<Q> & keyof M['joinKeys']]: M['joinKeys'][K]
} & {
  [R in keyof RequestedRefs<M, Q> & string as ColumnName<
    R,
    Q extends { readonly fullFeatureNames: true } ? true : false
  >]: RequestedRefs<M, Q>[R] | null
}

/**
 * A store whose reads are checked by the compiler against the feature types `M` (from definitions or
 * from `larder codegen`). It reads through the store it wraps, which does all the work; `store` gives
 * that store for everything else.
 */
export class TypedFeatureStore<M extends FeatureTypes, S extends OnlineFeatureReader = OnlineFeatureReader> {
  /** The wrapped store. */
  readonly store: S

  constructor(store: S) {
    this.store = store
  }

  /**
   * `getOnlineFeatures` with references checked at compile time (`'driver_hourly_stats:conv_rat'` does
   * not compile) and the response's columns typed; see {@link TypedOnlineResponse}. Behaves exactly as
   * the wrapped store's `getOnlineFeatures`, errors included.
   *
   * @example
   * const res = await typed.getOnlineFeatures({ entities: { driver_id: [1001] }, features: ['driver_hourly_stats:conv_rate'] })
   * const rate: number | null = res.rows()[0]!.conv_rate
   */
  async getOnlineFeatures<const Q extends TypedOnlineRequest<M>>(
    request: Q,
    options?: GetOnlineFeaturesOptions,
  ): Promise<TypedOnlineResponse<ResponseColumns<M, Q>>> {
    const response = await this.store.getOnlineFeatures(request as OnlineFeaturesRequest, options)
    return typedResponse(response)
  }

  /**
   * `getHistoricalFeatures` with references checked at compile time. Needs a store that builds training
   * data (`FeatureStore`); the result is the store's own job.
   */
  getHistoricalFeatures<const Q extends TypedHistoricalRequest<M>>(
    this: TypedFeatureStore<M, HistoricalFeatureReader>,
    request: Q,
    options?: Abortable,
  ): Promise<TrainingJob> {
    return this.store.getHistoricalFeatures(request as GetHistoricalFeaturesOptions, options)
  }
}

/**
 * Wraps a store so that its reads are checked by the compiler against feature types: those of
 * definitions built with literal names and types (an array of them, or a module's exports), or the
 * map `larder codegen` writes from a registry. Nothing is checked at run time beyond what the store
 * checks; `definitions` only gives the types (and must be an object or an array).
 *
 * @example
 * import * as defs from './features.js'            // or: import { featureTypes } from './features.gen.js'
 * const typed = typedStore(await FeatureStore.open('.'), defs)
 * const res = await typed.getOnlineFeatures({ entities: { driver_id: [1001] }, featureService: defs.driverActivityV1 })
 * res.columns.conv_rate.values // (number | null)[]
 */
export function typedStore<S extends OnlineFeatureReader, const D extends object>(
  store: S,
  definitions: D,
): TypedFeatureStore<FeatureTypesOf<D>, S> {
  if (typeof store !== 'object' || store === null || typeof store.getOnlineFeatures !== 'function') {
    throw new LarderError('INVALID_ARGUMENT', `typedStore was given ${describe(store)}, not a store`, {
      hint: 'pass a FeatureStore (FeatureStore.open), a test store or a LarderClient',
    })
  }
  if (typeof definitions !== 'object' || definitions === null) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `typedStore was given ${describe(definitions)} as definitions, not an object or array`,
      {
        hint: "pass the definitions module (import * as defs from './features.js'), an array of definitions, or the featureTypes that `larder codegen` writes",
      },
    )
  }
  return new TypedFeatureStore(store)
}

/** The response with its columns by name and its rows on demand (nothing is copied until asked). */
function typedResponse<C>(response: OnlineFeaturesResponse): TypedOnlineResponse<C> {
  const names = response.metadata.featureNames
  const columns: Record<string, TypedFeatureVector<unknown>> = {}
  names.forEach((name, i) => {
    put(columns, name, response.results[i]!)
  })
  return {
    ...response,
    columns: columns as TypedOnlineResponse<C>['columns'],
    rows() {
      const count = response.results[0]?.values.length ?? 0
      return Array.from({ length: count }, (_, r) => {
        const row: Record<string, unknown> = {}
        names.forEach((name, i) => {
          put(row, name, response.results[i]!.values[r])
        })
        return row as { [K in keyof C]: C[K] }
      })
    },
  }
}

/** Sets a property, `__proto__` included, as an own property of a plain object. */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`
  return typeof value
}
