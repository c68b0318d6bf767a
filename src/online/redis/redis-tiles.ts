import type { RedisArgument } from 'redis'
import {
  decodeState,
  encodeState,
  LarderError,
  type Micros,
  oldestLiveTile,
  type TileFunction,
  type TileState,
} from '../../core/index.js'
import type { Abortable } from '../online-store.js'
import { asBuffer, bytesId, checkAborted } from '../store-support.js'
import {
  MARK_RETENTION_MICROS,
  type StoredTile,
  type TileApplyStats,
  type TileStore,
  type TileViewRef,
  type TileWrite,
} from '../tile-store.js'
import { checkTileWrites } from '../tile-support.js'
import { type RedisCommand, type RedisConnection, runScripts } from './redis-connection.js'
import { prefixPattern, tileKey, tileKeyPrefix } from './redis-keys.js'

/** Entity keys per pipeline. */
const KEYS_PER_PIPELINE = 1000

/** The first ARGV of the apply script that belongs to an event. */
const FIRST_EVENT_ARG = 8

/**
 * Applies one entity's events to its tile hash, atomically. KEYS[1] is the hash; ARGV: now, the
 * oldest live tile, the hop, the longest window in hops, the mark cutoff (marks set before it are
 * forgotten), the least expiry in ms, the aggregation functions (comma-separated), then per event:
 * its id, tile, event time and one state text per aggregation ('' when it adds nothing). Returns
 * {applied, duplicates, expired}.
 *
 * Fields: `<tile>:<i>` state texts, `<tile>:n` the tile's newest event time, `m:<id>` marks (value:
 * the `now` they were set at), `lo` a tile index no stored tile is below, `hi` the newest tile ever
 * applied, `mo` a time no mark was set before. Tiles are named by their decimal text (as JS's String
 * writes a safe integer). Numbers are written so they parse back to the same double: integers whole,
 * others in the shortest of %.15g, %.16g, %.17g that does (tostring keeps only 14 digits). One HMGET
 * reads all a batch needs; the sweeps run only when due (`lo` below the oldest live tile, `mo` before
 * the mark cutoff).
 */
const APPLY_TILES = `
local key = KEYS[1]
local now, live = tonumber(ARGV[1]), tonumber(ARGV[2])
local hop, max_hops = tonumber(ARGV[3]), tonumber(ARGV[4])
local mark_cutoff, least_ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local fns = {}
for fn in string.gmatch(ARGV[7], '[^,]+') do fns[#fns + 1] = fn end
local k = #fns
local stride = 3 + k
local WIDTH = {count = 1, sum = 2, avg = 2, var = 3, std = 3, min = 1, max = 1}

local function bad(field)
  error({err = 'LARDER_TILE_STATE ' .. field})
end

local function num(x)
  if x ~= x then return 'NaN' end
  if x == math.huge then return 'Infinity' end
  if x == -math.huge then return '-Infinity' end
  if x == 0 then return '0' end
  if x == math.floor(x) and x > -9007199254740992 and x < 9007199254740992 then
    return string.format('%.0f', x)
  end
  local s = string.format('%.15g', x)
  if tonumber(s) == x then return s end
  s = string.format('%.16g', x)
  if tonumber(s) == x then return s end
  return string.format('%.17g', x)
end

local function decode(fn, text, field)
  if fn == 'n' then
    return tonumber(text) or bad(field)
  end
  if fn == 'count_distinct' then
    local ok, list = pcall(cjson.decode, text)
    if not ok or type(list) ~= 'table' then bad(field) end
    local set = {}
    for _, v in ipairs(list) do
      if type(v) ~= 'string' then bad(field) end
      set[v] = true
    end
    return {list = list, set = set}
  end
  if fn == 'last' then
    local p1 = string.find(text, ',', 1, true)
    local p2 = p1 and string.find(text, ',', p1 + 1, true)
    local p3 = p2 and string.find(text, ',[^,]*$', p2 + 1)
    if not p3 then bad(field) end
    local created = string.sub(text, p1 + 1, p2 - 1)
    local state = {
      ts = tonumber(string.sub(text, 1, p1 - 1)),
      created = created == '' and -math.huge or tonumber(created),
      order = string.sub(text, p2 + 1, p3 - 1),
      text = text,
    }
    if not state.ts or not state.created then bad(field) end
    return state
  end
  local out = {}
  for part in string.gmatch(text, '[^,]+') do
    out[#out + 1] = tonumber(part) or bad(field)
  end
  if #out ~= WIDTH[fn] then bad(field) end
  return out
end

local function encode(fn, state)
  if fn == 'n' then return num(state) end
  if fn == 'count_distinct' then
    if #state.list == 0 then return '[]' end
    return cjson.encode(state.list)
  end
  if fn == 'last' then return state.text end
  local parts = {}
  for i, x in ipairs(state) do parts[i] = num(x) end
  return table.concat(parts, ',')
end

-- byte order, as JS compares the ASCII order strings (Lua's < follows the server's locale)
local function bytes_after(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end

-- mergeStates of core/tiles.ts, operation for operation
local function merge(fn, a, b)
  if fn == 'count' then return {a[1] + b[1]} end
  if fn == 'sum' or fn == 'avg' then return {a[1] + b[1], a[2] + b[2]} end
  if fn == 'var' or fn == 'std' then
    local na, ma, m2a = a[1], a[2], a[3]
    local nb, mb, m2b = b[1], b[2], b[3]
    local n = na + nb
    local delta = mb - ma
    return {n, ma + (delta * nb) / n, m2a + m2b + (delta * delta * na * nb) / n}
  end
  if fn == 'min' then
    if b[1] < a[1] then return b end
    return a
  end
  if fn == 'max' then
    if b[1] > a[1] then return b end
    return a
  end
  if fn == 'count_distinct' then
    for _, v in ipairs(b.list) do
      if not a.set[v] then
        a.set[v] = true
        a.list[#a.list + 1] = v
      end
    end
    return a
  end
  local later
  if b.ts ~= a.ts then later = b.ts > a.ts
  elseif b.created ~= a.created then later = b.created > a.created
  else later = bytes_after(b.order, a.order) end
  if later then return b end
  return a
end

local function hdel(fields)
  for i = 1, #fields, 1000 do
    redis.call('HDEL', key, unpack(fields, i, math.min(i + 999, #fields)))
  end
end

-- one HMGET for all the batch may read: bookkeeping, the events' marks, the fields of their tiles
local wanted, index = {'lo', 'hi', 'mo'}, {}
local function want(field)
  if not index[field] then
    wanted[#wanted + 1] = field
    index[field] = #wanted
  end
end
local tile_fields = {}
for at = ${FIRST_EVENT_ARG}, #ARGV, stride do
  want('m:' .. ARGV[at])
  local tile = ARGV[at + 1]
  if not tile_fields[tile] and tonumber(tile) >= live then
    local fields = {n = tile .. ':n'}
    for i = 1, k do fields[i] = tile .. ':' .. (i - 1) end
    tile_fields[tile] = fields
    want(fields.n)
    for i = 1, k do want(fields[i]) end
  end
end
local got = {}
for i = 1, #wanted, 1000 do
  local values = redis.call('HMGET', key, unpack(wanted, i, math.min(i + 999, #wanted)))
  for j = 1, #values do got[i + j - 1] = values[j] end
end
local function fetched(field)
  return got[index[field]]
end
local lo, hi, mo = tonumber(got[1]), tonumber(got[2]), tonumber(got[3])
local stored_lo, stored_hi, stored_mo = lo, hi, mo
local writes = {}

-- forget marks set before the cutoff (the marks fetched above are judged by the same rule)
if mo and mo < mark_cutoff then
  local all = redis.call('HGETALL', key)
  local dead = {}
  mo = nil
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'm:' then
      local at = tonumber(all[i + 1])
      if at < mark_cutoff then
        dead[#dead + 1] = all[i]
      elseif not mo or at < mo then
        mo = at
      end
    end
  end
  hdel(dead)
  if not mo then redis.call('HDEL', key, 'mo') end
end

-- remove the tiles below the oldest live one: by name when few, else by listing the fields
if lo and lo < live then
  local dead = {}
  if (live - lo) * (k + 1) <= redis.call('HLEN', key) then
    for t = lo, live - 1 do
      local p = string.format('%.0f', t) .. ':'
      dead[#dead + 1] = p .. 'n'
      for i = 0, k - 1 do dead[#dead + 1] = p .. i end
    end
  else
    for _, f in ipairs(redis.call('HKEYS', key)) do
      local t = tonumber(string.match(f, '^(-?%d+):'))
      if t and t < live then dead[#dead + 1] = f end
    end
  end
  hdel(dead)
  lo = live
end

local cache, touched = {}, {}
local function stored(field, fn)
  local entry = cache[field]
  if entry == nil then
    entry = {field = field, fn = fn}
    local text = fetched(field)
    if text then entry.state = decode(fn, text, field) end
    cache[field] = entry
    touched[#touched + 1] = entry
  end
  return entry
end

local applied, duplicates, expired = 0, 0, 0
local seen = {}
for at = ${FIRST_EVENT_ARG}, #ARGV, stride do
  local id = 'm:' .. ARGV[at]
  local marked_at = tonumber(fetched(id))
  local tile = tonumber(ARGV[at + 1])
  if seen[id] or (marked_at and marked_at >= mark_cutoff) then
    duplicates = duplicates + 1
  elseif tile < live then
    expired = expired + 1
  else
    seen[id] = true
    writes[#writes + 1] = id
    writes[#writes + 1] = ARGV[1]
    local fields = tile_fields[ARGV[at + 1]]
    local newest = stored(fields.n, 'n')
    local ts = tonumber(ARGV[at + 2])
    if newest.state == nil or ts > newest.state then newest.state = ts end
    for i = 1, k do
      local text = ARGV[at + 2 + i]
      if text ~= '' then
        local entry = stored(fields[i], fns[i])
        local state = decode(fns[i], text, fields[i])
        if entry.state == nil then entry.state = state else entry.state = merge(fns[i], entry.state, state) end
      end
    end
    applied = applied + 1
    if not hi or tile > hi then hi = tile end
    if not lo or tile < lo then lo = tile end
    if not mo or now < mo then mo = now end
  end
end

for _, entry in ipairs(touched) do
  if entry.state ~= nil then
    writes[#writes + 1] = entry.field
    writes[#writes + 1] = encode(entry.fn, entry.state)
  end
end
local function keep(name, value, before)
  if value ~= nil and value ~= before then
    writes[#writes + 1] = name
    writes[#writes + 1] = num(value)
  end
end
keep('lo', lo, stored_lo)
keep('hi', hi, stored_hi)
keep('mo', mo, stored_mo)
for i = 1, #writes, 1000 do
  redis.call('HSET', key, unpack(writes, i, math.min(i + 999, #writes)))
end
if applied > 0 then
  -- the key is idle once its newest tile has left every window: it expires then, but not sooner
  -- than the mark retention after this apply
  local ttl = math.ceil(((hi + max_hops + 1) * hop - now) / 1000)
  if ttl < least_ttl then ttl = least_ttl end
  redis.call('PEXPIRE', key, string.format('%.0f', ttl))
end
return {applied, duplicates, expired}
`

/**
 * The tiles of stream feature views in Redis (see `CONTEXT.md` here): one hash per view and entity,
 * `larder:tiles:<project>:<view>:` + entity key bytes. Fields: `<tile>:<i>` holds aggregation `i`'s
 * state in the text form of `core/tiles.ts`, `<tile>:n` the tile's newest event time, `m:<id>` the
 * mark of an applied event (the `now` it was applied at), and `lo`, `hi`, `mo` for the sweeps and the
 * expiry.
 *
 * Every script call touches one key, so each has its own slot in a Redis Cluster: a batch is one
 * script call per entity, pipelined. The script skips marked ids (duplicates) and events of expired
 * tiles, merges the rest exactly as `mergeStates` does, marks their ids, removes tiles that left every
 * window and marks older than `MARK_RETENTION_MICROS` (by the callers' `now`), and extends the key's
 * expiry to when its newest tile leaves every window, but at least `MARK_RETENTION_MICROS` from the
 * last apply, so a key outlives a replay whose `now` lags the wall clock.
 */
export class RedisTiles implements TileStore {
  readonly #connection: RedisConnection
  #applySha = ''

  constructor(connection: RedisConnection) {
    this.#connection = connection
  }

  /** Loads the apply script on every master. */
  async loadScript(): Promise<void> {
    this.#applySha = await this.#connection.loadScript(APPLY_TILES)
  }

  async applyTiles(
    view: TileViewRef,
    writes: readonly TileWrite[],
    now: Micros,
    opts?: Abortable,
  ): Promise<TileApplyStats> {
    checkAborted(opts)
    checkWrites(view, writes)
    const prefix = tileKeyPrefix(view.project, view.name)
    const head: RedisArgument[] = [
      String(now),
      String(oldestLiveTile(now, view.hopMicros, view.maxHops)),
      String(view.hopMicros),
      String(view.maxHops),
      String(now - MARK_RETENTION_MICROS),
      String(MARK_RETENTION_MICROS / 1000),
      view.aggregations.map((a) => a.fn).join(','),
    ]
    const commands = [...byEntity(writes).values()].map(({ entityKey, writes: events }): RedisCommand => {
      const key = tileKey(prefix, entityKey)
      const args: RedisArgument[] = ['EVALSHA', this.#applySha, '1', key, ...head]
      for (const w of events) {
        args.push(w.id, String(w.tile), String(w.eventTs))
        for (const state of w.states) args.push(state === undefined ? '' : encodeState(state))
      }
      return { key, args }
    })
    const stats = { applied: 0, duplicates: 0, expired: 0 }
    for (let start = 0; start < commands.length; start += KEYS_PER_PIPELINE) {
      checkAborted(opts)
      const chunk = commands.slice(start, start + KEYS_PER_PIPELINE)
      const replies = await this.#runScripts(view, chunk)
      for (const reply of replies) {
        const [applied, duplicates, expired] = (reply as unknown[]).map(Number) as [number, number, number]
        stats.applied += applied
        stats.duplicates += duplicates
        stats.expired += expired
      }
    }
    return stats
  }

  async releaseMarks(view: TileViewRef, writes: readonly TileWrite[], opts?: Abortable): Promise<void> {
    checkAborted(opts)
    const prefix = tileKeyPrefix(view.project, view.name)
    const commands = [...byEntity(writes).values()].map(({ entityKey, writes: events }): RedisCommand => {
      const key = tileKey(prefix, entityKey)
      return { key, args: ['HDEL', key, ...events.map((w) => `m:${w.id}`)] }
    })
    for (let start = 0; start < commands.length; start += KEYS_PER_PIPELINE) {
      checkAborted(opts)
      await this.#connection.pipeline(commands.slice(start, start + KEYS_PER_PIPELINE), false)
    }
  }

  async readTiles(
    view: TileViewRef,
    keys: readonly Uint8Array[],
    fromTile: number,
    opts?: Abortable,
  ): Promise<(readonly StoredTile[])[]> {
    checkAborted(opts)
    const prefix = tileKeyPrefix(view.project, view.name)
    const slots = new Map<string, number>()
    const commands: RedisCommand[] = []
    const at = keys.map((entityKey) => {
      const id = bytesId(entityKey)
      let slot = slots.get(id)
      if (slot === undefined) {
        slot = commands.length
        slots.set(id, slot)
        const key = tileKey(prefix, entityKey)
        commands.push({ key, args: ['HGETALL', key] })
      }
      return slot
    })
    const replies = await this.#connection.pipeline(commands, true)
    const decoded = replies.map((reply) => storedTiles(view, reply as Buffer[], fromTile))
    return at.map((slot) => decoded[slot]!)
  }

  async dropTiles(view: Pick<TileViewRef, 'project' | 'name'>, opts?: Abortable): Promise<void> {
    await this.dropViews([view], opts)
  }

  /** Removes the tiles and marks of these views (one SCAN per project). */
  async dropViews(views: readonly Pick<TileViewRef, 'project' | 'name'>[], opts?: Abortable): Promise<void> {
    checkAborted(opts)
    const byProject = new Map<string, Set<string>>()
    for (const { project, name } of views) {
      const names = byProject.get(project) ?? new Set()
      names.add(name)
      byProject.set(project, names)
    }
    for (const [project, names] of byProject) {
      // one view: its own prefix; several: the project's, keeping the keys of those views
      const only = names.size === 1 ? [...names][0]! : undefined
      const prefix =
        only === undefined ? Buffer.from(`larder:tiles:${project}:`, 'utf8') : tileKeyPrefix(project, only)
      for await (const keys of this.#connection.scan(prefixPattern(prefix))) {
        checkAborted(opts)
        const mine =
          only === undefined
            ? keys.filter((k) => {
                const end = k.indexOf(':', prefix.length)
                return end >= 0 && names.has(k.subarray(prefix.length, end).toString('utf8'))
              })
            : keys
        await this.#connection.pipeline(
          mine.map((key) => ({ key, args: ['UNLINK', key] })),
          false,
        )
      }
    }
  }

  async #runScripts(view: TileViewRef, commands: readonly RedisCommand[]): Promise<unknown[]> {
    try {
      return await runScripts(this.#connection, commands, () => this.loadScript())
    } catch (e) {
      const field = e instanceof Error ? /LARDER_TILE_STATE (\S+)/.exec(e.message)?.[1] : undefined
      if (field === undefined) throw e
      throw corruptTile(view, field, e)
    }
  }
}

/** The writes grouped by entity key, each entity's in batch order. */
function byEntity(writes: readonly TileWrite[]): Map<string, { entityKey: Uint8Array; writes: TileWrite[] }> {
  const groups = new Map<string, { entityKey: Uint8Array; writes: TileWrite[] }>()
  for (const w of writes) {
    const id = bytesId(w.entityKey)
    const group = groups.get(id)
    if (group) group.writes.push(w)
    else groups.set(id, { entityKey: asBuffer(w.entityKey), writes: [w] })
  }
  return groups
}

/** The kind of state each function keeps. */
const KIND: Readonly<Record<TileFunction, TileState['kind']>> = {
  sum: 'numbers',
  count: 'numbers',
  min: 'numbers',
  max: 'numbers',
  avg: 'numbers',
  std: 'numbers',
  var: 'numbers',
  count_distinct: 'distinct',
  last: 'last',
}

/**
 * Throws INVALID_ARGUMENT unless every write fits the view (see `checkTileWrites`) and each state is of
 * its function's kind, which the script could not tell from a corrupt stored state.
 */
function checkWrites(view: TileViewRef, writes: readonly TileWrite[]): void {
  checkTileWrites(view, writes)
  const kinds = view.aggregations.map((a) => KIND[a.fn])
  writes.forEach((w, i) => {
    const j = w.states.findIndex((s, j) => s !== undefined && s.kind !== kinds[j])
    if (j >= 0) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `tile write ${i} (id ${JSON.stringify(w.id)}) for stream feature view "${view.name}" has a ${w.states[j]!.kind} state for ${view.aggregations[j]!.fn} aggregation "${view.aggregations[j]!.name}"`,
        { hint: 'build the states with eventState(), one per aggregation of the view' },
      )
    }
  })
}

/** An entity's tiles from its hash fields (HGETALL: name, value, …): the tiles ≥ `fromTile` holding a `:n` field, ascending. */
function storedTiles(view: TileViewRef, fields: readonly Buffer[], fromTile: number): StoredTile[] {
  const tiles = new Map<number, { newestTs: Micros | undefined; states: (TileState | undefined)[] }>()
  for (let i = 0; i < fields.length; i += 2) {
    const match = /^(-?\d+):(n|\d+)$/.exec(fields[i]!.toString('latin1'))
    if (!match) continue
    const index = Number(match[1])
    if (index < fromTile) continue
    let tile = tiles.get(index)
    if (!tile) {
      tile = { newestTs: undefined, states: new Array(view.aggregations.length).fill(undefined) }
      tiles.set(index, tile)
    }
    const text = fields[i + 1]!.toString('utf8')
    if (match[2] === 'n') {
      tile.newestTs = Number(text)
      continue
    }
    const agg = Number(match[2])
    if (agg < view.aggregations.length) tile.states[agg] = decodeState(view.aggregations[agg]!.fn, text)
  }
  return [...tiles]
    .filter(([, t]) => t.newestTs !== undefined)
    .sort(([a], [b]) => a - b)
    .map(([tile, t]) => ({ tile, newestTs: t.newestTs!, states: t.states }))
}

function corruptTile(view: TileViewRef, field: string, cause: unknown): LarderError {
  return new LarderError(
    'DATA_SOURCE',
    `the tile field "${field}" of stream feature view "${view.name}" in Redis does not hold a tile state`,
    {
      hint: 'the tiles were written by another program; drop them (dropTiles) and replay the stream',
      cause,
      details: { view: view.name, field },
    },
  )
}
