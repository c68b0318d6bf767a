/**
 * Feast's `serialize_entity_key`: the bytes that identify an entity row in every online store
 * (the SQLite/Postgres `entity_key` column, the start of a Redis key). All integers are little-endian.
 *
 * - v3 (Feast's default since 0.50): `u32 n`, then per join key (sorted) `u32 2, u32 len, utf8`, then
 *   per value in the same order `u32 type, u32 len, bytes`.
 * - v2: no count and no key lengths: per key `u32 2, utf8`; values as in v3.
 * - v1: as v2, but an INT64 value is 4 bytes (Python's `struct.pack("<l")`), so it overflows past 2^31.
 *
 * Value bytes: STRING as UTF-8, BYTES raw, INT32 4 bytes, INT64 and UNIX_TIMESTAMP 8 bytes. No other
 * value type can be part of an entity key.
 */
import { countOf, LarderError } from './errors.js'
import { ENTITY_KEY_VALUE_TYPES, ValueType, valueTypeName } from './types.js'

/** Which layout `feature_store.yaml`'s `entity_key_serialization_version` selects. */
export type EntityKeySerializationVersion = 1 | 2 | 3

/** A join key column and its value type (STRING, BYTES, INT32, INT64 or UNIX_TIMESTAMP). */
export interface JoinKey {
  readonly name: string
  readonly valueType: number
}

/** A join key value: string (STRING), Uint8Array (BYTES), number or bigint (INT32, INT64, UNIX_TIMESTAMP seconds). */
export type EntityKeyValue = string | number | bigint | Uint8Array

/** One join key of an entity key with its typed value. */
export interface EntityKeyEntry {
  readonly joinKey: string
  readonly valueType: number
  readonly value: EntityKeyValue
}

const UTF8 = new TextEncoder()
const { BYTES, STRING, INT32, INT64, UNIX_TIMESTAMP } = ValueType
const UTF8_DECODER = new TextDecoder()

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

/**
 * Returns a function that serializes the values of these join keys (given in the same order as
 * `joinKeys`) into entity key bytes. The keys are sorted once, by their UTF-8 bytes, which is Python's
 * and Go's order; the returned function is the fast path for materialization and online reads.
 *
 * @example
 * const key = entityKeySerializer([{ name: 'driver_id', valueType: INT64 }])
 * key([1001]) // 01000000 02000000 09000000 6472697665725f6964 04000000 08000000 e903000000000000
 */
export function entityKeySerializer(
  joinKeys: readonly JoinKey[],
  version: EntityKeySerializationVersion = 3,
): (values: readonly EntityKeyValue[]) => Uint8Array {
  checkVersion(version)
  const names = joinKeys.map((k) => UTF8.encode(k.name))
  const seen = new Set<string>()
  joinKeys.forEach((k) => {
    if (seen.has(k.name)) {
      throw new LarderError('INVALID_ARGUMENT', `join key "${k.name}" appears twice in an entity key`, {
        hint: 'list each join key once',
      })
    }
    seen.add(k.name)
    if (!ENTITY_KEY_VALUE_TYPES.has(k.valueType)) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `join key "${k.name}" has value type ${valueTypeName(k.valueType)}, which cannot be part of an entity key`,
        { hint: 'a join key is STRING, BYTES, INT32, INT64 or UNIX_TIMESTAMP' },
      )
    }
  })
  const order = joinKeys.map((_, i) => i).sort((a, b) => compareBytes(names[a]!, names[b]!))
  const header = keyHeader(
    order.map((i) => names[i]!),
    version,
  )
  const types = order.map((i) => joinKeys[i]!.valueType)
  const keyNames = order.map((i) => joinKeys[i]!.name)
  return (values) => {
    if (values.length !== joinKeys.length) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `an entity key of ${keyNames.join(', ') || '(no join keys)'} needs ${countOf(joinKeys.length, 'value')}, got ${values.length}`,
      )
    }
    // first pass: check the values and size the key; second pass: write it
    const parts: (Uint8Array | number)[] = new Array(order.length)
    let size = header.length
    for (let j = 0; j < order.length; j++) {
      const part = payload(keyNames[j]!, types[j]!, values[order[j]!], version)
      parts[j] = part
      size += 8 + (typeof part === 'number' ? part : part.length)
    }
    const out = new Uint8Array(size)
    out.set(header, 0)
    let pos = header.length
    for (let j = 0; j < parts.length; j++) {
      const part = parts[j]!
      const value = values[order[j]!]
      writeUint32(out, pos, types[j]!)
      if (typeof part !== 'number') {
        writeUint32(out, pos + 4, part.length)
        out.set(part, pos + 8)
        pos += 8 + part.length
        continue
      }
      writeUint32(out, pos + 4, part)
      if (part === 4) writeUint32(out, pos + 8, Number(value) >>> 0)
      else if (typeof value === 'bigint') new DataView(out.buffer).setBigInt64(pos + 8, value, true)
      else {
        const hi = Math.floor((value as number) / 4294967296)
        writeUint32(out, pos + 8, (value as number) - hi * 4294967296)
        writeUint32(out, pos + 12, hi >>> 0)
      }
      pos += 8 + part
    }
    return out
  }
}

/**
 * Serializes an entity key: Feast's `serialize_entity_key(EntityKey, version)`. Entries may come in
 * any order; they are sorted by join key.
 *
 * @example serializeEntityKey([{ joinKey: 'driver_id', valueType: INT64, value: 1001 }])
 */
export function serializeEntityKey(
  entries: readonly EntityKeyEntry[],
  version: EntityKeySerializationVersion = 3,
): Uint8Array {
  const serialize = entityKeySerializer(
    entries.map((e) => ({ name: e.joinKey, valueType: e.valueType })),
    version,
  )
  return serialize(entries.map((e) => e.value))
}

/**
 * The bytes every entity key over these join keys starts with (Feast's
 * `serialize_entity_key_prefix`): the count and key names, before any value. Used to find a view's
 * keys in Redis.
 */
export function entityKeyPrefix(
  joinKeys: readonly string[],
  version: EntityKeySerializationVersion = 3,
): Uint8Array {
  checkVersion(version)
  return keyHeader(joinKeys.map((k) => UTF8.encode(k)).sort(compareBytes), version)
}

function keyHeader(names: readonly Uint8Array[], version: EntityKeySerializationVersion): Uint8Array {
  const withLengths = version === 3
  let size = withLengths ? 4 : 0
  for (const n of names) size += (withLengths ? 8 : 4) + n.length
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  let pos = 0
  if (withLengths) {
    view.setUint32(0, names.length, true)
    pos = 4
  }
  for (const n of names) {
    view.setUint32(pos, STRING, true)
    pos += 4
    if (withLengths) {
      view.setUint32(pos, n.length, true)
      pos += 4
    }
    out.set(n, pos)
    pos += n.length
  }
  return out
}

/**
 * Checks a key value against its type: the bytes of a STRING or BYTES value, or the byte width of an
 * integer (4 or 8), which the caller writes in place.
 */
function payload(joinKey: string, type: number, value: unknown, version: number): Uint8Array | number {
  switch (type) {
    case STRING:
      if (typeof value === 'string') return utf8(value)
      break
    case BYTES:
      if (value instanceof Uint8Array) return value
      break
    case INT32:
      if (
        typeof value === 'number' &&
        Number.isInteger(value) &&
        value >= -2147483648 &&
        value <= 2147483647
      ) {
        return 4
      }
      break
    case INT64:
    case UNIX_TIMESTAMP: {
      const ok =
        (typeof value === 'number' && Number.isSafeInteger(value)) ||
        (typeof value === 'bigint' && value >= -(2n ** 63n) && value < 2n ** 63n)
      if (!ok) break
      if (version !== 1 || type !== INT64) return 8
      if (Number(value) < -2147483648 || Number(value) > 2147483647) {
        throw new LarderError(
          'INVALID_ARGUMENT',
          `join key "${joinKey}" = ${value} does not fit entity key serialization v1 (INT64 written as 4 bytes)`,
          { hint: 'set entity_key_serialization_version: 3 in feature_store.yaml (and re-materialize)' },
        )
      }
      return 4
    }
  }
  throw new LarderError(
    'INVALID_ARGUMENT',
    `join key "${joinKey}" is ${valueTypeName(type)} but was given ${describe(value)}`,
    { hint: HINTS[type] },
  )
}

const HINTS: Readonly<Record<number, string>> = {
  [STRING]: 'pass the key as a string',
  [BYTES]: 'pass the key as a Uint8Array',
  [INT32]: 'pass an integer from -2^31 to 2^31-1',
  [INT64]: 'pass an integer (a bigint beyond ±2^53)',
  [UNIX_TIMESTAMP]: 'pass epoch seconds as an integer',
}

function writeUint32(out: Uint8Array, pos: number, v: number): void {
  out[pos] = v & 0xff
  out[pos + 1] = (v >>> 8) & 0xff
  out[pos + 2] = (v >>> 16) & 0xff
  out[pos + 3] = v >>> 24
}

/** UTF-8 bytes of a string; ASCII, the usual case for keys, without TextEncoder's call overhead. */
function utf8(s: string): Uint8Array {
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x80) return UTF8.encode(s)
    out[i] = c
  }
  return out
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'bigint') return `${v}n`
  if (v instanceof Uint8Array) return `bytes[${v.length}]`
  return v === null || typeof v !== 'object' ? String(v) : 'an object'
}

function checkVersion(version: number): void {
  if (version !== 1 && version !== 2 && version !== 3) {
    throw new LarderError('INVALID_ARGUMENT', `entity key serialization version ${version} does not exist`, {
      hint: 'use 3 (current Feast); 2 and 1 only for stores Feast wrote long ago',
    })
  }
}

/**
 * Parses v3 entity key bytes back into entries in stored (sorted) order, as Feast's
 * `deserialize_entity_key`: trailing NUL characters of key names are dropped; INT64 and UNIX_TIMESTAMP
 * values are numbers, or bigints beyond ±2^53. v1 and v2 keys cannot be parsed (they carry no key
 * lengths). Throws INVALID_ARGUMENT for bytes that are not a v3 key.
 */
export function deserializeEntityKey(bytes: Uint8Array): EntityKeyEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let pos = 0
  const u32 = (): number => {
    if (pos + 4 > bytes.length) throw notAKey(pos)
    const v = view.getUint32(pos, true)
    pos += 4
    return v
  }
  const take = (len: number): Uint8Array => {
    if (pos + len > bytes.length) throw notAKey(pos)
    const out = bytes.subarray(pos, pos + len)
    pos += len
    return out
  }
  const count = u32()
  if (count > bytes.length / 8) throw notAKey(0)
  const keys: string[] = []
  for (let i = 0; i < count; i++) {
    if (u32() !== STRING) throw notAKey(pos - 4)
    keys.push(UTF8_DECODER.decode(take(u32())).replace(/\0+$/, ''))
  }
  const entries: EntityKeyEntry[] = []
  for (let i = 0; i < count; i++) {
    const type = u32()
    const raw = take(u32())
    const rawView = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
    let value: EntityKeyValue
    if (type === STRING) value = UTF8_DECODER.decode(raw)
    else if (type === BYTES) value = new Uint8Array(raw)
    else if (type === INT32 && raw.length === 4) value = rawView.getInt32(0, true)
    else if ((type === INT64 || type === UNIX_TIMESTAMP) && raw.length === 8) {
      const big = rawView.getBigInt64(0, true)
      value =
        big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big
    } else throw notAKey(pos - raw.length - 8)
    entries.push({ joinKey: keys[i]!, valueType: type, value })
  }
  if (pos !== bytes.length) throw notAKey(pos)
  return entries
}

function notAKey(at: number): LarderError {
  return new LarderError('INVALID_ARGUMENT', `the bytes are not a v3 entity key (bad data at byte ${at})`, {
    hint: 'only keys written with entity_key_serialization_version 3 can be parsed',
  })
}
