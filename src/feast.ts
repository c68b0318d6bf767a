/**
 * Feast's byte formats, for code that reads or writes a Feast store directly: entity-key
 * serialization (versions 1 to 3), the `Value` protobuf encoding of feature values, and the
 * murmur3 hash Feast's Redis layout names its fields with. Imported as `larderjs/feast`.
 *
 * @example
 * import { decodeValue, serializeEntityKey } from 'larderjs/feast'
 */
export {
  decodeTimestamp,
  decodeValue,
  deserializeEntityKey,
  type EntityKeyEntry,
  type EntityKeySerializationVersion,
  type EntityKeyValue,
  encodeTimestamp,
  encodeValue,
  type JoinKey,
  murmur3x86_32,
  redisFeatureField,
  serializeEntityKey,
  valueTypeOf,
} from './core/index.js'
