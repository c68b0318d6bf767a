import { LarderError } from './errors.js'
import type { FeastType } from './types.js'
import { checkColumnName, checkKnownKeys, checkTags, optionalString } from './validate.js'

export interface FieldOptions {
  name: string
  dtype: FeastType
  description?: string
  tags?: Record<string, string>
}

const FIELD_KEYS = ['name', 'dtype', 'description', 'tags'] as const

/**
 * A named, typed column of a feature view, request source or on-demand view.
 *
 * @example new Field({ name: 'conv_rate', dtype: Float32 })
 */
export class Field {
  readonly name: string
  readonly dtype: FeastType
  readonly description: string
  readonly tags: Readonly<Record<string, string>>

  constructor(options: FieldOptions) {
    checkKnownKeys('Field', options, FIELD_KEYS)
    this.name = checkColumnName('Field', options.name)
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
    this.dtype = dtype as FeastType
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
