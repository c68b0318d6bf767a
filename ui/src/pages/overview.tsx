import { Badge, Card, Group, Kbd, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core'
import { type RegistryData, useRuns } from '../api'
import { Empty } from '../components/states'
import { formatAge, formatMillis, formatTime, parseTime } from '../format'
import { useNow } from '../hooks'
import { durations, type Freshness, href, type ObjectKind, viewFreshness } from '../model'
import { Link, path } from '../router'

const BASIS: Record<Freshness['basis'], string> = {
  newestEvent: 'age of the newest event materialized',
  windowEnd: 'no run recorded its newest event: age of the end of the last materialized window',
}

/** A view's freshness: the age (ms) counted on `basis`, red beyond maxAge (seconds, 0: none). */
export function FreshnessBadge({
  age,
  maxAge,
  basis = 'newestEvent',
}: {
  age: number | undefined
  maxAge: number
  basis?: Freshness['basis']
}) {
  if (age === undefined)
    return (
      <Badge color="gray" variant="light">
        never materialized
      </Badge>
    )
  const stale = maxAge > 0 && age > maxAge * 1000
  return (
    <Badge
      color={stale ? 'red' : 'teal'}
      variant="light"
      tt="none"
      title={`${BASIS[basis]}; ${stale ? 'older than maxAge' : 'within maxAge'}`}
      data-basis={basis}
    >
      {formatAge(age)} old{basis === 'windowEnd' ? ' (window end)' : ''}
    </Badge>
  )
}

export function OverviewPage({ data }: { data: RegistryData }) {
  const now = useNow()
  const p = data.project
  const counts: [ObjectKind | 'lineage', string, number][] = [
    ['featureView', 'Feature views', data.featureViews.length],
    ['onDemandFeatureView', 'On-demand views', data.onDemandViews.length],
    ['entity', 'Entities', data.entities.length],
    ['dataSource', 'Data sources', data.dataSources.length],
    ['featureService', 'Feature services', data.featureServices.length],
    ['savedDataset', 'Saved datasets', data.savedDatasets.length],
  ]
  const runs = useRuns(p)
  const staleness = data.featureViews
    .map((v) => {
      const fresh = viewFreshness(v, runs.data)
      return {
        view: v,
        fresh,
        age: fresh === undefined ? undefined : now - fresh.at,
        maxAge: durations(v).maxAge,
      }
    })
    .sort((a, b) => (b.age ?? Number.POSITIVE_INFINITY) - (a.age ?? Number.POSITIVE_INFINITY))
  const recent = (runs.data?.materializationRuns ?? []).slice(0, 8)
  const total = counts.reduce((n, [, , c]) => n + c, 0)
  return (
    <Stack gap="lg">
      <Group justify="space-between" align="baseline">
        <Title order={2}>Overview of {p}</Title>
        <Text size="sm" c="dimmed">
          Press <Kbd size="xs">/</Kbd> to search objects, features and tags
        </Text>
      </Group>
      {total === 0 && (
        <Empty title="This project is empty">
          Define entities, sources and feature views in your repository and run <code>larder apply</code>.
        </Empty>
      )}
      <SimpleGrid cols={{ base: 2, sm: 3, lg: 6 }} spacing="sm">
        {counts.map(([kind, label, n]) => (
          <Card
            key={kind}
            withBorder
            padding="sm"
            component={Link}
            to={href(p, kind as ObjectKind)}
            aria-label={`${n} ${label}`}
          >
            <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
              {label}
            </Text>
            <Text fz={28} fw={700} data-testid={`count-${kind}`}>
              {n}
            </Text>
          </Card>
        ))}
      </SimpleGrid>
      <SimpleGrid cols={{ base: 1, lg: 2 }} spacing="lg">
        <Card withBorder padding="md">
          <Title order={4} mb="xs">
            Feature views by staleness
          </Title>
          {staleness.length === 0 ? (
            <Text c="dimmed" size="sm">
              No feature views yet.
            </Text>
          ) : (
            <Table striped highlightOnHover aria-label="Feature views by staleness">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>View</Table.Th>
                  <Table.Th>Newest event</Table.Th>
                  <Table.Th>Freshness</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {staleness.slice(0, 10).map((s) => (
                  <Table.Tr key={s.view.spec.name}>
                    <Table.Td>
                      <Link to={href(p, 'featureView', s.view.spec.name)} className="text-link">
                        {s.view.spec.name}
                      </Link>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">{formatTime(s.fresh?.at)}</Text>
                    </Table.Td>
                    <Table.Td>
                      <FreshnessBadge age={s.age} maxAge={s.maxAge} basis={s.fresh?.basis} />
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
          {staleness.length > 10 && (
            <Text size="sm" mt="xs">
              <Link to={`${href(p, 'featureView')}?sort=freshness`} className="text-link">
                All {staleness.length} feature views →
              </Link>
            </Text>
          )}
        </Card>
        <Card withBorder padding="md">
          <Title order={4} mb="xs">
            Last materializations
          </Title>
          {recent.length > 0 && (
            <Text size="sm" mb="xs">
              <Link to={path('p', p, 'runs')} className="text-link">
                All runs →
              </Link>
            </Text>
          )}
          {recent.length === 0 ? (
            <Text c="dimmed" size="sm">
              Nothing materialized yet. Run <code>larder materialize-incremental $(date -u +%FT%TZ)</code> to
              load the online store.
            </Text>
          ) : (
            <Table aria-label="Last materializations">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>View</Table.Th>
                  <Table.Th>Ran</Table.Th>
                  <Table.Th>Window</Table.Th>
                  <Table.Th>Rows</Table.Th>
                  <Table.Th>Took</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {recent.map((r) => (
                  <Table.Tr key={r.id}>
                    <Table.Td>
                      <Link to={href(p, 'featureView', r.featureView)} className="text-link">
                        {r.featureView}
                      </Link>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm" title={formatTime(parseTime(r.startedAt))}>
                        {formatAge(now - (parseTime(r.startedAt) ?? now))} ago
                        {r.status === 'failed' && (
                          <Badge color="red" variant="light" ml={4}>
                            failed
                          </Badge>
                        )}
                      </Text>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">
                        {formatTime(parseTime(r.windowStart))} → {formatTime(parseTime(r.windowEnd))}
                      </Text>
                    </Table.Td>
                    <Table.Td>{r.rowsWritten}</Table.Td>
                    <Table.Td>{formatMillis(r.durationMs)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Card>
      </SimpleGrid>
    </Stack>
  )
}
