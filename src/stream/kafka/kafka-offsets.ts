/**
 * A Kafka message's id: `topic/partition/offset`, the same on every redelivery.
 *
 * @example kafkaMessageId('trips', 3, 1200n) // 'trips/3/1200'
 */
export function kafkaMessageId(topic: string, partition: number, offset: bigint): string {
  return `${topic}/${partition}/${offset}`
}

/**
 * A Kafka message's place as a string that sorts by partition, then offset: the partition padded to
 * 10 digits (any 32-bit partition), the offset to 20 (any 64-bit offset). Kafka orders messages within
 * a partition only, so strings of two partitions compare by partition, not by time.
 *
 * @example kafkaOrder(3, 1200n) // '000000000300000000000000001200'
 */
export function kafkaOrder(partition: number, offset: bigint): string {
  return String(partition).padStart(10, '0') + String(offset).padStart(20, '0')
}

interface InFlight<T> {
  readonly offset: bigint
  readonly value: T
  acked: boolean
}

/**
 * Which offset a consumer may commit per partition. Kafka keeps one committed offset per partition
 * (the next to read), so a message may be committed only once it and every message delivered before
 * it in its partition are acknowledged: acknowledging out of order waits for the gaps. Offsets need
 * not be contiguous (compaction, transaction markers): only delivered messages count.
 *
 * Each delivered message carries a value (the driver's message, to commit through); `ack` returns
 * the value of the newest message that became committable.
 *
 * @example
 * const t = new OffsetTracker<string>()
 * t.delivered(0, 10n, 'a'); t.delivered(0, 11n, 'b')
 * t.ack(0, 11n) // undefined: 10 is not acknowledged yet
 * t.ack(0, 10n) // 'b': commit 11 + 1
 */
export class OffsetTracker<T> {
  readonly #partitions = new Map<number, InFlight<T>[]>()

  /** Records a delivered message. An offset at or below the newest one tracked in its partition (a redelivery) is ignored. */
  delivered(partition: number, offset: bigint, value: T): void {
    let list = this.#partitions.get(partition)
    if (list === undefined) {
      list = []
      this.#partitions.set(partition, list)
    }
    const last = list.at(-1)
    if (last !== undefined && offset <= last.offset) return
    list.push({ offset, value, acked: false })
  }

  /**
   * Marks a message acknowledged. Returns the value of the newest message of the partition now
   * committable (commit its offset + 1), or undefined when the commit point did not move (an earlier
   * message is still unacknowledged, or the offset is not tracked).
   */
  ack(partition: number, offset: bigint): T | undefined {
    const list = this.#partitions.get(partition)
    if (list === undefined) return undefined
    const entry = list[indexOf(list, offset)]
    if (entry === undefined || entry.offset !== offset) return undefined
    entry.acked = true
    let done = 0
    while (done < list.length && list[done]!.acked) done++
    if (done === 0) return undefined
    const newest = list[done - 1]!.value
    list.splice(0, done)
    return newest
  }

  /** Forgets every partition (after a rebalance: the group redelivers from the committed offsets). */
  clear(): void {
    this.#partitions.clear()
  }
}

/** The index of `offset` in a list sorted by offset, or where it would go. */
function indexOf<T>(list: readonly InFlight<T>[], offset: bigint): number {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (list[mid]!.offset < offset) lo = mid + 1
    else hi = mid
  }
  return lo
}
