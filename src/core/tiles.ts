/**
 * Tiles: how a windowed aggregation is kept online. Events are cut by event time into tiles of the
 * view's hop `h` (tile `i` holds event timestamps in [i·h, (i+1)·h)); each tile keeps one partial
 * state per aggregation; a read at time t merges the tiles of the window and finishes the states.
 *
 * The window of W hops read at t is tiles ⌊t/h⌋+1−W/h … ⌊t/h⌋, which is the offline semantics
 * (events in [(⌊t/h⌋+1−W/h)·h, t]) except that the newest tile also holds events later than t when
 * they have arrived (an online read cannot unsee an event stamped in its future).
 *
 * Partial states have one text form, shared by every online store (and Redis's merge script):
 * numbers are written so they parse back to the same double (JS `String`, Lua `%.17g`).
 */
import { LarderError } from './errors.js'
import type { Micros } from './time.js'
import type { FeastType } from './types.js'
import { encodeValue } from './value-codec.js'

/** The canonical aggregation functions (aliases folded: mean → avg, stddev → std, variance → var). */
export type TileFunction = 'sum' | 'count' | 'min' | 'max' | 'avg' | 'std' | 'var' | 'count_distinct' | 'last'

const CANONICAL: Readonly<Record<string, TileFunction>> = {
  sum: 'sum',
  count: 'count',
  min: 'min',
  max: 'max',
  avg: 'avg',
  mean: 'avg',
  std: 'std',
  stddev: 'std',
  var: 'var',
  variance: 'var',
  count_distinct: 'count_distinct',
  last: 'last',
}

/** The canonical function of an aggregation's function name as written (case-insensitive). */
export function tileFunction(written: string): TileFunction {
  const fn = CANONICAL[written.toLowerCase()]
  if (fn === undefined) {
    throw new LarderError('INVALID_DEFINITION', `unknown aggregation function ${JSON.stringify(written)}`, {
      hint: `use one of ${Object.keys(CANONICAL).join(', ')}`,
    })
  }
  return fn
}

/**
 * A partial state of one aggregation over some events:
 * - `count`: `[n]`; `sum` and `avg`: `[n, sum]`; `var` and `std`: `[n, mean, m2]` (merged by Chan's
 *   parallel rule); `min` and `max`: `[v]` — counting only non-null values;
 * - `count_distinct`: the distinct non-null values, each as its JSON text (exact, per tile);
 * - `last`: the latest event by event time, then created time, then stream order, with its value as
 *   Feast Value bytes (zero bytes for null) — a null value is still the latest event's value.
 */
export type TileState =
  | { readonly kind: 'numbers'; readonly numbers: readonly number[] }
  | { readonly kind: 'distinct'; readonly values: ReadonlySet<string> }
  | { readonly kind: 'last'; readonly latest: LastEvent }

/** The event a `last` state holds and the keys that order it against another. */
export interface LastEvent {
  readonly ts: Micros
  /** The created timestamp; -Infinity when the event has none (lowest). */
  readonly created: number
  /** The broker's order of the event, as a string that sorts in stream order (fixed-width digits). */
  readonly order: string
  readonly value: Uint8Array
}

/** What a tile store needs to know of one aggregation. */
export interface TileAggregation {
  readonly fn: TileFunction
  /** The output feature's name. */
  readonly name: string
  /** The window length in hops. */
  readonly hops: number
  /** The output feature's type, for the Value bytes a read returns. */
  readonly outputType: FeastType
}

/**
 * The state one event adds to a tile, or undefined when it adds nothing (a null value, except for
 * `last`). `value` is the event's column value in the JS form of the value codec; numbers for the
 * numeric functions.
 */
export function eventState(
  agg: TileAggregation,
  value: unknown,
  event: { readonly ts: Micros; readonly created: number; readonly order: string },
): TileState | undefined {
  if (agg.fn === 'last') {
    return {
      kind: 'last',
      latest: {
        ts: event.ts,
        created: event.created,
        order: event.order,
        value: encodeValue(agg.outputType, value ?? null),
      },
    }
  }
  if (value === null || value === undefined) return undefined
  switch (agg.fn) {
    case 'count':
      return numbers(1)
    case 'count_distinct':
      return { kind: 'distinct', values: new Set([distinctKey(value)]) }
    case 'sum':
    case 'avg':
      return numbers(1, toNumber(value))
    case 'var':
    case 'std':
      return numbers(1, toNumber(value), 0)
    case 'min':
    case 'max':
      return numbers(toNumber(value))
  }
}

/** Merges two states of the same aggregation; either may be undefined (no events). */
export function mergeStates(
  fn: TileFunction,
  a: TileState | undefined,
  b: TileState | undefined,
): TileState | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  if (a.kind === 'last' && b.kind === 'last') return laterThan(b.latest, a.latest) ? b : a
  if (a.kind === 'distinct' && b.kind === 'distinct') {
    if (b.values.size > a.values.size) return mergeStates(fn, b, a)
    const values = new Set(a.values)
    for (const v of b.values) values.add(v)
    return { kind: 'distinct', values }
  }
  if (a.kind !== 'numbers' || b.kind !== 'numbers') throw mismatch(fn)
  const [x, y] = [a.numbers, b.numbers]
  switch (fn) {
    case 'count':
      return numbers(x[0]! + y[0]!)
    case 'sum':
    case 'avg':
      return numbers(x[0]! + y[0]!, x[1]! + y[1]!)
    case 'var':
    case 'std': {
      const [na, ma, m2a] = x as [number, number, number]
      const [nb, mb, m2b] = y as [number, number, number]
      const n = na + nb
      const delta = mb - ma
      return numbers(n, ma + (delta * nb) / n, m2a + m2b + (delta * delta * na * nb) / n)
    }
    case 'min':
      return numbers(Math.min(x[0]!, y[0]!))
    case 'max':
      return numbers(Math.max(x[0]!, y[0]!))
    default:
      throw mismatch(fn)
  }
}

/** True when event `a` is later than `b`: by event time, then created time, then stream order. */
export function laterThan(a: LastEvent, b: LastEvent): boolean {
  if (a.ts !== b.ts) return a.ts > b.ts
  if (a.created !== b.created) return a.created > b.created
  return a.order > b.order
}

/**
 * The aggregation's value over the merged state of its window, as Value bytes of its output type
 * (zero bytes for null): `count` and `count_distinct` are 0 over no events, the others null; `var`
 * and `std` are sample statistics, null under two values; `last` is the latest event's stored value.
 */
export function finishState(agg: TileAggregation, state: TileState | undefined): Uint8Array {
  if (state?.kind === 'last') return state.latest.value
  return encodeValue(agg.outputType, finishedValue(agg.fn, state))
}

function finishedValue(fn: TileFunction, state: TileState | undefined): unknown {
  if (state === undefined) return fn === 'count' || fn === 'count_distinct' ? 0 : null
  if (state.kind === 'last') return undefined
  if (state.kind === 'distinct') return state.values.size
  const [a, b, c] = state.numbers as [number, number, number]
  switch (fn) {
    case 'count':
    case 'min':
    case 'max':
      return a
    case 'sum':
      return b
    case 'avg':
      return b / a
    case 'var':
      return a < 2 ? null : c / (a - 1)
    case 'std':
      return a < 2 ? null : Math.sqrt(c / (a - 1))
    default:
      throw mismatch(fn)
  }
}

/** The text form of a state (see the module comment). */
export function encodeState(state: TileState): string {
  switch (state.kind) {
    case 'numbers':
      return state.numbers.map(String).join(',')
    case 'distinct':
      return JSON.stringify([...state.values])
    case 'last': {
      const { ts, created, order, value } = state.latest
      const c = created === -Infinity ? '' : String(created)
      return `${ts},${c},${order},${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')}`
    }
  }
}

/** Reads a state's text form back; throws DATA_SOURCE naming the text when it is not one. */
export function decodeState(fn: TileFunction, text: string): TileState {
  try {
    if (fn === 'count_distinct') {
      const values: unknown = JSON.parse(text)
      if (!Array.isArray(values) || !values.every((v) => typeof v === 'string')) throw new Error()
      return { kind: 'distinct', values: new Set(values as string[]) }
    }
    const parts = text.split(',')
    if (fn === 'last') {
      if (parts.length !== 4) throw new Error()
      const [ts, created, order, value] = parts as [string, string, string, string]
      return {
        kind: 'last',
        latest: {
          ts: parsed(ts),
          created: created === '' ? -Infinity : parsed(created),
          order,
          value: new Uint8Array(Buffer.from(value, 'base64')),
        },
      }
    }
    if (parts.length !== STATE_WIDTH[fn]) throw new Error()
    return numbers(...parts.map(parsed))
  } catch {
    throw new LarderError(
      'DATA_SOURCE',
      `a stored tile state of ${fn} is not one: ${JSON.stringify(text.slice(0, 80))}`,
      {
        hint: 'the online store holds tiles another program wrote; rebuild them by replaying the stream',
      },
    )
  }
}

const STATE_WIDTH: Readonly<Record<Exclude<TileFunction, 'count_distinct' | 'last'>, number>> = {
  count: 1,
  sum: 2,
  avg: 2,
  var: 3,
  std: 3,
  min: 1,
  max: 1,
}

/** The tile holding event time `ts`: ⌊ts/h⌋ (also for times before the epoch). */
export function tileIndex(ts: Micros, hopMicros: number): number {
  return Math.floor(ts / hopMicros)
}

/** The first tile of the window of `hops` hops read at `t`. */
export function firstTileOfWindow(t: Micros, hopMicros: number, hops: number): number {
  return tileIndex(t, hopMicros) + 1 - hops
}

/**
 * The oldest tile any window of at most `maxHops` hops can still read at `now`: older tiles have
 * expired out of every window and may be removed.
 */
export function oldestLiveTile(now: Micros, hopMicros: number, maxHops: number): number {
  return firstTileOfWindow(now, hopMicros, maxHops)
}

/** The JSON text that identifies a value among distinct values (−0 and 0 are one value, as in SQL). */
function distinctKey(value: unknown): string {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Date) return String(value.getTime())
  return JSON.stringify(value === 0 ? 0 : value)
}

function toNumber(value: unknown): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value
    throw new LarderError('INVALID_ARGUMENT', `${value} cannot be aggregated`, {
      hint: 'send finite numbers: an infinity would make the window sums and variances meaningless',
    })
  }
  if (typeof value === 'bigint') return Number(value)
  throw new LarderError('INVALID_ARGUMENT', `expected a number to aggregate, got ${typeof value}`, {
    hint: 'send numbers for the columns that sum, avg, min, max, std and var aggregate',
  })
}

const LUA_INFINITY: Readonly<Record<string, number>> = { inf: Infinity, '-inf': -Infinity }

function numbers(...values: number[]): TileState {
  return { kind: 'numbers', numbers: values }
}

/**
 * The number a state's text holds, written by JS (`Infinity`) or by Lua's `%.17g` (`inf`); throws on
 * anything else (`Number` would read '' and ' ' as 0).
 */
function parsed(text: string): number {
  const n = LUA_INFINITY[text] ?? Number(text)
  if (text.trim() === '' || Number.isNaN(n)) throw new Error('not a number')
  return n
}

function mismatch(fn: TileFunction): LarderError {
  return new LarderError('INTERNAL', `tile states of different kinds cannot be merged for ${fn}`)
}
