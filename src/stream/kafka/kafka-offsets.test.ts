import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { kafkaMessageId, kafkaOrder, OffsetTracker } from './kafka-offsets.js'

describe('Kafka ids and order', () => {
  it('names a message topic/partition/offset', () => {
    expect(kafkaMessageId('trips', 3, 1200n)).toBe('trips/3/1200')
    expect(kafkaMessageId('a.b', 0, 0n)).toBe('a.b/0/0')
  })

  it('orders by partition, then offset, as fixed-width digits', () => {
    expect(kafkaOrder(3, 1200n)).toBe('000000000300000000000000001200')
    const pairs: [number, bigint][] = [
      [1, 10n],
      [0, 9_223_372_036_854_775_807n],
      [1, 9n],
      [10, 0n],
      [2, 100n],
    ]
    const sorted = [...pairs].sort(([p, o], [q, r]) => p - q || (o < r ? -1 : o > r ? 1 : 0))
    expect(pairs.map(([p, o]) => kafkaOrder(p, o)).sort()).toEqual(sorted.map(([p, o]) => kafkaOrder(p, o)))
  })
})

describe('OffsetTracker', () => {
  it('makes each message committable when acknowledged in order', () => {
    const t = new OffsetTracker<string>()
    t.delivered(0, 5n, 'a')
    t.delivered(0, 6n, 'b')
    expect(t.ack(0, 5n)).toBe('a')
    expect(t.ack(0, 6n)).toBe('b')
  })

  it('waits for the gap when acknowledged out of order, then commits the newest', () => {
    const t = new OffsetTracker<string>()
    for (const [offset, v] of [
      [10n, 'a'],
      [11n, 'b'],
      [12n, 'c'],
    ] as const)
      t.delivered(0, offset, v)
    expect(t.ack(0, 12n)).toBeUndefined()
    expect(t.ack(0, 11n)).toBeUndefined()
    expect(t.ack(0, 10n)).toBe('c')
  })

  it('counts only delivered offsets, so gaps in the log (compaction, markers) do not block', () => {
    const t = new OffsetTracker<string>()
    t.delivered(0, 3n, 'a')
    t.delivered(0, 7n, 'b')
    expect(t.ack(0, 7n)).toBeUndefined()
    expect(t.ack(0, 3n)).toBe('b')
  })

  it('keeps partitions apart', () => {
    const t = new OffsetTracker<string>()
    t.delivered(0, 1n, 'p0')
    t.delivered(1, 1n, 'p1a')
    t.delivered(1, 2n, 'p1b')
    expect(t.ack(1, 2n)).toBeUndefined()
    expect(t.ack(0, 1n)).toBe('p0')
    expect(t.ack(1, 1n)).toBe('p1b')
  })

  it('ignores redeliveries, unknown offsets, repeated acks and everything after clear', () => {
    const t = new OffsetTracker<string>()
    t.delivered(0, 1n, 'a')
    t.delivered(0, 1n, 'again')
    t.delivered(0, 0n, 'older')
    expect(t.ack(0, 0n)).toBeUndefined()
    expect(t.ack(9, 1n)).toBeUndefined()
    expect(t.ack(0, 1n)).toBe('a')
    expect(t.ack(0, 1n)).toBeUndefined()
    t.delivered(0, 2n, 'b')
    t.clear()
    expect(t.ack(0, 2n)).toBeUndefined()
  })

  it('commits exactly the longest acknowledged prefix, whatever the order of acks', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.bigInt({ min: 0n, max: 1000n }), { minLength: 1, maxLength: 30 }),
        fc.infiniteStream(fc.nat()),
        (raw, picks) => {
          const offsets = [...raw].sort((a, b) => (a < b ? -1 : 1))
          const t = new OffsetTracker<bigint>()
          for (const o of offsets) t.delivered(0, o, o)
          const pending = [...offsets]
          const acked = new Set<bigint>()
          let committed: bigint | undefined
          const it = picks[Symbol.iterator]()
          while (pending.length > 0) {
            const [offset] = pending.splice(it.next().value % pending.length, 1)
            acked.add(offset!)
            const moved = t.ack(0, offset!)
            let prefix: bigint | undefined
            for (const o of offsets) {
              if (!acked.has(o)) break
              prefix = o
            }
            if (moved !== undefined) committed = moved
            expect(committed).toBe(prefix)
          }
          expect(committed).toBe(offsets.at(-1))
        },
      ),
    )
  })
})
