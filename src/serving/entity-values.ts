import { type EntityKeyValue, LarderError, ValueType, valueTypeName } from '../core/index.js'

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const INT32_MIN = -(2 ** 31)
const INT32_MAX = 2 ** 31 - 1

/**
 * Checks a request's join key value against the type of the view's entity column and returns it in
 * the form entity keys and responses use: an INT64 or UNIX_TIMESTAMP key as a number when within
 * ±(2^53 − 1), else a bigint; INT32 as a number; STRING as a string; BYTES as a Uint8Array. A JS
 * number for an INT64 key is therefore an INT64 value, as Feast turns JSON `1001` into `int64_val`.
 * Throws INVALID_ARGUMENT naming the key, the value, its type and the view when the value does not fit
 * (a string `"1001"` for an INT64 key, say); values are never converted between strings and numbers.
 *
 * @example joinKeyValue(1001, ValueType.INT64, 'driver_id', 'driver_hourly_stats') // 1001
 */
export function joinKeyValue(value: unknown, valueType: number, key: string, view: string): EntityKeyValue {
  switch (valueType) {
    case ValueType.INT64:
    case ValueType.UNIX_TIMESTAMP:
      if (typeof value === 'number' && Number.isSafeInteger(value)) return value
      if (typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX) return normalize(value)
      break
    case ValueType.INT32:
      if (typeof value === 'number' && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX) {
        return value
      }
      if (typeof value === 'bigint' && value >= BigInt(INT32_MIN) && value <= BigInt(INT32_MAX))
        return Number(value)
      break
    case ValueType.STRING:
      if (typeof value === 'string') return value
      break
    case ValueType.BYTES:
      if (value instanceof Uint8Array) return value
      break
  }
  throw new LarderError(
    'INVALID_ARGUMENT',
    `join key "${key}" = ${describe(value)} does not match its type ${valueTypeName(valueType)} in feature view "${view}"`,
    { hint: HINTS[valueType] ?? 'pass a value of the entity column type', details: { joinKey: key, view } },
  )
}

/**
 * Parses a join key value written as text (a CLI argument) for a key of this type: integers for
 * INT64, INT32 and UNIX_TIMESTAMP (epoch seconds), the text itself for STRING, base64 for BYTES.
 * Throws INVALID_ARGUMENT naming the key, the text and the type when it does not parse.
 *
 * @example parseJoinKeyText('1001', ValueType.INT64, 'driver_id') // 1001
 */
export function parseJoinKeyText(text: string, valueType: number, key: string): EntityKeyValue {
  switch (valueType) {
    case ValueType.STRING:
      return text
    case ValueType.BYTES:
      if (/^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 === 0)
        return new Uint8Array(Buffer.from(text, 'base64'))
      break
    case ValueType.INT64:
    case ValueType.UNIX_TIMESTAMP:
    case ValueType.INT32:
      if (/^[+-]?\d+$/.test(text)) {
        const big = BigInt(text)
        const fits =
          valueType === ValueType.INT32
            ? big >= BigInt(INT32_MIN) && big <= BigInt(INT32_MAX)
            : big >= INT64_MIN && big <= INT64_MAX
        if (fits) return normalize(big)
      }
      break
  }
  throw new LarderError(
    'INVALID_ARGUMENT',
    `join key "${key}" = ${JSON.stringify(text)} is not a valid ${valueTypeName(valueType)}`,
    {
      hint: TEXT_HINTS[valueType] ?? `the key has type ${valueTypeName(valueType)}`,
      details: { joinKey: key },
    },
  )
}

function normalize(big: bigint): number | bigint {
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big
}

const HINTS: Readonly<Record<number, string>> = {
  [ValueType.INT64]: 'pass an integer number (a bigint beyond ±2^53), not a string',
  [ValueType.UNIX_TIMESTAMP]: 'pass epoch seconds as an integer number',
  [ValueType.INT32]: 'pass an integer number from -2^31 to 2^31-1',
  [ValueType.STRING]: 'pass the key as a string',
  [ValueType.BYTES]: 'pass the key as a Uint8Array',
}

const TEXT_HINTS: Readonly<Record<number, string>> = {
  [ValueType.INT64]: 'write an integer, e.g. driver_id=1001',
  [ValueType.UNIX_TIMESTAMP]: 'write epoch seconds as an integer',
  [ValueType.INT32]: 'write an integer from -2^31 to 2^31-1',
  [ValueType.BYTES]: 'write the bytes in base64',
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `${JSON.stringify(v)} (a string)`
  if (typeof v === 'bigint') return `${v}n`
  if (v instanceof Uint8Array) return `bytes[${v.length}]`
  if (v === undefined || v === null) return String(v)
  if (typeof v === 'number') return Number.isInteger(v) ? `${v}` : `${v} (not an integer)`
  return typeof v === 'object'
    ? `an ${Array.isArray(v) ? 'array' : 'object'}`
    : `${String(v)} (a ${typeof v})`
}
