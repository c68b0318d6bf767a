import { describe, expect, it } from 'vitest'
import { murmur3x86_32, redisFeatureField } from './murmur3.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('murmur3x86_32', () => {
  it('matches the reference vectors (seed 0, unsigned)', () => {
    expect(murmur3x86_32('')).toBe(0)
    expect(murmur3x86_32('hello')).toBe(0x248bfa47)
    expect(murmur3x86_32('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723)
  })

  it('covers every tail length and a seed', () => {
    expect(murmur3x86_32('a')).toBe(0x3c2569b2)
    expect(murmur3x86_32('ab')).toBe(0x9bbfd75f)
    expect(murmur3x86_32('abc')).toBe(0xb3dd93fa)
    expect(murmur3x86_32('abcd')).toBe(0x43ed676a)
    expect(murmur3x86_32('', 1)).toBe(0x514e28b7)
  })

  it('hashes strings as UTF-8', () => {
    expect(murmur3x86_32('é')).toBe(murmur3x86_32(new Uint8Array([0xc3, 0xa9])))
  })
})

describe('redisFeatureField', () => {
  it('"driver_hourly_stats:conv_rate" is 61 60 e3 da (Feast reference §7.3)', () => {
    expect(hex(redisFeatureField('driver_hourly_stats', 'conv_rate'))).toBe('6160e3da')
  })
})
