import { isLarderError, LarderError } from './errors.js'

/** The options bag every async Larder operation accepts. */
export interface Abortable {
  signal?: AbortSignal
}

/**
 * Throws an `ABORTED` error if the signal has fired; call between steps of long work. When the signal
 * was aborted with an ABORTED `LarderError` saying why (`job … was cancelled`, `the server is shutting
 * down`), the error keeps that message and hint; otherwise it says `the operation was cancelled`.
 */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const reason: unknown = signal.reason
    if (isLarderError(reason) && reason.code === 'ABORTED') {
      throw new LarderError('ABORTED', reason.message, { cause: reason, hint: reason.hint })
    }
    throw new LarderError('ABORTED', 'the operation was cancelled', { cause: reason })
  }
}
