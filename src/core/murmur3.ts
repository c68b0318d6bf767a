const UTF8 = new TextEncoder()

/**
 * MurmurHash3, x86 32-bit variant, as an unsigned integer: the same number as Python's
 * `mmh3.hash(data, seed, signed=False)`. A string is hashed as its UTF-8 bytes.
 *
 * @example murmur3x86_32('hello') // 0x248bfa47
 */
export function murmur3x86_32(data: Uint8Array | string, seed = 0): number {
  const bytes = typeof data === 'string' ? UTF8.encode(data) : data
  const len = bytes.length
  const blocks = len & ~3
  let h = seed >>> 0
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  let k = 0
  switch (len & 3) {
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: the tail bytes accumulate, as in the reference code
    case 3:
      k ^= bytes[blocks + 2]! << 16
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: see above
    case 2:
      k ^= bytes[blocks + 1]! << 8
    case 1:
      k ^= bytes[blocks]!
      k = Math.imul(k, 0xcc9e2d51)
      k = (k << 15) | (k >>> 17)
      k = Math.imul(k, 0x1b873593)
      h ^= k
  }
  h ^= len
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * The Redis hash field Feast stores a feature under: murmur3 (seed 0, unsigned) of
 * `"<view>:<feature>"`, as 4 bytes little-endian. `view` is the online table name of the view
 * (`<name>_v<N>` when online versioning is on).
 *
 * @example redisFeatureField('driver_hourly_stats', 'conv_rate') // Uint8Array [0x61, 0x60, 0xe3, 0xda]
 */
export function redisFeatureField(view: string, feature: string): Uint8Array {
  const h = murmur3x86_32(`${view}:${feature}`)
  return new Uint8Array([h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff, h >>> 24])
}
