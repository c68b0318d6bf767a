import { describe, it } from 'vitest'

/** True when the tests run under CI (`CI=true`), where a missing service fails instead of skipping. */
export const IN_CI = process.env.CI === 'true'

/**
 * Registers `body` as a describe block when `unavailable` is undefined. Otherwise the block is
 * skipped and its name states the reason, or, under `CI=true`, a failing test reports the reason.
 *
 * @example describeWithService('redis', await redisUnavailable('127.0.0.1', 6379), () => { ... })
 */
export function describeWithService(name: string, unavailable: string | undefined, body: () => void): void {
  if (unavailable === undefined) {
    describe(name, body)
  } else if (IN_CI) {
    describe(name, () => {
      it('has its service available (CI=true makes a missing service a failure)', () => {
        throw new Error(`${name}: ${unavailable}`)
      })
    })
  } else {
    console.warn(`skipping ${name}: ${unavailable}`)
    describe.skip(`${name} (skipped: ${unavailable})`, body)
  }
}

export { freePort, natsUnavailable, redisUnavailable } from './probes.js'
