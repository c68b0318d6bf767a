/** Feast's Redis layout: keys, hash fields and SCAN patterns. */
import {
  DUMMY_ENTITY_ID,
  type EntityKeySerializationVersion,
  entityKeyPrefix,
  redisFeatureField,
} from '../../core/index.js'
import type { ViewRef } from '../online-store.js'
import { asBuffer } from '../store-support.js'

/** The Redis key of an entity: the serialized entity key followed by the project name, no separator. */
export function redisKey(entityKey: Uint8Array, project: Buffer): Buffer {
  const key = Buffer.allocUnsafe(entityKey.length + project.length)
  key.set(entityKey, 0)
  key.set(project, entityKey.length)
  return key
}

/** Hash fields of features (murmur3 of `"<view>:<feature>"`, 4 bytes LE) and of `_ts:<view>`, computed once. */
export class FieldNames {
  readonly #features = new Map<string, Map<string, Buffer>>()
  readonly #timestamps = new Map<string, Buffer>()
  readonly #reads = new WeakMap<readonly string[], { view: string; fields: readonly Buffer[] }>()

  feature(view: string, feature: string): Buffer {
    let ofView = this.#features.get(view)
    if (!ofView) {
      ofView = new Map()
      this.#features.set(view, ofView)
    }
    let field = ofView.get(feature)
    if (!field) {
      field = asBuffer(redisFeatureField(view, feature))
      ofView.set(feature, field)
    }
    return field
  }

  timestamp(view: string): Buffer {
    let field = this.#timestamps.get(view)
    if (!field) {
      field = Buffer.from(`_ts:${view}`, 'utf8')
      this.#timestamps.set(view, field)
    }
    return field
  }

  /**
   * The fields a read of `features` of `view` asks for: the features' fields, then `_ts:<view>`. The
   * list is kept for as long as the `features` array lives, so a read plan reused across requests
   * builds it once.
   */
  read(view: string, features: readonly string[]): readonly Buffer[] {
    const kept = this.#reads.get(features)
    if (kept?.view === view) return kept.fields
    const fields = [...features.map((f) => this.feature(view, f)), this.timestamp(view)]
    this.#reads.set(features, { view, fields })
    return fields
  }
}

/** Which keys belong to views over the same join keys in a project, and how to find them with SCAN. */
export interface KeySpace {
  /** A SCAN MATCH pattern: the key prefix, anything, then the project. */
  readonly pattern: Buffer
  /** True when a scanned key is exactly an entity key over these join keys plus the project (not a longer project name). */
  matches(key: Buffer): boolean
}

export function keySpace(view: ViewRef, version: EntityKeySerializationVersion): KeySpace {
  const joinKeys = view.joinKeys.length === 0 ? [DUMMY_ENTITY_ID] : view.joinKeys.map((k) => k.name)
  const prefix = asBuffer(entityKeyPrefix(joinKeys, version))
  const project = Buffer.from(view.project, 'utf8')
  return {
    pattern: Buffer.concat([globEscape(prefix), Buffer.from('*'), globEscape(project)]),
    matches(key) {
      if (!key.subarray(0, prefix.length).equals(prefix)) return false
      let pos = prefix.length
      for (let i = 0; i < joinKeys.length; i++) {
        if (pos + 8 > key.length) return false
        pos += 8 + key.readUInt32LE(pos + 4)
      }
      return pos <= key.length && key.subarray(pos).equals(project)
    },
  }
}

/**
 * The key prefix of a stream view's tile hashes, `larder:tiles:<project>:<view>:`; an entity's tile
 * key is the prefix followed by its entity key bytes (see {@link tileKey}).
 */
export function tileKeyPrefix(project: string, view: string): Buffer {
  return Buffer.from(`larder:tiles:${project}:${view}:`, 'utf8')
}

/** The key of an entity's tiles: the view's {@link tileKeyPrefix}, then the entity key bytes. */
export function tileKey(prefix: Buffer, entityKey: Uint8Array): Buffer {
  const key = Buffer.allocUnsafe(prefix.length + entityKey.length)
  key.set(prefix, 0)
  key.set(entityKey, prefix.length)
  return key
}

/** A SCAN MATCH pattern for every key that starts with `prefix`. */
export function prefixPattern(prefix: Buffer): Buffer {
  return Buffer.concat([globEscape(prefix), Buffer.from('*')])
}

/** Escapes the bytes Redis glob patterns treat specially (`* ? [ ] \`). */
function globEscape(bytes: Buffer): Buffer {
  const out: number[] = []
  for (const b of bytes) {
    if (b === 0x2a || b === 0x3f || b === 0x5b || b === 0x5d || b === 0x5c) out.push(0x5c)
    out.push(b)
  }
  return Buffer.from(out)
}
