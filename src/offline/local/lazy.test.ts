import { describe, expect, it } from 'vitest'
import { Lazy } from './lazy.js'

describe('Lazy', () => {
  it('tries again after a failed creation, and shares a creation under way', async () => {
    let attempts = 0
    const lazy = new Lazy(async () => {
      attempts++
      if (attempts === 1) throw new Error('the first creation fails')
      return attempts
    })
    await expect(lazy.get()).rejects.toThrow('the first creation fails')
    expect(await Promise.all([lazy.get(), lazy.get()])).toEqual([2, 2])
    expect(await lazy.get()).toBe(2)
    expect(attempts).toBe(2)
  })

  it('take hands over the created value once; nothing when none was created or it failed', async () => {
    const created = new Lazy(async () => 'value')
    expect(await created.take()).toBeUndefined()
    const pending = created.get()
    expect(await created.take()).toBe('value')
    expect(await pending).toBe('value')
    expect(await created.take()).toBeUndefined()
    const failing = new Lazy(async () => {
      throw new Error('no')
    })
    await expect(failing.get()).rejects.toThrow('no')
    expect(await failing.take()).toBeUndefined()
  })
})
