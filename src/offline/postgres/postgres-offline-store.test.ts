import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import {
  Field as ArrowField,
  Float64 as ArrowFloat64,
  Binary,
  List,
  makeData,
  RecordBatch as RB,
  type RecordBatch,
  Schema,
  Struct,
  Table,
  tableFromArrays,
  Utf8,
  vectorFromArray,
} from 'apache-arrow'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../../config/index.js'
import {
  Array as ArrayOf,
  Bool,
  Bytes,
  Entity,
  FeatureView,
  Field,
  Float64,
  Int32,
  Int64,
  Invalid,
  Json,
  LarderError,
  PostgreSQLSource,
  String as Str,
  toMicros,
  UnixTimestamp,
} from '../../core/index.js'
import { describeWithService, freePort } from '../../testing/services.js'
import {
  findPgUser,
  PG_DATABASE,
  PG_HOST,
  PG_PORT,
  pgOptions,
  testSchema,
} from '../__fixtures__/pg-server.js'
import { appending } from '../__fixtures__/transforms.js'
import { createOfflineStore } from '../loader.js'
import type {
  FeatureSelection,
  HistoricalRequest,
  PullOptions,
  ResultTransform,
  Row,
} from '../offline-store.js'
import { PostgresOfflineStore } from './postgres-offline-store.js'

const { user, unavailable } = await findPgUser()

async function rejects(promise: Promise<unknown>): Promise<LarderError> {
  try {
    await promise
  } catch (e) {
    expect(e).toBeInstanceOf(LarderError)
    return e as LarderError
  }
  throw new Error('expected a LarderError')
}

const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'] })
const select = (view: FeatureView, features: string[]): FeatureSelection => ({
  projection: view.projection,
  features,
})
const at = (hhmm: string) => `2026-01-01T${hhmm}:00Z`
/** Bytes as numbers, so that Buffers and Uint8Arrays compare equal. */
/** The event range of entity rows all at 12:00 on 2026-01-01. */
const noon = { min: toMicros(at('12:00')), max: toMicros(at('12:00')) }
const bytes = (v: unknown) => (v === null ? null : [...(v as Uint8Array)])
/** A row of a pulled batch as text (bigints as digits), to compare pulls. */
const rowText = (row: Record<string, unknown>) =>
  JSON.stringify(row, (_, v) => (typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? [...v] : v))

/** Every row of a pull as text. */
async function pullAll(rows: AsyncIterable<RecordBatch>): Promise<string[]> {
  const out: string[] = []
  for await (const b of rows) for (const r of b.toArray()) out.push(rowText(r.toJSON()))
  return out
}

/** Runs a statement on a connection of another process, to its commit, before returning. */
function runElsewhere(sql: string): void {
  const script = `import pg from 'pg'
const c = new pg.Client({ host: process.env.H, port: Number(process.env.P), database: process.env.D, user: process.env.U })
await c.connect(); await c.query(process.env.SQL); await c.end()`
  const done = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, H: PG_HOST, P: String(PG_PORT), D: PG_DATABASE, U: user!, SQL: sql },
    encoding: 'utf8',
  })
  if (done.status !== 0) throw new Error(`the other process failed: ${done.stderr}`)
}

describeWithService('postgres offline store', unavailable, () => {
  let db: { client: pg.Client; schema: string; drop(): Promise<void> }
  let dir: string
  const stores: PostgresOfflineStore[] = []
  const store = (strategy: 'auto' | 'window' = 'auto') => {
    const s = new PostgresOfflineStore({ ...pgOptions(user!, db.schema), point_in_time_join: strategy })
    stores.push(s)
    return s
  }
  /** Runs the request with both join forms, checks they agree, and returns the rows. */
  const bothWays = async (req: HistoricalRequest): Promise<Row[]> => {
    const lateral = await (await store('auto').getHistoricalFeatures(req)).toRows()
    const window = await (await store('window').getHistoricalFeatures(req)).toRows()
    expect(window).toEqual(lateral)
    return lateral
  }

  beforeAll(async () => {
    db = await testSchema(user!, 'larder_offline')
    dir = mkdtempSync(join(tmpdir(), 'larder-pg-offline-'))
    await db.client.query(`
      CREATE TABLE activity (driver_id bigint, event_timestamp timestamptz, created timestamptz, trips_today bigint);
      INSERT INTO activity VALUES
        (1001, '2026-01-01 08:00Z', '2026-01-01 08:00Z', 5),
        (1001, '2026-01-01 10:00Z', '2026-01-01 10:05Z', 7),
        (1001, '2026-01-01 10:00Z', '2026-01-01 12:00Z', 8),
        (1001, '2026-01-01 13:00Z', '2026-01-01 13:00Z', 9);
      CREATE TABLE orders (driver_id bigint, cust text, ts timestamp, amount double precision, tags text[], ok boolean,
        raw bytea, doc jsonb, small integer, spot point);
      INSERT INTO orders VALUES
        (1, 'c1', '2026-01-01 00:00:00.000001', 10.5, '{a,"b,c"}', true, '\\x0102', '{"x": 1}', 3, '(1,2)'),
        (2, 'c1', '2026-01-01 00:00:01.000002', 30.5, '{}', false, NULL, NULL, NULL, NULL),
        (1, 'c2', '2026-01-02 00:00:00', 99, NULL, NULL, NULL, NULL, NULL, NULL);
      CREATE INDEX ON orders (driver_id, ts);
    `)
  })

  afterAll(async () => {
    for (const s of stores) await s.close()
    await db?.drop()
    rmSync(dir, { recursive: true, force: true })
  })

  const activity = (ttl: string, created = true) =>
    new FeatureView({
      name: 'driver_activity',
      entities: [driver],
      ttl,
      source: new PostgreSQLSource({
        name: 'activity',
        table: 'activity',
        timestampField: 'event_timestamp',
        createdTimestampColumn: created ? 'created' : undefined,
      }),
      schema: [new Field({ name: 'trips_today', dtype: Int64 })],
    })
  const orders = new FeatureView({
    name: 'orders',
    entities: [driver],
    ttl: '0',
    source: new PostgreSQLSource({ name: 'orders', table: 'orders', timestampField: 'ts' }),
    schema: [
      new Field({ name: 'amount', dtype: Float64 }),
      new Field({ name: 'tags', dtype: ArrayOf(Str) }),
      new Field({ name: 'ok', dtype: Bool }),
      new Field({ name: 'raw', dtype: Bytes }),
      new Field({ name: 'doc', dtype: Json }),
      new Field({ name: 'small', dtype: Int32 }),
      new Field({ name: 'spot', dtype: Str }),
    ],
  })
  const entities = ['07:00', '10:00', '11:30', '12:30', '13:00'].map((t) => ({
    driver_id: 1001,
    event_timestamp: at(t),
  }))

  describe("Feast's worked example (feast-reference §5)", () => {
    it('ttl bounds are inclusive; the larger created timestamp wins; asOfKnownTime drops the too-new row', async () => {
      const rows = await bothWays({ entities, features: [select(activity('2h'), ['trips_today'])] })
      expect(rows.map((r) => r.trips_today)).toEqual([null, 8, 8, null, 9])
      expect(rows.map((r) => r.event_timestamp)).toEqual(entities.map((e) => e.event_timestamp))
      const noTtl = await bothWays({ entities, features: [select(activity('0'), ['trips_today'])] })
      expect(noTtl.map((r) => r.trips_today)).toEqual([null, 8, 8, 8, 9])
      const known = await bothWays({
        entities,
        features: [select(activity('2h'), ['trips_today'])],
        asOfKnownTime: true,
      })
      expect(known.map((r) => r.trips_today)).toEqual([null, 5, 7, null, 9])
    })
  })

  describe('entity inputs and outputs', () => {
    const expected = [10.5, 30.5]
    const values = `SELECT * FROM (VALUES (1::bigint, 'c1', TIMESTAMPTZ '2026-01-01 00:00:00.000001Z'),
      (2, 'c1', TIMESTAMPTZ '2026-01-01 00:00:01.000003Z')) t(driver_id, customer_id, event_timestamp)`

    it('accepts rows, an Arrow table, Parquet and CSV files and SQL text, with microseconds kept', async () => {
      const rows = [
        { driver_id: 1, customer_id: 'c1', event_timestamp: '2026-01-01T00:00:00.000001Z' },
        { driver_id: 2, customer_id: 'c1', event_timestamp: '2026-01-01T00:00:01.000003Z' },
      ]
      const first = await bothWays({ entities: rows, features: [select(orders, ['amount'])] })
      expect(first.map((r) => r.amount)).toEqual(expected)
      expect(first[0]!.event_timestamp).toBe('2026-01-01T00:00:00.000001Z')
      const instance = await DuckDBInstance.create(':memory:')
      const duck = await instance.connect()
      const duckValues = `SELECT * FROM (VALUES (1::BIGINT, 'c1', TIMESTAMP '2026-01-01 00:00:00.000001'),
        (2, 'c1', TIMESTAMP '2026-01-01 00:00:01.000003')) t(driver_id, customer_id, event_timestamp)`
      await duck.run(`COPY (${duckValues}) TO '${join(dir, 'e.parquet')}' (FORMAT parquet)`)
      await duck.run(`COPY (${duckValues}) TO '${join(dir, 'e.csv')}' (FORMAT csv, HEADER true)`)
      duck.closeSync()
      instance.closeSync()
      const arrow = tableFromArrays({
        driver_id: BigInt64Array.from([1n, 2n]),
        customer_id: ['c1', 'c1'],
        event_timestamp: ['2026-01-01T00:00:00.000001Z', '2026-01-01T00:00:01.000003Z'],
      })
      for (const input of [
        arrow,
        join(dir, 'e.parquet'),
        join(dir, 'e.csv'),
        { sql: values },
        `\n ${values}`,
      ]) {
        expect(await bothWays({ entities: input, features: [select(orders, ['amount'])] })).toEqual(first)
      }
    })

    it('maps PostgreSQL types to Arrow and rows; Parquet and CSV are written from the staged result', async () => {
      const job = await store().getHistoricalFeatures({
        entities: [{ driver_id: 1, event_timestamp: '2026-01-01T12:00:00Z' }],
        features: [select(orders, ['amount', 'tags', 'ok', 'raw', 'doc', 'small'])],
      })
      const [row] = await job.toRows()
      expect(row).toEqual({
        driver_id: 1,
        event_timestamp: '2026-01-01T12:00:00Z',
        amount: 10.5,
        tags: ['a', 'b,c'],
        ok: true,
        raw: Buffer.from([1, 2]),
        doc: '{"x": 1}',
        small: 3,
      })
      const table = await job.toArrow()
      expect(table.schema.fields.map((f) => String(f.type))).toEqual([
        'Int64',
        'Timestamp<MICROSECOND, UTC>',
        'Float64',
        'List<Utf8>',
        'Bool',
        'Binary',
        'Utf8',
        'Int32',
      ])
      const parquet = join(dir, 'out.parquet')
      expect(await job.toParquet(parquet)).toEqual({ rows: 1, eventRange: noon })
      const csv = join(dir, 'out.csv')
      expect(await job.toCsv(csv)).toEqual({ rows: 1, eventRange: noon })
      expect(readFileSync(csv, 'utf8').split('\n')[0]).toBe(
        'driver_id,event_timestamp,amount,tags,ok,raw,doc,small',
      )
      const batches: RecordBatch[] = []
      for await (const b of job.stream()) batches.push(b)
      expect(batches.reduce((n, b) => n + b.numRows, 0)).toBe(1)
    })

    it('applies a result transform (on-demand views) to every batch and to written files', async () => {
      const doubled: ResultTransform = {
        columns: (joined) => [...joined, 'amount_x2'],
        apply(batch) {
          const amounts = batch.getChild('amount')!
          const values = Float64Array.from({ length: batch.numRows }, (_, i) => Number(amounts.get(i)) * 2)
          const field = new ArrowField('amount_x2', new ArrowFloat64(), true)
          const schema = new Schema([...batch.schema.fields, field])
          const children = [
            ...batch.data.children,
            makeData({ type: new ArrowFloat64(), length: batch.numRows, data: values }),
          ]
          return new RB(
            schema,
            makeData({ type: new Struct(schema.fields), length: batch.numRows, children }),
          )
        },
      }
      const job = await store().getHistoricalFeatures({
        entities: [
          { driver_id: 1, event_timestamp: '2026-01-01T12:00:00Z' },
          { driver_id: 2, event_timestamp: '2026-01-01T12:00:00Z' },
        ],
        features: [select(orders, ['amount'])],
        transform: doubled,
      })
      expect(job.columns).toEqual(['driver_id', 'event_timestamp', 'amount', 'amount_x2'])
      expect((await job.toRows()).map((r) => r.amount_x2)).toEqual([21, 61])
      const csv = join(dir, 'odfv.csv')
      await job.toCsv(csv)
      expect(
        readFileSync(csv, 'utf8')
          .trim()
          .split('\n')
          .map((l) => l.split(',').at(-1)),
      ).toEqual(['amount_x2', '21.0', '61.0'])
    })

    it('writes a result to a new table in the server, with and without a transform', async () => {
      const req: HistoricalRequest = {
        entities: [
          { driver_id: 1, event_timestamp: '2026-01-01T12:00:00Z' },
          { driver_id: 2, event_timestamp: '2026-01-01T12:00:00Z' },
        ],
        features: [select(orders, ['amount'])],
      }
      const job = await store().getHistoricalFeatures(req)
      expect(await job.toTable!('saved_plain')).toEqual({ rows: 2, eventRange: noon })
      const plain = await db.client.query('SELECT driver_id, amount FROM saved_plain ORDER BY driver_id')
      expect(plain.rows.map((r) => r.amount)).toEqual([10.5, 30.5])
      const identity: ResultTransform = {
        columns: (joined) => [...joined],
        apply: (batch) => batch,
      }
      const single = new PostgresOfflineStore({ ...pgOptions(user!, db.schema), max_conn: 1 })
      stores.push(single)
      const transformed = await single.getHistoricalFeatures({ ...req, transform: identity })
      expect(await transformed.toTable!('saved_transformed')).toEqual({ rows: 2, eventRange: noon })
      const back = await db.client.query('SELECT amount FROM saved_transformed ORDER BY driver_id')
      expect(back.rows.map((r) => r.amount)).toEqual([10.5, 30.5])
      const exists = await rejects(job.toTable!('saved_plain'))
      expect(exists.message).toContain('relation "saved_plain" already exists')
    })

    it('retrieves an entity-less range: one row per key and timestamp in range', async () => {
      const job = await store().getHistoricalFeatures({
        features: [select(orders, ['amount'])],
        startDate: '2026-01-01T00:00:00Z',
        endDate: '2026-01-01T23:00:00Z',
      })
      expect(await job.toRows()).toEqual([
        { driver_id: 1, event_timestamp: '2026-01-01T00:00:00.000001Z', amount: 10.5 },
        { driver_id: 2, event_timestamp: '2026-01-01T00:00:01.000002Z', amount: 30.5 },
      ])
    })
  })

  it("reads a source's columns under the names its fieldMapping gives them: join, range and pull", async () => {
    await db.client.query(`
      CREATE TABLE renamed (id bigint, ts timestamptz, conv double precision);
      INSERT INTO renamed VALUES (7, '2026-01-01 09:00Z', 0.25), (7, '2026-01-01 11:00Z', 0.5), (8, '2026-01-01 10:00Z', 0.75);
    `)
    const view = new FeatureView({
      name: 'renamed_stats',
      entities: [driver],
      source: new PostgreSQLSource({
        name: 'renamed',
        table: 'renamed',
        timestampField: 'ts',
        fieldMapping: { id: 'driver_id', ts: 'event_timestamp', conv: 'conv_rate' },
      }),
      schema: [new Field({ name: 'conv_rate', dtype: Float64 })],
    })
    const joined = await bothWays({
      entities: [
        { driver_id: 7, event_timestamp: at('10:00') },
        { driver_id: 8, event_timestamp: at('12:00') },
      ],
      features: [select(view, ['conv_rate'])],
    })
    expect(joined.map((r) => r.conv_rate)).toEqual([0.25, 0.75])
    const range = await store().getHistoricalFeatures({
      features: [select(view, ['conv_rate'])],
      startDate: at('10:30'),
      endDate: at('12:00'),
    })
    expect(await range.toRows()).toEqual([
      { driver_id: 7, event_timestamp: '2026-01-01T11:00:00Z', conv_rate: 0.5 },
    ])
    const pulled = await pullAll(store().pullLatest(view, { start: at('00:00'), end: at('12:00') }))
    expect(
      pulled
        .map((r) => JSON.parse(r))
        .map((r) => [Number(r.driver_id), r.conv_rate])
        .sort(),
    ).toEqual([
      [7, 0.5],
      [8, 0.75],
    ])
  })

  describe('materialization reads and offline writes', () => {
    it('pulls the latest row per key in the window, in batches', async () => {
      let counted = -1
      const batches: RecordBatch[] = []
      for await (const b of store().pullLatest(
        orders.with({ schema: [new Field({ name: 'amount', dtype: Float64 })] }),
        { start: '2026-01-01T00:00:00Z', end: '2026-01-03T00:00:00Z' },
        {
          batchSize: 1,
          onRowCount: (n) => {
            counted = n
          },
        },
      ))
        batches.push(b)
      expect(counted).toBe(2)
      expect(batches.map((b) => b.numRows)).toEqual([1, 1])
      const rows = batches.flatMap((b) => b.toArray().map((r) => r.toJSON()))
      expect(rows.map((r) => [Number(r.driver_id), r.amount]).sort()).toEqual([
        [1, 99],
        [2, 30.5],
      ])
    })

    it('appends rows in one transaction after checking them; a bad value writes nothing', async () => {
      await db.client.query('CREATE TABLE pushed (driver_id bigint, ts timestamptz, amount double precision)')
      const view = new FeatureView({
        name: 'pushed',
        entities: [driver],
        source: new PostgreSQLSource({ name: 'pushed', table: 'pushed', timestampField: 'ts' }),
        schema: [new Field({ name: 'amount', dtype: Float64 })],
      })
      const s = store()
      await s.writeRows(view, [
        { driver_id: 1, ts: '2026-01-01T00:00:00.000001Z', amount: 1.5 },
        { driver_id: 2, ts: '2026-01-01T00:00:00Z', amount: 2.5 },
      ])
      const count = async () => Number((await db.client.query('SELECT count(*) AS n FROM pushed')).rows[0].n)
      expect(await count()).toBe(2)
      const bad = await rejects(
        s.writeRows(view, [
          { driver_id: 3, ts: '2026-01-01T00:00:00Z', amount: 3.5 },
          { driver_id: 'x', ts: '2026-01-01T00:00:00Z', amount: 4.5 },
        ] as Row[]),
      )
      expect(bad.message).toMatch(/mixes values|pushed/)
      const wrongType = new FeatureView({
        name: 'pushed',
        entities: [driver],
        source: new PostgreSQLSource({ name: 'pushed', table: 'pushed', timestampField: 'ts' }),
        schema: [new Field({ name: 'amount', dtype: Int64 })],
      })
      const declared = await rejects(
        s.writeRows(wrongType, [{ driver_id: 3, ts: '2026-01-01T00:00:00Z', amount: 3 }]),
      )
      expect(declared.message).toContain('feature "amount" of feature view "pushed" is declared Int64')
      const overflow = await rejects(
        s.writeRows(view, [
          { driver_id: 4, ts: '2026-01-01T00:00:00Z', amount: 1 },
          { driver_id: 5, ts: '2026-01-01T00:00:00Z', amount: 2, extra: 1 },
        ]),
      )
      expect(overflow.message).toContain(
        'the column "extra", which PostgreSQLSource "pushed" (table pushed) does not have',
      )
      expect(await count()).toBe(2)
      const back = await (
        await s.getHistoricalFeatures({
          entities: [{ driver_id: 1, event_timestamp: '2026-01-02T00:00:00Z' }],
          features: [select(view, ['amount'])],
        })
      ).toRows()
      expect(back[0]!.amount).toBe(1.5)
    })

    it('takes an append under an idempotency key once, however often it is repeated', async () => {
      await db.client.query(
        'CREATE TABLE streamed (driver_id bigint, ts timestamptz, amount double precision)',
      )
      const view = new FeatureView({
        name: 'streamed',
        entities: [driver],
        source: new PostgreSQLSource({ name: 'streamed', table: 'streamed', timestampField: 'ts' }),
        schema: [new Field({ name: 'amount', dtype: Float64 })],
      })
      const s = store()
      const rows = [{ driver_id: 1, ts: '2026-01-01T00:00:00Z', amount: 1 }]
      await Promise.all([
        s.writeRows(view, rows, { idempotencyKey: 'batch-1' }),
        s.writeRows(view, rows, { idempotencyKey: 'batch-1' }),
      ])
      await s.writeRows(view, rows, { idempotencyKey: 'batch-1' })
      await s.writeRows(view, rows, { idempotencyKey: 'batch-2' })
      await s.writeRows(view, rows)
      const n = Number((await db.client.query('SELECT count(*) AS n FROM streamed')).rows[0].n)
      expect(n).toBe(3)
    })
  })

  describe('apply-time descriptions and bad input', () => {
    it('describes a source with Feast types; a type Larder cannot map is Invalid and is named when read', async () => {
      const columns = await store().describeSource(orders.batchSource!)
      expect(Object.fromEntries(columns.map((c) => [c.name, c.type]))).toEqual({
        driver_id: Int64,
        cust: Str,
        ts: UnixTimestamp,
        amount: Float64,
        tags: ArrayOf(Str),
        ok: Bool,
        raw: Bytes,
        doc: Json,
        small: Int32,
        spot: Invalid,
      })
      const e = await rejects(
        store().getHistoricalFeatures({ entities, features: [select(orders, ['spot'])] }),
      )
      expect(e.code).toBe('UNSUPPORTED')
      expect(e.message).toContain(
        'column "spot" of PostgreSQLSource "orders" (table orders) has the PostgreSQL type point',
      )
    })

    it('a missing table, a missing column and a query with a syntax error are named at apply', async () => {
      const missing = await rejects(
        store().describeSource(
          new PostgreSQLSource({ name: 'gone', table: 'no_such_table', timestampField: 'ts' }),
        ),
      )
      expect(missing.message).toContain('PostgreSQLSource "gone" (table no_such_table) cannot be read')
      expect(missing.message).toContain('relation "no_such_table" does not exist')
      const typo = await rejects(
        store().describeSource(
          new PostgreSQLSource({ name: 'typo', query: 'SELECT driver_id FORM orders', timestampField: 'ts' }),
        ),
      )
      expect(typo.message).toContain(
        'PostgreSQLSource "typo" (query) cannot be read: syntax error at or near',
      )
      const column = await rejects(
        store().getHistoricalFeatures({
          entities,
          features: [
            select(
              new FeatureView({
                name: 'wrong',
                entities: [driver],
                source: new PostgreSQLSource({
                  name: 'wrong',
                  table: 'activity',
                  timestampField: 'event_timestamp',
                }),
                schema: [new Field({ name: 'nope', dtype: Int64 })],
              }),
              ['nope'],
            ),
          ],
        }),
      )
      expect(column.message).toContain('has no column "nope", the feature "nope" of feature view "wrong"')
      const entitySql = await rejects(
        store().getHistoricalFeatures({
          entities: { sql: 'SELECT 1 AS driver_id, now() AS event_timestamp FORM nowhere' },
          features: [select(orders, ['amount'])],
        }),
      )
      expect(entitySql.message).toContain('the entity SQL query failed: syntax error at or near')
      expect(entitySql.message).toContain('FORM nowhere')
    })

    it('cancels the running statement on the server when the signal is aborted', async () => {
      const slow = await store().getHistoricalFeatures({
        entities: {
          sql: "SELECT 1::bigint AS driver_id, TIMESTAMPTZ '2026-01-01T12:00:00Z' AS event_timestamp FROM pg_sleep(30)",
        },
        features: [select(orders, ['amount'])],
      })
      const controller = new AbortController()
      const pending = slow.toRows(undefined, { signal: controller.signal })
      setTimeout(() => controller.abort(new Error('stop')), 300)
      const stopped = await rejects(pending)
      expect([stopped.code, (stopped.cause as Error).message]).toEqual(['ABORTED', 'stop'])
      const running = await db.client.query(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND state = 'active' AND pid <> pg_backend_pid()",
      )
      expect(Number(running.rows[0].n)).toBe(0)
    })

    it('a server that is down fails fast, naming host and port', async () => {
      const port = await freePort()
      const down = new PostgresOfflineStore({ ...pgOptions(user!, db.schema), port })
      stores.push(down)
      const e = await rejects(down.describeSource(orders.batchSource!))
      expect(e.code).toBe('BACKEND_UNAVAILABLE')
      expect(e.message).toContain(`127.0.0.1:${port}`)
    })

    it('is created by the loader from feature_store.yaml, whose unknown keys are rejected', async () => {
      const yaml = (extra = '') =>
        parseRepoConfig(
          `project: demo\noffline_store:\n  type: postgres\n  host: ${PG_HOST}\n  port: ${PG_PORT}\n  database: ${PG_DATABASE}\n  db_schema: ${db.schema}\n  user: ${user}\n${extra}`,
          dir,
        )
      const loaded = await createOfflineStore(yaml())
      try {
        expect(loaded.type).toBe('postgres')
        expect((await loaded.describeSource(orders.batchSource!)).length).toBe(10)
      } finally {
        await loaded.close()
      }
      const e = await rejects(createOfflineStore(yaml('  colour: blue\n')))
      expect(e.message).toContain('unknown key "colour" in offline_store')
    })
  })
  describe('bytes, saved tables, empty results and closing', () => {
    /** Adds a text of digits, a list of text and bytes to each row. */
    const extra = appending({
      code: { type: new Utf8(), value: () => '12345' },
      tags: { type: new List(new ArrowField('item', new Utf8(), true)), value: () => ['a', 'b,c"\\'] },
      blob: { type: new Binary(), value: () => Uint8Array.from([0, 1, 0x5c, 0x22, 255]) },
    })
    const empty = { startDate: '2020-01-01T00:00:00Z', endDate: '2020-01-02T00:00:00Z' }

    it('round-trips bytes of every value through writeRows, the join and pullLatest', async () => {
      await db.client.query('CREATE TABLE blobs (driver_id bigint, ts timestamptz, raw bytea)')
      const view = new FeatureView({
        name: 'blobs',
        entities: [driver],
        source: new PostgreSQLSource({ name: 'blobs', table: 'blobs', timestampField: 'ts' }),
        schema: [new Field({ name: 'raw', dtype: Bytes })],
      })
      const values = [
        Uint8Array.from([1, 2, 0x61]),
        Uint8Array.from([0, 255, 0x5c, 0x22, 0x2c, 0x0a, 0x0d, 0x27]),
        Uint8Array.from([0x5c, 0x78, 0x30, 0x31]),
        new Uint8Array(0),
        null,
      ]
      const s = store()
      await s.writeRows(
        view,
        values.slice(0, 3).map((raw, i) => ({ driver_id: i, ts: at('01:00'), raw })),
      )
      await s.writeRows(
        view,
        new Table({
          driver_id: vectorFromArray([3n, 4n]),
          ts: vectorFromArray([at('01:00'), at('01:00')], new Utf8()),
          raw: vectorFromArray(values.slice(3), new Binary()),
        }),
      )
      const stored = await db.client.query('SELECT raw FROM blobs ORDER BY driver_id')
      expect(stored.rows.map((r) => bytes(r.raw))).toEqual(values.map(bytes))
      const joined = await (
        await s.getHistoricalFeatures({
          entities: values.map((_, i) => ({ driver_id: i, event_timestamp: at('02:00') })),
          features: [select(view, ['raw'])],
        })
      ).toRows()
      expect(joined.map((r) => bytes(r.raw))).toEqual(values.map(bytes))
      const pulled = new Map<number, number[] | null>()
      for await (const b of s.pullLatest(view, { start: at('00:00'), end: at('02:00') })) {
        for (const r of b.toArray()) pulled.set(Number(r.driver_id), bytes(r.raw))
      }
      expect(values.map((_, i) => pulled.get(i))).toEqual(values.map(bytes))
    })

    it('saves a transformed result with the types of its columns, an empty result too', async () => {
      const expectedTypes = {
        driver_id: 'bigint',
        event_timestamp: 'timestamp with time zone',
        amount: 'double precision',
        code: 'text',
        tags: 'text[]',
        blob: 'bytea',
      }
      const typesOf = async (table: string) => {
        const r = await db.client.query(
          `SELECT attname, format_type(atttypid, atttypmod) AS t FROM pg_attribute
           WHERE attrelid = '${table}'::regclass AND attnum > 0 ORDER BY attnum`,
        )
        return Object.fromEntries(r.rows.map((c) => [c.attname, c.t]))
      }
      const job = await store().getHistoricalFeatures({
        entities: [{ driver_id: 1, event_timestamp: '2026-01-01T12:00:00Z' }],
        features: [select(orders, ['amount'])],
        transform: extra,
      })
      expect(await job.toTable!('saved_typed')).toEqual({ rows: 1, eventRange: noon })
      expect(await typesOf('saved_typed')).toEqual(expectedTypes)
      const [saved] = (await db.client.query('SELECT * FROM saved_typed')).rows
      expect({ ...saved, blob: bytes(saved.blob) }).toEqual({
        driver_id: '1',
        event_timestamp: new Date('2026-01-01T12:00:00Z'),
        amount: 10.5,
        code: '12345',
        tags: ['a', 'b,c"\\'],
        blob: [0, 1, 0x5c, 0x22, 255],
      })
      const none = await store().getHistoricalFeatures({
        ...empty,
        features: [select(orders, ['amount'])],
        transform: extra,
      })
      expect(await none.toTable!('saved_empty')).toEqual({
        rows: 0,
        eventRange: { min: toMicros(empty.startDate), max: toMicros(empty.endDate) },
      })
      expect(await typesOf('saved_empty')).toEqual(expectedTypes)
    })

    it('gives an empty transformed result the schema of the transformed columns', async () => {
      const job = await store().getHistoricalFeatures({
        ...empty,
        features: [select(orders, ['amount'])],
        transform: extra,
      })
      const table = await job.toArrow()
      expect(table.numRows).toBe(0)
      expect(table.schema.fields.map((f) => `${f.name}: ${f.type}`)).toEqual([
        'driver_id: Int64',
        'event_timestamp: Timestamp<MICROSECOND, UTC>',
        'amount: Float64',
        'code: Utf8',
        'tags: List<Utf8>',
        'blob: Binary',
      ])
      expect(table.schema.fields.map((f) => f.name)).toEqual(job.columns)
    })

    it('releases the connection when the staging directory cannot be made, and works once it can', async () => {
      const blocked = join(dir, 'blocked')
      writeFileSync(blocked, 'a file where the staging directory should be')
      const s = new PostgresOfflineStore({
        ...pgOptions(user!, db.schema),
        max_conn: 1,
        temp_directory: blocked,
      })
      stores.push(s)
      const e = await rejects(s.describeSource(orders.batchSource!))
      expect([e.code, e.message]).toEqual([
        'INVALID_CONFIG',
        expect.stringContaining(`cannot create a staging directory in ${blocked}`),
      ])
      rmSync(blocked)
      expect(await s.describeSource(orders.batchSource!)).toHaveLength(10)
    })

    it('close cancels running operations on the server and releases their connections', async () => {
      const s = new PostgresOfflineStore({ ...pgOptions(user!, db.schema), max_conn: 2 })
      stores.push(s)
      // one connection held by a pull waiting between batches, the other by a statement running
      const pull = s
        .pullLatest(
          orders.with({ schema: [new Field({ name: 'amount', dtype: Float64 })] }),
          {
            start: at('00:00'),
            end: '2026-01-03T00:00:00Z',
          },
          { batchSize: 1 },
        )
        [Symbol.asyncIterator]()
      expect((await pull.next()).done).toBe(false)
      const slow = await s.getHistoricalFeatures({
        entities: {
          sql: "SELECT 1::bigint AS driver_id, TIMESTAMPTZ '2026-01-01T12:00:00Z' AS event_timestamp FROM pg_sleep(30) AS closing_test",
        },
        features: [select(orders, ['amount'])],
      })
      const stopping = rejects(slow.toRows())
      const sleeping = async () =>
        Number(
          (
            await db.client.query(
              "SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE '%closing_test%' AND state = 'active' AND pid <> pg_backend_pid()",
            )
          ).rows[0].n,
        )
      while ((await sleeping()) === 0) await new Promise((r) => setTimeout(r, 20))
      const started = performance.now()
      await s.close()
      expect(performance.now() - started).toBeLessThan(5000)
      const stopped = await stopping
      expect([stopped.code, stopped.message]).toEqual([
        'ABORTED',
        'the postgres offline store was closed while the operation ran',
      ])
      const drained = (async () => {
        while (!(await pull.next()).done);
      })()
      expect((await rejects(drained)).code).toBe('ABORTED')
      expect(await sleeping()).toBe(0)
      expect((await rejects(s.describeSource(orders.batchSource!))).message).toContain('closed')
    })
  })

  describe('latest rows: snapshots and key parts', () => {
    it('counts and reads the latest rows in one snapshot while another session writes', async () => {
      await db.client.query(`CREATE TABLE snap (driver_id bigint, ts timestamptz, v bigint);
        INSERT INTO snap VALUES (1, '2026-01-01 01:00Z', 1), (2, '2026-01-01 01:00Z', 2)`)
      const view = new FeatureView({
        name: 'snap',
        entities: [driver],
        source: new PostgreSQLSource({ name: 'snap', table: 'snap', timestampField: 'ts' }),
        schema: [new Field({ name: 'v', dtype: Int64 })],
      })
      let counted = -1
      const rows = await pullAll(
        store().pullLatest(
          view,
          { start: at('00:00'), end: at('02:00') },
          {
            onRowCount: (n) => {
              counted = n
              runElsewhere(`INSERT INTO "${db.schema}".snap VALUES (3, '2026-01-01 01:00Z', 3)`)
            },
          },
        ),
      )
      expect([counted, rows.length]).toEqual([2, 2])
      expect((await db.client.query('SELECT count(*)::int AS n FROM snap')).rows[0].n).toBe(3)
    })

    it('pulls a window in key parts that together give the whole pull, each key tuple once', async () => {
      await db.client.query(`CREATE TABLE parted (region text, driver_id bigint, ts timestamptz, v bigint);
        INSERT INTO parted SELECT 'r' || (i % 7), i, TIMESTAMPTZ '2026-01-01 00:00Z' + h * INTERVAL '1 hour', i * 10 + h
          FROM generate_series(0, 299) i, generate_series(0, 2) h;
        INSERT INTO parted SELECT 'r' || (i % 7), i, TIMESTAMPTZ '2026-01-01 02:00Z', i * 10 + 5
          FROM generate_series(0, 299) i`)
      const region = new Entity({ name: 'region', joinKeys: ['region'] })
      const view = new FeatureView({
        name: 'parted',
        entities: [region, driver],
        source: new PostgreSQLSource({ name: 'parted', table: 'parted', timestampField: 'ts' }),
        schema: [new Field({ name: 'v', dtype: Int64 })],
      })
      const window = { start: at('00:00'), end: at('03:00') }
      const s = store()
      const whole = await pullAll(s.pullLatest(view, window))
      expect(whole).toHaveLength(300)
      const parts: string[][] = []
      for (let index = 0; index < 3; index++) {
        let counted = -1
        const options: PullOptions = { part: { index, of: 3 }, onRowCount: (n) => (counted = n) }
        const rows = await pullAll(s.pullLatest(view, window, options))
        expect(rows.length).toBe(counted)
        expect(rows.length).toBeGreaterThan(0)
        parts.push(rows)
      }
      const union = parts.flat()
      const keys = union.map((r) => {
        const { region: k1, driver_id: k2 } = JSON.parse(r)
        return `${k1}/${k2}`
      })
      expect(new Set(keys).size).toBe(union.length)
      expect(union.sort()).toEqual([...whole].sort())
    })
  })
})
