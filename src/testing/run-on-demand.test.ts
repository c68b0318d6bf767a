import { describe, expect, it } from 'vitest'
import {
  Field,
  Float32,
  Float64,
  Int64,
  isLarderError,
  OnDemandFeatureView,
  RequestSource,
  String as StringType,
  UnixTimestamp,
} from '../index.js'
import { convPlus, driverStats } from './__fixtures__/harness-features.js'
import { runOnDemand } from './run-on-demand.js'

const request = new RequestSource({
  name: 'req',
  schema: [
    new Field({ name: 'seen', dtype: UnixTimestamp }),
    new Field({ name: 'label', dtype: StringType }),
  ],
})

/** The error a call throws. */
function thrown(fn: () => unknown): Error & { code?: string; hint?: string } {
  try {
    fn()
  } catch (e) {
    return e as Error
  }
  throw new Error('expected an error')
}

describe('runOnDemand', () => {
  it('runs a row view on one row or many, with inputs as an online read hands them over', () => {
    expect(runOnDemand(convPlus, { conv_rate: 0.5, val_to_add: 1 })).toEqual({ conv_rate_plus_val: 1.5 })
    // a Float32 source feature arrives rounded to 32 bits, as it is stored online
    expect(runOnDemand(convPlus, { conv_rate: 0.1, val_to_add: 1 })).toEqual({
      conv_rate_plus_val: 1 + Math.fround(0.1),
    })
    expect(
      runOnDemand(convPlus, [
        { conv_rate: 0.25, val_to_add: 2 },
        { conv_rate: null, val_to_add: 3 },
      ]),
    ).toEqual([{ conv_rate_plus_val: 2.25 }, { conv_rate_plus_val: null }])
  })

  it('runs a batch view once over the rows, and converts outputs by the schema', () => {
    const calls: number[] = []
    const view = new OnDemandFeatureView({
      name: 'batch_view',
      mode: 'batch',
      sources: [driverStats.select(['avg_daily_trips']), request],
      schema: [new Field({ name: 'days', dtype: Float32 }), new Field({ name: 'tag', dtype: StringType })],
      transform: (columns) => {
        const { avg_daily_trips: trips = [], seen = [], label = [] } = columns
        calls.push(trips.length)
        return {
          days: trips.map((t) => (t as number) / 3),
          tag: label.map((l, i) => `${l}@${seen[i]}`),
        }
      },
    })
    const out = runOnDemand(view, [
      { avg_daily_trips: 10, seen: '2026-01-01T00:00:00Z', label: 'a' },
      { avg_daily_trips: 1, seen: new Date('2026-01-01T00:00:01Z'), label: 'b' },
    ])
    expect(calls).toEqual([2])
    expect(out).toEqual([
      { days: Math.fround(10 / 3), tag: 'a@1767225600' },
      { days: Math.fround(1 / 3), tag: 'b@1767225601' },
    ])
  })

  it('names the view, row and input that is missing, unknown or of another type', () => {
    const missing = thrown(() => runOnDemand(convPlus, { conv_rate: 0.5 }))
    expect(missing.message).toBe(
      'runOnDemand: on-demand feature view "conv_plus" needs the input "val_to_add", which input row 0 does not give',
    )
    expect(missing.hint).toContain('null stands for a missing value')
    expect(
      thrown(() =>
        runOnDemand(convPlus, [
          { conv_rate: 0.5, val_to_add: 1 },
          { conv_rate: 0.5, val: 1 },
        ]),
      ).message,
    ).toBe('runOnDemand: on-demand feature view "conv_plus" has no input "val" (given in input row 1)')
    expect(thrown(() => runOnDemand(convPlus, { conv_rate: 'high', val_to_add: 1 })).message).toBe(
      'runOnDemand: on-demand feature view "conv_plus": input "conv_rate" is "high" in input row 0, which is not a Float32',
    )
  })

  it("passes on the transformation's failure and a wrong output, as a read would report them", () => {
    const failing = new OnDemandFeatureView({
      name: 'failing',
      sources: [driverStats.select(['conv_rate'])],
      schema: [new Field({ name: 'x', dtype: Int64 })],
      transform: ({ conv_rate }) => {
        if ((conv_rate as number) > 1) throw new Error('rate above 1')
        return { x: (conv_rate as number) < 0 ? 'negative' : Math.round((conv_rate as number) * 10) }
      },
    })
    const error = thrown(() => runOnDemand(failing, [{ conv_rate: 0.5 }, { conv_rate: 2 }]))
    expect(isLarderError(error) && error.code).toBe('TRANSFORMATION_FAILED')
    expect(error.message).toContain('input row 1')
    expect(error.message).toContain('rate above 1')
    expect(runOnDemand(failing, { conv_rate: 0.5 })).toEqual({ x: 5 })
    const wrongType = thrown(() => runOnDemand(failing, { conv_rate: -0.5 }))
    expect(isLarderError(wrongType) && wrongType.code).toBe('INVALID_DEFINITION')
    expect(wrongType.message).toContain('"x"')
    const registered = new OnDemandFeatureView(
      {
        name: 'from_registry',
        sources: [driverStats],
        schema: [new Field({ name: 'y', dtype: Float64 })],
        transform: () => ({}),
      },
      { mode: 'typescript-row', bodyText: '() => ({})' },
    )
    expect(
      thrown(() => runOnDemand(registered, { conv_rate: 1, acc_rate: 1, avg_daily_trips: 1 })).message,
    ).toBe(
      'runOnDemand: on-demand feature view "from_registry" has no function to run (it was read from a registry)',
    )
  })
})
