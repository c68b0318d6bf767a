import { LarderError } from './errors.js'

const OBJECT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_\-.]*$/

/** Throws unless `name` is a usable object name: letters, digits, `_`, `-`, `.`, not starting with `-` or `.`. */
export function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || !OBJECT_NAME.test(name)) {
    throw new LarderError('INVALID_DEFINITION', `${kind} name ${JSON.stringify(name)} is not valid`, {
      hint: `give the ${kind} a name of letters, digits, "_" or "-", e.g. "driver_hourly_stats"`,
    })
  }
  return name
}

/** Throws unless `name` is a usable column or feature name: non-empty, no `:` and no surrounding spaces. */
export function checkColumnName(where: string, name: unknown): string {
  if (typeof name !== 'string' || name === '' || name.includes(':') || name.trim() !== name) {
    throw new LarderError(
      'INVALID_DEFINITION',
      `${where}: column name ${JSON.stringify(name)} is not valid`,
      {
        hint: 'use a non-empty name without ":" or surrounding spaces',
      },
    )
  }
  return name
}

/** Copies and freezes a tags object, checking that every key and value is a string. */
export function checkTags(where: string, tags: unknown): Readonly<Record<string, string>> {
  if (tags === undefined) return Object.freeze({})
  if (typeof tags !== 'object' || tags === null || globalThis.Array.isArray(tags)) {
    throw new LarderError('INVALID_DEFINITION', `${where}: tags must be an object of strings`, {
      hint: "write tags as { team: 'drivers' }",
    })
  }
  for (const [k, v] of Object.entries(tags)) {
    if (typeof v !== 'string') {
      throw new LarderError('INVALID_DEFINITION', `${where}: tag "${k}" must be a string, got ${typeof v}`, {
        hint: `write it as { ${k}: '${String(v)}' }`,
      })
    }
  }
  return Object.freeze({ ...(tags as Record<string, string>) })
}

/** Throws unless `value` is a string or undefined; returns it or the default. */
export function optionalString(where: string, field: string, value: unknown, fallback = ''): string {
  if (value === undefined || value === null) return fallback
  if (typeof value !== 'string') {
    throw new LarderError('INVALID_DEFINITION', `${where}: ${field} must be a string, got ${typeof value}`)
  }
  return value
}

/** Rejects option keys the constructor does not know, listing the known ones. */
export function checkKnownKeys(where: string, options: object, known: readonly string[]): void {
  if (typeof options !== 'object' || options === null) {
    throw new LarderError('INVALID_DEFINITION', `${where} needs an options object`, {
      hint: `pass { ${known.slice(0, 3).join(', ')}, ... }`,
    })
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new LarderError('INVALID_DEFINITION', `${where}: unknown option "${key}"`, {
        hint: `known options: ${known.join(', ')}`,
      })
    }
  }
}
