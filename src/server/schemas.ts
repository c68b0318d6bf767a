import { z } from '@hono/zod-openapi'

/**
 * Request and response bodies of the feature server, in Feast's field names. Request schemas are
 * strict: a misspelt field is a 422 naming it rather than silently ignored. Fields Feast clients send
 * that Larder does not use (`allow_registry_cache`, `transform_on_write`,
 * `include_feature_view_version_metadata`) are accepted.
 */

const Column = z.array(z.unknown()).openapi({ description: 'One value per row', example: [1001, 1002] })

/** Columnar rows: `{column: [values]}`, every column as long as the others. */
export const Columns = z.record(z.string(), Column).openapi('Columns', {
  description: 'Columnar rows: each key a column, each value the list of its values, one per row',
  example: { driver_id: [1001, 1002] },
})

export const GetOnlineFeaturesRequest = z
  .object({
    features: z
      .array(z.string())
      .optional()
      .openapi({
        description: 'Feature references `view:feature`',
        example: ['driver_hourly_stats:conv_rate'],
      }),
    feature_service: z
      .string()
      .optional()
      .openapi({ description: 'A feature service, instead of `features`' }),
    entities: Columns.openapi({
      description: 'Join key columns (and request data fields), one value per entity row',
    }),
    full_feature_names: z
      .boolean()
      .optional()
      .openapi({ description: 'Name feature columns `view__feature` (default false)' }),
    request_context: Columns.optional().openapi({
      description: 'Request data fields (as the Go server); merged into the entity columns',
    }),
    include_feature_view_version_metadata: z.boolean().optional(),
    strict: z.boolean().optional().openapi({
      description:
        'Refuse entity columns that no requested view uses (422 naming the column); default false: ignored, as Feast does. The header `larder-strict: true` does the same.',
    }),
  })
  .strict()
  // checked here as well as in serving, whose plan cache (keyed by the service) would skip the check
  .refine((b) => (b.features === undefined) !== (b.feature_service === undefined), {
    message: 'give either features or feature_service, not both and not neither',
    path: ['features'],
  })
  .openapi('GetOnlineFeaturesRequest')

const isColumns = (v: unknown): boolean => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  for (const key in v) if (!Array.isArray((v as Record<string, unknown>)[key])) return false
  return true
}
const isBoolean = (v: unknown): boolean => typeof v === 'boolean'
/** The check of each field of {@link GetOnlineFeaturesRequest}, as its schema has it. */
const ONLINE_REQUEST_FIELDS: Readonly<Record<string, (v: unknown) => boolean>> = {
  features: (v) => Array.isArray(v) && v.every((ref) => typeof ref === 'string'),
  feature_service: (v) => typeof v === 'string',
  entities: isColumns,
  full_feature_names: isBoolean,
  request_context: isColumns,
  include_feature_view_version_metadata: isBoolean,
  strict: isBoolean,
}

/**
 * Whether `body` (parsed JSON) is a valid {@link GetOnlineFeaturesRequest}, checked by hand in one
 * pass, for the feature server's hot path. It accepts only bodies the schema accepts, unchanged by
 * parsing; false means "let the schema decide", which then names what is wrong.
 */
export function isPlainOnlineRequest(body: unknown): body is z.output<typeof GetOnlineFeaturesRequest> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false
  const fields = body as Record<string, unknown>
  for (const key in fields) {
    if (!Object.hasOwn(ONLINE_REQUEST_FIELDS, key) || !ONLINE_REQUEST_FIELDS[key]!(fields[key])) return false
  }
  return (
    fields.entities !== undefined &&
    (fields.features === undefined) !== (fields.feature_service === undefined)
  )
}

const Status = z.enum(['PRESENT', 'NULL_VALUE', 'NOT_FOUND', 'OUTSIDE_MAX_AGE']).openapi('FieldStatus')

export const GetOnlineFeaturesResponse = z
  .object({
    metadata: z.object({ feature_names: z.array(z.string()) }),
    results: z.array(
      z.object({
        values: z.array(z.unknown()),
        statuses: z.array(Status),
        event_timestamps: z.array(z.string()),
      }),
    ),
  })
  .openapi('GetOnlineFeaturesResponse', {
    description:
      'Columnar: results[i] is the column named metadata.feature_names[i], one entry per entity row; join keys first',
  })

export const ExplainRequest = z
  .object({
    entities: Columns.openapi({
      description: 'The one entity row to explain: each join key (and request field) with one value',
      example: { driver_id: [1001] },
    }),
    features: z
      .array(z.string())
      .optional()
      .openapi({
        description: 'Feature references `view:feature`',
        example: ['driver_hourly_stats:conv_rate'],
      }),
    feature_service: z
      .string()
      .optional()
      .openapi({ description: 'A feature service, instead of `features`' }),
    request_context: Columns.optional().openapi({
      description: 'Request data fields of on-demand views; merged into the entity columns',
    }),
    at: z.string().optional().openapi({
      description: 'The instant to explain at (ISO-8601; without an offset it is UTC); default now',
      example: '2026-11-22T00:00:00Z',
    }),
  })
  .strict()
  .refine((b) => (b.features === undefined) !== (b.feature_service === undefined), {
    message: 'give either features or feature_service, not both and not neither',
    path: ['features'],
  })
  .openapi('ExplainRequest')

const ExplainCause = z
  .object({
    code: z.string().openapi({ example: 'after_materialized_window' }),
    message: z.string(),
    fix: z
      .string()
      .nullable()
      .openapi({ description: 'What to do, with the command; null when nothing needs fixing' }),
  })
  .openapi('ExplainCause')

export const ExplainResponse = z
  .object({
    project: z.string(),
    entity: z.record(z.string(), z.unknown()),
    at: z.string(),
    features: z.array(
      z.object({
        feature: z.string(),
        status: z.enum(['PRESENT', 'NULL_VALUE', 'NOT_FOUND', 'OUTSIDE_MAX_AGE', 'ERROR']),
        value: z.unknown(),
        event_timestamp: z.string().nullable(),
        cause: ExplainCause,
        details: z.record(z.string(), z.unknown()).openapi({
          description:
            'The evidence: view, entity key, ages and durations, materialized intervals, the last run, the source rows of the key',
        }),
      }),
    ),
  })
  .openapi('ExplainResponse', {
    description: 'Per feature: the online status and value, the cause found, and the fix',
  })

const Views = z
  .array(z.string())
  .nullable()
  .optional()
  .openapi({ description: 'Feature views to load; null or absent: every online view with a batch source' })

const Timestamp = z
  .string()
  .openapi({ description: 'ISO-8601; without an offset it is UTC', example: '2026-11-22T00:00:00Z' })

export const MaterializeRequest = z
  .object({
    start_ts: Timestamp,
    end_ts: Timestamp,
    feature_views: Views,
    disable_event_timestamp: z.boolean().optional(),
    full_feature_names: z.boolean().optional(),
    version: z.string().optional(),
  })
  .strict()
  .openapi('MaterializeRequest')

export const MaterializeIncrementalRequest = z
  .object({
    end_ts: Timestamp,
    feature_views: Views,
    full_feature_names: z.boolean().optional(),
    version: z.string().optional(),
  })
  .strict()
  .openapi('MaterializeIncrementalRequest')

export const MaterializeResponse = z
  .object({
    feature_views: z.array(
      z.object({
        name: z.string(),
        start: z.string(),
        end: z.string(),
        rows: z.number(),
        written: z.number(),
        skipped: z.number(),
        seconds: z.number(),
      }),
    ),
  })
  .openapi('MaterializeResponse')

export const JobAccepted = z
  .object({
    status: z.literal('accepted'),
    feature_views: z.array(z.string()).nullable(),
    job_id: z.string(),
  })
  .openapi('JobAccepted')

const JobProgress = z.object({
  rows_done: z.number().int(),
  rows_total: z.number().int().nullable().openapi({ description: 'Null while unknown' }),
  tasks_done: z.number().int(),
  tasks_total: z.number().int(),
})

export const Job = z
  .object({
    job_id: z.string(),
    project: z.string(),
    kind: z.enum(['materialize', 'materialize-incremental', 'historical', 'stream']),
    engine: z.string().openapi({ description: 'What runs it: local (one process) or bullmq (workers)' }),
    status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'lost']).openapi({
      description:
        'lost: a job run in one process whose process stopped beating (killed); DELETE /jobs/{id} marks it cancelled',
    }),
    feature_views: z
      .array(z.string())
      .nullable()
      .openapi({ description: 'The views asked for; null means every view it could take' }),
    request: z.record(z.string(), z.unknown()).openapi({ description: 'What was asked' }),
    progress: JobProgress.extend({
      views: z.record(z.string(), JobProgress).openapi({ description: 'The same per feature view' }),
    }),
    created_by: z.string(),
    runner: z
      .string()
      .nullable()
      .openapi({ description: 'host:pid of the process that runs it; null on a queue' }),
    created_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    heartbeat_at: z.string(),
    cancel_requested_at: z.string().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    result: z.unknown().openapi({ description: 'What it produced, once it succeeded; else null' }),
  })
  .openapi('Job')

export const JobList = z
  .object({ jobs: z.array(Job).openapi({ description: 'Newest first' }) })
  .openapi('JobList')

export const JobsQuery = z.object({
  status: z.string().optional().openapi({
    description:
      'Only jobs in these stored states, comma-separated or repeated: queued, running, succeeded, failed, cancelled (a lost job is stored running or queued)',
  }),
  limit: z
    .string()
    .optional()
    .openapi({ description: 'At most this many, newest first: 1 to 1000, default 50' }),
})

export const AsyncQuery = z.object({
  async: z
    .enum(['true', 'false'])
    .optional()
    .openapi({ description: 'Run in the background: 202 with a job id' }),
  force: z
    .enum(['true', 'false'])
    .optional()
    .openapi({ description: 'Start even when the same views are materializing (else 409)' }),
})

export const PushRequest = z
  .object({
    push_source_name: z.string(),
    df: Columns,
    to: z
      .enum(['online', 'offline', 'online_and_offline'])
      .optional()
      .openapi({ description: 'Default online' }),
    allow_registry_cache: z.boolean().optional(),
    transform_on_write: z.boolean().optional(),
  })
  .strict()
  .openapi('PushRequest', {
    example: {
      push_source_name: 'driver_stats_push_source',
      df: {
        driver_id: [1001],
        event_timestamp: ['2026-11-22T10:00:00Z'],
        created: ['2026-11-22T10:00:00Z'],
        conv_rate: [0.85],
        acc_rate: [0.91],
        avg_daily_trips: [412],
      },
      to: 'online_and_offline',
    },
  })

export const WriteToOnlineStoreRequest = z
  .object({
    feature_view_name: z.string(),
    df: Columns,
    allow_registry_cache: z.boolean().optional(),
    transform_on_write: z.boolean().optional(),
  })
  .strict()
  .openapi('WriteToOnlineStoreRequest')

export const IngestResponse = z
  .object({
    feature_views: z.array(
      z.object({
        name: z.string(),
        rows: z.number(),
        online_written: z.number(),
        online_skipped: z.number(),
        offline_rows: z.number(),
      }),
    ),
  })
  .openapi('IngestResponse')

export const Health = z
  .object({
    status: z.enum(['ok', 'unavailable']),
    checks: z.record(
      z.string(),
      z.object({
        ok: z.boolean(),
        error: z.string().optional(),
        /** registry only: seconds since the served registry was last confirmed current */
        age_seconds: z.number().optional(),
      }),
    ),
  })
  .openapi('Health')

export const ErrorBody = z
  .object({
    status_code: z.number(),
    error_type: z.string(),
    detail: z.string(),
    hint: z.string().optional(),
    details: z.record(z.string(), z.unknown()).optional(),
    request_id: z.string().optional(),
  })
  .openapi('Error')

export const MaterializationRunsQuery = z.object({
  project: z.string().openapi({ description: 'The project whose runs to list' }),
  feature_view: z.string().optional().openapi({ description: "Only this feature view's runs" }),
  limit: z
    .string()
    .optional()
    .openapi({ description: 'At most this many runs, newest first: 1 to 1000, default 100' }),
})

export const MaterializationRun = z
  .object({
    id: z.string(),
    project: z.string(),
    featureView: z.string(),
    engine: z.string().openapi({ example: 'local' }),
    status: z.enum(['succeeded', 'failed']),
    error: z.string().optional().openapi({ description: 'Why a failed run failed' }),
    windowStart: z.string().openapi({ example: '2026-01-01T00:00:00Z' }),
    windowEnd: z.string(),
    rowsRead: z.number().int(),
    rowsWritten: z.number().int(),
    rowsSkipped: z
      .number()
      .int()
      .openapi({ description: 'Rows left out because the online store held a newer value' }),
    newestEventTimestamp: z
      .string()
      .nullable()
      .openapi({ description: 'The newest event timestamp written; null when the run wrote no row' }),
    runBy: z.string(),
    startedAt: z.string(),
    finishedAt: z.string(),
    durationMs: z.number().int(),
  })
  .openapi('MaterializationRun')

export const MaterializationRunsResponse = z
  .object({
    materializationRuns: z.array(MaterializationRun).openapi({ description: 'Newest first' }),
    freshness: z
      .record(
        z.string(),
        z.object({
          ageSeconds: z.number(),
          timestamp: z.string(),
          basis: z.enum(['newestEvent', 'windowEnd']),
        }),
      )
      .openapi({
        description:
          "Per feature view: the age of the newest event a successful run wrote (basis newestEvent), else of the end of the view's last materialized window (windowEnd); the metric larder_feature_freshness_seconds",
      }),
  })
  .openapi('MaterializationRuns')
