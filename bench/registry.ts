// The registry at team size: 500 feature views, per backend (file, SQLite, PostgreSQL, MariaDB).
//
// registry_apply_500_<backend>: ms to commit 500 new feature views (with their entity, sources and a
// project) to an empty registry through Larder's Registry — per-object compare-and-swap, Larder's
// bookkeeping rows, one transaction — against the raw write of the same objects' protobuf bytes in
// one transaction with the driver (for the file registry: writing the serialized Registry message to a
// temporary file and renaming it into place).
//
// registry_cold_load_500_<backend>: ms for a fresh Registry (new connection, empty cache) to load the
// 500-view registry and decode the project's catalog, against the raw read of the same rows with a new
// driver connection (`SELECT` of every object table's protobuf column; for the file registry, reading
// the file), and against that read plus protobuf decoding of every row (`reference_decoded_ms`, the
// floor of any reader that needs the objects).
//
// Env: BENCH_RUNS (default 5), BENCH_REGISTRY (default `file,sqlite,postgres,mariadb`: the backends).
// Medians of interleaved runs; each run uses a new database (or file).
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DescMessage, fromBinary, toBinary } from '@bufbuild/protobuf'
import Database from 'better-sqlite3'
import mysql from 'mysql2/promise'
import pg from 'pg'
import {
  Entity,
  FeatureView,
  Field,
  FileSource,
  Float32,
  Int64,
  nowMicros,
  Project,
} from '../src/core/index.js'
import { type Registry as RegistryProto, RegistrySchema } from '../src/gen/feast/core/Registry_pb.js'
import { applyContents, type Registry, type RepoContents } from '../src/registry/index.js'
import { createRegistry, registryConfigFor } from '../src/registry/loader.js'
import { OBJECT_TABLES } from '../src/registry/registry-objects.js'
import { mysqlTestDatabase, postgresTestDatabase } from '../src/registry/sql/__fixtures__/test-databases.js'
import { keyColumns } from '../src/registry/sql/sql-schema.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const BACKENDS = (process.env.BENCH_REGISTRY ?? 'file,sqlite,postgres,mariadb').split(',')
const VIEWS = 500
const PROJECT = 'bench'

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}

/** 500 feature views of 10 features each over one entity, each with a source of its own. */
function contents(): RepoContents {
  const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })
  const sources = Array.from(
    { length: VIEWS },
    (_, i) =>
      new FileSource({
        name: `source_${i}`,
        path: `data/view_${i}.parquet`,
        timestampField: 'event_timestamp',
      }),
  )
  const views = sources.map(
    (source, i) =>
      new FeatureView({
        name: `view_${i}`,
        entities: [driver],
        ttl: '1d',
        schema: Array.from(
          { length: 10 },
          (_, f) => new Field({ name: `f_${f}`, dtype: f % 2 ? Int64 : Float32 }),
        ),
        source,
        tags: { team: `team_${i % 7}` },
      }),
  )
  return {
    project: new Project({ name: PROJECT }),
    entities: [driver],
    dataSources: sources,
    featureViews: views,
    featureServices: [],
  }
}

/** Where one run's registry lives, and the raw driver calls to compare with. */
interface Target {
  readonly url: string
  /** Prepares (untimed) the raw write of a registry's objects; the returned call is what is timed. */
  rawWrite(proto: RegistryProto): () => Promise<void>
  /** Reads every object's protobuf bytes with the driver; `decode` turns them into messages. */
  rawRead(decode: boolean): Promise<number>
  drop(): Promise<void>
}

interface Row {
  readonly table: (typeof OBJECT_TABLES)[number]
  readonly name: string
  readonly bytes: Uint8Array
}

/** The objects of a registry message as the rows of Feast's tables. */
function rowsOf(proto: RegistryProto): Row[] {
  return OBJECT_TABLES.flatMap((table) =>
    table.list(proto).map((m) => ({ table, name: table.nameOf(m), bytes: toBinary(table.schema, m) })),
  )
}

/** Counts one row read: its byte length, or 1 once decoded into its message. */
function tally(schema: DescMessage, bytes: Uint8Array, decode: boolean): number {
  if (!decode) return bytes.length
  fromBinary(schema, bytes)
  return 1
}

function insertSql(row: Row, placeholder: (i: number) => string): string {
  const key = keyColumns(row.table)
  const columns = [...key, 'last_updated_timestamp', row.table.protoColumn]
  if (row.table.table === 'projects') columns.splice(1, 0, 'project_name')
  return `INSERT INTO ${row.table.table} (${columns.join(', ')}) VALUES (${columns.map((_, i) => placeholder(i + 1)).join(', ')})`
}

/** The clause that makes the raw insert replace the row the registry already wrote. */
function upsert(row: Row, database: 'sqlite' | 'postgres' | 'mariadb'): string {
  const proto = row.table.protoColumn
  return database === 'mariadb'
    ? `ON DUPLICATE KEY UPDATE ${proto} = VALUES(${proto})`
    : `ON CONFLICT (${keyColumns(row.table).join(', ')}) DO UPDATE SET ${proto} = excluded.${proto}`
}

function insertParams(row: Row): unknown[] {
  const now = Math.floor(Date.now() / 1000)
  return row.table.table === 'projects'
    ? [row.name, row.name, now, row.bytes]
    : [row.name, PROJECT, now, row.bytes]
}

async function fileTarget(): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-registry-'))
  const path = join(dir, 'registry.db')
  return {
    url: path,
    rawWrite(proto) {
      const bytes = toBinary(RegistrySchema, proto)
      return async () => {
        writeFileSync(`${path}.raw.tmp`, bytes)
        renameSync(`${path}.raw.tmp`, `${path}.raw`)
      }
    },
    async rawRead(decode) {
      const bytes = readFileSync(path)
      return decode ? fromBinary(RegistrySchema, bytes).featureViews.length : bytes.length
    },
    async drop() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function sqliteTarget(): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-registry-'))
  const path = join(dir, 'registry.sqlite')
  return {
    url: `sqlite:///${path}`,
    rawWrite(proto) {
      const rows = rowsOf(proto)
      return async () => {
        const db = new Database(path)
        db.transaction(() => {
          for (const row of rows)
            db.prepare(`${insertSql(row, () => '?')} ${upsert(row, 'sqlite')}`).run(...insertParams(row))
        })()
        db.close()
      }
    },
    async rawRead(decode) {
      const db = new Database(path, { readonly: true })
      let bytes = 0
      for (const t of OBJECT_TABLES) {
        for (const r of db.prepare(`SELECT ${t.protoColumn} AS p FROM ${t.table}`).all() as { p: Buffer }[])
          bytes += tally(t.schema, r.p, decode)
      }
      db.close()
      return bytes
    },
    async drop() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function postgresTarget(): Promise<Target> {
  const { database, unavailable } = await postgresTestDatabase()
  if (!database) throw new Error(`PostgreSQL: ${unavailable}`)
  return {
    url: database.url,
    rawWrite(proto) {
      const rows = rowsOf(proto)
      return async () => {
        const client = new pg.Client({ connectionString: database.url })
        await client.connect()
        await client.query('BEGIN')
        for (const row of rows)
          await client.query(
            `${insertSql(row, (i) => `$${i}`)} ${upsert(row, 'postgres')}`,
            insertParams(row),
          )
        await client.query('COMMIT')
        await client.end()
      }
    },
    async rawRead(decode) {
      const client = new pg.Client({ connectionString: database.url })
      await client.connect()
      let bytes = 0
      for (const t of OBJECT_TABLES) {
        for (const r of (await client.query(`SELECT ${t.protoColumn} AS p FROM ${t.table}`)).rows)
          bytes += tally(t.schema, r.p as Buffer, decode)
      }
      await client.end()
      return bytes
    },
    drop: () => database.drop(),
  }
}

async function mariadbTarget(): Promise<Target> {
  const { database, unavailable } = await mysqlTestDatabase()
  if (!database) throw new Error(`MariaDB: ${unavailable}`)
  const connect = () => mysql.createConnection(database.url.replace(/^mysql\+\w+:/, 'mysql:'))
  return {
    url: database.url,
    rawWrite(proto) {
      const rows = rowsOf(proto)
      return async () => {
        const conn = await connect()
        await conn.beginTransaction()
        for (const row of rows)
          await conn.query(`${insertSql(row, () => '?')} ${upsert(row, 'mariadb')}`, insertParams(row))
        await conn.commit()
        await conn.end()
      }
    },
    async rawRead(decode) {
      const conn = await connect()
      let bytes = 0
      for (const t of OBJECT_TABLES) {
        const [rows] = await conn.query(`SELECT ${t.protoColumn} AS p FROM ${t.table}`)
        for (const r of rows as { p: Buffer }[]) bytes += tally(t.schema, r.p, decode)
      }
      await conn.end()
      return bytes
    },
    drop: () => database.drop(),
  }
}

const TARGETS: Record<string, () => Promise<Target>> = {
  file: fileTarget,
  sqlite: sqliteTarget,
  postgres: postgresTarget,
  mariadb: mariadbTarget,
}

async function open(url: string): Promise<Registry> {
  return createRegistry(registryConfigFor(url), tmpdir())
}

async function benchBackend(name: string): Promise<void> {
  const apply: number[] = []
  const applyRaw: number[] = []
  const load: number[] = []
  const loadRaw: number[] = []
  const loadDecoded: number[] = []
  for (let run = 0; run < RUNS; run++) {
    const target = await TARGETS[name]!()
    try {
      const registry = await open(target.url)
      const base = await registry.load({ allowCache: false })
      const draft = base.draft()
      applyContents(draft, contents(), nowMicros())
      apply.push(await timed(() => registry.commit(base, draft)))
      const written = await registry.load({ allowCache: false })
      await registry.close()
      applyRaw.push(await timed(target.rawWrite(written.proto)))

      load.push(
        await timed(async () => {
          const fresh = await open(target.url)
          const state = await fresh.load({ allowCache: false })
          if (state.catalog(PROJECT).featureViews.size !== VIEWS) throw new Error('views missing')
          await fresh.close()
        }),
      )
      loadRaw.push(await timed(() => target.rawRead(false)))
      loadDecoded.push(await timed(() => target.rawRead(true)))
    } finally {
      await target.drop()
    }
    process.stderr.write(
      `registry ${name}: run ${run + 1}: apply ${apply.at(-1)!.toFixed(0)} ms (raw ${applyRaw.at(-1)!.toFixed(0)}), load ${load.at(-1)!.toFixed(0)} ms (raw ${loadRaw.at(-1)!.toFixed(0)})\n`,
    )
  }
  const ratio = (a: number[], b: number[]) => Math.round((median(a) / Math.max(median(b), 0.1)) * 100) / 100
  const line = (bench: string, ours: number[], reference: number[], extra: Record<string, number> = {}) =>
    `${JSON.stringify({
      bench,
      ms: Math.round(median(ours)),
      reference_ms: Math.round(median(reference) * 10) / 10,
      ratio: ratio(ours, reference),
      ...extra,
      views: VIEWS,
      runs: RUNS,
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    })}\n`
  process.stdout.write(line(`registry_apply_${VIEWS}_${name}`, apply, applyRaw))
  process.stdout.write(
    line(`registry_cold_load_${VIEWS}_${name}`, load, loadRaw, {
      reference_decoded_ms: Math.round(median(loadDecoded) * 10) / 10,
      ratio_to_decoded: ratio(load, loadDecoded),
    }),
  )
}

export default async function main(): Promise<void> {
  for (const name of BACKENDS) await benchBackend(name)
}
