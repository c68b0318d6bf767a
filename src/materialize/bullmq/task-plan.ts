import type { Micros } from '../../core/index.js'
import type { KeyPart } from '../../offline/index.js'
import type { ViewWindow } from '../engine.js'

/** One task: a time slice of a view's window, optionally one part of its entity keys. */
export interface TaskPiece {
  /** The task's number within its view. */
  readonly index: number
  /** Inclusive. */
  readonly start: Micros
  /** Inclusive. */
  readonly end: Micros
  /** Absent when the keys are not split (`partitions: 1`). */
  readonly part?: KeyPart
}

/** A view's window and the tasks that load it. */
export interface ViewPlan {
  readonly window: ViewWindow
  readonly tasks: readonly TaskPiece[]
}

export interface PlanOptions {
  /** Entity-key parts per slice. */
  readonly partitions: number
  /** Length of a time slice in seconds; undefined: the whole window is one slice. */
  readonly sliceSeconds: number | undefined
}

/**
 * Splits each view's window into tasks: its time slices times `partitions` key parts. Slices are
 * disjoint and cover the window: the first starts at the window's start, the last ends at its end, and
 * the boundaries in between fall on multiples of the slice length since the epoch (whole seconds, so
 * two rows of a key in different slices never share a second, the online stores' coarsest
 * resolution). Loading every task, in any order, with newer-wins writes gives the online state of
 * loading the whole window at once.
 *
 * @example planTasks([{ view, start, end }], { partitions: 4, sliceSeconds: 86_400 })
 */
export function planTasks(windows: readonly ViewWindow[], options: PlanOptions): ViewPlan[] {
  return windows.map((window) => {
    const slices = timeSlices(window.start, window.end, options.sliceSeconds)
    const tasks = slices.flatMap(([start, end], s) =>
      Array.from({ length: options.partitions }, (_, p) => ({
        index: s * options.partitions + p,
        start,
        end,
        ...(options.partitions > 1 ? { part: { index: p, of: options.partitions } } : {}),
      })),
    )
    return { window, tasks }
  })
}

/**
 * The inclusive slices of `[start, end]`: `[s_i, s_{i+1} - 1µs]`, the last ending at `end`, with the
 * inner boundaries `s_i` on the multiples of `sliceSeconds` since the epoch that fall after `start` and
 * before `end`. One slice without a length.
 */
export function timeSlices(start: Micros, end: Micros, sliceSeconds: number | undefined): [Micros, Micros][] {
  if (sliceSeconds === undefined) return [[start, end]]
  const size = sliceSeconds * 1_000_000
  const slices: [Micros, Micros][] = []
  let from = start
  for (let boundary = (Math.floor(start / size) + 1) * size; boundary < end; boundary += size) {
    slices.push([from, boundary - 1])
    from = boundary
  }
  slices.push([from, end])
  return slices
}
