// Stream feature views: their aggregation windows from the registry, and what the stream processor
// (`larder stream`, when `larder ui --stream-status` names it) reports of lag and throughput.
import { Alert, Badge, Stack, Table, Text, Title } from '@mantine/core'
import { useQuery } from '@tanstack/react-query'
import { useRef } from 'react'
import { type FeatureViewJson, getJson, type RegistryData } from '../api'
import { Empty } from '../components/states'
import { durationSeconds, formatDuration } from '../format'
import { href } from '../model'
import { Link } from '../router'

interface AggregationJson {
  column?: string
  function?: string
  timeWindow?: string
  slideInterval?: string
  name?: string
}

interface StreamStatusJson {
  configured: boolean
  url?: string
  reachable?: boolean
  error?: string
  scrapedAt?: string
  health?: { status?: string; sources?: Record<string, { state?: string; lastError?: string }> }
  metrics?: {
    eventsTotal: Record<string, number>
    batchSeconds: Record<string, { sum: number; count: number }>
    lag: Record<string, { pending?: number; unacknowledged?: number }>
    deadLettered: Record<string, number>
  }
}

/** The aggregation's output name as Larder names it: `sum_fare_600s`, unless it was given one. */
function aggregationName(a: AggregationJson): string {
  return a.name || `${a.function ?? ''}_${a.column ?? ''}_${durationSeconds(a.timeWindow)}s`
}

/** The processor's status, polled every 10 s; events per second from the last two samples. */
function useStreamStatus(project: string) {
  const previous = useRef<{ at: number; events: Record<string, number> }>(undefined)
  return useQuery({
    queryKey: ['stream-status', project],
    queryFn: async () => {
      const status = await getJson<StreamStatusJson>(
        `/api/v1/stream_status?project=${encodeURIComponent(project)}`,
      )
      const at = Date.now()
      const events = status.metrics?.eventsTotal ?? {}
      const before = previous.current
      const rates: Record<string, number> = {}
      if (before && at > before.at) {
        for (const [view, n] of Object.entries(events)) {
          const was = before.events[view]
          if (was !== undefined && n >= was) rates[view] = (n - was) / ((at - before.at) / 1000)
        }
      }
      if (status.reachable) previous.current = { at, events }
      return { status, rates }
    },
    refetchInterval: 10_000,
  })
}

function sourceOf(v: FeatureViewJson): string | undefined {
  return v.spec.streamSource?.name
}

export function StreamViewsPage({ data }: { data: RegistryData }) {
  const p = data.project
  const views = data.featureViews.filter((v) => v.type === 'streamFeatureView')
  const status = useStreamStatus(p)
  if (views.length === 0) {
    return (
      <Stack>
        <Title order={2}>Stream views</Title>
        <Empty title="No stream feature views">
          A stream feature view reads a stream source and can keep windowed aggregations online. Define a{' '}
          <code>StreamFeatureView</code> (see <code>larder init --template streaming</code>) and run{' '}
          <code>larder apply</code>.
        </Empty>
      </Stack>
    )
  }
  const s = status.data?.status
  const metrics = s?.reachable ? s.metrics : undefined
  return (
    <Stack gap="md">
      <Title order={2}>Stream views</Title>
      {status.isError ? (
        <Alert color="yellow" title="No processor status">
          The stream status could not be read: {String(status.error)}
        </Alert>
      ) : s && !s.configured ? (
        <Alert color="gray" title="No stream processor is reporting" data-testid="processor-status">
          Lag and throughput come from the status server of <code>larder stream</code>. Start this UI with{' '}
          <code>--stream-status http://127.0.0.1:6574</code> (the processor's <code>--port</code>) to see
          them. The definitions below come from the registry.
        </Alert>
      ) : s && !s.reachable ? (
        <Alert color="yellow" title="No stream processor is reporting" data-testid="processor-status">
          {s.error} ({s.url}). Is <code>larder stream</code> running?
        </Alert>
      ) : s ? (
        <Text size="sm" c="dimmed" data-testid="processor-status">
          Processor at {s.url}: {s.health?.status ?? 'unknown'}, read {s.scrapedAt}.
        </Text>
      ) : null}
      {views.map((v) => {
        const aggregations = (v.spec.aggregations as AggregationJson[] | undefined) ?? []
        const source = sourceOf(v)
        const lag = source ? metrics?.lag[source] : undefined
        const batches = metrics?.batchSeconds[v.spec.name]
        const rate = status.data?.rates[v.spec.name]
        const health = source ? s?.health?.sources?.[source] : undefined
        return (
          <Stack key={v.spec.name} gap={6} component="section" aria-label={`stream view ${v.spec.name}`}>
            <Title order={3}>
              <Link to={href(p, 'featureView', v.spec.name)} className="text-link">
                {v.spec.name}
              </Link>{' '}
              {health?.state && (
                <Badge color={health.state === 'running' ? 'teal' : 'red'} variant="light">
                  {health.state}
                </Badge>
              )}
            </Title>
            <Text size="sm">
              Source{' '}
              {source ? (
                <Link to={href(p, 'dataSource', source)} className="text-link">
                  {source}
                </Link>
              ) : (
                '—'
              )}
              {metrics && (
                <>
                  {' · '}
                  {metrics.eventsTotal[v.spec.name] ?? 0} events written
                  {rate !== undefined && `, ${rate.toFixed(1)}/s`}
                  {lag && `, lag ${lag.pending ?? '—'} pending / ${lag.unacknowledged ?? '—'} unacknowledged`}
                  {batches &&
                    batches.count > 0 &&
                    `, ${((batches.sum / batches.count) * 1000).toFixed(1)} ms per batch`}
                  {source && metrics.deadLettered[source]
                    ? `, ${metrics.deadLettered[source]} dead-lettered`
                    : ''}
                </>
              )}
            </Text>
            {health?.lastError && (
              <Text size="sm" c="red">
                {health.lastError}
              </Text>
            )}
            {aggregations.length === 0 ? (
              <Text size="sm" c="dimmed">
                No aggregations: the view keeps the latest values.
              </Text>
            ) : (
              <Table aria-label={`Aggregations of ${v.spec.name}`} striped>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Feature</Table.Th>
                    <Table.Th>Function</Table.Th>
                    <Table.Th>Column</Table.Th>
                    <Table.Th>Window</Table.Th>
                    <Table.Th>Slide</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {aggregations.map((a) => (
                    <Table.Tr key={aggregationName(a)}>
                      <Table.Td>
                        <code>{aggregationName(a)}</code>
                      </Table.Td>
                      <Table.Td>{a.function}</Table.Td>
                      <Table.Td>{a.column}</Table.Td>
                      <Table.Td>{formatDuration(durationSeconds(a.timeWindow))}</Table.Td>
                      <Table.Td>
                        {a.slideInterval ? formatDuration(durationSeconds(a.slideInterval)) : '—'}
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )}
          </Stack>
        )
      })}
    </Stack>
  )
}
