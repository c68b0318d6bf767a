import { Stack, Title } from '@mantine/core'
import type { ColumnDef } from '@tanstack/react-table'
import { useMemo } from 'react'
import type { EntityJson, RegistryData } from '../api'
import { Facts, LinkList, Name, TagList } from '../components/bits'
import { DataTable } from '../components/data-table'
import { Empty } from '../components/states'
import { formatTime, parseTime } from '../format'
import { href, userTags } from '../model'
import { Link } from '../router'
import { NotFound, ObjectHeader, Section } from './common'

function viewsOf(data: RegistryData, entity: string): string[] {
  return data.featureViews.filter((v) => (v.spec.entities ?? []).includes(entity)).map((v) => v.spec.name)
}

export function EntitiesPage({ data }: { data: RegistryData }) {
  const p = data.project
  const columns = useMemo<ColumnDef<EntityJson, unknown>[]>(
    () => [
      {
        id: 'name',
        accessorFn: (e) => e.spec.name,
        header: 'Name',
        cell: (c) => (
          <Link to={href(p, 'entity', c.row.original.spec.name)} className="text-link">
            <Name>{c.row.original.spec.name}</Name>
          </Link>
        ),
      },
      { id: 'joinKey', accessorFn: (e) => e.spec.joinKey ?? '', header: 'Join key' },
      { id: 'type', accessorFn: (e) => e.spec.valueType ?? '', header: 'Type' },
      { id: 'views', accessorFn: (e) => viewsOf(data, e.spec.name).length, header: 'Feature views' },
      { id: 'description', accessorFn: (e) => e.spec.description ?? '', header: 'Description' },
      {
        id: 'tags',
        header: 'Tags',
        enableSorting: false,
        cell: (c) => <TagList tags={c.row.original.spec.tags} />,
      },
    ],
    [p, data],
  )
  return (
    <Stack>
      <Title order={2}>Entities</Title>
      <DataTable
        rows={data.entities}
        columns={columns}
        label="Entities"
        initialSort={[{ id: 'name', desc: false }]}
        filterText={(e) =>
          `${e.spec.name} ${e.spec.joinKey ?? ''} ${e.spec.description ?? ''} ${userTags(e.spec.tags).join(' ')}`
        }
        empty={
          <Empty title="No entities yet">
            An entity names what features describe (a driver, a customer) and its join key. Define an{' '}
            <code>Entity</code> and run <code>larder apply</code>.
          </Empty>
        }
      />
    </Stack>
  )
}

export function EntityPage({ data, name }: { data: RegistryData; name: string }) {
  const e = data.entities.find((x) => x.spec.name === name)
  if (!e) return <NotFound project={data.project} kind="entity" name={name} />
  const p = data.project
  return (
    <Stack gap="md">
      <ObjectHeader project={p} kind="entity" name={e.spec.name} description={e.spec.description} />
      <Section title="Definition">
        <Facts
          rows={[
            ['join key', <code key="k">{e.spec.joinKey ?? '—'}</code>],
            ['value type', e.spec.valueType ?? '—'],
            ['owner', e.spec.owner || '—'],
            ['tags', <TagList key="t" tags={e.spec.tags} />],
            [
              'feature views',
              <LinkList
                key="v"
                items={viewsOf(data, e.spec.name).map((v) => ({ name: v, to: href(p, 'featureView', v) }))}
              />,
            ],
            ['updated', formatTime(parseTime(e.meta?.lastUpdatedTimestamp))],
          ]}
        />
      </Section>
    </Stack>
  )
}
