import { LarderError } from './errors.js'
import type { FeastType } from './types.js'
import { checkColumnName, checkKnownKeys, checkTags, optionalString } from './validate.js'

/** Options of a {@link Field}; `N` and `T` keep the literal name and type for typed feature references. */
export interface FieldOptions<N extends string = string, T extends FeastType = FeastType> {
  name: N
  dtype: T
  description?: string
  tags?: Record<string, string>
}

const FIELD_KEYS = ['name', 'dtype', 'description', 'tags'] as const

/**
 * A named, typed column of a feature view, request source or on-demand view. Its type parameters hold
 * the literal name and Feast type it was built with (`Field<'conv_rate', ScalarType<'Float32'>>`), from
 * which typed feature references are derived; both default to the wide types.
 *
 * @example new Field({ name: 'conv_rate', dtype: Float32 })
 */
export class Field<const N extends string = string, T extends FeastType = FeastType> {
  readonly name: N
  readonly dtype: T
  readonly description: string
  readonly tags: Readonly<Record<string, string>>

  constructor(options: FieldOptions<N, T>) {
    checkKnownKeys('Field', options, FIELD_KEYS)
    this.name = checkColumnName('Field', options.name) as N
    const where = `Field "${this.name}"`
    const dtype = options.dtype as unknown
    if (typeof dtype !== 'object' || dtype === null || typeof (dtype as FeastType).valueType !== 'number') {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where} has dtype ${describe(dtype)}, which is not a Feast type`,
        {
          hint: "import a type from 'larderjs', e.g. dtype: Float32, Int64, String or Array(Int64)",
        },
      )
    }
    this.dtype = dtype as T
    this.description = optionalString(where, 'description', options.description)
    this.tags = checkTags(where, options.tags)
    Object.freeze(this)
  }
}

function describe(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'undefined' : typeof v
}

/** The names of a schema's fields, for messages. */
export function fieldNames(fields: readonly Field[]): string[] {
  return fields.map((f) => f.name)
}
