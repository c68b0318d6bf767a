import { Badge, Group, SimpleGrid, Stack, Table, Text } from '@mantine/core'
import { lazy, Suspense, useEffect } from 'react'
import { type DataSourceJson, type FeatureJson, type RegistryData, type RunJson, useRuns } from '../api'
import { Facts, LinkList, TagList } from '../components/bits'
import { Loading } from '../components/states'
import { TryIt } from '../components/try-it'
import { formatAge, formatDuration, formatTime, parseTime } from '../format'
import { useNow } from '../hooks'
import {
  durations,
  freshnessSeries,
  href,
  intervals,
  lastMaterialized,
  servicesUsing,
  viewFreshness,
  viewSource,
} from '../model'
import { Link, path, useLocation } from '../router'
import { NotFound, ObjectHeader, Section } from './common'
import { FreshnessBadge } from './overview'
import { RunsTable, runPoint } from './runs'

const Charts = lazy(() => import('../components/charts').then((m) => ({ default: m.ChartsForView })))

export function sourceFacts(project: string, s: DataSourceJson): [string, React.ReactNode][] {
  const rows: [string, React.ReactNode][] = [
    [
      'name',
      <Link key="n" to={href(project, 'dataSource', s.name)} className="text-link">
        {s.name}
      </Link>,
    ],
    ['type', s.type ?? '—'],
  ]
  if (s.fileOptions?.uri) rows.push(['path', <code key="p">{s.fileOptions.uri}</code>])
  if (s.timestampField) rows.push(['timestamp field', <code key="t">{s.timestampField}</code>])
  if (s.createdTimestampColumn) rows.push(['created column', <code key="c">{s.createdTimestampColumn}</code>])
  const mapping = Object.entries(s.fieldMapping ?? {})
  if (mapping.length > 0)
    rows.push([
      'field mapping',
      <Stack key="m" gap={0}>
        {mapping.map(([from, to]) => (
          <code key={from}>
            {from} → {to}
          </code>
        ))}
      </Stack>,
    ])
  if (s.batchSource?.name)
    rows.push([
      'batch source',
      <Link key="b" to={href(project, 'dataSource', s.batchSource.name)} className="text-link">
        {s.batchSource.name}
      </Link>,
    ])
  return rows
}

export function SchemaTable({
  features,
  label,
  highlight,
}: {
  features: FeatureJson[]
  label: string
  highlight?: string
}) {
  return (
    <Table aria-label={label} striped>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Feature</Table.Th>
          <Table.Th>Type</Table.Th>
          <Table.Th>Description</Table.Th>
          <Table.Th>Tags</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {features.map((f) => (
          <Table.Tr
            key={f.name}
            id={`feature-${f.name}`}
            className="feature-row"
            data-highlight={highlight === f.name || undefined}
            aria-current={highlight === f.name || undefined}
          >
            <Table.Td>
              <Text fw={500} size="sm">
                {f.name}
              </Text>
            </Table.Td>
            <Table.Td>
              <code>{f.valueType ?? '—'}</code>
            </Table.Td>
            <Table.Td>{f.description || <Text c="dimmed">—</Text>}</Table.Td>
            <Table.Td>
              <TagList tags={f.tags} />
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  )
}

export function FeatureViewPage({ data, name }: { data: RegistryData; name: string }) {
  const now = useNow()
  const location = useLocation()
  const view = data.featureViews.find((v) => v.spec.name === name)
  const runs = useRuns(data.project, name)
  const hash = location.split('#')[1]
  useEffect(() => {
    if (hash) document.getElementById(decodeURIComponent(hash))?.scrollIntoView({ block: 'center' })
  }, [hash])
  if (!view) return <NotFound project={data.project} kind="featureView" name={name} />
  const p = data.project
  const spec = view.spec
  const d = durations(view)
  const list = intervals(view)
  const last = lastMaterialized(view)
  const fresh = viewFreshness(view, runs.data)
  const runList: RunJson[] = runs.data?.materializationRuns ?? []
  const newest = runList.find((r) => r.newestEventTimestamp !== null)?.newestEventTimestamp
  const source = viewSource(view)
  const joinKeys: FeatureJson[] =
    spec.entityColumns && spec.entityColumns.length > 0
      ? spec.entityColumns
      : (spec.entities ?? []).flatMap((e) => {
          const entity = data.entities.find((x) => x.spec.name === e)
          return entity?.spec.joinKey ? [{ name: entity.spec.joinKey, valueType: entity.spec.valueType }] : []
        })
  const features = spec.features ?? []
  return (
    <Stack gap="md">
      <ObjectHeader project={p} kind="featureView" name={spec.name} description={spec.description}>
        <Group gap="xs">
          {view.type === 'streamFeatureView' && <Badge color="grape">stream</Badge>}
          <Text size="sm" c="dimmed">
            Freshness
          </Text>
          <span data-testid="freshness">
            <FreshnessBadge
              age={fresh === undefined ? undefined : now - fresh.at}
              maxAge={d.maxAge}
              basis={fresh?.basis}
            />
          </span>
        </Group>
      </ObjectHeader>
      <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
        <Section title="Definition">
          <Facts
            rows={[
              [
                'entities',
                <LinkList
                  key="e"
                  items={(spec.entities ?? []).map((e) => ({ name: e, to: href(p, 'entity', e) }))}
                />,
              ],
              ['ttl', `${formatDuration(d.ttl)} (point-in-time look-back)`],
              ['maxAge', `${formatDuration(d.maxAge)} (older online values are OUTSIDE_MAX_AGE)`],
              ['storageTtl', `${formatDuration(d.storageTtl)} (physical expiry online)`],
              [
                'stores',
                `${spec.online !== false ? 'online' : ''}${spec.offline ? ' offline' : ''}`.trim() || '—',
              ],
              ['owner', spec.owner || '—'],
              ['tags', <TagList key="t" tags={spec.tags} />],
              [
                'feature services',
                <LinkList
                  key="s"
                  items={servicesUsing(data, spec.name).map((s) => ({
                    name: s,
                    to: href(p, 'featureService', s),
                  }))}
                />,
              ],
              ['updated', formatTime(parseTime(view.meta?.lastUpdatedTimestamp))],
            ]}
          />
        </Section>
        <Section title="Source">
          {source ? <Facts rows={sourceFacts(p, source)} /> : <Text c="dimmed">no source</Text>}
        </Section>
      </SimpleGrid>
      <Section title="Schema">
        <SchemaTable
          features={features}
          label="Schema"
          highlight={
            hash?.startsWith('feature-') ? decodeURIComponent(hash).slice('feature-'.length) : undefined
          }
        />
      </Section>
      <Section title="Materialization">
        {list.length === 0 && runList.length === 0 ? (
          <Text c="dimmed" size="sm">
            Never materialized. Run <code>larder materialize-incremental $(date -u +%FT%TZ)</code> in the
            repository to load its latest values into the online store.
          </Text>
        ) : (
          <Stack gap="sm">
            <Text size="sm" data-testid="materialization-summary">
              {newest ? (
                <>
                  Newest event materialized: <b>{formatTime(parseTime(newest))}</b>,{' '}
                  {formatAge(now - parseTime(newest)!)} old.{' '}
                </>
              ) : (
                <>No run recorded the newest event it wrote; freshness counts from the last window end. </>
              )}
              {last !== undefined && (
                <>
                  Materialized up to <b>{formatTime(last)}</b>; {list.length} window
                  {list.length === 1 ? '' : 's'} recorded.
                </>
              )}
            </Text>
            <Suspense fallback={<Loading what="charts" />}>
              <Charts
                intervals={list}
                runs={runList.map(runPoint)}
                series={freshnessSeries(runList, now)}
                maxAge={d.maxAge}
                now={now}
              />
            </Suspense>
            {list.length > 0 && (
              <Table aria-label="Materialized intervals" striped>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Start</Table.Th>
                    <Table.Th>End</Table.Th>
                    <Table.Th>Length</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {[...list]
                    .reverse()
                    .slice(0, 10)
                    .map((i) => (
                      <Table.Tr key={`${i.start}:${i.end}`}>
                        <Table.Td>{formatTime(i.start)}</Table.Td>
                        <Table.Td>{formatTime(i.end)}</Table.Td>
                        <Table.Td>{formatAge(i.end - i.start)}</Table.Td>
                      </Table.Tr>
                    ))}
                </Table.Tbody>
              </Table>
            )}
            {runList.length > 0 && (
              <>
                <RunsTable project={p} runs={runList.slice(0, 10)} showView={false} />
                <Text size="sm">
                  <Link
                    to={`${path('p', p, 'runs')}?view=${encodeURIComponent(spec.name)}`}
                    className="text-link"
                  >
                    All runs of {spec.name} →
                  </Link>
                </Text>
              </>
            )}
          </Stack>
        )}
      </Section>
      <Section title="Try it">
        <TryIt
          joinKeys={joinKeys}
          features={features.map((f) => `${spec.name}:${f.name}`)}
          label={spec.name}
        />
      </Section>
    </Stack>
  )
}
