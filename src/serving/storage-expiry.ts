import type { Micros } from '../core/index.js'
import type { OnlineReadResult, OnlineStoreCapabilities, ViewRef } from '../online/online-store.js'

/**
 * Enforces each view's `storageTtl` on read for a store without native expiry: a row whose event
 * timestamp is more than `storageTtl` before `now` counts as not stored, so its values read as
 * NOT_FOUND, as if the store had expired it. A store with `nativeTtl` expires rows itself (measured from
 * the write), and a view without a storageTtl keeps its rows: both are returned unchanged.
 * `results[i]` holds the rows read for `views[i]`.
 *
 * @example expireOnRead(online.capabilities, [ref], await online.readMany([{ view: ref, keys, features }]), nowMicros())
 */
export function expireOnRead(
  capabilities: OnlineStoreCapabilities,
  views: readonly ViewRef[],
  results: readonly OnlineReadResult[],
  now: Micros,
): OnlineReadResult[] {
  return results.map((rows, i) => {
    const ttl = Math.round(views[i]!.storageTtl * 1_000_000)
    if (capabilities.nativeTtl || ttl <= 0) return rows
    return rows.map((row) => (row !== undefined && now - row.eventTs > ttl ? undefined : row))
  })
}
