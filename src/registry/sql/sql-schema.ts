import { OBJECT_TABLES, type ObjectTable } from '../registry-objects.js'
import type { SqlDialect } from './sql-dialect.js'

/** The columns of an object table in Feast's order, with their SQL types. */
export function objectColumns(table: ObjectTable, dialect: SqlDialect): [string, string][] {
  const blob = dialect.blobType
  if (table.table === 'projects') {
    return [
      ['project_id', 'VARCHAR(50) NOT NULL'],
      ['project_name', 'VARCHAR(255) NOT NULL'],
      ['last_updated_timestamp', 'BIGINT NOT NULL'],
      ['project_proto', `${blob} NOT NULL`],
    ]
  }
  const columns: [string, string][] = [
    [table.nameColumn, `VARCHAR(${table.nameLength}) NOT NULL`],
    ['project_id', 'VARCHAR(50) NOT NULL'],
    ['last_updated_timestamp', 'BIGINT NOT NULL'],
  ]
  if (table.extraColumns.includes('materialized_intervals')) columns.push(['materialized_intervals', blob])
  columns.push([table.protoColumn, `${blob} NOT NULL`])
  if (table.extraColumns.includes('user_metadata')) columns.push(['user_metadata', blob])
  return columns
}

/** The primary key of an object table: (name, project_id), or project_id alone for `projects`. */
export function keyColumns(table: ObjectTable): string[] {
  return table.table === 'projects' ? ['project_id'] : [table.nameColumn, 'project_id']
}

/** The key values of one object, in {@link keyColumns} order. */
export function keyValues(table: ObjectTable, project: string, name: string): string[] {
  return table.table === 'projects' ? [name] : [name, project]
}

/** Larder's own tables, which Feast neither creates nor reads. */
export const LARDER_TABLES = {
  /** One row per registry-wide value; `version` changes on every Larder commit (the cache's cheap check). */
  meta: 'larder_registry_meta',
  /** Who last changed each object through Larder, when, and the sha256 of the bytes they wrote. */
  changes: 'larder_object_changes',
  /** One row per materialization run, the newest per view kept (see `MATERIALIZATION_RUNS_KEPT`). */
  runs: 'larder_materialization_runs',
  /** One row per job (see `JobStore`); a project's newest finished jobs are kept (`JOBS_KEPT`). */
  jobs: 'larder_jobs',
  /** One row per job log line, numbered per job from 1 (`JOB_LOG_LINES_KEPT` newest kept). */
  jobLogs: 'larder_job_logs',
} as const

/** The columns of {@link LARDER_TABLES}.runs; the same types on every database. */
export const RUN_COLUMNS: [string, string][] = [
  ['project_id', 'VARCHAR(255) NOT NULL'],
  ['feature_view_name', 'VARCHAR(255) NOT NULL'],
  ['started_at_micros', 'BIGINT NOT NULL'],
  ['run_id', 'VARCHAR(64) NOT NULL'],
  ['engine', 'VARCHAR(64) NOT NULL'],
  ['status', 'VARCHAR(16) NOT NULL'],
  ['error_message', 'TEXT'],
  ['window_start_micros', 'BIGINT NOT NULL'],
  ['window_end_micros', 'BIGINT NOT NULL'],
  ['rows_read', 'BIGINT NOT NULL'],
  ['rows_written', 'BIGINT NOT NULL'],
  ['rows_skipped', 'BIGINT NOT NULL'],
  ['newest_event_micros', 'BIGINT'],
  ['run_by', 'VARCHAR(255) NOT NULL'],
  ['finished_at_micros', 'BIGINT NOT NULL'],
  ['duration_ms', 'BIGINT NOT NULL'],
]

/** The key of the runs table, which is also the order listings read it in (per view, newest first). */
export const RUN_KEY = ['project_id', 'feature_view_name', 'started_at_micros', 'run_id'] as const

/**
 * The columns of {@link LARDER_TABLES}.jobs. Ids and projects compare byte for byte, so every database
 * matches and orders them as the other stores do; JSON documents are text.
 */
export function jobColumns(dialect: SqlDialect): [string, string][] {
  return [
    ['project_id', `${dialect.exactVarchar(255)} NOT NULL`],
    ['job_id', `${dialect.exactVarchar(64)} NOT NULL`],
    ['kind', 'VARCHAR(32) NOT NULL'],
    ['engine', 'VARCHAR(64) NOT NULL'],
    ['status', 'VARCHAR(16) NOT NULL'],
    ['feature_views', dialect.largeTextType],
    ['request', `${dialect.largeTextType} NOT NULL`],
    ['progress', `${dialect.largeTextType} NOT NULL`],
    ['created_by', 'VARCHAR(255) NOT NULL'],
    ['runner', 'VARCHAR(255)'],
    ['created_at_micros', 'BIGINT NOT NULL'],
    ['started_at_micros', 'BIGINT'],
    ['finished_at_micros', 'BIGINT'],
    ['heartbeat_at_micros', 'BIGINT NOT NULL'],
    ['cancel_requested_at_micros', 'BIGINT'],
    ['error_code', 'VARCHAR(64)'],
    ['error_message', 'TEXT'],
    ['result', dialect.largeTextType],
  ]
}

/**
 * A second key of the jobs table, in the order a listing reads it (newest first, then by id). The ids
 * are unique per project, so it holds; declared in `CREATE TABLE` it needs no `CREATE INDEX IF NOT
 * EXISTS`, which MySQL lacks.
 */
export const JOB_LISTING_KEY = ['project_id', 'created_at_micros', 'job_id'] as const

/** The columns of {@link LARDER_TABLES}.jobLogs; `seq` numbers a job's lines from 1 in append order. */
export function jobLogColumns(dialect: SqlDialect): [string, string][] {
  return [
    ['project_id', `${dialect.exactVarchar(255)} NOT NULL`],
    ['job_id', `${dialect.exactVarchar(64)} NOT NULL`],
    ['seq', 'BIGINT NOT NULL'],
    ['at_micros', 'BIGINT NOT NULL'],
    ['level', 'VARCHAR(8) NOT NULL'],
    ['message', 'TEXT NOT NULL'],
  ]
}

function create(
  name: string,
  columns: [string, string][],
  key: readonly string[],
  unique?: readonly string[],
): string {
  const constraints = [
    `PRIMARY KEY (${key.join(', ')})`,
    ...(unique ? [`UNIQUE (${unique.join(', ')})`] : []),
  ]
  return `CREATE TABLE IF NOT EXISTS ${name} (\n  ${[...columns.map(([c, t]) => `${c} ${t}`), ...constraints].join(',\n  ')}\n)`
}

/** Every table of Feast's SQL registry plus Larder's side tables, as `CREATE TABLE IF NOT EXISTS`. */
export function schemaStatements(dialect: SqlDialect): { table: string; sql: string; feast: boolean }[] {
  const out = OBJECT_TABLES.map((t) => ({
    table: t.table,
    sql: create(t.table, objectColumns(t, dialect), keyColumns(t)),
    feast: true,
  }))
  out.push({
    table: 'managed_infra',
    sql: create(
      'managed_infra',
      [
        ['infra_name', 'VARCHAR(50) NOT NULL'],
        ['project_id', 'VARCHAR(50) NOT NULL'],
        ['last_updated_timestamp', 'BIGINT NOT NULL'],
        ['infra_proto', `${dialect.blobType} NOT NULL`],
      ],
      ['infra_name', 'project_id'],
    ),
    feast: true,
  })
  out.push({
    table: 'feast_metadata',
    sql: create(
      'feast_metadata',
      [
        ['project_id', 'VARCHAR(50) NOT NULL'],
        ['metadata_key', 'VARCHAR(50) NOT NULL'],
        ['metadata_value', 'VARCHAR(50) NOT NULL'],
        ['last_updated_timestamp', 'BIGINT NOT NULL'],
      ],
      ['project_id', 'metadata_key'],
    ),
    feast: true,
  })
  out.push({
    table: LARDER_TABLES.meta,
    sql: create(
      LARDER_TABLES.meta,
      [
        ['meta_key', 'VARCHAR(64) NOT NULL'],
        ['meta_value', 'VARCHAR(255) NOT NULL'],
        ['updated_at_micros', 'BIGINT NOT NULL'],
      ],
      ['meta_key'],
    ),
    feast: false,
  })
  out.push({
    table: LARDER_TABLES.changes,
    sql: create(
      LARDER_TABLES.changes,
      [
        ['table_name', 'VARCHAR(64) NOT NULL'],
        ['object_name', 'VARCHAR(255) NOT NULL'],
        ['project_id', 'VARCHAR(255) NOT NULL'],
        ['changed_by', 'VARCHAR(255) NOT NULL'],
        ['changed_at_micros', 'BIGINT NOT NULL'],
        ['proto_sha256', 'VARCHAR(64) NOT NULL'],
      ],
      ['table_name', 'object_name', 'project_id'],
    ),
    feast: false,
  })
  out.push({ table: LARDER_TABLES.runs, sql: create(LARDER_TABLES.runs, RUN_COLUMNS, RUN_KEY), feast: false })
  out.push({
    table: LARDER_TABLES.jobs,
    sql: create(LARDER_TABLES.jobs, jobColumns(dialect), ['project_id', 'job_id'], JOB_LISTING_KEY),
    feast: false,
  })
  out.push({
    table: LARDER_TABLES.jobLogs,
    sql: create(LARDER_TABLES.jobLogs, jobLogColumns(dialect), ['project_id', 'job_id', 'seq']),
    feast: false,
  })
  return out
}
