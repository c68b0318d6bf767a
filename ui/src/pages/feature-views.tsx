import { Group, Stack, Text, Title } from '@mantine/core'
import type { ColumnDef } from '@tanstack/react-table'
import { useMemo } from 'react'
import { type FeatureViewJson, type RegistryData, useRuns } from '../api'
import { Name } from '../components/bits'
import { DataTable } from '../components/data-table'
import { Empty } from '../components/states'
import { formatDuration, formatTime } from '../format'
import { useNow } from '../hooks'
import {
  durations,
  type Freshness,
  href,
  lastMaterialized,
  userTags,
  viewFreshness,
  viewSource,
} from '../model'
import { Link, useLocation } from '../router'
import { FreshnessBadge } from './overview'

interface Row {
  view: FeatureViewJson
  name: string
  entities: string[]
  features: number
  source: string
  ttl: number
  maxAge: number
  online: boolean
  offline: boolean
  last: number | undefined
  fresh: Freshness | undefined
  age: number
}

export function FeatureViewsPage({ data }: { data: RegistryData }) {
  const now = useNow()
  const location = useLocation()
  const p = data.project
  const runs = useRuns(p)
  const rows = useMemo<Row[]>(
    () =>
      data.featureViews.map((v) => {
        const d = durations(v)
        const last = lastMaterialized(v)
        const fresh = viewFreshness(v, runs.data)
        return {
          view: v,
          name: v.spec.name,
          entities: v.spec.entities ?? [],
          features: (v.spec.features ?? []).length,
          source: viewSource(v)?.name ?? '',
          ttl: d.ttl,
          maxAge: d.maxAge,
          online: v.spec.online !== false,
          offline: v.spec.offline === true,
          last,
          fresh,
          age: fresh === undefined ? Number.POSITIVE_INFINITY : now - fresh.at,
        }
      }),
    [data, runs.data, now],
  )
  const columns = useMemo<ColumnDef<Row, unknown>[]>(
    () => [
      {
        accessorKey: 'name',
        header: 'Name',
        cell: (c) => (
          <Link to={href(p, 'featureView', c.row.original.name)} className="text-link">
            <Name>{c.row.original.name}</Name>
          </Link>
        ),
      },
      {
        id: 'entities',
        accessorFn: (r) => r.entities.join(', '),
        header: 'Entities',
        cell: (c) => (
          <Group gap={4}>
            {c.row.original.entities.map((e) => (
              <Link key={e} to={href(p, 'entity', e)} className="text-link">
                <Name>{e}</Name>
              </Link>
            ))}
          </Group>
        ),
      },
      { accessorKey: 'features', header: 'Features', meta: { nowrap: true } },
      {
        accessorKey: 'source',
        header: 'Source',
        cell: (c) =>
          c.row.original.source ? (
            <Link to={href(p, 'dataSource', c.row.original.source)} className="text-link">
              <Name>{c.row.original.source}</Name>
            </Link>
          ) : (
            '—'
          ),
      },
      {
        accessorKey: 'ttl',
        header: 'ttl',
        meta: { nowrap: true },
        cell: (c) => formatDuration(c.row.original.ttl),
      },
      {
        accessorKey: 'maxAge',
        header: 'maxAge',
        meta: { nowrap: true },
        cell: (c) => formatDuration(c.row.original.maxAge),
      },
      {
        id: 'stores',
        accessorFn: (r) => `${r.online ? 'online' : ''} ${r.offline ? 'offline' : ''}`,
        header: 'Stores',
        meta: { nowrap: true },
        cell: (c) => (
          <Text size="sm">
            {[c.row.original.online && 'online', c.row.original.offline && 'offline']
              .filter(Boolean)
              .join(', ') || '—'}
          </Text>
        ),
      },
      {
        id: 'tags',
        accessorFn: (r) => userTags(r.view.spec.tags).join(' '),
        header: 'Tags',
        enableSorting: false,
        cell: (c) => (
          <Text size="xs">
            {userTags(c.row.original.view.spec.tags)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ') || '—'}
          </Text>
        ),
      },
      {
        id: 'last',
        accessorFn: (r) => r.last ?? 0,
        header: 'Last materialized',
        cell: (c) => <Text size="sm">{formatTime(c.row.original.last)}</Text>,
      },
      {
        id: 'freshness',
        accessorFn: (r) => r.age,
        header: 'Freshness',
        sortDescFirst: true,
        meta: { nowrap: true },
        cell: (c) => (
          <FreshnessBadge
            age={c.row.original.fresh === undefined ? undefined : c.row.original.age}
            maxAge={c.row.original.maxAge}
            basis={c.row.original.fresh?.basis}
          />
        ),
      },
    ],
    [p],
  )
  const sortFreshness = location.includes('sort=freshness')
  return (
    <Stack>
      <Title order={2}>Feature views</Title>
      <DataTable
        rows={rows}
        columns={columns}
        label="Feature views"
        initialSort={sortFreshness ? [{ id: 'freshness', desc: true }] : [{ id: 'name', desc: false }]}
        filterText={(r) =>
          `${r.name} ${r.entities.join(' ')} ${r.source} ${userTags(r.view.spec.tags)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')} ${(r.view.spec.features ?? []).map((f) => f.name).join(' ')}`
        }
        empty={
          <Empty title="No feature views yet">
            Define a <code>FeatureView</code> in your repository and run <code>larder apply</code>.
          </Empty>
        }
      />
    </Stack>
  )
}
