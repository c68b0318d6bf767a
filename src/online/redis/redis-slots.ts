/** Redis Cluster hash slots, and how a batch is split into script calls and pipelines. */
import type { RedisCommand } from './redis-connection.js'

/** CRC16-CCITT (XMODEM) lookup table, the checksum Redis Cluster hashes keys with. */
const CRC16 = (() => {
  const table = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let crc = i << 8
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    table[i] = crc
  }
  return table
})()

function crc16(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ bytes[i]!) & 0xff]!
  return crc
}

/**
 * The Redis Cluster hash slot of a key (0..16383), as the server computes it (`keyHashSlot`): CRC16 of
 * the key modulo 16384, or of its hash tag, the bytes between the first `{` and the first `}` after
 * it, when that is not empty.
 *
 * @example keySlot(Buffer.from('{user1000}.following')) === keySlot(Buffer.from('{user1000}.followers'))
 */
export function keySlot(key: Uint8Array): number {
  const open = key.indexOf(0x7b)
  if (open >= 0) {
    const close = key.indexOf(0x7d, open + 1)
    if (close > open + 1) return crc16(key, open + 1, close) & 0x3fff
  }
  return crc16(key, 0, key.length) & 0x3fff
}

/** The most a script call carries: entries (rows or events) and argument bytes, whichever comes first. */
export interface CallBudget {
  readonly entries: number
  readonly bytes: number
}

/**
 * At most 500 rows (or tile events) and about 1 MiB of arguments per script call: a call runs
 * atomically and blocks the server while it runs (a few milliseconds at this size), and the
 * per-call cost is spread over enough keys to be small.
 */
export const SCRIPT_CALL_BUDGET: CallBudget = Object.freeze({ entries: 500, bytes: 1 << 20 })

/** One key's part of a script call. */
export interface CallItem {
  /** The Redis key it touches (a script call declares it in KEYS). */
  readonly key: Buffer
  /** Rows or events it carries. */
  readonly entries: number
  /** About how many argument bytes it adds. */
  readonly bytes: number
}

/**
 * Splits items, kept in order, into the groups that one script call each carries. On a cluster a
 * group holds items whose keys hash to one slot (a script's keys must), grouped by slot in order of
 * first appearance; then each group is cut to the budget, never splitting an item (an item bigger
 * than the budget goes alone). Items of one key stay in order: they share a slot, and the calls of a
 * slot are sent in order.
 */
export function scriptCalls<T extends CallItem>(
  items: readonly T[],
  cluster: boolean,
  budget: CallBudget = SCRIPT_CALL_BUDGET,
): T[][] {
  let groups: (readonly T[])[] = [items]
  if (cluster) {
    const bySlot = new Map<number, T[]>()
    for (const item of items) {
      const slot = keySlot(item.key)
      const group = bySlot.get(slot)
      if (group) group.push(item)
      else bySlot.set(slot, [item])
    }
    groups = [...bySlot.values()]
  }
  const calls: T[][] = []
  for (const group of groups) {
    let call: T[] = []
    let entries = 0
    let bytes = 0
    for (const item of group) {
      if (call.length > 0 && (entries + item.entries > budget.entries || bytes + item.bytes > budget.bytes)) {
        calls.push(call)
        call = []
        entries = 0
        bytes = 0
      }
      call.push(item)
      entries += item.entries
      bytes += item.bytes
    }
    if (call.length > 0) calls.push(call)
  }
  return calls
}

/** A script call of a batch, with the rows or events it carries. */
export interface PipelinedCall extends RedisCommand {
  readonly entries: number
}

/**
 * The calls cut into consecutive pipelines of about `entries` rows or events each (whole calls; at
 * least one call per pipeline), so one round trip carries a whole write batch and memory stays bounded.
 */
export function pipelines(calls: readonly PipelinedCall[], entries: number): PipelinedCall[][] {
  const out: PipelinedCall[][] = []
  let pipeline: PipelinedCall[] = []
  let held = 0
  for (const call of calls) {
    if (pipeline.length > 0 && held + call.entries > entries) {
      out.push(pipeline)
      pipeline = []
      held = 0
    }
    pipeline.push(call)
    held += call.entries
  }
  if (pipeline.length > 0) out.push(pipeline)
  return out
}
