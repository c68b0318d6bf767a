import { Stack, Title } from '@mantine/core'
import type { ColumnDef } from '@tanstack/react-table'
import { useMemo } from 'react'
import type { DataSourceJson, RegistryData } from '../api'
import { Facts, LinkList, TagList } from '../components/bits'
import { DataTable } from '../components/data-table'
import { Empty } from '../components/states'
import { href, type ObjectKind, onDemandReading, userTags, viewSource } from '../model'
import { Link } from '../router'
import { NotFound, ObjectHeader, Section } from './common'
import { SchemaTable, sourceFacts } from './feature-view'

function location(s: DataSourceJson): string {
  return s.fileOptions?.uri ?? s.batchSource?.name ?? ''
}

/** The views that read the source: feature views (batch, push or stream source) and on-demand views (request source). */
function viewsReading(data: RegistryData, source: string): { kind: ObjectKind; name: string }[] {
  return [
    ...data.featureViews
      .filter((v) => viewSource(v)?.name === source || v.spec.batchSource?.name === source)
      .map((v) => ({ kind: 'featureView' as const, name: v.spec.name })),
    ...onDemandReading(data, source).map((name) => ({ kind: 'onDemandFeatureView' as const, name })),
  ]
}

export function DataSourcesPage({ data }: { data: RegistryData }) {
  const p = data.project
  const columns = useMemo<ColumnDef<DataSourceJson, unknown>[]>(
    () => [
      {
        accessorKey: 'name',
        header: 'Name',
        cell: (c) => (
          <Link to={href(p, 'dataSource', c.row.original.name)} className="text-link">
            {c.row.original.name}
          </Link>
        ),
      },
      { id: 'type', accessorFn: (s) => s.type ?? '', header: 'Type' },
      { id: 'location', accessorFn: location, header: 'Path or batch source' },
      { id: 'timestamp', accessorFn: (s) => s.timestampField ?? '', header: 'Timestamp field' },
      { id: 'views', accessorFn: (s) => viewsReading(data, s.name).length, header: 'Read by' },
      {
        id: 'tags',
        header: 'Tags',
        enableSorting: false,
        cell: (c) => <TagList tags={c.row.original.tags} />,
      },
    ],
    [p, data],
  )
  return (
    <Stack>
      <Title order={2}>Data sources</Title>
      <DataTable
        rows={data.dataSources}
        columns={columns}
        label="Data sources"
        initialSort={[{ id: 'name', desc: false }]}
        filterText={(s) => `${s.name} ${s.type ?? ''} ${location(s)} ${userTags(s.tags).join(' ')}`}
        empty={
          <Empty title="No data sources yet">
            A data source is where feature rows come from (a Parquet file, a table, a push). Define a{' '}
            <code>FileSource</code> or <code>PushSource</code> and run <code>larder apply</code>.
          </Empty>
        }
      />
    </Stack>
  )
}

export function DataSourcePage({ data, name }: { data: RegistryData; name: string }) {
  const s = data.dataSources.find((x) => x.name === name)
  if (!s) return <NotFound project={data.project} kind="dataSource" name={name} />
  const p = data.project
  const request = s.requestDataOptions?.schema ?? []
  return (
    <Stack gap="md">
      <ObjectHeader project={p} kind="dataSource" name={s.name} description={s.description} />
      <Section title="Definition">
        <Facts
          rows={[
            ...sourceFacts(p, s).slice(1),
            ['owner', s.owner || '—'],
            ['tags', <TagList key="t" tags={s.tags} />],
            [
              'read by',
              <LinkList
                key="v"
                items={viewsReading(data, s.name).map((v) => ({ name: v.name, to: href(p, v.kind, v.name) }))}
              />,
            ],
          ]}
        />
      </Section>
      {request.length > 0 && (
        <Section title="Request schema">
          <SchemaTable features={request} label="Request schema" />
        </Section>
      )}
    </Stack>
  )
}
