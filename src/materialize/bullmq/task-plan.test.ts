import { describe, expect, it } from 'vitest'
import { Entity, FeatureView, Field, FileSource, Int64, toMicros } from '../../core/index.js'
import { planTasks, timeSlices } from './task-plan.js'

const S = 1_000_000
const HOUR = 3600 * S

const view = new FeatureView({
  name: 'v',
  entities: [new Entity({ name: 'e', joinKeys: ['e'], valueType: Int64 })],
  schema: [new Field({ name: 'e', dtype: Int64 })],
  source: new FileSource({ name: 's', path: 'x.parquet', timestampField: 'ts' }),
})

describe('timeSlices', () => {
  it('cuts a window at the multiples of the slice since the epoch, disjoint and covering it', () => {
    const start = toMicros('2026-01-01T05:30:00.25Z')
    const end = toMicros('2026-01-02T01:00:00Z')
    const slices = timeSlices(start, end, 6 * 3600)
    expect(slices).toEqual([
      [start, toMicros('2026-01-01T06:00:00Z') - 1],
      [toMicros('2026-01-01T06:00:00Z'), toMicros('2026-01-01T12:00:00Z') - 1],
      [toMicros('2026-01-01T12:00:00Z'), toMicros('2026-01-01T18:00:00Z') - 1],
      [toMicros('2026-01-01T18:00:00Z'), toMicros('2026-01-02T00:00:00Z') - 1],
      [toMicros('2026-01-02T00:00:00Z'), end],
    ])
  })

  it('keeps a window that ends on a boundary in one last slice, and a short window whole', () => {
    const start = toMicros('2026-01-01T00:00:00Z')
    expect(timeSlices(start, start + 2 * HOUR, 3600)).toEqual([
      [start, start + HOUR - 1],
      [start + HOUR, start + 2 * HOUR],
    ])
    expect(timeSlices(start + 5, start + 9, 3600)).toEqual([[start + 5, start + 9]])
    expect(timeSlices(start, start, 3600)).toEqual([[start, start]])
    expect(timeSlices(start, start + 10 * HOUR, undefined)).toEqual([[start, start + 10 * HOUR]])
  })

  it('covers every microsecond of random windows exactly once', () => {
    for (let i = 0; i < 200; i++) {
      const start = Math.floor((Math.random() - 0.5) * 1e15)
      const end = start + Math.floor(Math.random() * 40 * HOUR)
      const slices = timeSlices(start, end, 1 + Math.floor(Math.random() * 7200))
      expect(slices[0]![0]).toBe(start)
      expect(slices.at(-1)![1]).toBe(end)
      for (const [j, [from, to]] of slices.entries()) {
        expect(to).toBeGreaterThanOrEqual(from)
        if (j > 0) expect(from).toBe(slices[j - 1]![1] + 1)
      }
    }
  })
})

describe('planTasks', () => {
  it('makes slices x partitions tasks per view, numbered, with key parts only when split', () => {
    const start = toMicros('2026-01-01T00:00:00Z')
    const [plan] = planTasks([{ view, start, end: start + 3 * HOUR }], { partitions: 2, sliceSeconds: 7200 })
    expect(plan!.tasks).toEqual([
      { index: 0, start, end: start + 2 * HOUR - 1, part: { index: 0, of: 2 } },
      { index: 1, start, end: start + 2 * HOUR - 1, part: { index: 1, of: 2 } },
      { index: 2, start: start + 2 * HOUR, end: start + 3 * HOUR, part: { index: 0, of: 2 } },
      { index: 3, start: start + 2 * HOUR, end: start + 3 * HOUR, part: { index: 1, of: 2 } },
    ])
    const [whole] = planTasks([{ view, start, end: start + HOUR }], {
      partitions: 1,
      sliceSeconds: undefined,
    })
    expect(whole!.tasks).toEqual([{ index: 0, start, end: start + HOUR }])
  })
})
