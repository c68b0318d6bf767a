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
import { type CallItem, type PipelinedCall, pipelines, scriptCalls } from './redis-slots.js'

/** Events per pipeline of script calls. */
const EVENTS_PER_PIPELINE = 10_000

/** The first ARGV of the apply script that belongs to a key's events. */
const FIRST_EVENT_ARG = 8

/**
 * Applies entities' events to their tile hashes, atomically. KEYS are the hashes, one per entity;
 * ARGV: now, the oldest live tile, the hop, the longest window in hops, the mark cutoff (marks set
 * before it are forgotten), the least expiry in ms, the aggregation functions (comma-separated), then
 * per key in KEYS order: its number of events, then per event its mark field (`m:<id>`), tile, event
 * time and one state text per aggregation ('' when it adds nothing). Returns the totals {applied,
 * duplicates, expired}. A key whose stored state is not one fails with `LARDER_TILE_STATE <field>`
 * after the other keys were applied. An entity with a single event, the common case of a batch over
 * many entities, takes a path that builds fewer tables and strings (count, sum and avg states are
 * merged straight from their texts), with the same result as the general one.
 *
 * Fields: `<tile>:<i>` state texts, `<tile>:n` the tile's newest event time, `m:<id>` marks (value:
 * the `now` they were set at), `lo` a tile index no stored tile is below, `hi` the newest tile ever
 * applied, `mo` a time no mark was set before. Tiles are named by their decimal text (as JS's String
 * writes a safe integer). Numbers are written so they parse back to the same double: integers whole,
 * others in the shortest of %.15g, %.16g, %.17g that does (tostring keeps only 14 digits). One HMGET
 * reads all an entity's events need; the sweeps run only when due (`lo` below the oldest live tile,
 * `mo` before the mark cutoff).
 */
const APPLY_TILES = `
local now, live = tonumber(ARGV[1]), tonumber(ARGV[2])
local hop, max_hops = tonumber(ARGV[3]), tonumber(ARGV[4])
local mark_cutoff, least_ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local call, find, sub, format, byte = redis.call, string.find, string.sub, string.format, string.byte
local floor, huge = math.floor, math.huge
local fns, suffix = {}, {}
for fn in string.gmatch(ARGV[7], '[^,]+') do
  fns[#fns + 1] = fn
  suffix[#fns] = ':' .. (#fns - 1)
end
local k = #fns
local stride = 3 + k
local WIDTH = {count = 1, sum = 2, avg = 2, var = 3, std = 3, min = 1, max = 1}

local function bad(field)
  error({err = 'LARDER_TILE_STATE ' .. field})
end

local function num(x)
  if x ~= x then return 'NaN' end
  if x == huge then return 'Infinity' end
  if x == -huge then return '-Infinity' end
  if x == 0 then return '0' end
  if x == floor(x) and x > -9007199254740992 and x < 9007199254740992 then
    -- tostring writes %.14g, the same digits for integers of up to 14 digits, and faster
    if x > -1e14 and x < 1e14 then return tostring(x) end
    return format('%.0f', x)
  end
  local s = format('%.15g', x)
  if tonumber(s) == x then return s end
  s = format('%.16g', x)
  if tonumber(s) == x then return s end
  return format('%.17g', x)
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
    local p1 = find(text, ',', 1, true)
    local p2 = p1 and find(text, ',', p1 + 1, true)
    local p3 = p2 and find(text, ',[^,]*$', p2 + 1)
    if not p3 then bad(field) end
    local created = sub(text, p1 + 1, p2 - 1)
    local state = {
      ts = tonumber(sub(text, 1, p1 - 1)),
      created = created == '' and -huge or tonumber(created),
      order = sub(text, p2 + 1, p3 - 1),
      text = text,
    }
    if not state.ts or not state.created then bad(field) end
    return state
  end
  -- the comma-separated numbers (empty parts skipped)
  if not find(text, ',', 1, true) then
    local x = tonumber(text)
    if x == nil or WIDTH[fn] ~= 1 then bad(field) end
    return {x}
  end
  local out, n, pos, len = {}, 0, 1, #text
  while pos <= len do
    local comma = find(text, ',', pos, true)
    local stop = comma and comma - 1 or len
    if stop >= pos then
      n = n + 1
      out[n] = tonumber(sub(text, pos, stop)) or bad(field)
    end
    if not comma then break end
    pos = comma + 1
  end
  if n ~= WIDTH[fn] then bad(field) end
  return out
end

local function encode(fn, state)
  if fn == 'n' then return num(state) end
  if fn == 'count_distinct' then
    if #state.list == 0 then return '[]' end
    return cjson.encode(state.list)
  end
  if fn == 'last' then return state.text end
  local n = #state
  if n == 1 then return num(state[1]) end
  if n == 2 then return num(state[1]) .. ',' .. num(state[2]) end
  return num(state[1]) .. ',' .. num(state[2]) .. ',' .. num(state[3])
end

-- byte order, as JS compares the ASCII order strings (Lua's < follows the server's locale)
local function bytes_after(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = byte(a, i), byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end

-- mergeStates of core/tiles.ts, operation for operation; a (a state of this call's own) may be
-- updated in place
local function merge(fn, a, b)
  if fn == 'count' then
    a[1] = a[1] + b[1]
    return a
  end
  if fn == 'sum' or fn == 'avg' then
    a[1], a[2] = a[1] + b[1], a[2] + b[2]
    return a
  end
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

local function hdel(key, fields)
  for i = 1, #fields, 1000 do
    call('HDEL', key, unpack(fields, i, math.min(i + 999, #fields)))
  end
end

-- applies the events ARGV[first], ARGV[first + stride], ..., ARGV[last] (all of one entity) to its hash
local function apply(key, first, last)
  -- one HMGET for all the entity's events may read: bookkeeping, their marks, the fields of their tiles
  local wanted, index, nwanted = {'lo', 'hi', 'mo'}, {}, 3
  local marks, tile_fields = {}, {}
  for at = first, last, stride do
    local mark = ARGV[at]
    marks[at] = mark
    if not index[mark] then
      nwanted = nwanted + 1
      wanted[nwanted], index[mark] = mark, nwanted
    end
    local tile = ARGV[at + 1]
    if not tile_fields[tile] and tonumber(tile) >= live then
      local fields = {n = tile .. ':n'}
      tile_fields[tile] = fields
      if not index[fields.n] then
        nwanted = nwanted + 1
        wanted[nwanted], index[fields.n] = fields.n, nwanted
      end
      for i = 1, k do
        local field = tile .. suffix[i]
        fields[i] = field
        if not index[field] then
          nwanted = nwanted + 1
          wanted[nwanted], index[field] = field, nwanted
        end
      end
    end
  end
  local got
  if nwanted <= 1000 then
    got = call('HMGET', key, unpack(wanted))
  else
    got = {}
    for i = 1, nwanted, 1000 do
      local values = call('HMGET', key, unpack(wanted, i, math.min(i + 999, nwanted)))
      for j = 1, #values do got[i + j - 1] = values[j] end
    end
  end
  local lo, hi, mo = tonumber(got[1]), tonumber(got[2]), tonumber(got[3])
  local stored_lo, stored_hi, stored_mo = lo, hi, mo
  local writes, nwrites = {}, 0

  -- forget marks set before the cutoff (the marks fetched above are judged by the same rule)
  if mo and mo < mark_cutoff then
    local all = call('HGETALL', key)
    local dead = {}
    mo = nil
    for i = 1, #all, 2 do
      if sub(all[i], 1, 2) == 'm:' then
        local at = tonumber(all[i + 1])
        if at < mark_cutoff then
          dead[#dead + 1] = all[i]
        elseif not mo or at < mo then
          mo = at
        end
      end
    end
    hdel(key, dead)
    if not mo then call('HDEL', key, 'mo') end
  end

  -- remove the tiles below the oldest live one: by name when few, else by listing the fields
  if lo and lo < live then
    local dead = {}
    if (live - lo) * (k + 1) <= call('HLEN', key) then
      for t = lo, live - 1 do
        local p = format('%.0f', t) .. ':'
        dead[#dead + 1] = p .. 'n'
        for i = 0, k - 1 do dead[#dead + 1] = p .. i end
      end
    else
      for _, f in ipairs(call('HKEYS', key)) do
        local t = tonumber(string.match(f, '^(-?%d+):'))
        if t and t < live then dead[#dead + 1] = f end
      end
    end
    hdel(key, dead)
    lo = live
  end

  -- the states this call holds, by field: read once, then merged in place
  local cache, touched, ntouched = {}, {}, 0
  local applied, duplicates, expired = 0, 0, 0
  local seen = {}
  for at = first, last, stride do
    local id = marks[at]
    local marked_at = tonumber(got[index[id]])
    local tile = tonumber(ARGV[at + 1])
    if seen[id] or (marked_at and marked_at >= mark_cutoff) then
      duplicates = duplicates + 1
    elseif tile < live then
      expired = expired + 1
    else
      seen[id] = true
      writes[nwrites + 1], writes[nwrites + 2] = id, ARGV[1]
      nwrites = nwrites + 2
      local fields = tile_fields[ARGV[at + 1]]
      local ts = tonumber(ARGV[at + 2])
      for i = 0, k do
        local field, fn, text
        if i == 0 then
          field, fn = fields.n, 'n'
        else
          field, fn, text = fields[i], fns[i], ARGV[at + 2 + i]
        end
        if i == 0 or text ~= '' then
          local entry = cache[field]
          if entry == nil then
            entry = {field = field, fn = fn}
            local stored = got[index[field]]
            if stored then entry.state = decode(fn, stored, field) end
            cache[field] = entry
            ntouched = ntouched + 1
            touched[ntouched] = entry
          end
          if i == 0 then
            if entry.state == nil or ts > entry.state then entry.state = ts end
          else
            local state = decode(fn, text, field)
            if entry.state == nil then entry.state = state else entry.state = merge(fn, entry.state, state) end
          end
        end
      end
      applied = applied + 1
      if not hi or tile > hi then hi = tile end
      if not lo or tile < lo then lo = tile end
      if not mo or now < mo then mo = now end
    end
  end

  for i = 1, ntouched do
    local entry = touched[i]
    if entry.state ~= nil then
      writes[nwrites + 1], writes[nwrites + 2] = entry.field, encode(entry.fn, entry.state)
      nwrites = nwrites + 2
    end
  end
  if lo ~= nil and lo ~= stored_lo then
    writes[nwrites + 1], writes[nwrites + 2] = 'lo', num(lo)
    nwrites = nwrites + 2
  end
  if hi ~= nil and hi ~= stored_hi then
    writes[nwrites + 1], writes[nwrites + 2] = 'hi', num(hi)
    nwrites = nwrites + 2
  end
  if mo ~= nil and mo ~= stored_mo then
    writes[nwrites + 1], writes[nwrites + 2] = 'mo', num(mo)
    nwrites = nwrites + 2
  end
  if nwrites > 0 and nwrites <= 1000 then
    call('HSET', key, unpack(writes, 1, nwrites))
  else
    for i = 1, nwrites, 1000 do
      call('HSET', key, unpack(writes, i, math.min(i + 999, nwrites)))
    end
  end
  if applied > 0 then
    -- the key is idle once its newest tile has left every window: it expires then, but not sooner
    -- than the mark retention after this apply
    local ttl = math.ceil(((hi + max_hops + 1) * hop - now) / 1000)
    if ttl < least_ttl then ttl = least_ttl end
    call('PEXPIRE', key, format('%.0f', ttl))
  end
  return applied, duplicates, expired
end

-- the numbers of a count ("n") or sum/avg ("n,s") state text in its plain form, else nil
local function plain_numbers(fn, text)
  local comma = find(text, ',', 1, true)
  if fn == 'count' then
    if comma then return nil end
    return tonumber(text)
  end
  if not comma or comma == 1 or find(text, ',', comma + 1, true) then return nil end
  local a, b = tonumber(sub(text, 1, comma - 1)), tonumber(sub(text, comma + 1))
  if a and b then return a, b end
  return nil
end

-- a count, sum or avg event state merged into the stored one (false: none) straight from their
-- texts, as decode, merge and encode would; nil when a text is not in its plain form (decode judges)
local function plain_merge(fn, stored, text)
  local b1, b2 = plain_numbers(fn, text)
  if b1 == nil then return nil end
  if stored then
    local a1, a2 = plain_numbers(fn, stored)
    if a1 == nil then return nil end
    b1 = a1 + b1
    if b2 then b2 = a2 + b2 end
  end
  if b2 then return num(b1) .. ',' .. num(b2) end
  return num(b1)
end

-- apply for the common case, an entity with one event (at ARGV[at]), building fewer tables and
-- strings; returns nil, having written nothing, when the event's tile has expired or a sweep is due
-- (apply does those)
local tile_names, ttl_texts = {}, {}
local function apply_one(key, at)
  local tile_text = ARGV[at + 1]
  local tile = tonumber(tile_text)
  if tile < live then return nil end
  -- the tile's field names, made once per call (an entity's events mostly fall in the same tiles)
  local names = tile_names[tile_text]
  if not names then
    names = {tile_text .. ':n'}
    for i = 1, k do names[1 + i] = tile_text .. suffix[i] end
    tile_names[tile_text] = names
  end
  local mark, nfield = ARGV[at], names[1]
  local wanted = {'lo', 'hi', 'mo', mark, nfield}
  for i = 1, k do wanted[5 + i] = names[1 + i] end
  local got = call('HMGET', key, unpack(wanted))
  local lo, hi, mo = tonumber(got[1]), tonumber(got[2]), tonumber(got[3])
  if (mo and mo < mark_cutoff) or (lo and lo < live) then return nil end
  local marked_at = tonumber(got[4])
  if marked_at and marked_at >= mark_cutoff then return 0, 1, 0 end
  -- the texts of the event's time, tile and now are already written as num writes integers
  local ts_text = ARGV[at + 2]
  local newest = ts_text
  if got[5] then
    local stored = decode('n', got[5], nfield)
    if not (tonumber(ts_text) > stored) then newest = num(stored) end
  end
  local writes, n = {mark, ARGV[1], nfield, newest}, 4
  for i = 1, k do
    local text = ARGV[at + 2 + i]
    if text ~= '' then
      local field, fn, stored = names[1 + i], fns[i], got[5 + i]
      local out = (fn == 'count' or fn == 'sum' or fn == 'avg') and plain_merge(fn, stored, text)
      if not out then
        local state = decode(fn, text, field)
        if stored then state = merge(fn, decode(fn, stored, field), state) end
        out = encode(fn, state)
      end
      writes[n + 1], writes[n + 2] = field, out
      n = n + 2
    end
  end
  if not lo or tile < lo then
    writes[n + 1], writes[n + 2] = 'lo', tile_text
    n = n + 2
  end
  if not hi or tile > hi then
    hi = tile
    writes[n + 1], writes[n + 2] = 'hi', tile_text
    n = n + 2
  end
  if not mo or now < mo then
    writes[n + 1], writes[n + 2] = 'mo', ARGV[1]
    n = n + 2
  end
  call('HSET', key, unpack(writes, 1, n))
  local ttl = ttl_texts[hi]
  if not ttl then
    ttl = math.ceil(((hi + max_hops + 1) * hop - now) / 1000)
    if ttl < least_ttl then ttl = least_ttl end
    ttl = format('%.0f', ttl)
    ttl_texts[hi] = ttl
  end
  call('PEXPIRE', key, ttl)
  return 1, 0, 0
end

-- per key: its event count, then its events; a key whose stored state is corrupt fails alone (the
-- others are applied, as separate calls would be) and its error is raised at the end
local applied, duplicates, expired = 0, 0, 0
local failure
local at = ${FIRST_EVENT_ARG}
for i = 1, #KEYS do
  local count = tonumber(ARGV[at])
  local first = at + 1
  local ok, a, d, e = true, nil, nil, nil
  if count == 1 then ok, a, d, e = pcall(apply_one, KEYS[i], first) end
  if ok and a == nil then ok, a, d, e = pcall(apply, KEYS[i], first, first + (count - 1) * stride) end
  if ok then
    applied, duplicates, expired = applied + a, duplicates + d, expired + e
  elseif failure == nil then
    failure = a
  end
  at = first + count * stride
end
if failure ~= nil then error(failure) end
return {applied, duplicates, expired}
`

/**
 * Removes marks. KEYS are tile hashes; ARGV per key in KEYS order: the number of its mark fields, then
 * the fields (`m:<id>`). Returns the number of keys.
 */
const RELEASE_MARKS = `
local at = 1
for i = 1, #KEYS do
  local last = at + tonumber(ARGV[at])
  for j = at + 1, last, 1000 do
    redis.call('HDEL', KEYS[i], unpack(ARGV, j, math.min(j + 999, last)))
  end
  at = last + 1
end
return #KEYS
`

/**
 * The tiles of stream feature views in Redis (see `CONTEXT.md` here): one hash per view and entity,
 * `larder:tiles:<project>:<view>:` + entity key bytes. Fields: `<tile>:<i>` holds aggregation `i`'s
 * state in the text form of `core/tiles.ts`, `<tile>:n` the tile's newest event time, `m:<id>` the
 * mark of an applied event (the `now` it was applied at), and `lo`, `hi`, `mo` for the sweeps and the
 * expiry.
 *
 * A batch is one script call per `SCRIPT_CALL_BUDGET` of events (500 events or about 1 MiB of
 * arguments; on a Redis Cluster, per hash slot of the batch's keys, since a script's keys must share
 * one), pipelined; an entity's events are never split between calls. The script skips marked ids
 * (duplicates) and events of expired tiles, merges the rest exactly as `mergeStates` does, marks
 * their ids, removes tiles that left every window and marks older than `MARK_RETENTION_MICROS` (by
 * the callers' `now`), and extends the key's expiry to when its newest tile leaves every window, but
 * at least `MARK_RETENTION_MICROS` from the last apply, so a key outlives a replay whose `now` lags
 * the wall clock. Releasing marks is one script call per batch too.
 */
export class RedisTiles implements TileStore {
  readonly #connection: RedisConnection
  #applySha = ''
  #releaseSha = ''

  constructor(connection: RedisConnection) {
    this.#connection = connection
  }

  /** Loads the apply and release scripts on every master. */
  async loadScript(): Promise<void> {
    this.#applySha = await this.#connection.loadScript(APPLY_TILES)
    this.#releaseSha = await this.#connection.loadScript(RELEASE_MARKS)
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
    const items = [...byEntity(writes).values()].map(({ entityKey, writes: events }): KeyItem => {
      const args: RedisArgument[] = [String(events.length)]
      let bytes = 8
      for (const w of events) {
        const tile = String(w.tile)
        const ts = String(w.eventTs)
        args.push(`m:${w.id}`, tile, ts)
        bytes += w.id.length + tile.length + ts.length + 24
        for (const state of w.states) {
          const text = state === undefined ? '' : encodeState(state)
          args.push(text)
          bytes += text.length + 8
        }
      }
      const key = tileKey(prefix, entityKey)
      return { key, entries: events.length, bytes: bytes + key.length, args }
    })
    const stats = { applied: 0, duplicates: 0, expired: 0 }
    for (const pipeline of pipelines(this.#calls(this.#applySha, items, head), EVENTS_PER_PIPELINE)) {
      checkAborted(opts)
      for (const reply of await this.#runScripts(view, pipeline)) {
        const [applied, duplicates, expired] = (reply as unknown[]).map(Number) as [number, number, number]
        stats.applied += applied
        stats.duplicates += duplicates
        stats.expired += expired
      }
    }
    return stats
  }

  /** Removes the marks in one script call per batch (per hash slot on a cluster), pipelined. */
  async releaseMarks(view: TileViewRef, writes: readonly TileWrite[], opts?: Abortable): Promise<void> {
    checkAborted(opts)
    const prefix = tileKeyPrefix(view.project, view.name)
    const items = [...byEntity(writes).values()].map(({ entityKey, writes: events }): KeyItem => {
      const args: RedisArgument[] = [String(events.length)]
      let bytes = 8
      for (const w of events) {
        args.push(`m:${w.id}`)
        bytes += w.id.length + 12
      }
      const key = tileKey(prefix, entityKey)
      return { key, entries: events.length, bytes: bytes + key.length, args }
    })
    for (const pipeline of pipelines(this.#calls(this.#releaseSha, items, []), EVENTS_PER_PIPELINE)) {
      checkAborted(opts)
      await runScripts(this.#connection, pipeline, () => this.loadScript())
    }
  }

  /** One EVALSHA per group of items: KEYS are the items' keys, ARGV the head, then each item's arguments. */
  #calls(sha: string, items: readonly KeyItem[], head: readonly RedisArgument[]): PipelinedCall[] {
    return scriptCalls(items, this.#connection.cluster).map((call): PipelinedCall => {
      const args: RedisArgument[] = ['EVALSHA', sha, String(call.length)]
      for (const item of call) args.push(item.key)
      for (const arg of head) args.push(arg)
      for (const item of call) for (const arg of item.args) args.push(arg)
      return { key: call[0]!.key, args, entries: call.reduce((n, item) => n + item.entries, 0) }
    })
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

/** An entity's part of a script call: its tile hash and the arguments of its events or marks. */
interface KeyItem extends CallItem {
  readonly args: readonly RedisArgument[]
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
