import { describe, expect, it } from 'vitest'
import { type CallItem, keySlot, type PipelinedCall, pipelines, scriptCalls } from './redis-slots.js'

const item = (key: string, entries = 1, bytes = 10): CallItem & { id: string } => ({
  id: `${key}/${entries}/${bytes}`,
  key: Buffer.from(key),
  entries,
  bytes,
})
const ids = (calls: readonly (readonly (CallItem & { id: string })[])[]) =>
  calls.map((c) => c.map((i) => i.id))

describe('keySlot', () => {
  it('gives the slots Redis documents, hashing only a non-empty hash tag', () => {
    // CRC16/XMODEM of "123456789" is 0x31C3 (Redis Cluster specification)
    expect(keySlot(Buffer.from('123456789'))).toBe(0x31c3 & 0x3fff)
    expect(keySlot(Buffer.from('{user1000}.following'))).toBe(keySlot(Buffer.from('user1000')))
    expect(keySlot(Buffer.from('foo{{bar}}zap'))).toBe(keySlot(Buffer.from('{bar')))
    // an empty tag: the whole key is hashed, not the later "{bar}"
    expect(keySlot(Buffer.from('foo{}{bar}'))).not.toBe(keySlot(Buffer.from('bar')))
  })
})

describe('scriptCalls', () => {
  it('on one server, keeps the order and cuts at the entry and byte budgets, never splitting an item', () => {
    const items = [item('a'), item('b', 3), item('c'), item('d', 9), item('e', 1, 95), item('f')]
    expect(ids(scriptCalls(items, false, { entries: 4, bytes: 100 }))).toEqual([
      ['a/1/10', 'b/3/10'],
      ['c/1/10'],
      ['d/9/10'],
      ['e/1/95'],
      ['f/1/10'],
    ])
    expect(scriptCalls([], false)).toEqual([])
  })

  it('on a cluster, groups by hash slot in order of first appearance, each group in order', () => {
    const items = [item('{x}1'), item('{y}1'), item('{x}2'), item('{z}1'), item('{y}2'), item('{x}3')]
    const calls = scriptCalls(items, true, { entries: 2, bytes: 1000 })
    expect(ids(calls)).toEqual([
      ['{x}1/1/10', '{x}2/1/10'],
      ['{x}3/1/10'],
      ['{y}1/1/10', '{y}2/1/10'],
      ['{z}1/1/10'],
    ])
    for (const call of calls) expect(new Set(call.map((i) => keySlot(i.key))).size).toBe(1)
  })
})

describe('pipelines', () => {
  it('cuts whole calls into pipelines of about the given entries', () => {
    const call = (entries: number): PipelinedCall => ({ key: Buffer.from('k'), args: [], entries })
    const cut = pipelines([call(4), call(4), call(4), call(12), call(1)], 10)
    expect(cut.map((p) => p.map((c) => c.entries))).toEqual([[4, 4], [4], [12], [1]])
  })
})
