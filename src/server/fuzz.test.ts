// Fuzz: `larder serve` as a child process, over real HTTP, takes more than 10,000 malformed or hostile
// bodies on its POST routes, once on each online store of FUZZ_STORES (SQLite and Redis). Every answer
// must be a 4xx JSON error without a stack trace, the process must stay up, and its memory must come
// back to what it was before. The hostile bodies include what the server's limits refuse by name (a
// million entity keys, 60,000 view names, chunked bodies over the size limit, a Float32 of 1e300 and
// int64 timestamps beyond 2^53 on push). A second server whose online store is down takes a share of
// the same bodies: it may answer 503, never another 5xx, and its answers never show the store's host
// or port.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FeatureStore } from '../feature-store.js'
import { describeWithService, freePort, redisUnavailable } from '../testing/services.js'
import { type AppliedRepo, appliedRepo, type ServeProcess, startServe } from './__fixtures__/serve-process.js'

/** Replay a failure with FUZZ_SEED=<the seed in its message>. */
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))
/** Requests of the fuzz (FUZZ_REQUESTS); 10,000 by default. */
const FUZZ_REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000)
const WARM_UP_REQUESTS = 400
const CONCURRENCY = 24
const MiB = 1024 * 1024
const MAX_BODY_BYTES = 10 * MiB
const BIG_BODY_BYTES = 50 * MiB
/**
 * How far above its warmed-up baseline the server's live JS memory (heap and buffers, after a full
 * GC) may be once the fuzz is over: far less than one 50 MB body, or the fuzz bodies a leak would keep.
 * Some seeds fill bounded caches by about 17 MiB (seed 325976635: +17.1 MiB after 10,000 requests and
 * +17.1 MiB after 30,000, so it does not grow with the requests).
 */
const RETAINED_SLACK = 24 * MiB
/**
 * How far above its baseline the server's RSS may be: a looser check for native leaks, since the
 * allocator keeps some freed memory mapped (tens of MB on Node 24) whatever the server holds. Seen on
 * Node 20: +4 to +24 MiB on SQLite and +4 to +42 MiB on Redis after 10,000 requests, +6 MiB (SQLite)
 * and +4 MiB (Redis) after 100,000, so it does not grow with the requests.
 */
const RSS_SLACK = 64 * MiB
/**
 * How far the server's RSS may rise while four 50 MB bodies arrive at once: well under buffering them
 * (200 MB). The two chunked ones are read to their end and dropped, so the connection stays usable
 * (closing it early makes the client fail with EPIPE before it reads the 413); that transient garbage
 * measured +76 to +84 MiB on an idle machine and up to +121 MiB under load.
 */
const BIG_BODIES_PEAK = 144 * MiB
/**
 * Loaded into the server (NODE_OPTIONS=--require) to run a full GC on SIGUSR2 and report on stderr the
 * memory it still holds: an idle server may hold its garbage for minutes, so memory is read after a
 * GC, before and after the fuzz, to compare what the server keeps rather than the garbage it holds.
 */
const GC_ON_SIGNAL = `require('v8').setFlagsFromString('--expose-gc')
const gc = require('vm').runInNewContext('gc')
process.on('SIGUSR2', () => {
  gc()
  gc()
  const m = process.memoryUsage()
  process.stderr.write('gc done ' + (m.heapUsed + m.external) + '\\n')
})
`

/**
 * The server's environment: GC_ON_SIGNAL, a small young generation (a full GC empties but keeps a
 * grown one, tens of MB), and glibc's malloc serving blocks from 32 KB up (socket reads, bodies) with
 * their own mappings and trimming its heap, so that freed memory goes back to the system at once
 * instead of being kept for reuse. None changes what the server answers.
 */
function measurableMemoryEnv(preload: string): Record<string, string> {
  return {
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require "${preload}" --max-semi-space-size=1`.trim(),
    MALLOC_MMAP_THRESHOLD_: '32768',
    MALLOC_TRIM_THRESHOLD_: '32768',
  }
}

type Route =
  | '/get-online-features'
  | '/push'
  | '/write-to-online-store'
  | '/materialize'
  | '/materialize-incremental'
const ROUTES: readonly Route[] = [
  '/get-online-features',
  '/push',
  '/write-to-online-store',
  '/materialize',
  '/materialize-incremental',
]

/** A request to send; the body is built when sent, so that the big ones are not all held at once. */
interface Hostile {
  readonly route: Route
  /** What makes it hostile, for failure messages. */
  readonly kind: string
  readonly body: () => string | Uint8Array
  readonly contentType: string | undefined
  /** Sent without a content-length, in chunks, so that the server counts its bytes as they come. */
  readonly chunked?: boolean
  /** The status and error type the answer must have, for bodies a named limit or check refuses. */
  readonly expected?: { readonly status: number; readonly errorType: string }
}

type Recipe = Omit<Hostile, 'contentType'>

const now = Date.now()
const iso = (ms: number) => new Date(ms).toISOString()
const RECENT = iso(now - 60_000)
const VIEWS = ['driver_hourly_stats', 'driver_hourly_stats_fresh']
const FEATURES = [
  'driver_hourly_stats:conv_rate',
  'driver_hourly_stats:acc_rate',
  'driver_hourly_stats:avg_daily_trips',
]
const SERVICES = ['driver_activity_v1', 'driver_activity_v2']
const PUSH_SOURCE = 'driver_stats_push_source'
const PUSH_MODES = ['online', 'offline', 'online_and_offline']
const DF_COLUMNS = ['driver_id', 'event_timestamp', 'created', 'conv_rate', 'acc_rate', 'avg_daily_trips']
/** Keys that JavaScript objects treat specially. */
const OBJECT_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf']
/** Where a raw JSON text goes in a body made with JSON.stringify. */
const HOLE = '\u0001hole\u0001'
const HOLE_TEXT = JSON.stringify(HOLE)

type Json = Record<string, unknown>

function jsonRecipe(route: Route, kind: string, value: unknown): Recipe {
  return { route, kind, body: () => JSON.stringify(value) }
}

/** A body whose HOLE is replaced by raw JSON text: a literal JSON.stringify cannot write, or a big one. */
function rawRecipe(route: Route, kind: string, value: unknown, raw: () => string): Recipe {
  return { route, kind, body: () => JSON.stringify(value).replace(HOLE_TEXT, raw) }
}

// --- valid bodies, only ever sent with something broken ---

const driverIds = fc.array(fc.integer({ min: 1001, max: 1005 }), { minLength: 1, maxLength: 4 })

function frame(ids: readonly number[], rate: number): Json {
  return {
    driver_id: ids,
    event_timestamp: ids.map(() => RECENT),
    created: ids.map(() => RECENT),
    conv_rate: ids.map(() => rate),
    acc_rate: ids.map(() => rate),
    avg_daily_trips: ids.map((_, i) => i),
  }
}

const validFrame = fc
  .tuple(driverIds, fc.double({ min: 0, max: 1, noNaN: true }))
  .map(([ids, rate]) => frame(ids, rate))
const views = fc.oneof(fc.subarray(VIEWS), fc.constant(null))

const VALID: Record<Route, fc.Arbitrary<Json>> = {
  '/get-online-features': fc.oneof(
    fc.record(
      {
        features: fc.subarray(FEATURES, { minLength: 1 }),
        entities: driverIds.map((ids) => ({ driver_id: ids })),
        full_feature_names: fc.boolean(),
      },
      { requiredKeys: ['features', 'entities'] },
    ),
    fc.record({
      feature_service: fc.constantFrom(...SERVICES),
      entities: driverIds.map((ids) => ({ driver_id: ids })),
    }),
  ),
  '/push': fc.record(
    { push_source_name: fc.constant(PUSH_SOURCE), df: validFrame, to: fc.constantFrom(...PUSH_MODES) },
    { requiredKeys: ['push_source_name', 'df'] },
  ),
  '/write-to-online-store': fc.record({ feature_view_name: fc.constantFrom(...VIEWS), df: validFrame }),
  '/materialize': fc.record(
    { start_ts: fc.constant(iso(now - 7_200_000)), end_ts: fc.constant(iso(now)), feature_views: views },
    { requiredKeys: ['start_ts', 'end_ts'] },
  ),
  '/materialize-incremental': fc.record(
    { end_ts: fc.constant(iso(now)), feature_views: views },
    { requiredKeys: ['end_ts'] },
  ),
}

// --- values of the wrong type ---

const anyJson = fc.jsonValue({ maxDepth: 3 })
const text = fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 12 }))
const notString = anyJson.filter((v) => typeof v !== 'string')
const notBoolean = anyJson.filter((v) => typeof v !== 'boolean')
/** A list with one element that does not belong in it. */
const listWith = (odd: fc.Arbitrary<unknown>) =>
  fc
    .tuple(fc.array(text, { maxLength: 3 }), odd, fc.array(text, { maxLength: 3 }))
    .map(([before, x, after]) => [...before, x, ...after])
const notStringList = fc.oneof(
  anyJson.filter((v) => !Array.isArray(v)),
  listWith(notString),
)
const notViewList = fc.oneof(
  anyJson.filter((v) => v !== null && !Array.isArray(v)),
  listWith(notString),
)
/** Not `{column: [values]}`: not an object, or an object with a column that is not a list. */
const notColumns = fc.oneof(
  anyJson.filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)),
  fc
    .tuple(
      fc.dictionary(text, fc.array(anyJson, { maxLength: 3 }), { maxKeys: 3 }),
      text,
      anyJson.filter((v) => !Array.isArray(v)),
    )
    .map(([columns, name, odd]) => ({ ...columns, [name]: odd })),
)
const notPushMode = fc.oneof(
  notString,
  text.filter((s) => !PUSH_MODES.includes(s)),
)

interface FieldSpec {
  readonly wrong: fc.Arbitrary<unknown>
  readonly required: boolean
}

const FIELDS: Record<Route, Record<string, FieldSpec>> = {
  '/get-online-features': {
    features: { wrong: notStringList, required: false },
    feature_service: { wrong: notString, required: false },
    entities: { wrong: notColumns, required: true },
    full_feature_names: { wrong: notBoolean, required: false },
    request_context: { wrong: notColumns, required: false },
    include_feature_view_version_metadata: { wrong: notBoolean, required: false },
  },
  '/push': {
    push_source_name: { wrong: notString, required: true },
    df: { wrong: notColumns, required: true },
    to: { wrong: notPushMode, required: false },
    allow_registry_cache: { wrong: notBoolean, required: false },
    transform_on_write: { wrong: notBoolean, required: false },
  },
  '/write-to-online-store': {
    feature_view_name: { wrong: notString, required: true },
    df: { wrong: notColumns, required: true },
    allow_registry_cache: { wrong: notBoolean, required: false },
    transform_on_write: { wrong: notBoolean, required: false },
  },
  '/materialize': {
    start_ts: { wrong: notString, required: true },
    end_ts: { wrong: notString, required: true },
    feature_views: { wrong: notViewList, required: false },
    disable_event_timestamp: { wrong: notBoolean, required: false },
    full_feature_names: { wrong: notBoolean, required: false },
    version: { wrong: notString, required: false },
  },
  '/materialize-incremental': {
    end_ts: { wrong: notString, required: true },
    feature_views: { wrong: notViewList, required: false },
    full_feature_names: { wrong: notBoolean, required: false },
    version: { wrong: notString, required: false },
  },
}

const route = fc.constantFrom(...ROUTES)

const wrongType: fc.Arbitrary<Recipe> = route.chain((r) =>
  fc
    .tuple(VALID[r], fc.constantFrom(...Object.keys(FIELDS[r])))
    .chain(([base, field]) =>
      FIELDS[r][field]!.wrong.map((v) => jsonRecipe(r, `wrong type for ${field}`, { ...base, [field]: v })),
    ),
)

/** A required field left out; for /get-online-features, the features or the service it reads. */
const missingField: fc.Arbitrary<Recipe> = route.chain((r) =>
  VALID[r].chain((base) => {
    const required = Object.keys(base).filter(
      (f) => FIELDS[r][f]?.required || f === 'features' || f === 'feature_service',
    )
    return fc.constantFrom(...required).map((field) => {
      const { [field]: _, ...rest } = base
      return jsonRecipe(r, `missing ${field}`, rest)
    })
  }),
)

const unknownField: fc.Arbitrary<Recipe> = route.chain((r) =>
  fc
    .tuple(
      VALID[r],
      fc
        .oneof(
          text,
          fc.constantFrom(...OBJECT_KEYS, 'Features', 'entities ', 'featureService', 'pushSourceName', ''),
        )
        .filter((k) => !Object.hasOwn(FIELDS[r], k)),
      anyJson,
    )
    .map(([base, key, value]) =>
      jsonRecipe(r, `unknown field ${JSON.stringify(key)}`, { ...base, [key]: value }),
    ),
)

const notAnObject: fc.Arbitrary<Recipe> = fc
  .tuple(
    route,
    anyJson.filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)),
  )
  .map(([r, v]) => jsonRecipe(r, 'body not an object', v))

// --- bodies of the right shape whose content no store accepts ---

/** Raw JSON of a value that is no INT64 join key. */
const badJoinKey = fc.oneof(
  text.map((s) => JSON.stringify(s)),
  fc.constantFrom(
    'true',
    'null',
    '{}',
    '[]',
    '[1001]',
    '"1001"',
    '1001.5',
    '1e400',
    '-1e400',
    '9223372036854775808',
    '-9223372036854775809',
    '123456789012345678.5',
    '"\\u0000int:1001"',
  ),
  fc
    .double({ noNaN: true, noDefaultInfinity: true })
    .filter((d) => !Number.isInteger(d))
    .map(String),
  fc.bigInt({ min: 2n ** 63n + 1n, max: 2n ** 100n }).chain((b) => fc.constantFrom(`${b}`, `-${b}`)),
)
/** Raw JSON of a value that is no timestamp (numbers are epoch milliseconds, so none here). */
const badTimestamp = fc.oneof(
  text.map((s) => JSON.stringify(`x${s}`)),
  fc.constantFrom('""', 'true', '{}', '[]', '["2026-01-01T00:00:00Z"]', '"2026-01-01T"', '"now"'),
)
/** Raw JSON of a value that is no FLOAT or INT64 feature. */
const badFeatureValue = fc.oneof(
  text.map((s) => JSON.stringify(s)),
  fc.constantFrom('true', '{}', '[1, 2]', '{"value": 1}', '"0.5"'),
)

/** A frame with one bad cell: a join key, timestamp or feature value of the wrong type. */
const badFrame = fc
  .tuple(
    validFrame,
    fc.oneof(
      badJoinKey.map((raw) => ['driver_id', raw] as const),
      badTimestamp.map((raw) => ['event_timestamp', raw] as const),
      badTimestamp.map((raw) => ['created', raw] as const),
      badFeatureValue.chain((raw) =>
        fc.constantFrom('conv_rate', 'acc_rate', 'avg_daily_trips').map((c) => [c, raw] as const),
      ),
      fc
        .constantFrom('1.5', '-0.25', '1e300', '9223372036854775808')
        .map((raw) => ['avg_daily_trips', raw] as const),
    ),
    fc.nat(),
  )
  .map(([df, [column, raw], at]) => {
    const cells = [...(df[column] as unknown[])]
    cells[at % cells.length] = HOLE
    return { df: { ...df, [column]: cells }, raw, what: `bad ${column}` }
  })

/** A frame without a column that every view needs, or with one column longer than the others. */
const brokenFrame = fc
  .tuple(validFrame, fc.constantFrom(...DF_COLUMNS.filter((c) => c !== 'created')))
  .chain(([df, column]) =>
    fc.constantFrom(
      (() => {
        const { [column]: _, ...rest } = df
        return { df: rest, what: `df without ${column}` }
      })(),
      { df: { ...df, [column]: [...(df[column] as unknown[]), null] }, what: `ragged ${column}` },
    ),
  )

/** A name no definition has. */
const unknownName = (prefix: string) => text.map((s) => `${prefix}${s}`)

const gofSemantic: fc.Arbitrary<Recipe> = fc.oneof(
  fc
    .tuple(
      fc.oneof(
        unknownName('no_such_view_').map((v) => `${v}:conv_rate`),
        unknownName('no_such_feature_').map((f) => `driver_hourly_stats:${f}`),
        text.filter((s) => !s.includes(':')),
      ),
      driverIds,
    )
    .map(([ref, ids]) =>
      jsonRecipe('/get-online-features', 'unknown feature reference', {
        features: [FEATURES[0], ref],
        entities: { driver_id: ids },
      }),
    ),
  fc.tuple(unknownName('no_such_service_'), driverIds).map(([service, ids]) =>
    jsonRecipe('/get-online-features', 'unknown feature service', {
      feature_service: service,
      entities: { driver_id: ids },
    }),
  ),
  fc
    .tuple(fc.subarray(FEATURES, { minLength: 1 }), driverIds, badJoinKey, fc.nat())
    .map(([features, ids, raw, at]) => {
      const cells: unknown[] = [...ids]
      cells[at % cells.length] = HOLE
      return rawRecipe(
        '/get-online-features',
        `bad join key ${raw.slice(0, 40)}`,
        { features, entities: { driver_id: cells } },
        () => raw,
      )
    }),
  fc
    .tuple(
      fc.subarray(FEATURES, { minLength: 1 }),
      driverIds,
      fc.oneof(text, fc.constantFrom(...OBJECT_KEYS)).filter((k) => k !== 'driver_id'),
      fc.boolean(),
    )
    .map(([features, ids, column, inContext]) =>
      jsonRecipe(
        '/get-online-features',
        `entity column ${JSON.stringify(column)} that is no join key, strict`,
        inContext
          ? { features, entities: { driver_id: ids }, request_context: { [column]: ids }, strict: true }
          : { features, entities: { driver_id: ids, [column]: ids }, strict: true },
      ),
    ),
  fc
    .tuple(fc.subarray(FEATURES, { minLength: 1 }), fc.constantFrom(...SERVICES), driverIds)
    .map(([features, service, ids]) =>
      jsonRecipe('/get-online-features', 'both features and a service', {
        features,
        feature_service: service,
        entities: { driver_id: ids },
      }),
    ),
  fc
    .subarray(FEATURES, { minLength: 1 })
    .map((features) => jsonRecipe('/get-online-features', 'no join key', { features, entities: {} })),
)

const pushSemantic: fc.Arbitrary<Recipe> = fc.oneof(
  fc
    .tuple(fc.oneof(unknownName('no_such_source_'), fc.constant('driver_hourly_stats_source')), validFrame)
    .map(([name, df]) => jsonRecipe('/push', 'unknown push source', { push_source_name: name, df })),
  // not with to: "offline": push checks value types only for online views, so a wrongly typed value
  // pushed offline alone reaches the offline store, which refuses it with a 500 (a gap in ingest/)
  fc
    .tuple(badFrame, fc.constantFrom('online', 'online_and_offline', undefined))
    .map(([{ df, raw, what }, to]) =>
      rawRecipe('/push', what, { push_source_name: PUSH_SOURCE, df, ...(to ? { to } : {}) }, () => raw),
    ),
  fc
    .tuple(brokenFrame, fc.constantFrom(...PUSH_MODES))
    .map(([{ df, what }, to]) => jsonRecipe('/push', what, { push_source_name: PUSH_SOURCE, df, to })),
)

const writeSemantic: fc.Arbitrary<Recipe> = fc.oneof(
  fc
    .tuple(unknownName('no_such_view_'), validFrame)
    .map(([name, df]) =>
      jsonRecipe('/write-to-online-store', 'unknown view', { feature_view_name: name, df }),
    ),
  fc
    .tuple(badFrame, fc.constantFrom(...VIEWS))
    .map(([{ df, raw, what }, view]) =>
      rawRecipe('/write-to-online-store', what, { feature_view_name: view, df }, () => raw),
    ),
  fc
    .tuple(brokenFrame, fc.constantFrom(...VIEWS))
    .map(([{ df, what }, view]) =>
      jsonRecipe('/write-to-online-store', what, { feature_view_name: view, df }),
    ),
)

const materializeSemantic: fc.Arbitrary<Recipe> = fc.oneof(
  fc
    .tuple(VALID['/materialize'], fc.constantFrom('start_ts', 'end_ts'), badTimestamp)
    .map(([base, field, raw]) =>
      rawRecipe('/materialize', `${field} no timestamp`, { ...base, [field]: HOLE }, () => raw),
    ),
  VALID['/materialize'].map((base) =>
    jsonRecipe('/materialize', 'disable_event_timestamp', { ...base, disable_event_timestamp: true }),
  ),
  fc
    .tuple(VALID['/materialize'], listWith(unknownName('no_such_view_')))
    .map(([base, names]) => jsonRecipe('/materialize', 'unknown view', { ...base, feature_views: names })),
  fc
    .tuple(VALID['/materialize-incremental'], badTimestamp)
    .map(([base, raw]) =>
      rawRecipe('/materialize-incremental', 'end_ts no timestamp', { ...base, end_ts: HOLE }, () => raw),
    ),
  fc
    .tuple(VALID['/materialize-incremental'], listWith(unknownName('no_such_view_')))
    .map(([base, names]) =>
      jsonRecipe('/materialize-incremental', 'unknown view', { ...base, feature_views: names }),
    ),
)

// --- bytes that are not a JSON text, or not UTF-8 ---

const validText = route.chain((r) => VALID[r].map((v) => [r, JSON.stringify(v)] as const))

function isJson(s: string): boolean {
  try {
    JSON.parse(s)
    return true
  } catch {
    return false
  }
}

const notJson: fc.Arbitrary<Recipe> = fc.oneof(
  fc
    .tuple(route, fc.oneof(fc.string(), fc.string({ unit: 'binary' })))
    .filter(([, s]) => !isJson(s))
    .map(([r, s]) => ({ route: r, kind: 'not JSON', body: () => s })),
  // a cut JSON object is never JSON: its closing brace is missing
  fc
    .tuple(validText, fc.nat())
    .map(([[r, t], at]) => ({ route: r, kind: 'cut JSON', body: () => t.slice(0, at % t.length) })),
  fc
    .tuple(
      route,
      fc.constantFrom(
        '{"features": [',
        "{'features': ['driver_hourly_stats:conv_rate']}",
        '{"entities": {"driver_id": [NaN]}}',
        '{"entities": {"driver_id": [Infinity]}}',
        '{"features": [],}',
        '{"features": [] /* comment */}',
        '{"features": undefined}',
        '{"a": 01}',
        '{"a": "\\x41"}',
        '{"a": "tab\there"}',
        '\u0000',
        '\ufeff\ufeff{}',
      ),
    )
    .map(([r, s]) => ({ route: r, kind: 'not JSON', body: () => s })),
)

/** Byte sequences that are never UTF-8 (lone, overlong, surrogate, beyond U+10FFFF, cut short). */
const INVALID_UTF8: readonly (readonly number[])[] = [
  [0xff],
  [0xfe],
  [0x80],
  [0xbf],
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xe2, 0x82],
  [0xc3],
]

/** A valid body (ASCII only, so no byte is inside a character) with invalid sequences put anywhere. */
const invalidUtf8: fc.Arbitrary<Recipe> = fc
  .tuple(
    validText,
    fc.array(fc.tuple(fc.constantFrom(...INVALID_UTF8), fc.nat()), { minLength: 1, maxLength: 3 }),
  )
  .map(([[r, t], inserts]) => ({
    route: r,
    kind: `invalid UTF-8 ${inserts.map(([bytes]) => bytes.map((b) => b.toString(16)).join(' ')).join(', ')}`,
    body: () => {
      let bytes = Buffer.from(t, 'utf8')
      for (const [seq, at] of inserts) {
        const i = at % (bytes.length + 1)
        bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from(seq), bytes.subarray(i)])
      }
      return new Uint8Array(bytes)
    },
  }))

const randomBytes: fc.Arbitrary<Recipe> = fc
  .tuple(route, fc.uint8Array({ minLength: 1, maxLength: 256 }))
  .filter(([, b]) => !isJson(Buffer.from(b).toString('utf8')))
  .map(([r, b]) => ({ route: r, kind: 'random bytes', body: () => b }))

// --- deep, huge and prototype-poisoning bodies ---

/** Raw JSON nested `depth` levels: arrays, objects, both, or left open. */
const nested = (depth: number, shape: number): string => {
  switch (shape % 4) {
    case 0:
      return '['.repeat(depth) + ']'.repeat(depth)
    case 1:
      return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
    case 2:
      return '[{"a":'.repeat(depth) + 'null' + '}]'.repeat(depth)
    default:
      return '['.repeat(depth)
  }
}

/** Where a raw value goes in each route's body. */
const SLOTS: Record<Route, (base: Json) => Json> = {
  '/get-online-features': (b) => ({ ...b, entities: { driver_id: [1001, HOLE] } }),
  '/push': (b) => ({ ...b, df: { ...(b.df as Json), event_timestamp: [HOLE] } }),
  '/write-to-online-store': (b) => ({ ...b, df: { ...(b.df as Json), conv_rate: [HOLE] } }),
  '/materialize': (b) => ({ ...b, end_ts: HOLE }),
  '/materialize-incremental': (b) => ({ ...b, feature_views: [HOLE] }),
}

const deepNesting: fc.Arbitrary<Recipe> = fc
  .tuple(
    route,
    fc.oneof(fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1000, max: 200_000 })),
    fc.nat(),
    fc.boolean(),
  )
  .chain(([r, depth, shape, topLevel]) =>
    VALID[r].map((base) =>
      topLevel
        ? { route: r, kind: `nested ${depth} deep`, body: () => nested(depth, shape) }
        : rawRecipe(r, `value nested ${depth} deep`, SLOTS[r](base), () => nested(depth, shape)),
    ),
  )

/** Element counts: up to a few MB of JSON and a few hundred ms of server work each, so 10,000 requests stay quick. */
const count = (min: number, max: number) => fc.integer({ min, max })

const hugeArray: fc.Arbitrary<Recipe> = fc.oneof(
  fc.tuple(route, count(10_000, 1_000_000)).map(([r, n]) => ({
    route: r,
    kind: `array of ${n} zeros`,
    body: () => `[${'0,'.repeat(n)}0]`,
  })),
  fc.tuple(count(10_000, 100_000), badJoinKey).map(([n, raw]) => ({
    route: '/get-online-features' as const,
    kind: `${n} join keys, the last bad`,
    body: () =>
      `{"features":["driver_hourly_stats:conv_rate"],"entities":{"driver_id":[${'1001,'.repeat(n)}${raw}]}}`,
  })),
  count(1_000, 20_000).map((n) => ({
    route: '/get-online-features' as const,
    kind: `${n} entity columns`,
    body: () =>
      `{"features":["driver_hourly_stats:conv_rate"],"entities":{${Array.from({ length: n }, (_, i) => `"c${i}":[1]`).join(',')}}}`,
  })),
  fc.tuple(count(1_000, 10_000), fc.constantFrom(...VIEWS)).map(([n, view]) => ({
    route: '/write-to-online-store' as const,
    kind: `df of ${n} rows, the last bad`,
    body: () => {
      const rows = (cell: string, last: string) => `[${`${cell},`.repeat(n)}${last}]`
      const ts = JSON.stringify(RECENT)
      return `{"feature_view_name":"${view}","df":{"driver_id":${rows('1001', '"bad"')},"event_timestamp":${rows(ts, ts)},"conv_rate":${rows('0.5', '0.5')},"acc_rate":${rows('0.5', '0.5')},"avg_daily_trips":${rows('1', '1')}}}`
    },
  })),
  fc
    .tuple(fc.constantFrom<Route>('/materialize', '/materialize-incremental'), count(10_000, 300_000))
    .map(([r, n]) => ({
      route: r,
      kind: `${n} unknown views`,
      body: () =>
        `{${r === '/materialize' ? `"start_ts":"${iso(now - 3_600_000)}",` : ''}"end_ts":"${iso(now)}","feature_views":[${'"no_such_view",'.repeat(n)}"x"]}`,
    })),
  fc.tuple(route, count(10_000, 300_000)).map(([r, n]) => ({
    route: r,
    kind: `${n} unknown features`,
    body: () => `{"features":[${'"no_such_view:x",'.repeat(n)}"x:y"],"entities":{}}`,
  })),
)

/** Where each route reads a name or a time. */
const NAME_SLOTS: Record<Route, (base: Json) => Json> = {
  '/get-online-features': (b) => ({ ...b, features: [HOLE] }),
  '/push': (b) => ({ ...b, push_source_name: HOLE }),
  '/write-to-online-store': (b) => ({ ...b, feature_view_name: HOLE }),
  '/materialize': (b) => ({ ...b, start_ts: HOLE }),
  '/materialize-incremental': (b) => ({ ...b, end_ts: HOLE }),
}

/** Strings of 1 to 4 MB as a name, a time, or a field name. */
const hugeString: fc.Arbitrary<Recipe> = fc
  .tuple(route, fc.integer({ min: 1, max: 4 }), fc.boolean())
  .chain(([r, mb, asKey]) =>
    VALID[r].map((base): Recipe => {
      const big = () => JSON.stringify('x'.repeat(mb * MiB))
      if (!asKey) return rawRecipe(r, `${mb} MB string`, NAME_SLOTS[r](base), big)
      return {
        route: r,
        kind: `${mb} MB field name`,
        body: () => `{${big()}:1,${JSON.stringify(base).slice(1)}`,
      }
    }),
  )

// --- what the limits refuse, cheaply and by name ---

/** Entity rows beyond the limit of one read (100,000 by default): refused before any store is read. */
const tooManyEntityRows: fc.Arbitrary<Recipe> = fc
  .tuple(fc.constantFrom(100_001, 400_000, 1_000_000), fc.subarray(FEATURES, { minLength: 1 }))
  .map(([n, features]) => ({
    route: '/get-online-features' as const,
    kind: `${n} entity keys`,
    body: () =>
      `{"features":${JSON.stringify(features)},"entities":{"driver_id":[${'1001,'.repeat(n - 1)}1001]}}`,
    expected: { status: 413, errorType: 'RESOURCE_EXHAUSTED' },
  }))

/** Tens of thousands of view names none of which exists: 404 naming them, before any job is read. */
const manyViewNames: fc.Arbitrary<Recipe> = fc
  .tuple(fc.constantFrom<Route>('/materialize', '/materialize-incremental'), count(50_000, 60_000))
  .map(([r, n]) => ({
    route: r,
    kind: `${n} view names`,
    body: () =>
      `{${r === '/materialize' ? `"start_ts":"${iso(now - 3_600_000)}",` : ''}"end_ts":"${iso(now)}","feature_views":[${Array.from({ length: n }, (_, i) => `"v${i}"`).join(',')},"driver_hourly_stats"]}`,
    expected: { status: 404, errorType: 'NOT_FOUND' },
  }))

/** Values a push destination cannot hold: a Float32 beyond its range, an int64 timestamp beyond 2^53. */
const unrepresentablePush: fc.Arbitrary<Recipe> = fc
  .tuple(
    validFrame,
    fc.oneof(
      fc
        .constantFrom('1e300', '-1e300', '3.5e38', '1.7976931348623157e308')
        .chain((raw) => fc.constantFrom('conv_rate', 'acc_rate').map((c) => [c, raw] as const)),
      fc
        .constantFrom('9007199254740992', '9007199254740993', '9223372036854775807', '-9007199254740993')
        .chain((raw) => fc.constantFrom('event_timestamp', 'created').map((c) => [c, raw] as const)),
    ),
    fc.constantFrom(...PUSH_MODES),
    fc.nat(),
  )
  .map(([df, [column, raw], to, at]) => {
    const cells = [...(df[column] as unknown[])]
    cells[at % cells.length] = HOLE
    return {
      ...rawRecipe(
        '/push',
        `${raw} in ${column}, to ${to}`,
        { push_source_name: PUSH_SOURCE, df: { ...df, [column]: cells }, to },
        () => raw,
      ),
      expected: { status: 422, errorType: 'INVALID_ARGUMENT' },
    }
  })

/** Bodies just over the size limit, sent chunked: counted as they arrive, refused with 413. */
const chunkedOverLimit: fc.Arbitrary<Recipe> = fc
  .tuple(route, fc.integer({ min: 1, max: 2 * MiB }))
  .map(([r, extra]) => ({
    route: r,
    kind: `chunked body of ${MAX_BODY_BYTES + extra} bytes`,
    body: () => new Uint8Array(MAX_BODY_BYTES + extra).fill(0x5b),
    chunked: true,
    expected: { status: 413, errorType: 'PAYLOAD_TOO_LARGE' },
  }))

/** `__proto__` keys, spelt plainly or escaped, where a parsed object would take them as its prototype. */
const protoKey: fc.Arbitrary<Recipe> = fc
  .tuple(route, fc.constantFrom('"__proto__"', '"\\u005f_proto__"', '"__pr\\u006fto__"'), fc.nat())
  .chain(([r, key, where]) =>
    VALID[r].map((base) => {
      const body = JSON.stringify(base)
      const inner =
        r === '/get-online-features'
          ? '"entities":{'
          : r === '/push' || r === '/write-to-online-store'
            ? '"df":{'
            : ''
      const at = where % 2 === 0 || inner === '' ? '{' : inner
      return {
        route: r,
        kind: `${key} key`,
        body: () => body.replace(at, () => `${at}${key}:{"driver_id":[1001]},`),
      }
    }),
  )

const hostile: fc.Arbitrary<Hostile> = fc
  .tuple(
    fc.oneof(
      { arbitrary: wrongType, weight: 40 },
      { arbitrary: missingField, weight: 12 },
      { arbitrary: unknownField, weight: 20 },
      { arbitrary: notAnObject, weight: 10 },
      { arbitrary: gofSemantic, weight: 20 },
      { arbitrary: pushSemantic, weight: 12 },
      { arbitrary: writeSemantic, weight: 10 },
      { arbitrary: materializeSemantic, weight: 10 },
      { arbitrary: notJson, weight: 16 },
      { arbitrary: route.map((r) => ({ route: r, kind: 'empty body', body: () => '' })), weight: 2 },
      { arbitrary: invalidUtf8, weight: 16 },
      { arbitrary: randomBytes, weight: 4 },
      { arbitrary: deepNesting, weight: 8 },
      { arbitrary: protoKey, weight: 6 },
      { arbitrary: hugeArray, weight: 1 },
      { arbitrary: hugeString, weight: 1 },
      { arbitrary: tooManyEntityRows, weight: 1 },
      { arbitrary: manyViewNames, weight: 1 },
      { arbitrary: unrepresentablePush, weight: 4 },
      { arbitrary: chunkedOverLimit, weight: 1 },
    ),
    fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      undefined,
    ),
  )
  // a body a named limit refuses is sent as JSON: another content type is refused before any limit
  .map(([recipe, contentType]: [Recipe, string | undefined]) => ({
    ...recipe,
    contentType: recipe.expected ? 'application/json' : contentType,
  }))

// --- sending and judging ---

interface Answer {
  readonly status: number
  readonly contentType: string | null
  readonly requestId: string | null
  readonly text: string
}

const ERROR_FIELDS = new Set(['status_code', 'error_type', 'detail', 'hint', 'details', 'request_id'])
/** A V8 stack frame: `at fn (file:///x.js:1:2)`, `at node:internal/...:1:2`, `at /x.js:1:2`. */
const STACK_FRAME = /\bat (?:\S+ )?\(?(?:file:\/\/|node:|\/)\S*:\d+:\d+/

/**
 * What is wrong with an answer to a hostile body, or undefined when it is a proper 4xx JSON error (with
 * `h.expected`, that status and error type). With `storeDown`, a 503 BACKEND_UNAVAILABLE is proper too,
 * but it must not show the store's address.
 */
function problem(a: Answer, h?: Hostile, storeDown?: { readonly address: string }): string | undefined {
  const unavailable = storeDown !== undefined && a.status === 503
  if ((a.status < 400 || a.status > 499) && !unavailable) return `status ${a.status}`
  if (!/^application\/json\b/.test(a.contentType ?? '')) return `content-type ${a.contentType}`
  let parsed: unknown
  try {
    parsed = JSON.parse(a.text)
  } catch {
    return 'body is not JSON'
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return 'body is not an object'
  const body = parsed as Record<string, unknown>
  const extra = Object.keys(body).filter((k) => !ERROR_FIELDS.has(k))
  if (extra.length > 0) return `fields beyond the error shape: ${extra.join(', ')}`
  if (body.status_code !== a.status) return `status_code ${String(body.status_code)}`
  if (typeof body.error_type !== 'string' || body.error_type === '') return 'no error_type'
  if (typeof body.detail !== 'string') return 'no detail'
  if (body.request_id !== a.requestId) return `request_id ${String(body.request_id)} vs ${a.requestId}`
  if (STACK_FRAME.test(a.text) || /\\n\s+at /.test(a.text)) return 'a stack trace'
  if (unavailable) {
    if (body.error_type !== 'BACKEND_UNAVAILABLE') return `a 503 of type ${String(body.error_type)}`
    if (a.text.includes(storeDown.address)) return `the store's address ${storeDown.address} in the answer`
    return undefined
  }
  if (h?.expected && (a.status !== h.expected.status || body.error_type !== h.expected.errorType)) {
    return `expected ${h.expected.status} ${h.expected.errorType}`
  }
  return undefined
}

async function send(url: string, h: Hostile): Promise<Answer> {
  const headers = h.contentType === undefined ? {} : { 'content-type': h.contentType }
  const body = h.body()
  const res = await fetch(`${url}${h.route}`, {
    method: 'POST',
    headers,
    ...(h.chunked ? { body: inChunks(body), duplex: 'half' } : { body }),
  } as RequestInit)
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    requestId: res.headers.get('x-request-id'),
    text: await res.text(),
  }
}

/** A body as a stream of 1 MiB chunks, which fetch sends without a content-length. */
function inChunks(body: string | Uint8Array): ReadableStream<Uint8Array> {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body
  let at = 0
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close()
      controller.enqueue(bytes.subarray(at, at + MiB))
      at += MiB
    },
  })
}

function preview(h: Hostile): string {
  const body = h.body()
  const start =
    typeof body === 'string' ? body.slice(0, 160) : Buffer.from(body.subarray(0, 160)).toString('latin1')
  return JSON.stringify(start)
}

/**
 * Sends every case, CONCURRENCY at a time over keep-alive connections; resolves with the answered
 * count, the failures and the count of each status. `storeDown` judges answers as `problem` does.
 */
async function sendAll(
  url: string,
  cases: readonly Hostile[],
  storeDown?: { readonly address: string },
): Promise<{ answered: number; failures: string[]; statuses: Map<number, number> }> {
  const statuses = new Map<number, number>()
  const failures: string[] = []
  let answered = 0
  let next = 0
  const worker = async () => {
    while (next < cases.length) {
      const h = cases[next++]!
      let wrong: string | undefined
      try {
        const answer = await send(url, h)
        answered++
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
        wrong = problem(answer, h, storeDown)
        if (wrong) wrong += `: ${answer.text.slice(0, 200)}`
      } catch (e) {
        wrong = `no answer (${(e as Error).message}: ${String((e as Error).cause ?? '')})`
      }
      if (wrong) failures.push(`POST ${h.route} [${h.kind}] -> ${wrong}; body ${preview(h)}`)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return { answered, failures, statuses }
}

/** The child's resident set size, from the kernel (what the machine pays, not what V8 reports). */
function rss(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(match![1]) * 1024
}

/** The server's RSS after a full GC (see GC_ON_SIGNAL). */
interface Memory {
  /** the process's resident set */
  rss: number
  /** the JS heap in use plus buffers held outside it */
  retained: number
}

/** The server's memory right after it has run a full GC on SIGUSR2. */
async function memoryAfterGc(server: ServeProcess): Promise<Memory> {
  const reports = () => [...server.stderr().matchAll(/gc done (\d+)/g)]
  const before = reports().length
  server.process.kill('SIGUSR2')
  for (let waited = 0; reports().length === before; waited += 20) {
    if (waited > 10_000) throw new Error(`the server did not GC on SIGUSR2; stderr: ${server.stderr()}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  return { rss: rss(server.process.pid!), retained: Number(reports().at(-1)![1]) }
}

/** Fails when the server keeps more than the slack above its warmed-up baseline. */
function expectNearBaseline(baseline: Memory, after: Memory, when: string): void {
  const seen = `${when}: retained ${mb(after.retained)} (baseline ${mb(baseline.retained)}, +${mb(after.retained - baseline.retained)}), RSS ${mb(after.rss)} (baseline ${mb(baseline.rss)}, +${mb(after.rss - baseline.rss)})`
  console.info(seen)
  expect(after.retained, seen).toBeLessThan(baseline.retained + RETAINED_SLACK)
  expect(after.rss, seen).toBeLessThan(baseline.rss + RSS_SLACK)
}

/** 50 MB sent chunked (no content-length), so the server must count bytes as they arrive. */
function sendChunked(url: string, path: Route, chunk: Uint8Array): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    })
    let answered = false
    req.on('response', (res) => {
      answered = true
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        text += d
      })
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'] ?? null,
          requestId: (res.headers['x-request-id'] as string | undefined) ?? null,
          text,
        }),
      )
    })
    // once it has answered, the server may stop reading the rest: a write error then is expected
    req.on('error', (e) => {
      if (!answered) reject(e)
    })
    let sent = 0
    const pump = () => {
      while (sent < BIG_BODY_BYTES && !req.destroyed) {
        sent += chunk.length
        if (!req.write(chunk)) return void req.once('drain', pump)
      }
      req.end()
    }
    pump()
  })
}

/** The online stores a server is fuzzed with (FUZZ_STORES, comma-separated): `sqlite,redis` by default. */
const FUZZ_STORES = (process.env.FUZZ_STORES ?? 'sqlite,redis')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '')
const [REDIS_HOST, REDIS_PORT] = (process.env.LARDER_TEST_REDIS ?? '127.0.0.1:6379').split(':') as [
  string,
  string,
]

/** An online store to fuzz a server with: its repo, and what is left of it removed afterwards. */
interface FuzzStore {
  readonly name: string
  /** Why the store cannot be used here, or undefined. */
  readonly unavailable: string | undefined
  /** A `larder init` repo applied with this store as its online store. */
  repo(): Promise<AppliedRepo>
  /** Removes what the run left in the store (the repo's files are removed by the caller). */
  cleanUp(repo: AppliedRepo): Promise<void>
}

/** The Redis keys of a project: entity hashes end with the project's name, tile hashes name it. */
async function redisKeysOf(project: string): Promise<number> {
  const client = createClient({ url: `redis://${REDIS_HOST}:${REDIS_PORT}` })
  await client.connect()
  try {
    let keys = 0
    for (const pattern of [`*${project}`, `larder:tiles:${project}:*`]) {
      for await (const batch of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) keys += batch.length
    }
    return keys
  } finally {
    client.destroy()
  }
}

async function fuzzStore(name: string): Promise<FuzzStore> {
  switch (name) {
    case 'sqlite':
      // the repo's data/online.db, removed with the repo
      return { name, unavailable: undefined, repo: () => appliedRepo(), cleanUp: async () => {} }
    case 'redis':
      return {
        name,
        unavailable: await redisUnavailable(REDIS_HOST, Number(REDIS_PORT)),
        // Redis keys carry the project's name (`larder init` names every test repo's project `demo`): a
        // project of its own per run, so that no other run's or test's keys mix with this one's
        async repo() {
          const repo = await appliedRepo()
          const project = `fuzz_${process.pid}_${Date.now().toString(36)}`
          const config = join(repo.dir, 'feature_store.yaml')
          writeFileSync(
            config,
            readFileSync(config, 'utf8')
              .replace(/^project: .*$/m, `project: ${project}`)
              .replace(
                /online_store:\n(?: {2}.*\n)+/,
                `online_store:\n  type: redis\n  connection_string: "${REDIS_HOST}:${REDIS_PORT}"\n`,
              ),
          )
          rmSync(join(repo.dir, 'data', 'registry.db'), { force: true })
          const store = await FeatureStore.open(repo.dir)
          try {
            await store.apply()
          } finally {
            await store.close()
          }
          return { ...repo, project }
        },
        async cleanUp(repo) {
          const left = await redisKeysOf(repo.project)
          const store = await FeatureStore.open(repo.dir)
          try {
            await store.teardown()
          } finally {
            await store.close()
          }
          const remaining = await redisKeysOf(repo.project)
          console.info(
            `redis: ${left} keys of project ${repo.project} after the fuzz, ${remaining} after teardown`,
          )
          expect(remaining).toBe(0)
        },
      }
    default:
      throw new Error(`FUZZ_STORES: unknown store ${JSON.stringify(name)} (sqlite, redis)`)
  }
}

/**
 * Fuzz requests take 5 ms each on average alone on 2 cores and 9 ms beside two other test files; the
 * timeout, a guard against a hang, allows three times that and grows with FUZZ_REQUESTS.
 */
const FUZZ_TIMEOUT_MS = Math.max(300_000, FUZZ_REQUESTS * 30)

/** How many answers had a status of 500 or above. */
function serverErrors(statuses: ReadonlyMap<number, number>): number {
  let n = 0
  for (const [status, count] of statuses) if (status >= 500) n += count
  return n
}

const statusList = (statuses: ReadonlyMap<number, number>) =>
  JSON.stringify([...statuses].sort((a, b) => a[0] - b[0]))

for (const store of await Promise.all(FUZZ_STORES.map(fuzzStore))) {
  describeWithService(
    `larder serve on ${store.name} under hostile bodies (seed ${SEED})`,
    store.unavailable,
    () => {
      let repo: AppliedRepo
      let server: ServeProcess
      let pid: number
      let baseline: Memory
      let tools: string | undefined

      beforeAll(async () => {
        repo = await store.repo()
        tools = mkdtempSync(join(tmpdir(), 'larder-fuzz-'))
        const preload = join(tools, 'gc-on-signal.cjs')
        writeFileSync(preload, GC_ON_SIGNAL)
        const env = measurableMemoryEnv(preload)
        // startServe spawns at once, taking process.env as it is then
        const saved = { ...process.env }
        Object.assign(process.env, env)
        const starting = startServe(repo.dir)
        for (const key of Object.keys(env)) {
          if (saved[key] === undefined) delete process.env[key]
          else process.env[key] = saved[key]
        }
        server = await starting
        pid = server.process.pid!
        // the first few hundred requests grow the heap, compile code and fill caches: measure after them
        const warmUp = await sendAll(
          server.url,
          fc.sample(hostile, { numRuns: WARM_UP_REQUESTS, seed: SEED + 1 }),
        )
        expect(warmUp.failures.slice(0, 5), `seed ${SEED}`).toEqual([])
        baseline = await memoryAfterGc(server)
      }, 120_000)

      afterAll(async () => {
        await server?.stop('SIGKILL')
        try {
          if (repo) await store.cleanUp(repo)
        } finally {
          repo?.remove()
          if (tools) rmSync(tools, { recursive: true, force: true })
        }
      }, 60_000)

      it('answers 413 to 50 MB bodies, with or without a content-length, and keeps none of them', async () => {
        const body = new Uint8Array(BIG_BODY_BYTES).fill(0x5b)
        const chunk = body.subarray(0, MiB)
        const before = (await memoryAfterGc(server)).rss
        resetPeak(pid)
        const answers = await Promise.all([
          send(server.url, {
            route: '/push',
            kind: '50 MB',
            contentType: 'application/json',
            body: () => body,
          }),
          send(server.url, {
            route: '/materialize',
            kind: '50 MB',
            contentType: 'application/json',
            body: () => body,
          }),
          sendChunked(server.url, '/get-online-features', chunk),
          sendChunked(server.url, '/write-to-online-store', chunk),
        ])
        const rise = peak(pid) - before
        console.info(
          `${store.name}: peak RSS ${mb(rise)} above ${mb(before)} while four 50 MB bodies arrived`,
        )
        expect(rise, `peak RSS ${mb(rise)} above ${mb(before)}`).toBeLessThan(BIG_BODIES_PEAK)
        for (const a of answers) {
          expect(a.status, a.text).toBe(413)
          expect(problem(a), a.text).toBeUndefined()
          expect(JSON.parse(a.text)).toMatchObject({ error_type: 'PAYLOAD_TOO_LARGE' })
          expect(JSON.parse(a.text).detail).toContain(String(MAX_BODY_BYTES))
        }
        expectNearBaseline(baseline, await memoryAfterGc(server), `${store.name}, after the 50 MB bodies`)
      })

      it(
        `answers each of ${FUZZ_REQUESTS} hostile bodies with a 4xx JSON error`,
        async () => {
          const cases = fc.sample(hostile, { numRuns: FUZZ_REQUESTS, seed: SEED })
          const routes = new Set(cases.map((c) => c.route))
          expect([...routes].sort()).toEqual([...ROUTES].sort())
          const started = Date.now()
          const { answered, failures, statuses } = await sendAll(server.url, cases)
          console.info(
            `${store.name} fuzz: ${answered} answered in ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${SEED}, statuses ${statusList(statuses)}, 5xx ${serverErrors(statuses)}, RSS ${mb(rss(pid))} (baseline ${mb(baseline.rss)})`,
          )
          expect(failures.slice(0, 10), `${failures.length} failures, seed ${SEED}`).toEqual([])
          expect(serverErrors(statuses)).toBe(0)
          expect(answered).toBeGreaterThanOrEqual(FUZZ_REQUESTS)
        },
        FUZZ_TIMEOUT_MS,
      )

      it('is still up and healthy, and its memory is back near the baseline', async () => {
        const health = await fetch(`${server.url}/health`)
        expect(health.status).toBe(200)
        expect(await health.json()).toMatchObject({ status: 'ok' })
        expect(server.process.exitCode).toBeNull()
        expect(server.process.signalCode).toBeNull()
        console.info(`${store.name}: peak RSS ${mb(peak(pid))}`)
        expectNearBaseline(baseline, await memoryAfterGc(server), `${store.name}, after the fuzz`)
      }, 60_000)
    },
  )
}

/** Requests the server whose online store is down takes: a fifth of the fuzz, at least 200. */
const DOWN_REQUESTS = Math.max(200, Math.round(FUZZ_REQUESTS / 5))

describe(`larder serve with its online store down (seed ${SEED})`, () => {
  let downRepo: AppliedRepo
  let down: ServeProcess
  let address: string

  beforeAll(async () => {
    downRepo = await appliedRepo()
    // Redis at a port where nothing listens: every use of the online store fails to connect
    address = `127.0.0.1:${await freePort()}`
    const config = join(downRepo.dir, 'feature_store.yaml')
    writeFileSync(
      config,
      readFileSync(config, 'utf8').replace(
        /online_store:\n(?: {2}.*\n)+/,
        `online_store:\n  type: redis\n  connection_string: "${address}"\n`,
      ),
    )
    down = await startServe(downRepo.dir)
  }, 60_000)

  afterAll(async () => {
    await down?.stop('SIGKILL')
    downRepo?.remove()
  })

  it(
    `answers ${DOWN_REQUESTS} hostile bodies and 200 valid ones with no 5xx but 503, never naming the store's address`,
    async () => {
      const unavailable = { address }
      const hostileCases = fc.sample(hostile, { numRuns: DOWN_REQUESTS, seed: SEED + 2 })
      const { failures, statuses } = await sendAll(down.url, hostileCases, unavailable)
      expect(failures.slice(0, 10), `${failures.length} failures, seed ${SEED}`).toEqual([])
      const valid = fc.sample(
        route.chain((r) =>
          VALID[r].map((v): Hostile => ({ ...jsonRecipe(r, 'valid', v), contentType: 'application/json' })),
        ),
        { numRuns: 200, seed: SEED + 3 },
      )
      const wrong: string[] = []
      for (const h of valid) {
        const answer = await send(down.url, h)
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
        const issue = answer.status < 500 ? undefined : problem(answer, undefined, unavailable)
        if (issue) wrong.push(`POST ${h.route} -> ${issue}: ${answer.text.slice(0, 200)}`)
      }
      console.info(`online store down: statuses ${JSON.stringify([...statuses].sort())}`)
      expect(wrong.slice(0, 10)).toEqual([])
      // the store was down: reads that passed every check met it
      expect(statuses.get(503) ?? 0).toBeGreaterThan(0)
      const health = await fetch(`${down.url}/health`)
      const text = await health.text()
      expect(health.status).toBe(503)
      expect(JSON.parse(text).checks.online_store).toEqual({
        ok: false,
        error: 'the online store (redis) is unavailable',
      })
      expect(text).not.toContain(address)
      expect(down.process.exitCode).toBeNull()
      expect(down.process.signalCode).toBeNull()
    },
    Math.max(180_000, DOWN_REQUESTS * 30),
  )
})

function mb(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`
}

/** The child's peak RSS since it was last reset. */
function peak(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(match![1]) * 1024
}

/** Sets the child's peak RSS to its current RSS (Linux: clear_refs 5). */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5')
}
