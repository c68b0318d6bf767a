import { Badge, Card, Group, Kbd, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core'
import type { RegistryData } from '../api'
import { Empty } from '../components/states'
import { formatAge, formatTime } from '../format'
import { useNow } from '../hooks'
import { durations, href, intervals, lastMaterialized, type ObjectKind } from '../model'
import { Link } from '../router'

export function FreshnessBadge({ age, maxAge }: { age: number | undefined; maxAge: number }) {
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
      title={stale ? 'older than maxAge' : 'within maxAge'}
    >
      {formatAge(age)} old
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
  const staleness = data.featureViews
    .map((v) => {
      const last = lastMaterialized(v)
      return { view: v, last, age: last === undefined ? undefined : now - last, maxAge: durations(v).maxAge }
    })
    .sort((a, b) => (b.age ?? Number.POSITIVE_INFINITY) - (a.age ?? Number.POSITIVE_INFINITY))
  const recent = data.featureViews
    .flatMap((v) => intervals(v).map((i) => ({ view: v.spec.name, ...i })))
    .sort((a, b) => b.end - a.end)
    .slice(0, 8)
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
                  <Table.Th>Last materialized</Table.Th>
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
                      <Text size="sm">{formatTime(s.last)}</Text>
                    </Table.Td>
                    <Table.Td>
                      <FreshnessBadge age={s.age} maxAge={s.maxAge} />
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
                  <Table.Th>Window</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {recent.map((r) => (
                  <Table.Tr key={`${r.view}:${r.start}:${r.end}`}>
                    <Table.Td>
                      <Link to={href(p, 'featureView', r.view)} className="text-link">
                        {r.view}
                      </Link>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">
                        {formatTime(r.start)} → {formatTime(r.end)}
                      </Text>
                    </Table.Td>
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
