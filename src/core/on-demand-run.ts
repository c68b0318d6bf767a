import { countOf, isLarderError, knownNames, LarderError } from './errors.js'
import {
  type BatchTransform,
  type OnDemandFeatureView,
  type RowTransform,
  TRANSFORMATION_MODES,
} from './on-demand-feature-view.js'
import { type FeastType, ValueType } from './types.js'
import { decodeValue, encodeValue, type FeastValue } from './value-codec.js'

/**
 * The on-demand views of the deployed definitions, by name: where transformations run from. The
 * registry's copy of a view holds only the function's source text, which is never evaluated.
 */
export type DeployedOnDemandViews = ReadonlyMap<string, OnDemandFeatureView>

/** Input columns of one transformation run: an array per input name, each `rows` long. */
export type OnDemandColumns = Readonly<Record<string, readonly unknown[]>>

/**
 * The function that runs a registered on-demand view: the view's own when it was defined in this
 * process, else the deployed view of the same name, whose source text must equal the registered one.
 *
 * Throws UNSUPPORTED for a Python (Feast) transformation, NOT_FOUND when the deployed definitions lack
 * the view, and CONFLICT when the deployed code differs from the registered code (drift: apply first).
 */
export function transformOf(
  view: OnDemandFeatureView,
  deployed: DeployedOnDemandViews | undefined,
): RowTransform | BatchTransform {
  const { mode, bodyText, fn } = view.transformation
  const where = `on-demand feature view "${view.name}"`
  if (mode !== TRANSFORMATION_MODES.row && mode !== TRANSFORMATION_MODES.batch) {
    throw new LarderError(
      'UNSUPPORTED',
      `${where} has a Python transformation (mode "${mode}"), which Larder cannot run`,
      {
        hint: `redefine it in TypeScript with new OnDemandFeatureView({ name: '${view.name}', ..., transform }) and run \`larder apply\``,
        details: { view: view.name, mode },
      },
    )
  }
  if (fn) return fn
  const local = deployed?.get(view.name)
  if (!local?.transformation.fn) {
    throw new LarderError(
      'NOT_FOUND',
      `${where} is registered but not defined in the deployed feature repo`,
      {
        hint: `deploy the repo that defines it, or remove it with \`larder apply\`; deployed on-demand views: ${knownNames(deployed?.keys() ?? [])}`,
      },
    )
  }
  if (local.transformation.bodyText !== bodyText || local.transformation.mode !== mode) {
    throw new LarderError(
      'CONFLICT',
      `the deployed transformation of ${where} differs from the registered one`,
      { hint: 'run `larder plan` to see the change and `larder apply` to register the deployed code' },
    )
  }
  return local.transformation.fn
}

/**
 * Runs a transformation over `rows` input rows and returns one column per output field of the view's
 * schema, in schema order, each value in the Value codec's JS form for the field's type (so a Float32
 * output is rounded as storing it would round it).
 *
 * A `row` transformation is called once per row with a record of the inputs; a `batch` one once with
 * the columns. `rowLabel(i)` describes row `i` for messages (e.g. its entity keys).
 *
 * Throws TRANSFORMATION_FAILED naming the view and the row when the function throws, and
 * INVALID_DEFINITION naming the field when its output lacks a declared field, has an undeclared one,
 * or holds a value of the wrong type.
 */
export function runTransformation(
  view: OnDemandFeatureView,
  fn: RowTransform | BatchTransform,
  inputs: OnDemandColumns,
  rows: number,
  rowLabel: (row: number) => string,
): FeastValue[][] {
  const where = `on-demand feature view "${view.name}"`
  const fields = view.schema
  const out = fields.map(() => new Array<FeastValue>(rows))
  const names = Object.keys(inputs)
  const sources = names.map((n) => inputs[n]!)
  if (view.transformation.mode === TRANSFORMATION_MODES.batch) {
    let result: unknown
    try {
      result = (fn as BatchTransform)(inputs)
    } catch (cause) {
      throw failed(where, `the batch of ${countOf(rows, 'row')}`, cause)
    }
    const record = checkShape(where, result, fields, 'the batch')
    fields.forEach((f, j) => {
      const column = record[f.name]
      if (!Array.isArray(column) || column.length !== rows) {
        throw new LarderError(
          'INVALID_DEFINITION',
          `${where} returned ${Array.isArray(column) ? countOf(column.length, 'value') : typeof column} for "${f.name}" for a batch of ${countOf(rows, 'row')}`,
          { hint: 'a batch transformation returns one array per output field, as long as its inputs' },
        )
      }
      const convert = converter(where, f.name, f.dtype)
      for (let r = 0; r < rows; r++) out[j]![r] = convert(column[r], rowLabel, r)
    })
    return out
  }
  const converters = fields.map((f) => converter(where, f.name, f.dtype))
  for (let r = 0; r < rows; r++) {
    const record: Record<string, unknown> = {}
    for (let i = 0; i < names.length; i++) record[names[i]!] = sources[i]![r]
    let result: unknown
    try {
      result = (fn as RowTransform)(record)
    } catch (cause) {
      throw failed(where, rowLabel(r), cause)
    }
    const got = checkShape(where, result, fields, rowLabel(r))
    for (let j = 0; j < fields.length; j++) out[j]![r] = converters[j]!(got[fields[j]!.name], rowLabel, r)
  }
  return out
}

/**
 * The rows a view stored at write time (`writeToOnlineStore`) gets for rows written to its source
 * view: inputs are the written Values decoded again (what an online read would give the function),
 * outputs are encoded by the view's schema, and each row keeps its source row's key and times.
 * `features` names the written values in order.
 */
export function onDemandWriteRows<R extends { readonly values: readonly Uint8Array[] }>(
  view: OnDemandFeatureView,
  fn: RowTransform | BatchTransform,
  features: readonly string[],
  rows: readonly R[],
  rowLabel: (row: number) => string,
): (R & { values: Uint8Array[] })[] {
  const columns: Record<string, FeastValue[]> = {}
  for (const input of view.inputs) {
    const at = features.indexOf(input.name)
    columns[input.name] = rows.map((row) => decodeValue(row.values[at]!))
  }
  const outputs = runTransformation(view, fn, columns, rows.length, rowLabel)
  return rows.map((row, r) => ({
    ...row,
    values: view.schema.map((f, j) => encodeValue(f.dtype, outputs[j]![r])),
  }))
}

function failed(where: string, row: string, cause: unknown): LarderError {
  const message = cause instanceof Error ? cause.message : String(cause)
  return new LarderError('TRANSFORMATION_FAILED', `${where} threw for ${row}: ${message}`, {
    cause,
    hint: 'fix the transformation, or guard it against these inputs (missing values arrive as null)',
  })
}

function checkShape(
  where: string,
  result: unknown,
  fields: OnDemandFeatureView['schema'],
  row: string,
): Record<string, unknown> {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) {
    throw new LarderError(
      'INVALID_DEFINITION',
      `${where} returned ${result === null ? 'null' : typeof result} for ${row}`,
      {
        hint: `return an object with the fields ${knownNames(fields.map((f) => f.name))}`,
      },
    )
  }
  const record = result as Record<string, unknown>
  for (const f of fields) {
    if (!(f.name in record)) {
      throw new LarderError('INVALID_DEFINITION', `${where} returned no "${f.name}" for ${row}`, {
        hint: `return every declared field: ${knownNames(fields.map((x) => x.name))}`,
        details: { field: f.name },
      })
    }
  }
  if (Object.keys(record).length !== fields.length) {
    const extra = Object.keys(record).find((k) => !fields.some((f) => f.name === k))
    throw new LarderError(
      'INVALID_DEFINITION',
      `${where} returned the undeclared field "${extra}" for ${row}`,
      {
        hint: `declare it in the schema or stop returning it; declared: ${knownNames(fields.map((f) => f.name))}`,
        details: { field: extra },
      },
    )
  }
  return record
}

type Converter = (value: unknown, rowLabel: (row: number) => string, row: number) => FeastValue

/**
 * The canonical form of the common scalars that already have it, without the codec round trip that
 * costs about a microsecond a value; undefined for anything else.
 */
function plainScalar(valueType: number, v: unknown): FeastValue | undefined {
  switch (valueType) {
    case ValueType.DOUBLE:
      return typeof v === 'number' ? v : undefined
    case ValueType.INT64:
      return Number.isSafeInteger(v) ? (v as number) : undefined
    case ValueType.STRING:
      return typeof v === 'string' ? v : undefined
    case ValueType.BOOL:
      return typeof v === 'boolean' ? v : undefined
    default:
      return undefined
  }
}

/** Checks a value against a declared type and returns its canonical form (what a store would give back). */
function converter(where: string, field: string, dtype: FeastType): Converter {
  const valueType = dtype.valueType
  return (value, rowLabel, row) => {
    if (value === null || value === undefined) return null
    const plain = plainScalar(valueType, value)
    if (plain !== undefined) return plain
    try {
      return decodeValue(encodeValue(dtype, value))
    } catch (cause) {
      if (!isLarderError(cause) && !(cause instanceof Error)) throw cause
      throw new LarderError(
        'INVALID_DEFINITION',
        `${where} returned ${describe(value)} for "${field}" (${dtype.name}) for ${rowLabel(row)}`,
        { cause, hint: `return a ${dtype.name} value, or change the field's dtype`, details: { field } },
      )
    }
  }
}

/**
 * Checks request data against its declared type and returns its canonical form, so the online and the
 * offline path hand a transformation the same values. Throws INVALID_ARGUMENT naming the field.
 */
export function requestValue(field: string, dtype: FeastType, value: unknown, row: number): FeastValue {
  if (value === null || value === undefined) return null
  const plain = plainScalar(dtype.valueType, value)
  if (plain !== undefined) return plain
  try {
    return decodeValue(encodeValue(dtype, value))
  } catch (cause) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `request field "${field}" has ${describe(value)} in row ${row}, which is not a ${dtype.name}`,
      { cause, hint: `send a ${dtype.name} value for "${field}"`, details: { field } },
    )
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object'
  return `${typeof value} ${String(value)}`
}
