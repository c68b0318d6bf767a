import { type DurationInput, formatDuration, parseDuration } from './duration.js'
import { knownNames, LarderError } from './errors.js'
import { Field } from './field.js'
import { type FeastType, Float64, Int64, ValueType } from './types.js'
import { checkColumnName, checkKnownKeys, optionalString } from './validate.js'

/** What an aggregation function accepts and returns. */
interface AggregationFunction {
  /** Which column types it aggregates, for messages. */
  readonly accepts: string
  /** Whether it can aggregate a column of this type. */
  takes(t: FeastType): boolean
  /** The type of its result over a column of type `t`. */
  output(t: FeastType): FeastType
}

const NUMERIC: ReadonlySet<number> = new globalThis.Set([
  ValueType.INT32,
  ValueType.INT64,
  ValueType.FLOAT,
  ValueType.DOUBLE,
])
const INTEGER: ReadonlySet<number> = new globalThis.Set([ValueType.INT32, ValueType.INT64])
const ORDERED: ReadonlySet<number> = new globalThis.Set([...NUMERIC, ValueType.UNIX_TIMESTAMP])

const numeric = (t: FeastType) => NUMERIC.has(t.valueType)
const scalar = (t: FeastType) => t.element === undefined && t.fields === undefined
const anyType = () => true

const sum: AggregationFunction = {
  accepts: 'numbers (Int32, Int64, Float32, Float64)',
  takes: numeric,
  output: (t) => (INTEGER.has(t.valueType) ? Int64 : Float64),
}
const count: AggregationFunction = {
  accepts: 'any type',
  takes: anyType,
  output: () => Int64,
}
const extreme: AggregationFunction = {
  accepts: 'numbers and UnixTimestamp',
  takes: (t) => ORDERED.has(t.valueType),
  output: (t) => t,
}
const mean: AggregationFunction = {
  accepts: 'numbers (Int32, Int64, Float32, Float64)',
  takes: numeric,
  output: () => Float64,
}

/**
 * The aggregation functions, by name. Feast's: `sum`, `count` (non-null values), `min`, `max`,
 * `avg`/`mean`, `std`/`stddev` (sample standard deviation), `var`/`variance` (sample variance). Larder's
 * own: `count_distinct`, the number of distinct non-null values — exact online too, where each tile
 * keeps its distinct values (so its memory grows with them); and `last`, the value of the latest event
 * in the window.
 */
const FUNCTIONS: Readonly<Record<string, AggregationFunction>> = {
  sum,
  count,
  min: extreme,
  max: extreme,
  avg: mean,
  mean,
  std: mean,
  stddev: mean,
  var: mean,
  variance: mean,
  count_distinct: { accepts: 'scalar types', takes: scalar, output: () => Int64 },
  last: { accepts: 'any type', takes: anyType, output: (t) => t },
}

/** The names of the aggregation functions, Feast's and Larder's. */
export const AGGREGATION_FUNCTIONS: readonly string[] = Object.freeze(Object.keys(FUNCTIONS))

export interface AggregationOptions {
  /** The event field to aggregate; must be in the view's schema. */
  column: string
  /** One of {@link AGGREGATION_FUNCTIONS} (case-insensitive, kept as written). */
  function: string
  /** The window ending at read time whose events are aggregated; a positive duration. */
  timeWindow: DurationInput
  /** How often a sliding window moves; defaults to `timeWindow` (a tumbling window), as in Feast. */
  slideInterval?: DurationInput
  /** The output feature's name; defaults to Feast's `{function}_{column}_{seconds}s`. */
  name?: string
}

const AGGREGATION_KEYS = ['column', 'function', 'timeWindow', 'slideInterval', 'name'] as const

/**
 * A windowed aggregation of a stream feature view, as Feast's `Aggregation`: one output feature whose
 * value at time t aggregates the values of `column` in the events of the window ending at t.
 *
 * @example new Aggregation({ column: 'amount', function: 'sum', timeWindow: '1h' }) // feature sum_amount_3600s
 */
export class Aggregation {
  readonly column: string
  /** The function's name as written. */
  readonly function: string
  /** Seconds. */
  readonly timeWindow: number
  /** Seconds; equal to `timeWindow` unless set. */
  readonly slideInterval: number
  /** The name given, or '' for Feast's default (see {@link Aggregation.outputName}). */
  readonly name: string

  constructor(options: AggregationOptions) {
    checkKnownKeys('Aggregation', options, AGGREGATION_KEYS)
    const column = checkColumnName('Aggregation', options.column)
    const fn = optionalString(`aggregation of "${column}"`, 'function', options.function)
    const where = `aggregation ${JSON.stringify(fn)} of "${column}"`
    if (!Object.hasOwn(FUNCTIONS, fn.toLowerCase())) {
      throw new LarderError('INVALID_DEFINITION', `${where}: unknown function ${JSON.stringify(fn)}`, {
        hint: `use one of ${knownNames(AGGREGATION_FUNCTIONS)}`,
      })
    }
    this.column = column
    this.function = fn
    this.timeWindow = positiveDuration(where, 'timeWindow', options.timeWindow)
    this.slideInterval =
      options.slideInterval === undefined
        ? this.timeWindow
        : positiveDuration(where, 'slideInterval', options.slideInterval)
    this.name = options.name === undefined || options.name === '' ? '' : checkColumnName(where, options.name)
    Object.freeze(this)
  }

  /**
   * The output feature's name: `name` when given, else Feast's default `{function}_{column}_{seconds}s`
   * (whole seconds of the window, as Feast's `Aggregation.resolved_name(time_window)`).
   *
   * @example new Aggregation({ column: 'amount', function: 'avg', timeWindow: '1h' }).outputName // 'avg_amount_3600s'
   */
  get outputName(): string {
    return this.name || `${this.function}_${this.column}_${Math.trunc(this.timeWindow)}s`
  }

  /** `sum(amount) over 1h`, for messages and listings. */
  describe(): string {
    const slide = this.slideInterval === this.timeWindow ? '' : ` every ${formatDuration(this.slideInterval)}`
    return `${this.function}(${this.column}) over ${formatDuration(this.timeWindow)}${slide}`
  }

  /**
   * The output feature over a column of type `columnType`: its name and its type (Int64 for counts,
   * Float64 for averages and deviations, Int64 or Float64 for sums, the column's own type for min, max
   * and last). Throws INVALID_DEFINITION when the function cannot aggregate that type.
   */
  outputField(columnType: FeastType, owner: string): Field {
    const fn = FUNCTIONS[this.function.toLowerCase()]!
    if (!fn.takes(columnType)) {
      throw new LarderError(
        'INVALID_DEFINITION',
        `${owner}: ${this.describe()} cannot aggregate "${this.column}", which is ${columnType.name}`,
        { hint: `${this.function} takes ${fn.accepts}; aggregate another field or use another function` },
      )
    }
    return new Field({ name: this.outputName, dtype: fn.output(columnType) })
  }

  /** The options that rebuild this aggregation. */
  options(): AggregationOptions {
    return {
      column: this.column,
      function: this.function,
      timeWindow: this.timeWindow,
      slideInterval: this.slideInterval,
      name: this.name || undefined,
    }
  }
}

function positiveDuration(where: string, field: string, input: unknown): number {
  if (typeof input !== 'number' && typeof input !== 'string') {
    throw new LarderError(
      'INVALID_DEFINITION',
      `${where}: ${field} must be a duration, got ${typeof input}`,
      {
        hint: "write seconds or a string such as '5m', '1h', '1d'",
      },
    )
  }
  const seconds = parseDuration(input, `${where} ${field}`)
  if (seconds <= 0) {
    throw new LarderError(
      'INVALID_DEFINITION',
      `${where}: ${field} ${JSON.stringify(input)} is not a positive duration`,
      {
        hint: "a window aggregates the events of a span of time; write e.g. '1h' or 3600",
      },
    )
  }
  return seconds
}
