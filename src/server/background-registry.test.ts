import { describe, expect, it } from 'vitest'
import type { Registry as RegistryProto } from '../gen/feast/core/Registry_pb.js'
import { type LoadOptions, type Registry, RegistryState } from '../registry/index.js'
import { BackgroundRegistry } from './background-registry.js'

/** A registry whose loads wait until released, to watch reads while a reload is under way. */
class SlowRegistry implements Registry {
  version = 'v1'
  loads = 0
  release: (() => void) | undefined
  async load(_options?: LoadOptions): Promise<RegistryState> {
    this.loads++
    const version = this.version
    if (this.loads > 1) await new Promise<void>((r) => (this.release = r))
    return new RegistryState(version, { lastUpdated: undefined } as unknown as RegistryProto)
  }
  async commit(): Promise<RegistryState> {
    throw new Error('not used')
  }
  async recordMaterializationRun(): Promise<void> {
    throw new Error('not used')
  }
  async listMaterializationRuns(): Promise<never[]> {
    throw new Error('not used')
  }
  get jobs(): never {
    throw new Error('not used')
  }
  async close(): Promise<void> {}
}

describe('BackgroundRegistry', () => {
  it('answers reads from the served registry while a reload is under way, then serves the new one', async () => {
    const inner = new SlowRegistry()
    const registry = new BackgroundRegistry(inner, { intervalSeconds: 0 })
    const first = await registry.load()
    expect(first.version).toBe('v1')
    inner.version = 'v2'
    const reload = registry.refresh()
    expect(registry.refresh()).toBe(reload)
    expect(await registry.load()).toBe(first)
    await new Promise((r) => setTimeout(r, 0))
    inner.release!()
    expect((await reload).version).toBe('v2')
    expect((await registry.load()).version).toBe('v2')
    await registry.close()
  })

  it('keeps the served state object when a reload finds the same version', async () => {
    const inner = new SlowRegistry()
    const registry = new BackgroundRegistry(inner, { intervalSeconds: 0 })
    const first = await registry.load()
    const reload = registry.refresh()
    await new Promise((r) => setTimeout(r, 0))
    inner.release!()
    await reload
    expect(await registry.load()).toBe(first)
  })
})
