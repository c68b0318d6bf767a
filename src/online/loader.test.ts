import { describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../config/index.js'
import { createOnlineStore, ONLINE_STORE_BACKENDS, type OnlineStoreBackend } from './loader.js'

const config = (block: string) => parseRepoConfig(`project: demo\n${block}`, '/repo')

describe('createOnlineStore', () => {
  it('names the known types for an unknown one', async () => {
    await expect(createOnlineStore(config('online_store:\n  type: dynamodb\n'))).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: 'feature_store.yaml: unknown online store type "dynamodb"',
      hint: 'known types: memory, postgres, redis, sqlite',
    })
  })

  it('refuses when feature_store.yaml disables the online store', async () => {
    await expect(createOnlineStore(config('online_store: null\n'))).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: 'feature_store.yaml disables the online store (online_store: null)',
    })
  })

  it("lists the backend's known keys for an unknown option", async () => {
    await expect(
      createOnlineStore(config('online_store:\n  type: sqlite\n  pth: x.db\n')),
    ).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: 'feature_store.yaml: unknown key "pth" in online_store (type sqlite)',
      hint: 'known keys: path, type',
    })
    await expect(
      createOnlineStore(config('online_store:\n  type: memory\n  size: 1\n')),
    ).rejects.toMatchObject({
      hint: 'known keys: type',
    })
  })

  it('names the option and the problem for a wrong value', async () => {
    await expect(
      createOnlineStore(config('online_store:\n  type: redis\n  redis_type: sentinel\n')),
    ).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringMatching(
        /^feature_store.yaml: online_store.redis_type \(type redis\): .*"redis"\|"redis_cluster"/,
      ),
    })
    await expect(
      createOnlineStore(config('online_store:\n  type: redis\n  key_ttl_seconds: -1\n')),
    ).rejects.toMatchObject({
      message: expect.stringContaining('online_store.key_ttl_seconds'),
    })
  })

  it("gives the npm install command when a backend's driver is missing", async () => {
    const missing = 'larder-test-driver-that-does-not-exist'
    const backends: Record<string, OnlineStoreBackend> = {
      fancy: {
        config: ONLINE_STORE_BACKENDS.memory!.config,
        store: () => import(missing),
        packages: [missing, 'other-package'],
      },
    }
    await expect(
      createOnlineStore(config('online_store:\n  type: fancy\n'), { backends }),
    ).rejects.toMatchObject({
      code: 'MISSING_DEPENDENCY',
      message: `online store "fancy" needs the npm package "${missing}", which is not installed`,
      hint: `npm install ${missing} other-package`,
    })
  })

  it('validates the options before it imports the driver', async () => {
    const backends: Record<string, OnlineStoreBackend> = {
      fancy: {
        config: ONLINE_STORE_BACKENDS.memory!.config,
        store: () => Promise.reject(new Error('the driver must not be imported')),
        packages: [],
      },
    }
    await expect(
      createOnlineStore(config('online_store:\n  type: fancy\n  x: 1\n'), { backends }),
    ).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
    })
  })

  it('opens the store the type names', async () => {
    const store = await createOnlineStore(config('online_store:\n  type: memory\n'))
    expect(store.type).toBe('memory')
    await store.close()
  })
})
