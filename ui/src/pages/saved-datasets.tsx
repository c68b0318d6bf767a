import { Stack, Title } from '@mantine/core'
import type { ColumnDef } from '@tanstack/react-table'
import { useMemo } from 'react'
import type { RegistryData, SavedDatasetJson } from '../api'
import { Facts, TagList } from '../components/bits'
import { DataTable } from '../components/data-table'
import { Empty } from '../components/states'
import { formatTime, parseTime } from '../format'
import { href } from '../model'
import { Link } from '../router'
import { NotFound, ObjectHeader, Section } from './common'

export function SavedDatasetsPage({ data }: { data: RegistryData }) {
  const p = data.project
  const columns = useMemo<ColumnDef<SavedDatasetJson, unknown>[]>(
    () => [
      {
        id: 'name',
        accessorFn: (d) => d.spec.name,
        header: 'Name',
        cell: (c) => (
          <Link to={href(p, 'savedDataset', c.row.original.spec.name)} className="text-link">
            {c.row.original.spec.name}
          </Link>
        ),
      },
      { id: 'features', accessorFn: (d) => (d.spec.features ?? []).length, header: 'Features' },
      { id: 'joinKeys', accessorFn: (d) => (d.spec.joinKeys ?? []).join(', '), header: 'Join keys' },
      { id: 'created', accessorFn: (d) => d.meta?.createdTimestamp ?? '', header: 'Created' },
    ],
    [p],
  )
  return (
    <Stack>
      <Title order={2}>Saved datasets</Title>
      <DataTable
        rows={data.savedDatasets}
        columns={columns}
        label="Saved datasets"
        initialSort={[{ id: 'name', desc: false }]}
        filterText={(d) => `${d.spec.name} ${(d.spec.features ?? []).join(' ')}`}
        empty={
          <Empty title="No saved datasets">
            A saved dataset records a training set built with <code>getHistoricalFeatures</code> so it can be
            found and reused. None is registered in this project.
          </Empty>
        }
      />
    </Stack>
  )
}

export function SavedDatasetPage({ data, name }: { data: RegistryData; name: string }) {
  const d = data.savedDatasets.find((x) => x.spec.name === name)
  if (!d) return <NotFound project={data.project} kind="savedDataset" name={name} />
  const p = data.project
  return (
    <Stack gap="md">
      <ObjectHeader project={p} kind="savedDataset" name={d.spec.name} />
      <Section title="Definition">
        <Facts
          rows={[
            [
              'features',
              <Stack key="f" gap={0}>
                {(d.spec.features ?? []).map((f) => (
                  <code key={f}>{f}</code>
                ))}
              </Stack>,
            ],
            ['join keys', (d.spec.joinKeys ?? []).join(', ') || '—'],
            ['full feature names', d.spec.fullFeatureNames ? 'yes' : 'no'],
            ['feature service', d.spec.featureServiceName ?? '—'],
            ['storage', <code key="s">{JSON.stringify(d.spec.storage ?? {})}</code>],
            [
              'events',
              `${formatTime(parseTime(d.meta?.minEventTimestamp))} → ${formatTime(parseTime(d.meta?.maxEventTimestamp))}`,
            ],
            ['tags', <TagList key="t" tags={d.spec.tags} />],
          ]}
        />
      </Section>
    </Stack>
  )
}
