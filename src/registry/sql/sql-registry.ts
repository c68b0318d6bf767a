import { createHash, randomUUID } from 'node:crypto'
import { clone, create, fromBinary, type Message, toBinary } from '@bufbuild/protobuf'
import { type Abortable, LarderError, type Micros, nowMicros, throwIfAborted } from '../../core/index.js'
import { InfraSchema } from '../../gen/feast/core/InfraObject_pb.js'
import {
  ProjectMetadataSchema,
  type Registry as RegistryProto,
  RegistrySchema,
} from '../../gen/feast/core/Registry_pb.js'
import { projectNames } from '../catalog.js'
import {
  checkRun,
  type ListMaterializationRunsOptions,
  type MaterializationRun,
  type RecordMaterializationRunOptions,
  runsKept,
  runsLimit,
} from '../materialization-runs.js'
import { timestampFromMicros } from '../proto-mapping.js'
import { type LoadOptions, type Registry, RegistryState } from '../registry.js'
import {
  type ChangeStamp,
  currentActor,
  OBJECT_TABLES,
  type ObjectChange,
  type ObjectTable,
  objectChanges,
  objectConflict,
  objectKey,
  rebaseChange,
  sameBytes,
} from '../registry-objects.js'
import { retrying, type SqlConnection, type SqlDialect, type SqlExecutor } from './sql-dialect.js'
import { SqlJobStore } from './sql-jobs.js'
import {
  keyColumns,
  keyValues,
  LARDER_TABLES,
  objectColumns,
  RUN_COLUMNS,
  schemaStatements,
} from './sql-schema.js'

export interface SqlRegistryOptions {
  /** The registry URL with any password hidden, for messages. */
  readonly displayUrl: string
  /**
   * How long `load()` may answer from memory without asking the database; past it (and always with 0)
   * a load checks one version row and reads everything only when the registry changed.
   */
  readonly cacheTtlSeconds: number
  /**
   * `auto` (default) creates missing tables as Feast does; `verify` fails when one is missing;
   * `skip` assumes they exist.
   */
  readonly schemaMode?: 'auto' | 'verify' | 'skip'
}

/** How many times a commit re-checks one object that keeps changing under it before giving up. */
const MAX_OBJECT_ATTEMPTS = 20

const VERSION_KEY = 'version'

/**
 * Feast's SQL registry: one row per object in Feast's tables (`entities`, `feature_views`, …), each
 * holding the object's protobuf, so Feast and Larder can share one database. A commit writes only the
 * objects that changed, in one transaction, each with a compare-and-swap on the bytes its writer
 * read (optimistic concurrency per object). Larder keeps its own bookkeeping (a version row for cheap
 * cache checks, who changed what) in `larder_*` tables that Feast never reads.
 *
 * @example
 * const registry = await SqlRegistry.open(dialect, 'postgresql://localhost/feast', '/repo', { displayUrl, cacheTtlSeconds: 60 })
 */
export class SqlRegistry implements Registry {
  readonly displayUrl: string
  /** Jobs in the side tables `larder_jobs` and `larder_job_logs` (see {@link SqlJobStore}). */
  readonly jobs: SqlJobStore
  readonly #db: SqlConnection
  readonly #dialect: SqlDialect
  readonly #ttlMs: number
  #cached: { state: RegistryState; checkedAt: number } | undefined

  private constructor(dialect: SqlDialect, db: SqlConnection, options: SqlRegistryOptions) {
    this.#dialect = dialect
    this.#db = db
    this.displayUrl = options.displayUrl
    this.#ttlMs = options.cacheTtlSeconds * 1000
    this.jobs = new SqlJobStore(db, dialect, options.displayUrl)
  }

  /**
   * Connects and, with `schemaMode: auto`, creates the tables that are missing. Fails with
   * BACKEND_UNAVAILABLE when the database cannot be reached, and with INVALID_CONFIG under
   * `schemaMode: verify` when a table is missing.
   */
  static async open(
    dialect: SqlDialect,
    url: string,
    baseDir: string,
    options: SqlRegistryOptions,
  ): Promise<SqlRegistry> {
    let db: SqlConnection
    try {
      db = await dialect.open(url, baseDir)
      await db.run('SELECT 1')
    } catch (cause) {
      throw new LarderError(
        'BACKEND_UNAVAILABLE',
        `cannot connect to the SQL registry ${options.displayUrl} (${dialect.name}): ${(cause as Error).message}`,
        { cause, hint: 'check registry.path in feature_store.yaml and that the database is running' },
      )
    }
    const registry = new SqlRegistry(dialect, db, options)
    try {
      await registry.#ensureSchema(options.schemaMode ?? 'auto')
    } catch (e) {
      await db.close().catch(() => {})
      throw e
    }
    return registry
  }

  async #ensureSchema(mode: 'auto' | 'verify' | 'skip'): Promise<void> {
    if (mode === 'skip') return
    for (const { table, sql, feast } of schemaStatements(this.#dialect)) {
      if (mode === 'auto' || !feast) {
        try {
          await this.#db.run(sql)
        } catch (cause) {
          // Two processes creating the same table at once: the loser's error is harmless if it exists now.
          if (!(await this.#tableExists(table))) throw cause
        }
      } else if (!(await this.#tableExists(table))) {
        throw new LarderError(
          'INVALID_CONFIG',
          `the SQL registry ${this.displayUrl} has no table "${table}" and registry.schema_mode is verify`,
          { hint: 'create the tables (schema_mode: auto, or `feast registry create-schema`)' },
        )
      }
    }
    await this.#upgradeRunsTable()
  }

  /**
   * Earlier Larder versions created the runs table with fewer columns and never wrote it: an empty
   * table of that shape is replaced by the current one. A table holding rows is left alone.
   */
  async #upgradeRunsTable(): Promise<void> {
    const table = LARDER_TABLES.runs
    const columns = RUN_COLUMNS.map(([c]) => c).join(', ')
    try {
      await this.#db.run(`SELECT ${columns} FROM ${table} WHERE 1 = 0`)
      return
    } catch {
      // an older shape: replaced below when it is empty
    }
    const { rows } = await this.#db.run(`SELECT COUNT(*) AS n FROM ${table}`)
    if (Number(rows[0]?.n ?? 0) > 0) return
    await this.#db.run(`DROP TABLE ${table}`)
    const create = schemaStatements(this.#dialect).find((t) => t.table === table)!
    await this.#db.run(create.sql)
  }

  async #tableExists(table: string): Promise<boolean> {
    try {
      await this.#db.run(`SELECT 1 FROM ${table} WHERE 1 = 0`)
      return true
    } catch {
      return false
    }
  }

  async load(options: LoadOptions = {}): Promise<RegistryState> {
    throwIfAborted(options.signal)
    const cached = this.#cached
    if (cached && options.allowCache !== false) {
      if (!options.revalidate && this.#ttlMs > 0 && Date.now() - cached.checkedAt < this.#ttlMs)
        return cached.state
      // Past the ttl (or with no ttl): one cheap row tells whether the cached copy is still current.
      const version = await this.#db.transaction('read', (tx) => readVersion(tx))
      if (version === cached.state.version) {
        cached.checkedAt = Date.now()
        return cached.state
      }
    }
    const state = await this.#db.transaction('read', (tx) => this.#read(tx))
    this.#cached = { state, checkedAt: Date.now() }
    return state
  }

  async #read(tx: SqlExecutor): Promise<RegistryState> {
    const proto = create(RegistrySchema)
    const stored = new Map<string, Uint8Array>()
    for (const table of OBJECT_TABLES) {
      const key = keyColumns(table)
      const { rows } = await tx.run(
        `SELECT ${table.nameColumn} AS object_name, project_id, ${table.protoColumn} AS proto FROM ${table.table} ORDER BY ${key.join(', ')}`,
      )
      const messages: Message[] = []
      for (const row of rows) {
        const name = String(row.object_name)
        const project = String(row.project_id)
        const bytes = asBytes(row.proto)
        let message: Message
        try {
          message = fromBinary(table.schema, bytes)
        } catch (cause) {
          throw new LarderError(
            'REGISTRY_CORRUPT',
            `the SQL registry ${this.displayUrl} holds an unreadable ${table.kind} "${name}" in project "${project}" (table ${table.table})`,
            { cause, hint: 'delete or rewrite that row; Larder changed nothing' },
          )
        }
        table.setProject(message, project)
        messages.push(message)
        stored.set(objectKey(table, project, name), bytes)
      }
      table.set(proto, messages)
    }
    const infra = await tx.run(
      "SELECT project_id, infra_proto, last_updated_timestamp FROM managed_infra WHERE infra_name = 'infra_obj' ORDER BY last_updated_timestamp DESC, project_id",
    )
    if (infra.rows[0]) proto.infra = fromBinary(InfraSchema, asBytes(infra.rows[0].infra_proto))
    const metadata = await tx.run(
      "SELECT project_id, metadata_value FROM feast_metadata WHERE metadata_key = 'project_uuid' ORDER BY project_id",
    )
    proto.projectMetadata = metadata.rows.map((r) =>
      create(ProjectMetadataSchema, { project: String(r.project_id), projectUuid: String(r.metadata_value) }),
    )
    const version = await readVersion(tx)
    const lastUpdated = await tx.run(
      `SELECT (SELECT MAX(last_updated_timestamp) FROM feast_metadata) AS feast, (SELECT updated_at_micros FROM ${LARDER_TABLES.meta} WHERE meta_key = ?) AS larder`,
      [VERSION_KEY],
    )
    const feastMicros = Number(lastUpdated.rows[0]?.feast ?? 0) * 1_000_000
    const larderMicros = Number(lastUpdated.rows[0]?.larder ?? 0)
    const newest = Math.max(feastMicros, larderMicros)
    if (newest > 0) proto.lastUpdated = timestampFromMicros(newest)
    proto.registrySchemaVersion = '1'
    proto.versionId = version
    return new RegistryState(version, proto, stored)
  }

  async commit(base: RegistryState, next: RegistryProto, options: Abortable = {}): Promise<RegistryState> {
    throwIfAborted(options.signal)
    if (!sameJson(base.proto.featureViewVersionHistory, next.featureViewVersionHistory)) {
      throw new LarderError(
        'UNSUPPORTED',
        `the SQL registry ${this.displayUrl} does not store feature view version history yet`,
        { hint: 'leave feature_view_version_history unchanged, or use the file registry' },
      )
    }
    const changes = objectChanges(base.proto, next)
    const infraChanged = !sameJson(base.proto.infra, next.infra)
    const metadataChanged = !sameJson(base.proto.projectMetadata, next.projectMetadata)
    if (changes.length === 0 && !infraChanged && !metadataChanged) return base
    const outcome = await retrying(this.#dialect, () =>
      this.#db.transaction('write', (tx) => this.#write(tx, base, next, changes, infraChanged)),
    )
    if (!outcome.onlyWriter) return this.load({ allowCache: false, signal: options.signal })
    // Nobody committed between `base` and this commit: the new registry is `next` with what was written.
    const proto = clone(RegistrySchema, next)
    const stored = new Map(base.stored ?? [])
    for (const table of OBJECT_TABLES) {
      const list: Message[] = []
      for (const m of table.list(proto)) {
        const key = objectKey(table, table.projectOf(m), table.nameOf(m))
        const written = outcome.written.get(key)
        if (written === undefined) list.push(m)
        else if (written.message) list.push(written.message)
      }
      table.set(proto, list)
    }
    for (const [key, w] of outcome.written) {
      if (w.bytes) stored.set(key, w.bytes)
      else stored.delete(key)
    }
    proto.versionId = outcome.version
    proto.registrySchemaVersion = '1'
    proto.lastUpdated = timestampFromMicros(outcome.at)
    const state = new RegistryState(outcome.version, proto, stored)
    this.#cached = { state, checkedAt: Date.now() }
    return state
  }

  async #write(
    tx: SqlExecutor,
    base: RegistryState,
    next: RegistryProto,
    changes: readonly ObjectChange[],
    infraChanged: boolean,
  ): Promise<WriteOutcome> {
    const actor = currentActor()
    const version = randomUUID()
    const now = nowMicros()
    const seconds = Math.floor(now / 1_000_000)
    const touched = new Set<string>()
    // Lock the version row first: commits take turns here, and one that finds the version it read
    // knows nobody else committed in between.
    const { rows: versionRows } = await tx.run(
      `SELECT meta_value FROM ${LARDER_TABLES.meta} WHERE meta_key = ?${this.#dialect.lockRows}`,
      [VERSION_KEY],
    )
    const onlyWriter =
      (await readVersion(tx)) === base.version && (versionRows.length > 0 || base.version === '')
    const outcome = new Map<string, { message: Message | undefined; bytes: Uint8Array | undefined }>()
    for (const change of changes) {
      const { message, bytes: written } = await this.#writeObject(tx, base, change, seconds)
      outcome.set(change.key, { message, bytes: written })
      await tx.run(
        this.#dialect.upsert(
          LARDER_TABLES.changes,
          ['table_name', 'object_name', 'project_id', 'changed_by', 'changed_at_micros', 'proto_sha256'],
          ['table_name', 'object_name', 'project_id'],
          ['changed_by', 'changed_at_micros', 'proto_sha256'],
        ),
        [change.table.table, change.name, change.project, actor, now, written ? sha256(written) : ''],
      )
      touched.add(change.project)
    }
    const uuids = new Map(next.projectMetadata.map((m) => [m.project, m.projectUuid]))
    const kept = new Set(next.projectMetadata.map((m) => m.project))
    for (const gone of base.proto.projectMetadata) {
      if (!kept.has(gone.project))
        await tx.run('DELETE FROM feast_metadata WHERE project_id = ?', [gone.project])
    }
    const live = new Set(projectNames(next))
    for (const project of [...touched].sort()) {
      if (!live.has(project) && !uuids.has(project)) continue
      await tx.run(
        this.#dialect.upsert(
          'feast_metadata',
          ['project_id', 'metadata_key', 'metadata_value', 'last_updated_timestamp'],
          ['project_id', 'metadata_key'],
          ['metadata_value', 'last_updated_timestamp'],
        ),
        [project, 'last_updated_timestamp', String(seconds), seconds],
      )
      await tx.run(
        this.#dialect.insertIgnore('feast_metadata', [
          'project_id',
          'metadata_key',
          'metadata_value',
          'last_updated_timestamp',
        ]),
        [project, 'project_uuid', uuids.get(project) || randomUUID(), seconds],
      )
    }
    if (infraChanged && next.infra) {
      const bytes = toBinary(InfraSchema, next.infra)
      for (const project of [...new Set([...live, ...touched])].sort()) {
        await tx.run(
          this.#dialect.upsert(
            'managed_infra',
            ['infra_name', 'project_id', 'last_updated_timestamp', 'infra_proto'],
            ['infra_name', 'project_id'],
            ['last_updated_timestamp', 'infra_proto'],
          ),
          ['infra_obj', project, seconds, Buffer.from(bytes)],
        )
      }
    }
    await tx.run(
      this.#dialect.upsert(
        LARDER_TABLES.meta,
        ['meta_key', 'meta_value', 'updated_at_micros'],
        ['meta_key'],
        ['meta_value', 'updated_at_micros'],
      ),
      [VERSION_KEY, version, now],
    )
    return { onlyWriter, written: outcome, version: await readVersion(tx), at: now }
  }

  /**
   * Writes one object if its row still holds what `base` read (compare-and-swap on the bytes). When
   * it does not, merges bookkeeping-only changes ({@link rebaseChange}) and tries again; otherwise
   * throws CONFLICT. Returns the bytes written, or undefined for a deletion.
   */
  async #writeObject(
    tx: SqlExecutor,
    base: RegistryState,
    change: ObjectChange,
    seconds: number,
  ): Promise<{ message: Message | undefined; bytes: Uint8Array | undefined }> {
    const { table, project, name } = change
    const where = keyColumns(table)
      .map((c) => `${c} = ?`)
      .join(' AND ')
    const key = keyValues(table, project, name)
    let expected: Uint8Array | undefined = change.before
      ? (base.stored?.get(change.key) ?? toBinary(table.schema, change.before))
      : undefined
    let before = change.before
    let after = change.after
    for (let attempt = 1; attempt <= MAX_OBJECT_ATTEMPTS; attempt++) {
      const bytes = after ? Buffer.from(toBinary(table.schema, after)) : undefined
      let ok: boolean
      if (bytes && !expected) {
        const columns = objectColumns(table, this.#dialect)
          .map(([c]) => c)
          .filter((c) => c !== 'materialized_intervals' && c !== 'user_metadata')
        const values = columns.map((c) =>
          c === table.protoColumn
            ? bytes
            : c === 'last_updated_timestamp'
              ? seconds
              : c === 'project_name' || c === table.nameColumn
                ? name
                : project,
        )
        ok = (await tx.run(this.#dialect.insertIgnore(table.table, columns), values)).affected === 1
      } else if (bytes) {
        ok =
          (
            await tx.run(
              `UPDATE ${table.table} SET ${table.protoColumn} = ?, last_updated_timestamp = ? WHERE ${where} AND ${table.protoColumn} = ?`,
              [bytes, seconds, ...key, Buffer.from(expected!)],
            )
          ).affected === 1
      } else {
        ok =
          (
            await tx.run(`DELETE FROM ${table.table} WHERE ${where} AND ${table.protoColumn} = ?`, [
              ...key,
              Buffer.from(expected!),
            ])
          ).affected === 1
      }
      if (ok) return { message: after, bytes }
      const { rows } = await tx.run(
        `SELECT ${table.protoColumn} AS proto, last_updated_timestamp FROM ${table.table} WHERE ${where}${this.#dialect.lockRows}`,
        key,
      )
      const row = rows[0]
      const currentBytes = row ? asBytes(row.proto) : undefined
      if (!after && !currentBytes) return { message: undefined, bytes: undefined } // deleted by someone else too
      if (sameBytes(currentBytes, expected)) continue // the row was locked by a writer that rolled back
      const current = currentBytes ? fromBinary(table.schema, currentBytes) : undefined
      if (current) table.setProject(current, project)
      const rebased = rebaseChange(table, before, current, after)
      if (rebased === 'conflict') {
        const what = !expected ? 'created' : !currentBytes ? 'deleted' : 'changed'
        const stamp = await this.#stamp(tx, table, project, name, currentBytes, row?.last_updated_timestamp)
        throw objectConflict(this.displayUrl, table, project, name, stamp, what)
      }
      before = current
      after = rebased.message
      expected = currentBytes
    }
    throw new LarderError(
      'CONFLICT',
      `the registry ${this.displayUrl} changed since it was read: ${table.kind} "${name}" in project "${project}" kept changing while this commit retried`,
      { hint: 'run the command again' },
    )
  }

  /** Who changed an object last: Larder's note when it matches the stored bytes, else the row's own time. */
  async #stamp(
    tx: SqlExecutor,
    table: ObjectTable,
    project: string,
    name: string,
    currentBytes: Uint8Array | undefined,
    rowSeconds: unknown,
  ): Promise<ChangeStamp | undefined> {
    const { rows } = await tx.run(
      `SELECT changed_by, changed_at_micros, proto_sha256 FROM ${LARDER_TABLES.changes} WHERE table_name = ? AND object_name = ? AND project_id = ?`,
      [table.table, name, project],
    )
    const note = rows[0]
    const hash = currentBytes ? sha256(currentBytes) : ''
    if (note && String(note.proto_sha256) === hash) {
      return { by: String(note.changed_by), at: Number(note.changed_at_micros) as Micros }
    }
    if (rowSeconds !== undefined && rowSeconds !== null) {
      return { by: 'a writer other than Larder (e.g. Feast)', at: (Number(rowSeconds) * 1_000_000) as Micros }
    }
    return undefined
  }

  /**
   * Inserts the run into `larder_materialization_runs` (its own row: no registry version changes and no
   * lock on Feast's tables is taken), then deletes the view's runs older than the newest `keep`.
   */
  async recordMaterializationRun(
    run: MaterializationRun,
    options: RecordMaterializationRunOptions = {},
  ): Promise<void> {
    const r = checkRun(run)
    const keep = runsKept(options)
    throwIfAborted(options.signal)
    const values: Record<string, unknown> = {
      project_id: r.project,
      feature_view_name: r.view,
      started_at_micros: r.startedAt,
      run_id: r.id,
      engine: r.engine,
      status: r.status,
      error_message: r.error ?? null,
      window_start_micros: r.start,
      window_end_micros: r.end,
      rows_read: r.rowsRead,
      rows_written: r.rowsWritten,
      rows_skipped: r.rowsSkipped,
      newest_event_micros: r.newestEvent ?? null,
      run_by: r.runBy,
      finished_at_micros: r.finishedAt,
      duration_ms: r.durationMs,
    }
    const columns = RUN_COLUMNS.map(([c]) => c)
    await this.#db.run(
      `INSERT INTO ${LARDER_TABLES.runs} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
      columns.map((c) => values[c]),
    )
    await retrying(this.#dialect, () => this.#pruneRuns(r.project, r.view, keep))
  }

  async #pruneRuns(project: string, view: string, keep: number): Promise<void> {
    // The keep-th newest run this statement sees: anything older goes. A concurrent recorder's rows
    // are newer or unseen, so neither of two pruners drops a run the other counts among the newest.
    const { rows } = await this.#db.run(
      `SELECT started_at_micros, run_id FROM ${LARDER_TABLES.runs} WHERE project_id = ? AND feature_view_name = ? ORDER BY started_at_micros DESC, run_id DESC LIMIT 1 OFFSET ${keep - 1}`,
      [project, view],
    )
    const cutoff = rows[0]
    if (!cutoff) return
    const startedAt = Number(cutoff.started_at_micros)
    await this.#db.run(
      `DELETE FROM ${LARDER_TABLES.runs} WHERE project_id = ? AND feature_view_name = ? AND (started_at_micros < ? OR (started_at_micros = ? AND run_id < ?))`,
      [project, view, startedAt, startedAt, String(cutoff.run_id)],
    )
  }

  async listMaterializationRuns(
    project: string,
    options: ListMaterializationRunsOptions = {},
  ): Promise<MaterializationRun[]> {
    const limit = runsLimit(options)
    throwIfAborted(options.signal)
    const byView = options.view === undefined ? '' : ' AND feature_view_name = ?'
    const { rows } = await this.#db.run(
      `SELECT ${RUN_COLUMNS.map(([c]) => c).join(', ')} FROM ${LARDER_TABLES.runs} WHERE project_id = ?${byView} ORDER BY started_at_micros DESC, run_id DESC LIMIT ${limit}`,
      options.view === undefined ? [project] : [project, options.view],
    )
    return rows.map(runFromRow)
  }

  async close(): Promise<void> {
    this.#cached = undefined
    await this.#db.close()
  }

  /** The database connection, for Larder's side tables. */
  get connection(): SqlConnection {
    return this.#db
  }

  get dialect(): SqlDialect {
    return this.#dialect
  }
}

interface WriteOutcome {
  /** True when no other commit landed between the base read and this one. */
  readonly onlyWriter: boolean
  /** What was written per object key (undefined message: deleted). */
  readonly written: ReadonlyMap<string, { message: Message | undefined; bytes: Uint8Array | undefined }>
  readonly version: string
  readonly at: Micros
}

function runFromRow(row: Record<string, unknown>): MaterializationRun {
  const optional = (v: unknown) => (v === null || v === undefined ? undefined : v)
  const newest = optional(row.newest_event_micros)
  const error = optional(row.error_message)
  return {
    id: String(row.run_id),
    project: String(row.project_id),
    view: String(row.feature_view_name),
    engine: String(row.engine),
    status: String(row.status) as MaterializationRun['status'],
    ...(error === undefined ? {} : { error: String(error) }),
    start: Number(row.window_start_micros),
    end: Number(row.window_end_micros),
    rowsRead: Number(row.rows_read),
    rowsWritten: Number(row.rows_written),
    rowsSkipped: Number(row.rows_skipped),
    newestEvent: newest === undefined ? undefined : Number(newest),
    runBy: String(row.run_by),
    startedAt: Number(row.started_at_micros),
    finishedAt: Number(row.finished_at_micros),
    durationMs: Number(row.duration_ms),
  }
}

/** The registry's version: Larder's version row and Feast's newest update time (one cheap query). */
async function readVersion(tx: SqlExecutor): Promise<string> {
  const { rows } = await tx.run(
    `SELECT (SELECT meta_value FROM ${LARDER_TABLES.meta} WHERE meta_key = ?) AS larder, (SELECT MAX(last_updated_timestamp) FROM feast_metadata) AS feast`,
    [VERSION_KEY],
  )
  const larder = rows[0]?.larder ?? ''
  const feast = rows[0]?.feast ?? ''
  return larder === '' && feast === '' ? '' : `${larder}/${feast}`
}

function asBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value
  if (typeof value === 'string') return Buffer.from(value, 'binary')
  throw new LarderError(
    'REGISTRY_CORRUPT',
    `a registry row holds ${typeof value} where protobuf bytes belong`,
  )
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

function sameJson(a: unknown, b: unknown): boolean {
  const text = (v: unknown) =>
    JSON.stringify(v ?? null, (_k, x) =>
      typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x,
    )
  return text(a) === text(b)
}
