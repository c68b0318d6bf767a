import {
  decodeValue,
  encodeValue,
  type FeastValue,
  knownNames,
  LarderError,
  type OnDemandFeatureView,
  runTransformation,
  toMicros,
  ValueType,
} from '../core/index.js'

/** One row of inputs to an on-demand view: each source feature and request field by name. */
export type OnDemandInputs = Readonly<Record<string, unknown>>

/** One row of outputs of an on-demand view: each output field by name. */
export type OnDemandOutputs = Record<string, FeastValue>

/**
 * Runs an on-demand view's transformation on inputs given by hand, as an online read runs it, and
 * returns its outputs. Each input is first converted to the type its source declares, as the function
 * receives it online (a Float32 input `0.1` arrives as `0.10000000149011612`; a timestamp as epoch
 * seconds, so a `Date` or ISO-8601 text may be given), and each output is checked against the view's
 * schema and converted as storing it would (a Float32 output is rounded to 32 bits). One row object
 * in, one out; an array of rows in, an array out (a `batch` view gets them as one batch).
 *
 * Throws INVALID_ARGUMENT naming the view, row and input when an input is missing (give `null` for a
 * missing value), unknown, or not of its type; TRANSFORMATION_FAILED when the function throws; and
 * INVALID_DEFINITION when its output lacks a declared field, has an undeclared one, or holds a value of
 * the wrong type. Needs no store and no test runner.
 *
 * @example
 * runOnDemand(transformedConvRate, { conv_rate: 0.5, val_to_add: 1, val_to_add_2: 2 })
 * // { conv_rate_plus_val1: 1.5, conv_rate_plus_val2: 2.5 }
 */
export function runOnDemand(view: OnDemandFeatureView, inputs: OnDemandInputs): OnDemandOutputs
export function runOnDemand(view: OnDemandFeatureView, inputs: readonly OnDemandInputs[]): OnDemandOutputs[]
export function runOnDemand(
  view: OnDemandFeatureView,
  inputs: OnDemandInputs | readonly OnDemandInputs[],
): OnDemandOutputs | OnDemandOutputs[] {
  const where = `runOnDemand: on-demand feature view "${view.name}"`
  const fn = view.transformation.fn
  if (fn === undefined) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `${where} has no function to run (it was read from a registry)`,
      {
        hint: 'pass the view from your definitions module, where its transform is defined',
      },
    )
  }
  const rows = Array.isArray(inputs) ? (inputs as readonly OnDemandInputs[]) : [inputs as OnDemandInputs]
  const declared = view.inputs
  const names = declared.map((i) => i.name)
  const columns: Record<string, FeastValue[]> = Object.fromEntries(names.map((n) => [n, []]))
  rows.forEach((row, r) => {
    if (typeof row !== 'object' || row === null) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `${where}: input row ${r} is ${row === null ? 'null' : typeof row}`,
        {
          hint: `give an object with the inputs ${knownNames(names)}`,
        },
      )
    }
    const unknown = Object.keys(row).find((k) => !names.includes(k))
    if (unknown !== undefined) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `${where} has no input "${unknown}" (given in input row ${r})`,
        {
          hint: `its inputs: ${knownNames(names)}`,
        },
      )
    }
    for (const input of declared) {
      if (!Object.hasOwn(row, input.name)) {
        throw new LarderError(
          'INVALID_ARGUMENT',
          `${where} needs the input "${input.name}", which input row ${r} does not give`,
          {
            hint: `give every input (${knownNames(names)}); null stands for a missing value`,
          },
        )
      }
      columns[input.name]!.push(
        asReceived(where, input.name, input.dtype.valueType, input.dtype.name, row[input.name], r),
      )
    }
  })
  const outputs = runTransformation(view, fn, columns, rows.length, (r) => `input row ${r}`)
  const records = rows.map(
    (_, r) => Object.fromEntries(view.schema.map((f, j) => [f.name, outputs[j]![r]!])) as OnDemandOutputs,
  )
  return Array.isArray(inputs) ? records : records[0]!
}

/** An input value as the transformation receives it online: encoded as its type and decoded again. */
function asReceived(
  where: string,
  name: string,
  valueType: number,
  typeName: string,
  value: unknown,
  row: number,
): FeastValue {
  if (value === null || value === undefined) return null
  try {
    if (valueType === ValueType.UNIX_TIMESTAMP && (value instanceof Date || typeof value === 'string')) {
      return Math.floor(toMicros(value, `input "${name}"`) / 1_000_000)
    }
    return decodeValue(encodeValue(valueType, value as FeastValue))
  } catch (cause) {
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value)
    throw new LarderError(
      'INVALID_ARGUMENT',
      `${where}: input "${name}" is ${shown} in input row ${row}, which is not a ${typeName}`,
      { cause, hint: `give "${name}" a ${typeName} value, or null` },
    )
  }
}
