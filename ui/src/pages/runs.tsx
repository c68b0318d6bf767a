// Materialization runs (Larder's run history) across the project's views or of one (`?view=`), and
// the jobs of the server's engine with their errors.
import { Badge, Group, Select, Stack, Table, Text, Title } from '@mantine/core'
import { type JobJson, type RegistryData, type RunJson, useJobs, useRuns } from '../api'
import type { RunPoint } from '../components/charts'
import { Empty, ErrorState, Loading } from '../components/states'
import { formatAge, formatMillis, formatTime, parseTime } from '../format'
import { useNow } from '../hooks'
import { href } from '../model'
import { Link, navigate, path, useLocation } from '../router'

const STATUS_COLOR: Record<string, string> = {
  succeeded: 'teal',
  failed: 'red',
  running: 'blue',
  queued: 'gray',
  cancelled: 'yellow',
  lost: 'orange',
}

/** A run as the runs chart plots it: at the time it finished, with what it did in the tooltip. */
export function runPoint(r: RunJson): RunPoint {
  const window = `${formatTime(parseTime(r.windowStart))} → ${formatTime(parseTime(r.windowEnd))}`
  return {
    at: parseTime(r.finishedAt) ?? parseTime(r.startedAt) ?? 0,
    rowsWritten: r.rowsWritten,
    failed: r.status === 'failed',
    text: [
      `${r.featureView}: ${r.status}`,
      `ran ${formatTime(parseTime(r.startedAt))}, took ${formatMillis(r.durationMs)}`,
      `window ${window}`,
      `${r.rowsWritten} rows written (${r.rowsRead} read, ${r.rowsSkipped} skipped)`,
      `by ${r.runBy}`,
      ...(r.error ? [`error: ${r.error}`] : []),
    ]
      .map(escapeHtml)
      .join('<br/>'),
  }
}

/** ECharts tooltips are HTML: names and errors are escaped before they are put in one. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Runs, newest first: when, window, rows, duration, who, status and error. */
export function RunsTable({
  project,
  runs,
  showView,
}: {
  project: string
  runs: readonly RunJson[]
  showView: boolean
}) {
  const now = useNow()
  return (
    <Table.ScrollContainer minWidth={720}>
      <Table aria-label="Materialization runs" striped>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Ran</Table.Th>
            {showView && <Table.Th>Feature view</Table.Th>}
            <Table.Th>Window</Table.Th>
            <Table.Th>Rows written</Table.Th>
            <Table.Th>Newest event</Table.Th>
            <Table.Th>Took</Table.Th>
            <Table.Th>By</Table.Th>
            <Table.Th>Status</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {runs.map((r) => {
            const started = parseTime(r.startedAt)
            return (
              <Table.Tr key={r.id} data-status={r.status}>
                <Table.Td>
                  <Text size="sm" title={formatTime(started)}>
                    {started === undefined ? '—' : `${formatAge(now - started)} ago`}
                  </Text>
                </Table.Td>
                {showView && (
                  <Table.Td>
                    <Link to={href(project, 'featureView', r.featureView)} className="text-link">
                      {r.featureView}
                    </Link>
                  </Table.Td>
                )}
                <Table.Td>
                  <Text size="sm">
                    {formatTime(parseTime(r.windowStart))} → {formatTime(parseTime(r.windowEnd))}
                  </Text>
                </Table.Td>
                <Table.Td title={`${r.rowsRead} read, ${r.rowsSkipped} skipped (newer online)`}>
                  {r.rowsWritten}
                </Table.Td>
                <Table.Td>
                  <Text size="sm">{formatTime(parseTime(r.newestEventTimestamp))}</Text>
                </Table.Td>
                <Table.Td>{formatMillis(r.durationMs)}</Table.Td>
                <Table.Td>
                  <Text size="sm">
                    {r.runBy}{' '}
                    <Text span c="dimmed" size="xs">
                      ({r.engine})
                    </Text>
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Badge color={STATUS_COLOR[r.status] ?? 'gray'} variant="light">
                    {r.status}
                  </Badge>
                  {r.error && (
                    <Text size="xs" c="red" style={{ overflowWrap: 'anywhere' }}>
                      {r.error}
                    </Text>
                  )}
                </Table.Td>
              </Table.Tr>
            )
          })}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  )
}

function JobsTable({ project, jobs }: { project: string; jobs: readonly JobJson[] }) {
  return (
    <Table.ScrollContainer minWidth={720}>
      <Table aria-label="Jobs" striped>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Created</Table.Th>
            <Table.Th>Kind</Table.Th>
            <Table.Th>Feature views</Table.Th>
            <Table.Th>Rows</Table.Th>
            <Table.Th>By</Table.Th>
            <Table.Th>Status</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {jobs.map((j) => (
            <Table.Tr key={j.job_id} data-status={j.status}>
              <Table.Td>
                <Text size="sm" title={j.job_id}>
                  {formatTime(parseTime(j.created_at))}
                </Text>
              </Table.Td>
              <Table.Td>{j.kind}</Table.Td>
              <Table.Td>
                <Group gap={6}>
                  {(j.feature_views ?? Object.keys(j.progress.views ?? {})).map((v) => (
                    <Link key={v} to={href(project, 'featureView', v)} className="chip-link">
                      {v}
                    </Link>
                  ))}
                </Group>
              </Table.Td>
              <Table.Td>
                {j.progress.rows_done}
                {j.progress.rows_total === null ? '' : ` / ${j.progress.rows_total}`}
              </Table.Td>
              <Table.Td>{j.created_by}</Table.Td>
              <Table.Td>
                <Badge color={STATUS_COLOR[j.status] ?? 'gray'} variant="light">
                  {j.status}
                </Badge>
                {j.error && (
                  <Text size="xs" c="red" style={{ overflowWrap: 'anywhere' }}>
                    {j.error.code}: {j.error.message}
                  </Text>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  )
}

/** `/p/:project/runs[?view=V]`: the run history (newest first), failed runs first in a list of their own, and the jobs. */
export function RunsPage({ data }: { data: RegistryData }) {
  const p = data.project
  const location = useLocation()
  const view = new URLSearchParams(location.split('?')[1]?.split('#')[0] ?? '').get('view') ?? undefined
  const runs = useRuns(p, view)
  const jobs = useJobs(p)
  const base = path('p', p, 'runs')
  const list = runs.data?.materializationRuns ?? []
  const failed = list.filter((r) => r.status === 'failed')
  const failedJobs = (jobs.data ?? []).filter((j) => j.error !== null)
  return (
    <Stack gap="md">
      <Group justify="space-between" align="flex-end">
        <Title order={2}>Materialization runs{view ? ` of ${view}` : ''}</Title>
        <Select
          aria-label="Feature view"
          placeholder="All feature views"
          clearable
          searchable
          w={280}
          data={data.featureViews.map((v) => v.spec.name).sort()}
          value={view ?? null}
          onChange={(v) => navigate(v ? `${base}?view=${encodeURIComponent(v)}` : base)}
        />
      </Group>
      {runs.isPending ? (
        <Loading what="the run history" />
      ) : runs.isError ? (
        <ErrorState error={runs.error} retry={() => runs.refetch()} />
      ) : list.length === 0 ? (
        <Empty title="No runs recorded">
          Runs of <code>larder materialize</code> and <code>materialize-incremental</code> appear here once
          they have run{view ? ` for ${view}` : ''}.
        </Empty>
      ) : (
        <>
          <Text size="sm" c="dimmed" data-testid="runs-count">
            {list.length} run{list.length === 1 ? '' : 's'}, {failed.length} failed
            {list.length >= 1000 ? ' (the newest 1000)' : ''}
          </Text>
          {failed.length > 0 && (
            <Stack gap={4}>
              <Title order={4}>Failed runs</Title>
              <RunsTable project={p} runs={failed} showView={!view} />
            </Stack>
          )}
          <Stack gap={4}>
            <Title order={4}>All runs</Title>
            <RunsTable project={p} runs={list} showView={!view} />
          </Stack>
        </>
      )}
      <Title order={3}>Jobs</Title>
      {jobs.isPending ? (
        <Loading what="jobs" />
      ) : jobs.isError ? (
        <ErrorState error={jobs.error} retry={() => jobs.refetch()} />
      ) : (jobs.data ?? []).length === 0 ? (
        <Text c="dimmed" size="sm">
          No jobs: materializations run as jobs of the engine (<code>larder materialize --async</code>, or the
          server's <code>POST /materialize</code>) are listed here with their progress and errors.
        </Text>
      ) : (
        <>
          {failedJobs.length > 0 && (
            <Text size="sm" c="red">
              {failedJobs.length} job{failedJobs.length === 1 ? '' : 's'} with an error
            </Text>
          )}
          <JobsTable project={p} jobs={jobs.data ?? []} />
        </>
      )}
    </Stack>
  )
}
