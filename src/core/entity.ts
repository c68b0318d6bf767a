import { type Branded, definitionKind } from './brand.js'
import { LarderError } from './errors.js'
import { ENTITY_KEY_VALUE_TYPES, type FeastType, valueTypeName } from './types.js'
import { checkColumnName, checkKnownKeys, checkName, checkTags, optionalString } from './validate.js'

/** Options of an {@link Entity}; the type parameters keep the literal name, join key and key type. */
export interface EntityOptions<
  N extends string = string,
  K extends string = string,
  V extends FeastType = FeastType,
> {
  name: N
  /** The column that identifies the entity. Feast stores one join key per entity. Defaults to `[name]`. */
  joinKeys?: readonly K[]
  /** The key's type; inferred from the feature views' sources at apply time when omitted. */
  valueType?: V
  description?: string
  tags?: Record<string, string>
  owner?: string
}

const ENTITY_KEYS = ['name', 'joinKeys', 'valueType', 'description', 'tags', 'owner'] as const

/**
 * The thing features describe (a driver, a customer), identified by a join key column. Its type
 * parameters hold the literal name, join key (the name when `joinKeys` is omitted) and key type, for
 * typed entity columns; they default to the wide types.
 *
 * @example new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
 */
export class Entity<
  const N extends string = string,
  const K extends string = N,
  V extends FeastType = FeastType,
> implements Branded<'Entity'>
{
  readonly [definitionKind] = 'Entity' as const
  readonly name: N
  readonly joinKey: K
  readonly valueType: V | undefined
  readonly description: string
  readonly tags: Readonly<Record<string, string>>
  readonly owner: string

  constructor(options: EntityOptions<N, K, V>) {
    checkKnownKeys('Entity', options, ENTITY_KEYS)
    this.name = checkName('entity', options.name) as N
    const where = `entity "${this.name}"`
    const joinKeys = options.joinKeys ?? [this.name]
    if (!globalThis.Array.isArray(joinKeys) || joinKeys.length !== 1) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where} has ${describeKeys(joinKeys)}; an entity has exactly one join key`,
        {
          hint: 'for a composite key, define one entity per key column and list them all in the feature view',
        },
      )
    }
    this.joinKey = checkColumnName(where, joinKeys[0]) as K
    if (options.valueType !== undefined && !ENTITY_KEY_VALUE_TYPES.has(options.valueType.valueType)) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where} has valueType ${options.valueType.name ?? valueTypeName(options.valueType.valueType)}, which cannot be a join key`,
        { hint: 'a join key is String, Int64, Int32, Bytes or UnixTimestamp' },
      )
    }
    this.valueType = options.valueType
    this.description = optionalString(where, 'description', options.description)
    this.tags = checkTags(where, options.tags)
    this.owner = optionalString(where, 'owner', options.owner)
    Object.freeze(this)
  }

  /** Feast's list form of the join key. */
  get joinKeys(): readonly K[] {
    return [this.joinKey]
  }

  /** A copy with the value type set, used when apply infers it from a source. */
  withValueType(valueType: FeastType): Entity {
    return new Entity({ ...this.options(), valueType })
  }

  private options(): EntityOptions {
    return {
      name: this.name,
      joinKeys: [this.joinKey],
      valueType: this.valueType,
      description: this.description,
      tags: { ...this.tags },
      owner: this.owner,
    }
  }
}

function describeKeys(keys: unknown): string {
  return globalThis.Array.isArray(keys)
    ? `${keys.length} join keys (${keys.join(', ')})`
    : `joinKeys ${JSON.stringify(keys)}`
}

/** Feast's dummy entity for entity-less feature views: join key `__dummy_id`, value `""`. */
export const DUMMY_ENTITY_NAME = '__dummy'
export const DUMMY_ENTITY_ID = '__dummy_id'
export const DUMMY_ENTITY_VALUE = ''
