import type { RedisArgument } from 'redis'
import {
  decodeTimestamp,
  type EntityKeySerializationVersion,
  encodeTimestamp,
  type Micros,
} from '../../core/index.js'
import type {
  Abortable,
  InfraPlan,
  OnlineReadRequest,
  OnlineReadResult,
  OnlineRow,
  OnlineStore,
  OnlineStoreCapabilities,
  OnlineWriteBatch,
  OnlineWriteRow,
  ViewRef,
  WriteStats,
} from '../online-store.js'
import { asBuffer, checkAborted, checkRows } from '../store-support.js'
import type { StoredTile, TileApplyStats, TileStore, TileViewRef, TileWrite } from '../tile-store.js'
import type { RedisOptions } from './redis-config.js'
import { type RedisCommand, type RedisConnection, runScripts } from './redis-connection.js'
import { FieldNames, type KeySpace, keySpace, redisKey } from './redis-keys.js'
import { RedisTiles } from './redis-tiles.js'

/** Rows per pipeline when writing. */
const WRITE_BATCH = 1000

/**
 * Writes one entity row if it is not older than the stored one, atomically. KEYS[1] is the entity's
 * hash; ARGV: the `_ts:<view>` field, the new Timestamp bytes, its seconds and nanos, an expiry in
 * milliseconds (0: none), then feature field/value pairs. Returns 1 when written, 0 when skipped.
 */
const WRITE_IF_NEWER = `
local function seconds_nanos(ts)
  local s, n, i = 0, 0, 1
  while i <= #ts do
    local tag = string.byte(ts, i)
    i = i + 1
    local v, m, c = 0, 1, 128
    while c >= 128 do
      c = string.byte(ts, i) or 0
      i = i + 1
      v = v + (c % 128) * m
      m = m * 128
    end
    if tag == 8 then s = v elseif tag == 16 then n = v end
  end
  if s >= 9223372036854775808 then s = s - 18446744073709551616 end
  return s, n
end
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored then
  local s, n = seconds_nanos(stored)
  local new_s, new_n = tonumber(ARGV[3]), tonumber(ARGV[4])
  if new_s < s or (new_s == s and new_n < n) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 6, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
local ttl = tonumber(ARGV[5])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`

/**
 * Removes views' fields from an entity's hash (ARGV), and the whole key when no view's `_ts:` field
 * is left, as Feast's teardown does. Returns 1 when the key was deleted.
 */
const REMOVE_VIEWS = `
for i = 1, #ARGV, 1000 do
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 4) == '_ts:' then return 0 end
end
redis.call('DEL', KEYS[1])
return 1
`

interface ReadGroup {
  readonly key: Buffer
  readonly fields: Buffer[]
  readonly index: number
}

/**
 * Feast's Redis online store. One hash per entity key and project (key = serialized entity key +
 * project), shared by every view with the same join keys; a feature's field is the murmur3 hash of
 * `"<view>:<feature>"` and `_ts:<view>` holds the view's event time as a protobuf Timestamp.
 *
 * Newer wins, atomically: a Lua script writes a row only when its event timestamp is at least the
 * stored one (Feast skips equal timestamps; here the later write wins ties, as in the other stores).
 * With `skip_dedup` rows are written blindly. Expiry is per key: the view's `storageTtl`, else
 * `key_ttl_seconds`; since views share a hash, the last write sets the expiry of all of them.
 * Reads merge every requested view into one HMGET per entity, pipelined.
 *
 * Tiles of stream feature views live in hashes of their own, one per view and entity (see
 * {@link RedisTiles}); a teardown or a dropped view removes them too.
 */
export class RedisOnlineStore implements OnlineStore, TileStore {
  readonly type = 'redis'
  readonly capabilities: OnlineStoreCapabilities
  readonly #connection: RedisConnection
  readonly #options: RedisOptions
  readonly #version: EntityKeySerializationVersion
  readonly #fields = new FieldNames()
  readonly #tiles: RedisTiles
  #writeSha = ''
  #removeSha = ''

  private constructor(
    connection: RedisConnection,
    options: RedisOptions,
    version: EntityKeySerializationVersion,
  ) {
    this.#connection = connection
    this.#options = options
    this.#version = version
    this.#tiles = new RedisTiles(connection)
    this.capabilities = Object.freeze({
      newerWins: !options.skip_dedup,
      nativeTtl: true,
      timestampResolutionMicros: 1,
    })
  }

  /** Wraps a connection; loads the Lua scripts on every master. */
  static async open(
    connection: RedisConnection,
    options: RedisOptions,
    version: EntityKeySerializationVersion,
  ): Promise<RedisOnlineStore> {
    const store = new RedisOnlineStore(connection, options, version)
    await store.#loadScripts()
    return store
  }

  /** Nothing to create: hashes appear on write. Dropped views lose their fields and tiles (see {@link teardown}). */
  async update(plan: InfraPlan, opts?: Abortable): Promise<void> {
    checkAborted(opts)
    await this.#remove(plan.drop, opts)
  }

  async write(view: ViewRef, rows: OnlineWriteBatch, opts?: Abortable): Promise<WriteStats> {
    checkAborted(opts)
    checkRows(view, rows)
    const project = Buffer.from(view.project, 'utf8')
    const tsField = this.#fields.timestamp(view.name)
    const fields = view.features.map((f) => this.#fields.feature(view.name, f.name))
    const ttlMs =
      view.storageTtl > 0 ? Math.ceil(view.storageTtl * 1000) : (this.#options.key_ttl_seconds ?? 0) * 1000
    let written = 0
    for (let start = 0; start < rows.length; start += WRITE_BATCH) {
      checkAborted(opts)
      const chunk = rows.slice(start, start + WRITE_BATCH)
      if (this.#options.skip_dedup) {
        await this.#connection.pipeline(
          chunk.flatMap((row) => blindWrite(redisKey(row.entityKey, project), tsField, fields, row, ttlMs)),
          false,
        )
        written += chunk.length
        continue
      }
      const replies = await this.#run(
        chunk.map((row) => {
          const key = redisKey(row.entityKey, project)
          const seconds = Math.floor(row.eventTs / 1_000_000)
          const nanos = (row.eventTs - seconds * 1_000_000) * 1000
          const args: RedisArgument[] = ['EVALSHA', this.#writeSha, '1', key, tsField]
          args.push(asBuffer(encodeTimestamp(row.eventTs)), String(seconds), String(nanos), String(ttlMs))
          for (let i = 0; i < fields.length; i++) args.push(fields[i]!, asBuffer(row.values[i]!))
          return { key, args }
        }),
      )
      for (const reply of replies) if (Number(reply) === 1) written++
    }
    return { written, skipped: rows.length - written }
  }

  async read(
    view: ViewRef,
    keys: readonly Uint8Array[],
    features: readonly string[],
    opts?: Abortable,
  ): Promise<OnlineReadResult> {
    const [result] = await this.readMany([{ view, keys, features }], opts)
    return result!
  }

  async readMany(requests: readonly OnlineReadRequest[], opts?: Abortable): Promise<OnlineReadResult[]> {
    checkAborted(opts)
    const groups = new Map<string, ReadGroup>()
    const order: ReadGroup[] = []
    const slots = requests.map((request) => {
      const project = Buffer.from(request.view.project, 'utf8')
      const fields = this.#fields.read(request.view.name, request.features)
      const offsets = new Map<ReadGroup, number>()
      return request.keys.map((entityKey) => {
        const key = redisKey(entityKey, project)
        const id = key.toString('latin1')
        let group = groups.get(id)
        if (!group) {
          group = { key, fields: [], index: order.length }
          groups.set(id, group)
          order.push(group)
        }
        let offset = offsets.get(group)
        if (offset === undefined) {
          offset = group.fields.length
          for (const f of fields) group.fields.push(f)
          offsets.set(group, offset)
        }
        return { group, offset }
      })
    })
    const replies = await this.#connection.pipeline(
      order.map((g) => ({ key: g.key, args: ['HMGET', g.key, ...g.fields] })),
      true,
    )
    return requests.map((request, r) => {
      const n = request.features.length
      return slots[r]!.map(({ group, offset }): OnlineRow | undefined => {
        const reply = replies[group.index] as (Buffer | null)[]
        const ts = reply[offset + n]
        if (!ts) return undefined
        const values: (Uint8Array | undefined)[] = new Array(n)
        for (let i = 0; i < n; i++) values[i] = reply[offset + i] ?? undefined
        return { eventTs: decodeTimestamp(ts), values }
      })
    })
  }

  /**
   * Scans the project's keys over the view's join keys and asks each batch whether it holds the view's
   * `_ts:<view>` field, stopping at the first that does: quick when the view has rows, a full SCAN of
   * those keys when it has none.
   */
  async hasRows(view: ViewRef, opts?: Abortable): Promise<boolean> {
    checkAborted(opts)
    const space = keySpace(view, this.#version)
    const field = this.#fields.timestamp(view.name)
    for await (const keys of this.#connection.scan(space.pattern)) {
      checkAborted(opts)
      const mine = keys.filter((k) => space.matches(k))
      const replies = await this.#connection.pipeline(
        mine.map((key) => ({ key, args: ['HEXISTS', key, field] })),
        true,
      )
      if (replies.some((r) => Number(r) === 1)) return true
    }
    return false
  }

  applyTiles(
    view: TileViewRef,
    writes: readonly TileWrite[],
    now: Micros,
    opts?: Abortable,
  ): Promise<TileApplyStats> {
    return this.#tiles.applyTiles(view, writes, now, opts)
  }

  releaseMarks(view: TileViewRef, writes: readonly TileWrite[], opts?: Abortable): Promise<void> {
    return this.#tiles.releaseMarks(view, writes, opts)
  }

  readTiles(
    view: TileViewRef,
    keys: readonly Uint8Array[],
    fromTile: number,
    opts?: Abortable,
  ): Promise<(readonly StoredTile[])[]> {
    return this.#tiles.readTiles(view, keys, fromTile, opts)
  }

  dropTiles(view: TileViewRef, opts?: Abortable): Promise<void> {
    return this.#tiles.dropTiles(view, opts)
  }

  /**
   * Finds the views' keys with SCAN and removes their fields, deleting keys no view uses any more,
   * and removes the views' tiles.
   */
  async teardown(plan: InfraPlan, opts?: Abortable): Promise<void> {
    checkAborted(opts)
    await this.#remove([...plan.keep, ...plan.drop], opts)
  }

  async close(): Promise<void> {
    await this.#connection.close()
  }

  async #remove(views: readonly ViewRef[], opts: Abortable | undefined): Promise<void> {
    const spaces = new Map<string, { space: KeySpace; fields: Buffer[] }>()
    for (const view of views) {
      const id = [view.project, ...view.joinKeys.map((k) => k.name).sort()].join('\0')
      let entry = spaces.get(id)
      if (!entry) {
        entry = { space: keySpace(view, this.#version), fields: [] }
        spaces.set(id, entry)
      }
      entry.fields.push(
        ...view.features.map((f) => this.#fields.feature(view.name, f.name)),
        this.#fields.timestamp(view.name),
      )
    }
    for (const { space, fields } of spaces.values()) {
      for await (const keys of this.#connection.scan(space.pattern)) {
        checkAborted(opts)
        const mine = keys.filter((k) => space.matches(k))
        await this.#run(mine.map((key) => ({ key, args: ['EVALSHA', this.#removeSha, '1', key, ...fields] })))
      }
    }
    await this.#tiles.dropViews(views, opts)
  }

  /** Runs script calls; if the server lost the scripts (restart, SCRIPT FLUSH, failover), loads them and retries once. */
  #run(commands: readonly RedisCommand[]): Promise<unknown[]> {
    return runScripts(this.#connection, commands, () => this.#loadScripts())
  }

  async #loadScripts(): Promise<void> {
    this.#writeSha = await this.#connection.loadScript(WRITE_IF_NEWER)
    this.#removeSha = await this.#connection.loadScript(REMOVE_VIEWS)
    await this.#tiles.loadScript()
  }
}

function blindWrite(
  key: Buffer,
  tsField: Buffer,
  fields: readonly Buffer[],
  row: OnlineWriteRow,
  ttlMs: number,
): RedisCommand[] {
  const args: RedisArgument[] = ['HSET', key, tsField, asBuffer(encodeTimestamp(row.eventTs))]
  for (let i = 0; i < fields.length; i++) args.push(fields[i]!, asBuffer(row.values[i]!))
  const commands: RedisCommand[] = [{ key, args }]
  if (ttlMs > 0) commands.push({ key, args: ['PEXPIRE', key, String(ttlMs)] })
  return commands
}
