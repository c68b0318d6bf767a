/**
 * Conversions between Larder's online read types and Feast's `feast.serving` messages
 * (ServingService.proto), shared by the gRPC service and the remote client. Imports only `core` and
 * the generated messages, so the client stays small.
 *
 * Values travel as `feast.types.Value`: the server encodes each column by its declared type (the
 * response's `valueTypes`), so a Feast client sees `float_val` for a Float32 feature; the client
 * decodes them with the same codec as the online stores, so a remote read returns exactly what an
 * in-process read returns (int64 beyond 2^53 as a bigint). Feast's metadata has no types, so they
 * travel in the `larder-value-types` response header; without it (another server) a column's type
 * is read from its first non-null value. Entity values a client sends have no declared type: they are typed from the JS value
 * (integer → INT64, other number → DOUBLE, bigint → INT64, string, boolean, Uint8Array, arrays of
 * those), and the server then checks them against the join keys' types as the REST route does.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { type Timestamp, TimestampSchema } from '@bufbuild/protobuf/wkt'
import {
  decodeValue,
  encodeValue,
  type FeastValue,
  LarderError,
  type Micros,
  specialKind,
  type TypedValue,
  ValueType,
  valueTypeOf,
} from '../core/index.js'
import {
  FieldStatus,
  type GetOnlineFeaturesRequest,
  GetOnlineFeaturesRequestSchema,
  type GetOnlineFeaturesResponse,
  GetOnlineFeaturesResponseSchema,
} from '../gen/feast/serving/ServingService_pb.js'
import {
  type RepeatedValue,
  RepeatedValueSchema,
  type Value,
  ValueSchema,
} from '../gen/feast/types/Value_pb.js'
import type {
  EntityRows,
  OnlineFeaturesRequest,
  OnlineFeaturesResponse,
  FieldStatus as Status,
} from '../serving/online-features.js'

const STATUS_NUMBER: Readonly<Record<Status, FieldStatus>> = {
  PRESENT: FieldStatus.PRESENT,
  NULL_VALUE: FieldStatus.NULL_VALUE,
  NOT_FOUND: FieldStatus.NOT_FOUND,
  OUTSIDE_MAX_AGE: FieldStatus.OUTSIDE_MAX_AGE,
}

const STATUS_NAME: ReadonlyMap<FieldStatus, Status> = new Map(
  Object.entries(STATUS_NUMBER).map(([name, n]) => [n, name as Status]),
)

/** Response header (Connect) or metadata (gRPC) with the ValueType of each column, comma-separated. */
export const VALUE_TYPES_HEADER = 'larder-value-types'

/** Response metadata (gRPC trailers) that carry a `LarderError`'s code and hint to Larder's client. */
export const ERROR_CODE_HEADER = 'larder-error-code'
export const ERROR_HINT_HEADER = 'larder-error-hint'

/** A value as a `feast.types.Value` message, encoded by its declared ValueType (inferred from the JS value when undefined). */
export function valueMessage(value: FeastValue, type: number | undefined): Value {
  return fromBinary(ValueSchema, encodeValue(type ?? inferredType(value), value))
}

/** A `feast.types.Value` message as the JS value an in-process read returns. */
export function messageValue(message: Value): FeastValue {
  return decodeValue(toBinary(ValueSchema, message))
}

/** The ValueType a value without declared type travels as: scalars and arrays of one scalar type. */
function inferredType(value: FeastValue): number {
  if (value === null) return ValueType.NULL
  if (specialKind(value) === 'Typed') return (value as TypedValue).type
  if (Array.isArray(value)) {
    const first = value.find((v) => v !== null && v !== undefined)
    const element = first === undefined ? ValueType.STRING : inferredType(first)
    const list = LISTS[element]
    if (
      list !== undefined &&
      value.every((v) => v === null || v === undefined || inferredType(v) === element)
    ) {
      return list
    }
  } else {
    switch (typeof value) {
      case 'boolean':
        return ValueType.BOOL
      case 'bigint':
        return ValueType.INT64
      case 'number':
        return Number.isSafeInteger(value) ? ValueType.INT64 : ValueType.DOUBLE
      case 'string':
        return ValueType.STRING
    }
    if (value instanceof Uint8Array) return ValueType.BYTES
  }
  throw new LarderError(
    'INVALID_ARGUMENT',
    'an entity value must be a number, bigint, string, boolean, Uint8Array or an array of one of those',
    {
      hint: 'wrap other values as typedValue(ValueType.X, value)',
    },
  )
}

const LISTS: Readonly<Record<number, number>> = {
  [ValueType.BOOL]: ValueType.BOOL_LIST,
  [ValueType.INT64]: ValueType.INT64_LIST,
  [ValueType.DOUBLE]: ValueType.DOUBLE_LIST,
  [ValueType.STRING]: ValueType.STRING_LIST,
  [ValueType.BYTES]: ValueType.BYTES_LIST,
}

function timestamp(micros: Micros): Timestamp {
  const seconds = Math.floor(micros / 1_000_000)
  return create(TimestampSchema, { seconds: BigInt(seconds), nanos: (micros - seconds * 1_000_000) * 1000 })
}

function micros(ts: Timestamp | undefined): Micros {
  return ts === undefined ? 0 : Number(ts.seconds) * 1_000_000 + Math.floor(ts.nanos / 1000)
}

/** Columnar entity rows (or row objects) as the request's `entities` map. */
export function requestMessage(request: OnlineFeaturesRequest): GetOnlineFeaturesRequest {
  const service = request.featureService
  return create(GetOnlineFeaturesRequestSchema, {
    kind:
      service !== undefined
        ? { case: 'featureService', value: typeof service === 'string' ? service : service.name }
        : { case: 'features', value: { val: [...(request.features ?? [])] } },
    entities: repeated(request.entities),
    fullFeatureNames: Boolean(request.fullFeatureNames),
  })
}

function repeated(entities: EntityRows): Record<string, RepeatedValue> {
  const columns: Record<string, unknown[]> = {}
  if (Array.isArray(entities)) {
    const rows = entities as readonly Readonly<Record<string, unknown>>[]
    rows.forEach((row, i) => {
      for (const [k, v] of Object.entries(row)) {
        columns[k] ??= new Array(rows.length).fill(null)
        columns[k][i] = v
      }
    })
  } else {
    for (const [k, v] of Object.entries(entities as Record<string, readonly unknown[]>)) columns[k] = [...v]
  }
  const out: Record<string, RepeatedValue> = {}
  for (const [k, values] of Object.entries(columns)) {
    out[k] = create(RepeatedValueSchema, { val: values.map((v) => valueMessage(v as FeastValue, undefined)) })
  }
  return out
}

/** A request message as the in-process request: values decoded, request context merged into the entities. */
export function requestFromMessage(message: GetOnlineFeaturesRequest): OnlineFeaturesRequest {
  const entities: Record<string, FeastValue[]> = {}
  for (const map of [message.entities, message.requestContext]) {
    for (const [k, v] of Object.entries(map)) entities[k] = v.val.map(messageValue)
  }
  const kind = message.kind
  return {
    entities,
    fullFeatureNames: message.fullFeatureNames,
    ...(kind.case === 'featureService' ? { featureService: kind.value } : {}),
    ...(kind.case === 'features' ? { features: kind.value.val } : {}),
  }
}

/** A response as the message, each column's values encoded by its ValueType. */
export function responseMessage(response: OnlineFeaturesResponse): GetOnlineFeaturesResponse {
  const { featureNames, valueTypes } = response.metadata
  return create(GetOnlineFeaturesResponseSchema, {
    metadata: { featureNames: { val: [...featureNames] } },
    results: response.results.map((r, i) => {
      const type = valueTypes[i]
      return {
        values: r.values.map((v) => valueMessage(v, type)),
        statuses: r.statuses.map((s) => STATUS_NUMBER[s]),
        eventTimestamps: r.eventTimestamps.map(timestamp),
      }
    }),
  })
}

/**
 * A response message as the in-process response; `valueTypes` are the server's (from
 * {@link VALUE_TYPES_HEADER}) when given. A status this version does not know reads as NOT_FOUND.
 */
export function responseFromMessage(
  message: GetOnlineFeaturesResponse,
  valueTypes: readonly number[] | undefined,
): OnlineFeaturesResponse {
  const featureNames = [...(message.metadata?.featureNames?.val ?? [])]
  const types =
    valueTypes?.length === featureNames.length
      ? [...valueTypes]
      : message.results.map((r) => {
          const first = r.values.find((v) => v.val.case !== undefined && v.val.case !== 'nullVal')
          return first ? valueTypeOf(toBinary(ValueSchema, first)) : ValueType.UNKNOWN
        })
  return {
    metadata: { featureNames, valueTypes: types },
    results: message.results.map((r) => ({
      values: r.values.map(messageValue),
      statuses: r.statuses.map((s) => STATUS_NAME.get(s) ?? 'NOT_FOUND'),
      eventTimestamps: r.eventTimestamps.map(micros),
    })),
  }
}
