import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isLarderError } from './errors.js'
import {
  decodeState,
  encodeState,
  eventState,
  finishState,
  firstTileOfWindow,
  laterThan,
  mergeStates,
  oldestLiveTile,
  type TileAggregation,
  type TileFunction,
  type TileState,
  tileFunction,
  tileIndex,
} from './tiles.js'
import { type FeastType, Float64, Int64, String as Str } from './types.js'
import { decodeValue, encodeValue } from './value-codec.js'

const EVENT = { ts: 1_000, created: -Infinity, order: '000000000001' }
const agg = (fn: TileFunction, outputType: FeastType = Float64): TileAggregation => ({
  fn,
  name: fn,
  hops: 1,
  outputType,
})
const numbers = (state: TileState | undefined) => (state?.kind === 'numbers' ? state.numbers : undefined)

/** The state of these values, merged one event at a time. */
function stateOf(fn: TileFunction, values: readonly unknown[]): TileState | undefined {
  return values.reduce<TileState | undefined>(
    (state, v) => mergeStates(fn, state, eventState(agg(fn), v, EVENT)),
    undefined,
  )
}

const finished = (fn: TileFunction, state: TileState | undefined, outputType: FeastType = Float64) =>
  decodeValue(finishState(agg(fn, outputType), state))

/** The error `run` throws (fails the test when it returns). */
function thrown(run: () => unknown): Error & { code?: string; hint?: string } {
  try {
    run()
  } catch (e) {
    return e as Error
  }
  throw new Error('expected a throw')
}

describe('tileFunction', () => {
  it('folds aliases and case to the canonical function', () => {
    expect(['mean', 'AVG', 'stddev', 'variance', 'Count_Distinct', 'last'].map(tileFunction)).toEqual([
      'avg',
      'avg',
      'std',
      'var',
      'count_distinct',
      'last',
    ])
  })

  it('rejects an unknown function as INVALID_DEFINITION naming the known ones', () => {
    const e = thrown(() => tileFunction('median'))
    expect(isLarderError(e) && e.code).toBe('INVALID_DEFINITION')
    expect(e.message).toContain('"median"')
    expect(e.hint).toContain('count_distinct')
  })
})

describe('eventState', () => {
  it('adds nothing for a null value, except to last, which keeps the null as zero bytes', () => {
    for (const fn of ['sum', 'count', 'min', 'max', 'avg', 'std', 'var', 'count_distinct'] as const) {
      expect(eventState(agg(fn), null, EVENT), fn).toBeUndefined()
      expect(eventState(agg(fn), undefined, EVENT), fn).toBeUndefined()
    }
    const last = eventState(agg('last', Int64), null, EVENT)
    expect(last?.kind === 'last' && last.latest.value).toEqual(new Uint8Array(0))
  })

  it('starts each function from one value', () => {
    expect(numbers(eventState(agg('count'), 'x', EVENT))).toEqual([1])
    expect(numbers(eventState(agg('sum'), 2.5, EVENT))).toEqual([1, 2.5])
    expect(numbers(eventState(agg('avg'), 4n, EVENT))).toEqual([1, 4])
    expect(numbers(eventState(agg('var'), 3, EVENT))).toEqual([1, 3, 0])
    expect(numbers(eventState(agg('min'), -1, EVENT))).toEqual([-1])
    const last = eventState(agg('last', Str), 'hi', EVENT)
    expect(last?.kind === 'last' && decodeValue(last.latest.value)).toBe('hi')
  })

  it('counts -0 and 0 as one distinct value, 1 and 1n too, but not the string "1"', () => {
    expect(finished('count_distinct', stateOf('count_distinct', [0, -0, 1, '1', 1n, 'a', 'a']), Int64)).toBe(
      4,
    )
  })

  it('rejects a value that is not a number for a numeric function, as INVALID_ARGUMENT', () => {
    const e = thrown(() => eventState(agg('sum'), 'ten', EVENT))
    expect(isLarderError(e) && e.code).toBe('INVALID_ARGUMENT')
    expect(e.hint).toBeTruthy()
  })
})

describe('mergeStates', () => {
  it('treats undefined as no events', () => {
    const s = eventState(agg('sum'), 1, EVENT)
    expect(mergeStates('sum', undefined, s)).toBe(s)
    expect(mergeStates('sum', s, undefined)).toBe(s)
    expect(mergeStates('sum', undefined, undefined)).toBeUndefined()
  })

  it('merges var and std by Chan: any grouping gives the two-pass sample variance', () => {
    const value = fc.double({ min: -1e6, max: 1e6, noNaN: true })
    fc.assert(
      fc.property(
        fc.array(fc.array(value, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 6 }),
        (groups) => {
          const all = groups.flat()
          const mean = all.reduce((s, v) => s + v, 0) / all.length
          const squares = all.reduce((s, v) => s + v * v, 0)
          const want = all.length < 2 ? null : all.reduce((s, v) => s + (v - mean) ** 2, 0) / (all.length - 1)
          // left to right, right to left, and group by group: merge is associative
          const parts = groups.map((g) => stateOf('var', g))
          const leftFold = parts.reduce((a, b) => mergeStates('var', a, b))
          const rightFold = parts.reduceRight((a, b) => mergeStates('var', b, a))
          const flat = stateOf('var', all)
          for (const state of [leftFold, rightFold, flat]) {
            expect(numbers(state)![0]).toBe(all.length)
            const got = finished('var', state)
            if (want === null) expect(got).toBeNull()
            else expect(Math.abs((got as number) - want)).toBeLessThanOrEqual(1e-9 * (1 + squares))
            const std = finished('std', state)
            if (want === null) expect(std).toBeNull()
            else expect(Math.abs((std as number) ** 2 - want)).toBeLessThanOrEqual(1e-9 * (1 + squares))
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('merges sum, count, avg, min and max', () => {
    const values = [3, -1, 4.5, 0]
    expect(finished('sum', stateOf('sum', values))).toBe(6.5)
    expect(finished('count', stateOf('count', values), Int64)).toBe(4)
    expect(finished('avg', stateOf('avg', values))).toBe(1.625)
    expect(finished('min', stateOf('min', values))).toBe(-1)
    expect(finished('max', stateOf('max', values))).toBe(4.5)
  })

  it('keeps the latest event for last: by event time, then created time, then stream order, in any merge order', () => {
    const at = (ts: number, created: number, order: string, v: number) =>
      eventState(agg('last', Int64), v, { ts, created, order })!
    const events = [
      at(10, 5, '000000000003', 1),
      at(10, 7, '000000000001', 2), // the latest: created breaks the tie of ts
      at(10, 7, '000000000000', 3),
      at(9, 99, '000000000009', 4),
      at(10, -Infinity, '000000000099', 5),
    ]
    for (const order of [
      events,
      [...events].reverse(),
      [events[2]!, events[0]!, events[4]!, events[1]!, events[3]!],
    ]) {
      const state = order.reduce<TileState | undefined>((a, b) => mergeStates('last', a, b), undefined)
      expect(finished('last', state, Int64)).toBe(2)
    }
    const ev = (ts: number, created: number, order: string) => ({
      ts,
      created,
      order,
      value: new Uint8Array(),
    })
    expect(laterThan(ev(2, 0, '1'), ev(1, 9, '9'))).toBe(true)
    expect(laterThan(ev(1, 0, '1'), ev(1, -Infinity, '9'))).toBe(true)
    expect(laterThan(ev(1, 0, '2'), ev(1, 0, '1'))).toBe(true)
    expect(laterThan(ev(1, 0, '1'), ev(1, 0, '1'))).toBe(false)
  })

  it('unites distinct values', () => {
    const a = stateOf('count_distinct', ['a', 'b'])
    const b = stateOf('count_distinct', ['b', 'c', 'd'])
    expect(finished('count_distinct', mergeStates('count_distinct', a, b), Int64)).toBe(4)
    expect(finished('count_distinct', mergeStates('count_distinct', b, a), Int64)).toBe(4)
  })

  it('refuses states of different kinds as INTERNAL', () => {
    const e = thrown(() => mergeStates('sum', stateOf('sum', [1]), stateOf('count_distinct', [1])))
    expect(isLarderError(e) && e.code).toBe('INTERNAL')
  })
})

describe('finishState', () => {
  it('gives 0 for counts over no events and null for the others', () => {
    expect(decodeValue(finishState(agg('count', Int64), undefined))).toBe(0)
    expect(decodeValue(finishState(agg('count_distinct', Int64), undefined))).toBe(0)
    for (const fn of ['sum', 'min', 'max', 'avg', 'std', 'var'] as const) {
      expect(finishState(agg(fn), undefined), fn).toEqual(new Uint8Array(0))
    }
    expect(finishState(agg('last'), undefined)).toEqual(new Uint8Array(0))
  })

  it('gives null var and std under two values, and encodes the output type', () => {
    expect(finished('var', stateOf('var', [5]))).toBeNull()
    expect(finished('std', stateOf('std', [5]))).toBeNull()
    expect(finished('std', stateOf('std', [1, 3]))).toBeCloseTo(Math.SQRT2, 15)
    expect(finishState(agg('sum', Int64), stateOf('sum', [2, 3]))).toEqual(encodeValue(Int64, 5))
  })
})

describe('encodeState and decodeState', () => {
  const roundTrip = (fn: TileFunction, state: TileState) => decodeState(fn, encodeState(state))

  it('round-trips every kind of state', () => {
    for (const [fn, values] of [
      ['count', [1, 2]],
      ['sum', [0.1, 0.2, -3]],
      ['avg', [1e300, 5]],
      ['var', [1.5, 2.25, -7]],
      ['std', [4]],
      ['min', [-0.5, 3]],
      ['max', [2 ** 53, 1]],
      ['count_distinct', ['a', 'b,c', '"q"', 1.5]],
    ] as const) {
      const state = stateOf(fn, values)!
      expect(roundTrip(fn, state), fn).toEqual(state)
    }
  })

  it('round-trips every double exactly', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true }), fc.double({ noNaN: true }), (a, b) => {
        const state: TileState = { kind: 'numbers', numbers: [2, a, b] }
        const back = numbers(roundTrip('var', state))!
        expect(back[1]).toBe(a === 0 ? 0 : a) // -0 is written as 0
        expect(back[2]).toBe(b === 0 ? 0 : b)
      }),
      { numRuns: 500 },
    )
  })

  it('round-trips last with no created time, empty bytes, a negative time and value bytes', () => {
    const states: TileState[] = [
      {
        kind: 'last',
        latest: { ts: -5, created: -Infinity, order: '000000000007', value: new Uint8Array(0) },
      },
      {
        kind: 'last',
        latest: {
          ts: 1_767_225_600_000_001,
          created: 0,
          order: '1700000000000-3',
          value: encodeValue(Str, 'héllo'),
        },
      },
      { kind: 'last', latest: { ts: 0, created: -12.5, order: '', value: Uint8Array.of(0, 255, 62, 63) } },
    ]
    for (const state of states) expect(roundTrip('last', state)).toEqual(state)
    expect(encodeState(states[0]!)).toBe('-5,,000000000007,')
  })

  it('reads empty distinct values back as an empty set', () => {
    expect(roundTrip('count_distinct', { kind: 'distinct', values: new Set() })).toEqual({
      kind: 'distinct',
      values: new Set(),
    })
  })

  it('reports a text that is not a state as DATA_SOURCE naming it', () => {
    for (const [fn, text] of [
      ['count', ''],
      ['count', ' '],
      ['count', 'abc'],
      ['count', '1,2'],
      ['sum', '1'],
      ['var', '1,2,x'],
      ['min', 'NaN'],
      ['count_distinct', '{"a":1}'],
      ['count_distinct', '[1,2]'],
      ['count_distinct', 'not json'],
      ['last', '1,2,3'],
      ['last', 'x,,1,AA=='],
      ['last', '1,,1,AA==,extra'],
    ] as const) {
      const e = thrown(() => decodeState(fn, text))
      expect(isLarderError(e) && e.code, `${fn} ${JSON.stringify(text)}`).toBe('DATA_SOURCE')
      expect(e.message).toContain(JSON.stringify(text))
      expect(e.hint).toContain('replaying')
    }
  })
})

describe('tile indexes', () => {
  const h = 5_000_000

  it('floors event times into tiles, also before the epoch', () => {
    expect(tileIndex(0, h)).toBe(0)
    expect(tileIndex(h - 1, h)).toBe(0)
    expect(tileIndex(h, h)).toBe(1)
    expect(tileIndex(-1, h)).toBe(-1)
    expect(tileIndex(-h, h)).toBe(-1)
    expect(tileIndex(-h - 1, h)).toBe(-2)
    expect(tileIndex(1_767_225_600_000_000, 1000)).toBe(1_767_225_600_000)
  })

  it('starts a window of W hops W − 1 tiles before the tile of t, and keeps tiles from there', () => {
    expect(firstTileOfWindow(3 * h + 7, h, 1)).toBe(3)
    expect(firstTileOfWindow(3 * h + 7, h, 4)).toBe(0)
    expect(firstTileOfWindow(3 * h, h, 6)).toBe(-2)
    expect(oldestLiveTile(10 * h, h, 3)).toBe(8)
  })
})
