import { describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../../config/index.js'
import { encodeValue, Int64, ValueType } from '../../core/index.js'
import { describeOnlineStoreConformance } from '../../testing/online-conformance.js'
import { createOnlineStore } from '../loader.js'
import type { ViewRef } from '../online-store.js'
import { MemoryOnlineStore } from './memory-online-store.js'

describeOnlineStoreConformance('memory', () =>
  createOnlineStore(parseRepoConfig('project: demo\nonline_store:\n  type: memory\n', '/repo')),
)

describe('MemoryOnlineStore', () => {
  it('expires rows by the clock it is given', async () => {
    let now = 1_000
    const store = new MemoryOnlineStore(() => now)
    const view: ViewRef = {
      project: 'p',
      name: 'v',
      joinKeys: [{ name: 'id', valueType: ValueType.INT64 }],
      features: [{ name: 'x', type: Int64 }],
      storageTtl: 60,
    }
    await store.update({ keep: [view], drop: [] })
    const key = Uint8Array.of(1)
    await store.write(view, [{ entityKey: key, values: [encodeValue(Int64, 5)], eventTs: 0 }])
    now += 59_999
    expect((await store.read(view, [key], ['x']))[0]).toBeDefined()
    now += 1
    expect(await store.read(view, [key], ['x'])).toEqual([undefined])
  })
})
