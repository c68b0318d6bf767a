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
import { type CallItem, type PipelinedCall, pipelines, scriptCalls } from './redis-slots.js'
import { RedisTiles } from './redis-tiles.js'

/**
 * Keys per pipeline of a read: one pipeline for the reads a request makes, a few for a read of
 * 100,000 keys, between which an aborted read stops.
 */
const READ_PIPELINE = 10_000

/** Rows per pipeline of blind writes (`skip_dedup`). */
const BLIND_WRITE_BATCH = 1000

/** Rows per pipeline of script calls: a 10,000-row materialization batch goes out in one round trip. */
const ROWS_PER_PIPELINE = 10_000

/**
 * Writes rows, each only if it is not older than the row its entity's hash holds, atomically. KEYS[i]
 * is row i's entity hash (a key may repeat: its rows apply in order). ARGV: the `_ts:<view>` field, an
 * expiry in milliseconds (0: none), the number of features n, the n feature fields, then the rows,
 * packed into one string: per row in KEYS order, its Timestamp bytes then its n values, each preceded
 * by its length as a protobuf varint (one argument instead of 1 + n per row keeps the client's
 * encoding and the socket writes small). Each row compares its time with the stored `_ts:<view>` and,
 * when not older, sets the timestamp and values in one HSET (and the expiry). Returns the number of
 * rows written.
 */
const WRITE_IF_NEWER = `
local call, byte, sub = redis.call, string.byte, string.sub
local function seconds_nanos(ts)
  local s, n, i = 0, 0, 1
  while i <= #ts do
    local tag = byte(ts, i)
    i = i + 1
    local v, m, c = 0, 1, 128
    while c >= 128 do
      c = byte(ts, i) or 0
      i = i + 1
      v = v + (c % 128) * m
      m = m * 128
    end
    if tag == 8 then s = v elseif tag == 16 then n = v end
  end
  if s >= 9223372036854775808 then s = s - 18446744073709551616 end
  return s, n
end
-- the length at p of a packed item (a varint) and the position after it
local function length(rows, p)
  local c = byte(rows, p)
  if c < 128 then return c, p + 1 end
  local len, m = c % 128, 128
  repeat
    p = p + 1
    c = byte(rows, p)
    len = len + (c % 128) * m
    m = m * 128
  until c < 128
  return len, p + 1
end
local ts_field, ttl, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local rows = ARGV[4 + n]
-- one HSET argument list, reused: the timestamp and values change from row to row
local hset = {ts_field, ''}
for j = 1, n do
  hset[2 * j + 1] = ARGV[3 + j]
  hset[2 * j + 2] = ''
end
local written = 0
local p = 1
for i = 1, #KEYS do
  local key = KEYS[i]
  local len
  len, p = length(rows, p)
  local ts = sub(rows, p, p + len - 1)
  p = p + len
  local newer = true
  local stored = call('HGET', key, ts_field)
  if stored then
    local s, ns = seconds_nanos(stored)
    local new_s, new_n = seconds_nanos(ts)
    newer = not (new_s < s or (new_s == s and new_n < ns))
  end
  if newer then
    hset[2] = ts
    for j = 1, n do
      len, p = length(rows, p)
      hset[2 * j + 2] = sub(rows, p, p + len - 1)
      p = p + len
    end
    for c = 1, #hset, 1000 do
      call('HSET', key, unpack(hset, c, math.min(c + 999, #hset)))
    end
    if ttl > 0 then call('PEXPIRE', key, ARGV[2]) end
    written = written + 1
  else
    for j = 1, n do
      len, p = length(rows, p)
      p = p + len
    end
  end
end
return written
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

/** A row and its entity hash, as a part of a script call. */
interface RowItem extends CallItem {
  readonly row: OnlineWriteRow
}

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
 * The compare and the write of a row happen in one script run, so no concurrent writer can slip a
 * newer row in between. One script call carries a batch of rows (up to 500, or about 1 MiB of
 * arguments; on a Redis Cluster, the rows of one hash slot), and a write batch's calls go out in one
 * pipeline. With `skip_dedup` rows are written blindly. Expiry is per key: the view's `storageTtl`, else
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

  /**
   * Writes the rows newer-wins: one script call per batch of up to `SCRIPT_CALL_BUDGET` rows (500
   * rows or about 1 MiB of arguments; on a cluster, per hash slot of the batch's keys), pipelined,
   * each comparing and writing its rows atomically. With `skip_dedup`, pipelined HSETs.
   */
  async write(view: ViewRef, rows: OnlineWriteBatch, opts?: Abortable): Promise<WriteStats> {
    checkAborted(opts)
    checkRows(view, rows)
    const project = Buffer.from(view.project, 'utf8')
    const tsField = this.#fields.timestamp(view.name)
    const fields = view.features.map((f) => this.#fields.feature(view.name, f.name))
    const ttlMs =
      view.storageTtl > 0 ? Math.ceil(view.storageTtl * 1000) : (this.#options.key_ttl_seconds ?? 0) * 1000
    if (this.#options.skip_dedup) {
      for (let start = 0; start < rows.length; start += BLIND_WRITE_BATCH) {
        checkAborted(opts)
        await this.#connection.pipeline(
          rows
            .slice(start, start + BLIND_WRITE_BATCH)
            .flatMap((row) => blindWrite(redisKey(row.entityKey, project), tsField, fields, row, ttlMs)),
          false,
        )
      }
      return { written: rows.length, skipped: 0 }
    }
    const items = rows.map((row): RowItem => {
      let bytes = 16
      for (const value of row.values) bytes += value.length + 2
      const key = redisKey(row.entityKey, project)
      return { key, entries: 1, bytes: bytes + key.length, row }
    })
    const head: RedisArgument[] = [tsField, String(ttlMs), String(fields.length), ...fields]
    const commands = scriptCalls(items, this.#connection.cluster).map((call): PipelinedCall => {
      const args: RedisArgument[] = ['EVALSHA', this.#writeSha, String(call.length)]
      for (const item of call) args.push(item.key)
      for (const arg of head) args.push(arg)
      args.push(packRows(call))
      return { key: call[0]!.key, args, entries: call.length }
    })
    let written = 0
    for (const pipeline of pipelines(commands, ROWS_PER_PIPELINE)) {
      checkAborted(opts)
      for (const reply of await this.#run(pipeline)) written += Number(reply)
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
    // in pipelines of READ_PIPELINE keys: an aborted read sends no further pipeline
    const replies: unknown[] = []
    for (let start = 0; start < order.length; start += READ_PIPELINE) {
      if (start > 0) checkAborted(opts)
      const part = await this.#connection.pipeline(
        order
          .slice(start, start + READ_PIPELINE)
          .map((g) => ({ key: g.key, args: ['HMGET', g.key, ...g.fields] })),
        true,
      )
      for (const reply of part) replies.push(reply)
    }
    checkAborted(opts)
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

/**
 * The rows of a script call as the write script reads them: per row its Timestamp bytes, then its
 * values, each preceded by its length as a varint.
 */
function packRows(call: readonly RowItem[]): Buffer {
  const stamps: Uint8Array[] = new Array(call.length)
  let lastTs = Number.NaN
  let stamp: Uint8Array = new Uint8Array(0)
  let size = 0
  for (let i = 0; i < call.length; i++) {
    const row = call[i]!.row
    // rows of a batch often share their time: encode it once
    if (row.eventTs !== lastTs) {
      lastTs = row.eventTs
      stamp = encodeTimestamp(lastTs)
    }
    stamps[i] = stamp
    size += varintSize(stamp.length) + stamp.length
    for (const value of row.values) size += varintSize(value.length) + value.length
  }
  const packed = Buffer.allocUnsafe(size)
  let at = 0
  for (let i = 0; i < call.length; i++) {
    at = putItem(packed, at, stamps[i]!)
    for (const value of call[i]!.row.values) at = putItem(packed, at, value)
  }
  return packed
}

function varintSize(n: number): number {
  let size = 1
  while (n >= 128) {
    n = Math.floor(n / 128)
    size++
  }
  return size
}

/** Writes the length of `bytes` as a varint, then the bytes; returns the position after them. */
function putItem(packed: Buffer, at: number, bytes: Uint8Array): number {
  let n = bytes.length
  while (n >= 128) {
    packed[at++] = (n % 128) | 128
    n = Math.floor(n / 128)
  }
  packed[at++] = n
  if (bytes.length < 16) for (let i = 0; i < bytes.length; i++) packed[at + i] = bytes[i]!
  else packed.set(bytes, at)
  return at + bytes.length
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
