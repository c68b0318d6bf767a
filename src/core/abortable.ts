import { LarderError } from './errors.js'

/** The options bag every async Larder operation accepts. */
export interface Abortable {
  signal?: AbortSignal
}

/** Throws an `ABORTED`-style error if the signal has fired; call between steps of long work. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new LarderError('ABORTED', 'the operation was cancelled', { cause: signal.reason })
  }
}
