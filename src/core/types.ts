import { LarderError } from './errors.js'

/**
 * Feast's `ValueType.Enum` (feast/types/Value.proto). The registry stores these numbers, and the
 * `Value` protobuf uses the same number as the oneof field number of each type.
 */
export const ValueType = {
  UNKNOWN: 0,
  BYTES: 1,
  STRING: 2,
  INT32: 3,
  INT64: 4,
  DOUBLE: 5,
  FLOAT: 6,
  BOOL: 7,
  UNIX_TIMESTAMP: 8,
  BYTES_LIST: 11,
  STRING_LIST: 12,
  INT32_LIST: 13,
  INT64_LIST: 14,
  DOUBLE_LIST: 15,
  FLOAT_LIST: 16,
  BOOL_LIST: 17,
  UNIX_TIMESTAMP_LIST: 18,
  NULL: 19,
  MAP: 20,
  MAP_LIST: 21,
  BYTES_SET: 22,
  STRING_SET: 23,
  INT32_SET: 24,
  INT64_SET: 25,
  DOUBLE_SET: 26,
  FLOAT_SET: 27,
  BOOL_SET: 28,
  UNIX_TIMESTAMP_SET: 29,
  PDF_BYTES: 30,
  IMAGE_BYTES: 31,
  JSON: 32,
  JSON_LIST: 33,
  STRUCT: 34,
  STRUCT_LIST: 35,
  UUID: 36,
  TIME_UUID: 37,
  UUID_LIST: 38,
  TIME_UUID_LIST: 39,
  UUID_SET: 40,
  TIME_UUID_SET: 41,
  VALUE_LIST: 42,
  VALUE_SET: 43,
  DECIMAL: 44,
  DECIMAL_LIST: 45,
  DECIMAL_SET: 46,
  SCALAR_MAP: 47,
  ZONED_TIMESTAMP: 48,
} as const

export type ValueTypeName = keyof typeof ValueType
export type ValueTypeNumber = (typeof ValueType)[ValueTypeName]

const VALUE_TYPE_NAMES = new globalThis.Map<number, ValueTypeName>(
  Object.entries(ValueType).map(([name, n]) => [n, name as ValueTypeName]),
)

/** The enum name of a value type number, or `UNKNOWN(<n>)` for a number this version does not know. */
export function valueTypeName(n: number): string {
  return VALUE_TYPE_NAMES.get(n) ?? `UNKNOWN(${n})`
}

/**
 * A Feast type: what a `Field` holds. Build them with the exported constants and constructors,
 * named as in Feast's Python SDK (`Int64`, `Float32`, `Array(String)`, `Set(Int64)`, `Struct({...})`).
 */
export interface FeastType {
  /** Display name, e.g. `Int64`, `Array(String)`. */
  readonly name: string
  /** The `ValueType.Enum` number stored in the registry. */
  readonly valueType: number
  /** Element type of a list or set. */
  readonly element?: FeastType
  /** Fields of a struct, in declaration order. */
  readonly fields?: Readonly<Record<string, FeastType>>
  /** Feast's PrimitiveFeastType name, used in struct schema tags. */
  readonly primitiveName?: string
}

/** A scalar Feast type whose name is known to the compiler (`Float32` has the type `ScalarType<'Float32'>`). */
export interface ScalarType<N extends string = string> extends FeastType {
  readonly name: N
}

/** `Array(E)`: a list whose element type is known to the compiler. */
export interface ArrayType<E extends FeastType = FeastType> extends FeastType {
  readonly name: `Array(${string})`
  readonly element: E
}

/** `Set(E)`: a set whose element type is known to the compiler. */
export interface SetType<E extends FeastType = FeastType> extends FeastType {
  readonly name: `Set(${string})`
  readonly element: E
}

/** `Struct({...})`: a record whose field types are known to the compiler. */
export interface StructType<
  F extends Readonly<Record<string, FeastType>> = Readonly<Record<string, FeastType>>,
> extends FeastType {
  readonly name: `Struct(${string})`
  readonly fields: Readonly<F>
}

interface ScalarSpec<N extends string> {
  name: N
  valueType: number
  primitiveName?: string
  list?: number
  set?: number
}

function scalar<N extends string>(spec: ScalarSpec<N>): ScalarType<N> {
  const t: ScalarType<N> = { name: spec.name, valueType: spec.valueType, primitiveName: spec.primitiveName }
  LIST_OF.set(t, spec.list)
  SET_OF.set(t, spec.set)
  return Object.freeze(t)
}

const LIST_OF = new WeakMap<FeastType, number | undefined>()
const SET_OF = new WeakMap<FeastType, number | undefined>()

export const Invalid = scalar({ name: 'Invalid', valueType: ValueType.UNKNOWN, primitiveName: 'INVALID' })
export const Bytes = scalar({
  name: 'Bytes',
  valueType: ValueType.BYTES,
  primitiveName: 'BYTES',
  list: ValueType.BYTES_LIST,
  set: ValueType.BYTES_SET,
})
/** Bytes holding a PDF document: ValueType PDF_BYTES, values in `bytes_val`, as in Feast. */
export const PdfBytes = scalar({
  name: 'PdfBytes',
  valueType: ValueType.PDF_BYTES,
  primitiveName: 'PDF_BYTES',
})
/** Bytes holding an image: ValueType IMAGE_BYTES, values in `bytes_val`, as in Feast. */
export const ImageBytes = scalar({
  name: 'ImageBytes',
  valueType: ValueType.IMAGE_BYTES,
  primitiveName: 'IMAGE_BYTES',
})
export const String = scalar({
  name: 'String',
  valueType: ValueType.STRING,
  primitiveName: 'STRING',
  list: ValueType.STRING_LIST,
  set: ValueType.STRING_SET,
})
export const Int32 = scalar({
  name: 'Int32',
  valueType: ValueType.INT32,
  primitiveName: 'INT32',
  list: ValueType.INT32_LIST,
  set: ValueType.INT32_SET,
})
export const Int64 = scalar({
  name: 'Int64',
  valueType: ValueType.INT64,
  primitiveName: 'INT64',
  list: ValueType.INT64_LIST,
  set: ValueType.INT64_SET,
})
export const Float64 = scalar({
  name: 'Float64',
  valueType: ValueType.DOUBLE,
  primitiveName: 'FLOAT64',
  list: ValueType.DOUBLE_LIST,
  set: ValueType.DOUBLE_SET,
})
export const Float32 = scalar({
  name: 'Float32',
  valueType: ValueType.FLOAT,
  primitiveName: 'FLOAT32',
  list: ValueType.FLOAT_LIST,
  set: ValueType.FLOAT_SET,
})
export const Bool = scalar({
  name: 'Bool',
  valueType: ValueType.BOOL,
  primitiveName: 'BOOL',
  list: ValueType.BOOL_LIST,
  set: ValueType.BOOL_SET,
})
/** Epoch seconds, Feast's `unix_timestamp_val`. */
export const UnixTimestamp = scalar({
  name: 'UnixTimestamp',
  valueType: ValueType.UNIX_TIMESTAMP,
  primitiveName: 'UNIX_TIMESTAMP',
  list: ValueType.UNIX_TIMESTAMP_LIST,
  set: ValueType.UNIX_TIMESTAMP_SET,
})
/** A map from string to any value (`Map{map<string,Value>}`). */
export const Map = scalar({ name: 'Map', valueType: ValueType.MAP, list: ValueType.MAP_LIST })
/** A JSON document kept as its text. */
export const Json = scalar({ name: 'Json', valueType: ValueType.JSON, list: ValueType.JSON_LIST })
export const Uuid = scalar({
  name: 'Uuid',
  valueType: ValueType.UUID,
  list: ValueType.UUID_LIST,
  set: ValueType.UUID_SET,
})
export const TimeUuid = scalar({
  name: 'TimeUuid',
  valueType: ValueType.TIME_UUID,
  list: ValueType.TIME_UUID_LIST,
  set: ValueType.TIME_UUID_SET,
})
/** An exact decimal kept as its text. */
export const Decimal = scalar({
  name: 'Decimal',
  valueType: ValueType.DECIMAL,
  list: ValueType.DECIMAL_LIST,
  set: ValueType.DECIMAL_SET,
})
/** A map whose keys are scalars other than strings (`ScalarMap`). */
export const ScalarMap = scalar({ name: 'ScalarMap', valueType: ValueType.SCALAR_MAP })
/** An instant with its time zone (`ZonedTimestamp{unix_timestamp, zone}`). */
export const ZonedTimestamp = scalar({ name: 'ZonedTimestamp', valueType: ValueType.ZONED_TIMESTAMP })

function isCollection(t: FeastType): boolean {
  return t.element !== undefined
}

/** A list of `element`; `Array(Array(T))` is stored as Feast's nested VALUE_LIST. */
export function Array<E extends FeastType>(element: E): ArrayType<E> {
  assertType(element, 'Array')
  let valueType: number | undefined
  if (isCollection(element)) valueType = ValueType.VALUE_LIST
  else if (element.fields) valueType = ValueType.STRUCT_LIST
  else valueType = LIST_OF.get(element)
  if (valueType === undefined) {
    throw new LarderError('INVALID_DEFINITION', `Array(${element.name}) is not a Feast type`, {
      hint: 'lists hold scalars, Map, Json, Uuid, Decimal, Struct or other lists',
    })
  }
  return Object.freeze({ name: `Array(${element.name})` as const, valueType, element })
}

/** A set of `element`, stored as one of Feast's *_SET types (or VALUE_SET for a set of lists). */
export function Set<E extends FeastType>(element: E): SetType<E> {
  assertType(element, 'Set')
  const valueType = isCollection(element) ? ValueType.VALUE_SET : SET_OF.get(element)
  if (valueType === undefined) {
    throw new LarderError('INVALID_DEFINITION', `Set(${element.name}) is not a Feast type`, {
      hint: 'sets hold Bytes, String, Int32, Int64, Float32, Float64, Bool, UnixTimestamp, Uuid, Decimal or lists',
    })
  }
  return Object.freeze({ name: `Set(${element.name})` as const, valueType, element })
}

/** A record with named, typed fields, stored as Feast's STRUCT with its schema in a field tag. */
export function Struct<F extends Readonly<Record<string, FeastType>>>(fields: F): StructType<F> {
  const names = Object.keys(fields)
  if (names.length === 0) {
    throw new LarderError('INVALID_DEFINITION', 'Struct({}) has no fields', {
      hint: 'give a struct at least one field',
    })
  }
  for (const [name, t] of Object.entries(fields)) assertType(t, `Struct field "${name}"`)
  const frozen = Object.freeze({ ...fields })
  return Object.freeze({
    name: `Struct({${names.map((n) => `${n}: ${frozen[n]!.name}`).join(', ')}})` as const,
    valueType: ValueType.STRUCT,
    fields: frozen,
  })
}

function assertType(t: unknown, where: string): asserts t is FeastType {
  if (typeof t !== 'object' || t === null || typeof (t as FeastType).valueType !== 'number') {
    throw new LarderError(
      'INVALID_DEFINITION',
      `${where} was given ${describe(t)}, which is not a Feast type`,
      {
        hint: "use one of Larder's type constants, e.g. Int64, Float32, String, Array(Int64)",
      },
    )
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'undefined'
  if (typeof v === 'string') return JSON.stringify(v)
  return typeof v
}

const SCALARS: readonly FeastType[] = [
  Bytes,
  String,
  Int32,
  Int64,
  Float64,
  Float32,
  Bool,
  UnixTimestamp,
  Map,
  Json,
  Uuid,
  TimeUuid,
  Decimal,
  ScalarMap,
  ZonedTimestamp,
]

/** Every scalar type by its Larder name (`Int64`) and by Feast's PrimitiveFeastType name (`INT64`). */
export const typesByName: ReadonlyMap<string, FeastType> = new globalThis.Map(
  [...SCALARS, PdfBytes, ImageBytes].flatMap((t) =>
    t.primitiveName ? [[t.name, t] as const, [t.primitiveName, t] as const] : [[t.name, t] as const],
  ),
)

/**
 * Parses a type name as written in messages, struct schema tags and the CLI: `Int64`, `INT64`,
 * `Array(String)`, `Set(Int64)`, or a struct schema `{"__struct__": {...}}`.
 */
export function parseTypeName(text: string): FeastType {
  const trimmed = text.trim()
  const wrapped = /^(Array|Set)\((.*)\)$/.exec(trimmed)
  if (wrapped)
    return wrapped[1] === 'Array' ? Array(parseTypeName(wrapped[2]!)) : Set(parseTypeName(wrapped[2]!))
  if (trimmed.startsWith('{')) {
    const parsed = JSON.parse(trimmed) as { __struct__?: Record<string, string> }
    if (parsed.__struct__) return structFromSchema(parsed.__struct__)
  }
  const t = typesByName.get(trimmed)
  if (!t) {
    throw new LarderError('INVALID_DEFINITION', `unknown type ${JSON.stringify(text)}`, {
      hint: `known types: ${[...typesByName.keys()].filter((k) => /[a-z]/.test(k)).join(', ')}, Array(T), Set(T), Struct({...})`,
    })
  }
  return t
}

/** Feast's text for a type inside a struct schema tag (`INT64`, `Array(STRING)`, nested structs as JSON). */
export function structSchemaTypeName(t: FeastType): string {
  if (t.fields) return JSON.stringify({ __struct__: structSchema(t) })
  if (t.element)
    return `${t.valueType === ValueType.VALUE_SET || SET_TYPES.has(t.valueType) ? 'Set' : 'Array'}(${structSchemaTypeName(t.element)})`
  return t.primitiveName ?? t.name
}

const SET_TYPES: ReadonlySet<number> = new globalThis.Set([22, 23, 24, 25, 26, 27, 28, 29, 40, 41, 46, 43])

/** The `feast:struct_schema` tag value of a struct type: `{"field": "INT64", ...}`. */
export function structSchema(t: FeastType): Record<string, string> {
  return Object.fromEntries(Object.entries(t.fields ?? {}).map(([n, ft]) => [n, structSchemaTypeName(ft)]))
}

function structFromSchema(schema: Record<string, string>): FeastType {
  return Struct(Object.fromEntries(Object.entries(schema).map(([n, s]) => [n, parseTypeName(s)])))
}

/** Field tag holding a struct's schema, as Feast writes it. */
export const STRUCT_SCHEMA_TAG = 'feast:struct_schema'
/** Field tag holding the inner type of a nested collection, as Feast writes it. */
export const NESTED_INNER_TYPE_TAG = 'feast:nested_inner_type'

const BY_VALUE_TYPE = new globalThis.Map<number, FeastType>()
for (const t of [...SCALARS, PdfBytes, ImageBytes]) {
  BY_VALUE_TYPE.set(t.valueType, t)
  const list = LIST_OF.get(t)
  const set = SET_OF.get(t)
  if (list !== undefined) BY_VALUE_TYPE.set(list, Array(t))
  if (set !== undefined) BY_VALUE_TYPE.set(set, Set(t))
}

/**
 * The Feast type for a registry field: its ValueType number plus the tags that carry struct and nested
 * schemas. Returns undefined for a number this version does not know, so that a newer registry still loads.
 */
export function typeFromValueType(
  valueType: number,
  tags: Readonly<Record<string, string>> = {},
): FeastType | undefined {
  const structTag = tags[STRUCT_SCHEMA_TAG]
  if (valueType === ValueType.STRUCT && structTag) return structFromSchema(JSON.parse(structTag))
  if (valueType === ValueType.STRUCT_LIST && structTag) return Array(structFromSchema(JSON.parse(structTag)))
  const inner = tags[NESTED_INNER_TYPE_TAG]
  if ((valueType === ValueType.VALUE_LIST || valueType === ValueType.VALUE_SET) && inner) {
    const element = parseTypeName(inner)
    return valueType === ValueType.VALUE_LIST ? Array(element) : Set(element)
  }
  return BY_VALUE_TYPE.get(valueType)
}

/** The tags Feast writes next to a field of this type (struct schema, nested inner type). */
export function typeTags(t: FeastType): Record<string, string> {
  if (t.fields) return { [STRUCT_SCHEMA_TAG]: JSON.stringify(structSchema(t)) }
  if (t.element?.fields) return { [STRUCT_SCHEMA_TAG]: JSON.stringify(structSchema(t.element)) }
  if (t.valueType === ValueType.VALUE_LIST || t.valueType === ValueType.VALUE_SET) {
    return { [NESTED_INNER_TYPE_TAG]: structSchemaTypeName(t.element!) }
  }
  return {}
}

/** Value types a join key may have (Feast's entity key serializer accepts only these). */
export const ENTITY_KEY_VALUE_TYPES: ReadonlySet<number> = new globalThis.Set([
  ValueType.BYTES,
  ValueType.STRING,
  ValueType.INT32,
  ValueType.INT64,
  ValueType.UNIX_TIMESTAMP,
])
